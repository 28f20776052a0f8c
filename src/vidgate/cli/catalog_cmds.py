"""``vidgate models`` and ``vidgate providers``: the capability matrix and who is set up."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import typer
from rich.table import Table

from ..catalog import LifecycleStage, ModelProfile, load_catalog
from ..providers.registry import provider_classes
from ._console import friendly, out, print_json

__all__ = ["models", "providers"]

_MODE_ABBREV = {
    "text_to_video": "text",
    "image_to_video": "image",
    "keyframes": "keyframes",
    "extension": "extend",
}
_STAGE_STYLE = {
    LifecycleStage.GA: "green",
    LifecycleStage.PREVIEW: "cyan",
    LifecycleStage.DEPRECATED: "yellow",
    LifecycleStage.RETIRED: "red",
}


def _key_status(provider: str) -> tuple[bool, str]:
    """(usable, how to say it): adapter installed and key set."""
    adapters = provider_classes()
    catalog = load_catalog()
    env_keys = catalog.provider(provider).env_keys
    if provider not in adapters:
        return False, "no adapter yet"
    if adapters[provider].configured():
        return True, "ready" if env_keys else "ready (no key needed)"
    return False, f"set {' or '.join(env_keys)}"


def _price(model: ModelProfile) -> str:
    parts = []
    for tier in model.price.tiers:
        amount = (
            f"${tier.usd_per_second:g}/s"
            if tier.usd_per_second is not None
            else f"${tier.usd_per_video:g}/clip"
        )
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
        "price_as_of": model.price.as_of.isoformat(),
        "lifecycle": model.lifecycle.stage_on(today).value,
        "retires_on": model.lifecycle.retires_on.isoformat()
        if model.lifecycle.retires_on
        else None,
        "ready": ready,
        "key": key,
    }


@friendly
def models(
    provider: Annotated[str | None, typer.Option(help="Only this provider's models.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The capability matrix: what each model can do, what it costs, and whether it is usable."""
    catalog = load_catalog()
    today = date.today()
    chosen = catalog.provider(provider).models if provider else list(catalog)
    if json_output:
        print_json([_model_row(m, today) for m in chosen])
        return
    table = Table(title="vidgate models", show_lines=False, expand=False)
    for column in ("model", "modes", "durations", "res", "aspect", "audio", "price", "lifecycle"):
        table.add_column(column, overflow="fold")
    table.add_column("key", overflow="fold")
    for model in chosen:
        stage = model.lifecycle.stage_on(today)
        ready, key = _key_status(model.provider)
        table.add_row(
            model.ref,
            ", ".join(_MODE_ABBREV[m.value] for m in model.modes),
            model.describe_durations(),
            ", ".join(model.resolutions),
            ", ".join(model.aspect_ratios),
            model.audio,
            _price(model),
            f"[{_STAGE_STYLE[stage]}]{_lifecycle(model, today)}[/]",
            f"[green]{key}[/]" if ready else f"[dim]{key}[/]",
        )
    out.print(table)


@friendly
def providers(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Each provider: whether its adapter is installed and its key set, and how many models."""
    catalog = load_catalog()
    today = date.today()
    rows: list[dict[str, Any]] = []
    for name, profile in catalog.providers.items():
        ready, key = _key_status(name)
        live = [m for m in profile.models if m.lifecycle.stage_on(today) != LifecycleStage.RETIRED]
        rows.append(
            {
                "provider": name,
                "title": profile.title,
                "ready": ready,
                "status": key,
                "env_keys": profile.env_keys,
                "models": len(profile.models),
                "usable_models": len(live),
            }
        )
    if json_output:
        print_json(rows)
        return
    table = Table(title="vidgate providers")
    for column in ("provider", "title", "status", "models"):
        table.add_column(column, overflow="fold")
    for row in rows:
        status = f"[green]{row['status']}[/]" if row["ready"] else f"[dim]{row['status']}[/]"
        count = f"{row['usable_models']}"
        if row["usable_models"] != row["models"]:
            count += f" ({row['models'] - row['usable_models']} retired)"
        table.add_row(row["provider"], row["title"], status, count)
    out.print(table)
