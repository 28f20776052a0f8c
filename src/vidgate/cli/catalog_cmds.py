"""``vidgate models`` and ``vidgate providers``: the capability matrix and who is set up."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from ..accounting import balances
from ..accounting.balances import BalanceReading
from ..accounting.pricing import priced_catalog
from ..catalog import LifecycleStage, ModelProfile, PriceTier
from ..db import make_engine, upgrade
from ..engine.health import Health, HealthBook
from ..providers.registry import provider_classes
from ..settings import Settings
from ._console import friendly, out, print_json

__all__ = ["models", "providers"]

_MODE_ABBREV = {
    "text_to_video": "t2v",
    "image_to_video": "i2v",
    "keyframes": "keys",
    "extension": "ext",
}
_STAGE_STYLE = {
    LifecycleStage.GA: "green",
    LifecycleStage.PREVIEW: "cyan",
    LifecycleStage.DEPRECATED: "yellow",
    LifecycleStage.RETIRED: "red",
}


def _health() -> tuple[list[Health], dict[str, BalanceReading]]:
    """Circuit-breaker state and the latest balances from the database (read only; nothing is
    launched)."""
    settings = Settings()
    settings.ensure_dirs()
    engine = make_engine(settings.resolved_database_url, synchronous=settings.sqlite_synchronous)
    try:
        upgrade(engine)
        book = HealthBook(
            engine, threshold=settings.circuit_threshold, cooldown=settings.circuit_cooldown
        )
        return [book.get(name) for name in provider_classes()], balances.latest(engine)
    finally:
        engine.dispose()


def _balance(reading: BalanceReading | None) -> dict[str, Any] | None:
    if reading is None:
        return None
    return {
        "usd": reading.usd,
        "credits": reading.credits,
        "read_at": reading.read_at.isoformat(),
    }


def _key_status(provider: str) -> tuple[bool, str]:
    """(usable, how to say it): adapter installed and key set."""
    adapters = provider_classes()
    catalog = priced_catalog()
    env_keys = catalog.provider(provider).env_keys
    if provider not in adapters:
        return False, "no adapter"
    if adapters[provider].configured():
        return True, "ready" if env_keys else "ready (no key needed)"
    return False, f"set {' or '.join(env_keys)}"


def _price(model: ModelProfile) -> str:
    parts = []
    for tier in model.price.tiers:
        amount = _amount(tier)
        label = " ".join(
            x
            for x in (
                tier.resolution,
                {True: "+audio", False: "silent", None: ""}[tier.audio],
                f"{tier.duration:g}s" if tier.duration else "",
            )
            if x
        )
        parts.append(f"{amount} {label}".strip())
    return ", ".join(parts)


def _amount(tier: PriceTier) -> str:
    if tier.usd_per_second is not None:
        return f"${tier.usd_per_second:g}/s"
    if tier.usd_per_megapixel is not None:
        return f"${tier.usd_per_megapixel:g}/Mpx"
    return f"${tier.usd_per_video:g}/clip"


def _lifecycle(model: ModelProfile, today: date) -> str:
    stage = model.lifecycle.stage_on(today)
    when = ""
    if stage is LifecycleStage.RETIRED and model.lifecycle.retires_on:
        when = f" {model.lifecycle.retires_on.isoformat()}"
    elif model.lifecycle.retires_on:
        when = f" (retires {model.lifecycle.retires_on.isoformat()})"
    return f"{stage.value}{when}"


def _model_row(model: ModelProfile, today: date) -> dict[str, Any]:
    ready, key = _key_status(model.provider)
    return {
        "model": model.ref,
        "title": model.title,
        "modes": [m.value for m in model.modes],
        "durations": model.describe_durations(),
        "resolutions": model.resolutions,
        "aspect_ratios": model.aspect_ratios,
        "fps": model.fps,
        "audio": model.audio,
        "seed": model.seed,
        "negative_prompt": model.negative_prompt,
        "price": _price(model),
        "price_source": model.price.source,
        "price_url": model.price.url,
        "price_as_of": model.price.as_of.isoformat(),
        "price_status": model.price.status,
        "price_block_seconds": model.price.block_seconds,
        "lifecycle": model.lifecycle.stage_on(today).value,
        "retires_on": model.lifecycle.retires_on.isoformat()
        if model.lifecycle.retires_on
        else None,
        "ready": ready,
        "key": key,
    }


def _short_price(model: ModelProfile) -> str:
    """The price range, and its status when it is not a confirmed published price."""
    tiers = model.price.tiers
    for unit, label in (
        ("usd_per_second", "/s"),
        ("usd_per_video", "/clip"),
        ("usd_per_megapixel", "/Mpx"),
    ):
        values = [getattr(t, unit) for t in tiers if getattr(t, unit) is not None]
        if values:
            low, high = min(values), max(values)
            shown = f"${low:g}{label}" if low == high else f"${low:g}-{high:g}{label}"
            break
    status = model.price.status
    return shown if status == "confirmed" else f"{shown} ({status})"


def _seconds(model: ModelProfile) -> str:
    """The durations for the table's seconds column: ``4, 6, 8`` or ``1-60 by 0.5``."""
    if model.durations is not None:
        return ", ".join(f"{d:g}" for d in model.durations)
    assert model.duration_range is not None
    span = model.duration_range
    step = f" by {span.step:g}" if span.step != 1 else ""
    return f"{span.min:g}-{span.max:g}{step}"


def _short_list(values: list[str], keep: int = 4) -> str:
    shown = ", ".join(values[:keep])
    return shown + (f" +{len(values) - keep}" if len(values) > keep else "")


@friendly
def models(
    provider: Annotated[str | None, typer.Option(help="Only this provider's models.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON (every field).")] = False,
) -> None:
    """The capability matrix: what each model can do, what it costs, and whether it is usable.

    The table is a summary; --json has every resolution, aspect ratio and price tier."""
    catalog = priced_catalog()
    today = date.today()
    chosen = catalog.provider(provider).models if provider else list(catalog)
    if json_output:
        print_json([_model_row(m, today) for m in chosen])
        return
    table = Table(title="vidgate models", show_lines=False, expand=False)
    table.add_column("model", no_wrap=True)
    for column in ("modes", "seconds", "res", "aspect", "audio", "price", "lifecycle"):
        table.add_column(column, overflow="fold")
    table.add_column("key", overflow="fold")
    for model in chosen:
        stage = model.lifecycle.stage_on(today)
        ready, key = _key_status(model.provider)
        table.add_row(
            model.ref,
            ", ".join(_MODE_ABBREV[m.value] for m in model.modes),
            _seconds(model),
            _short_list([r.replace("2160p", "4k") for r in model.resolutions]),
            _short_list(model.aspect_ratios, keep=3),
            {"none": "-", "optional": "opt", "always": "yes"}[model.audio],
            _short_price(model),
            f"[{_STAGE_STYLE[stage]}]{_lifecycle(model, today)}[/]",
            f"[green]{key}[/]" if ready else f"[dim]{key}[/]",
        )
    out.print(table)


@friendly
def providers(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Each provider: whether its adapter is installed and its key set, and how many models."""
    catalog = priced_catalog()
    today = date.today()
    circuits, readings = _health()
    health = {h.provider: h for h in circuits}
    rows: list[dict[str, Any]] = []
    for name, profile in catalog.providers.items():
        ready, key = _key_status(name)
        live = [m for m in profile.models if m.lifecycle.stage_on(today) != LifecycleStage.RETIRED]
        circuit = health.get(name)
        rows.append(
            {
                "provider": name,
                "title": profile.title,
                "ready": ready,
                "status": key,
                "env_keys": profile.env_keys,
                "models": len(profile.models),
                "usable_models": len(live),
                "circuit": circuit.state.value if circuit else None,
                "health": circuit.describe() if circuit else "-",
                "balance": _balance(readings.get(name)),
            }
        )
    if json_output:
        print_json(rows)
        return
    table = Table(title="vidgate providers")
    for column in ("provider", "title", "status", "models", "health", "balance"):
        table.add_column(column, overflow="fold")
    for row in rows:
        status = f"[green]{row['status']}[/]" if row["ready"] else f"[dim]{row['status']}[/]"
        count = f"{row['usable_models']}"
        if row["usable_models"] != row["models"]:
            count += f" ({row['models'] - row['usable_models']} retired)"
        healthy = row["circuit"] in (None, "closed")
        shown = row["health"] if healthy else f"[red]{escape(row['health'])}[/]"
        reading = row["balance"]
        money = "-"
        if reading is not None:
            figure = reading["usd"] if reading["usd"] is not None else reading["credits"]
            unit = "$" if reading["usd"] is not None else ""
            money = f"{unit}{figure:,.2f}" + ("" if unit else " credits")
            money += f" ({reading['read_at'][:16].replace('T', ' ')} UTC)"
        table.add_row(row["provider"], row["title"], status, count, shown, money)
    out.print(table)
