"""What ``vidgate keys`` and ``vidgate tenants`` share: the tenant book and the limit flags."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..db import make_engine, upgrade
from ..exceptions import InvalidRequest
from ..server.tenancy import TenantBook
from ..settings import Settings


def book() -> TenantBook:
    """The tenant book on the configured database (migrated)."""
    settings = Settings()
    settings.ensure_dirs()
    engine = make_engine(settings.resolved_database_url, synchronous=settings.sqlite_synchronous)
    upgrade(engine)
    return TenantBook(engine)


_NONE = "none"

RateOption = Annotated[
    str | None,
    typer.Option(help="Requests per period, e.g. 60/min, 10/s; 'none' clears it."),
]
ConcurrentOption = Annotated[
    str | None, typer.Option(help="Unfinished jobs at once; 'none' clears it.")
]
DailyOption = Annotated[str | None, typer.Option(help="Jobs per UTC day; 'none' clears it.")]
DeadlineOption = Annotated[
    str | None,
    typer.Option(help="Seconds a job may take when its request sets none; 'none' clears it."),
]

UncertainOption = Annotated[
    str | None,
    typer.Option(
        help="What a create that may have succeeded at a provider that cannot be asked leads "
        "to: 'fallback' (another provider; the possible orphan is recorded) or 'fail'; "
        "'none' follows VIDGATE_UNCERTAIN_SUBMIT."
    ),
]

PriorityDefaultOption = Annotated[
    str | None,
    typer.Option(
        "--default-priority",
        help="The priority of a request that sets none: critical, standard or batch; 'none' "
        "follows VIDGATE_DEFAULT_PRIORITY.",
    ),
]
StrategiesOption = Annotated[
    list[str] | None,
    typer.Option(
        "--strategy",
        help="PRIORITY=STRATEGY, e.g. batch=cheapest (repeatable; merged into the tenant's): "
        "preferred, cheapest, fastest, quality, reliable; PRIORITY=none clears one, 'none' "
        "clears them all.",
    ),
]


def strategy_flags(values: list[str] | None) -> dict[str, Any]:
    """``--strategy`` values → the ``strategies`` change (validated by ``limit_changes``)."""
    if not values:
        return {}
    if [v.strip().lower() for v in values] == [_NONE]:
        return {"strategies": None}
    changes: dict[str, str | None] = {}
    for item in values:
        priority, sep, strategy = item.partition("=")
        if not sep:
            raise InvalidRequest(f"--strategy takes PRIORITY=STRATEGY, not {item!r}")
        chosen = strategy.strip()
        changes[priority.strip()] = None if chosen.lower() == _NONE else chosen
    return {"strategies": changes}


SimilarityOption = Annotated[
    str | None,
    typer.Option(
        help="How similar (cosine, above 0 up to 1) a prompt must be for cache: similar to "
        "reuse a video; 'none' follows VIDGATE_CACHE_SIMILARITY."
    ),
]


def limit_flags(
    rate_limit: str | None,
    max_concurrent: str | None,
    daily_videos: str | None,
    deadline: str | None,
    uncertain_submit: str | None = None,
    cache_similarity: str | None = None,
) -> dict[str, Any]:
    """The limit flags that were given, by their public names: 'none' → None (clear), numbers
    parsed. Validation of the values themselves is ``tenancy.limit_changes``'s."""
    given: dict[str, Any] = {}
    for name, flag, raw, kind in (
        ("rate_limit", "--rate-limit", rate_limit, str),
        ("max_concurrent", "--max-concurrent", max_concurrent, int),
        ("daily_videos", "--daily-videos", daily_videos, int),
        ("deadline_seconds", "--deadline", deadline, float),
        ("uncertain_submit", "--uncertain-submit", uncertain_submit, str),
        ("cache_similarity", "--cache-similarity", cache_similarity, float),
    ):
        if raw is None:
            continue
        if raw.strip().lower() == _NONE:
            given[name] = None
            continue
        try:
            given[name] = kind(raw.strip())
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise InvalidRequest(f"{flag} takes {what} or 'none', not {raw!r}") from None
    return given
