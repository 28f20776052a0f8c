"""``vidgate budgets``: budgets (USD a day, a month) and quotas (videos a day, seconds of
output a month) per tenant and per end user, and how each stands now."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from ..accounting import Budget, BudgetBook
from ..exceptions import InvalidRequest
from ._console import friendly, out, print_json
from ._tenancy import book as _tenant_book

app = typer.Typer(help="Set and show budgets and quotas.", no_args_is_help=True)

_NONE = "none"
TenantOption = Annotated[str, typer.Option(help="The tenant ('default' for the library/CLI).")]
UserOption = Annotated[str | None, typer.Option(help="An end user of the tenant.")]


def _book() -> BudgetBook:
    return BudgetBook(_tenant_book().engine)


def _number(flag: str, raw: str | None, kind: type[float] | type[int]) -> Any:
    if raw is None or raw.lower() == _NONE:
        return None
    try:
        return kind(raw)
    except ValueError:
        raise InvalidRequest(f"{flag} takes a number or 'none', not {raw!r}") from None


@app.command("set")
@friendly
def set_budget(
    tenant: TenantOption = "default",
    user: UserOption = None,
    daily: Annotated[str | None, typer.Option(help="USD a day; 'none' clears it.")] = None,
    monthly: Annotated[str | None, typer.Option(help="USD a month; 'none' clears it.")] = None,
    daily_videos: Annotated[
        str | None, typer.Option(help="Quota: videos a day; 'none' clears it.")
    ] = None,
    monthly_seconds: Annotated[
        str | None, typer.Option(help="Quota: seconds of output a month; 'none' clears it.")
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option(help="The tenant's days and months, e.g. Europe/Paris; 'none' is UTC."),
    ] = None,
    thresholds: Annotated[
        str | None,
        typer.Option(help="Alert thresholds in percent, e.g. 50,80,100; 'none': the default."),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Set or clear ('none') a budget and quotas; values not given stay as they are."""
    values: dict[str, Any] = {}
    for name, flag, raw, kind in (
        ("daily_usd", "--daily", daily, float),
        ("monthly_usd", "--monthly", monthly, float),
        ("daily_videos", "--daily-videos", daily_videos, int),
        ("monthly_seconds", "--monthly-seconds", monthly_seconds, float),
    ):
        if raw is not None:
            values[name] = _number(flag, raw, kind)
    if timezone is not None:
        values["timezone"] = None if timezone.lower() == _NONE else timezone
    if thresholds is not None:
        values["thresholds"] = (
            None
            if thresholds.lower() == _NONE
            else [_number("--thresholds", p.strip(), float) for p in thresholds.split(",")]
        )
    budget = _book().set(tenant, user, values)
    _print([budget], json_output)


@app.command("show")
@friendly
def show(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant.")] = None,
    user: UserOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Budgets and quotas, with what is used, reserved and left, and when each resets."""
    _print(_book().list(tenant, user=user), json_output)


@app.command("delete")
@friendly
def delete(tenant: TenantOption = "default", user: UserOption = None) -> None:
    """Remove a tenant's or an end user's budget and quotas."""
    _book().delete(tenant, user)
    out.print(f"deleted the budget of {tenant}" + (f" user {user}" if user else ""))


def _shown(value: float, money: bool) -> str:
    return f"${value:.2f}" if money else f"{value:g}"


def _print(found: list[Budget], json_output: bool) -> None:
    if json_output:
        print_json([b.to_dict() for b in found])
        return
    table = Table(title="budgets")
    for column in ("tenant", "user", "limit", "allowed", "used", "reserved", "left", "resets at"):
        table.add_column(column, overflow="fold")
    for budget in found:
        if not budget.standing:
            table.add_row(budget.tenant, budget.user or "-", "none", "-", "-", "-", "-", "-")
        for stand in budget.standing:
            money = stand.limit.endswith("_usd")
            facts = stand.to_dict()
            table.add_row(
                budget.tenant,
                budget.user or "-",
                stand.limit,
                _shown(stand.allowed, money),
                _shown(stand.used, money),
                _shown(stand.reserved, money) if money else "-",
                _shown(facts["remaining"], money),
                facts["resets_at"],
            )
    out.print(table)
