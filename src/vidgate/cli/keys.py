"""``vidgate keys``: API keys for the gateway's tenants."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from ._console import fail, friendly, out, print_json
from ._tenancy import ConcurrentOption, DailyOption, DeadlineOption, RateOption, book, limit_flags

app = typer.Typer(help="Create, list and revoke API keys for the gateway.", no_args_is_help=True)


@app.command("create")
@friendly
def create(
    tenant: Annotated[str, typer.Option(help="The tenant the key belongs to (made if new).")],
    rate_limit: RateOption = None,
    max_concurrent: ConcurrentOption = None,
    daily_videos: DailyOption = None,
    deadline: DeadlineOption = None,
    webhook_url: Annotated[
        str | None, typer.Option(help="The tenant's default URL for job events.")
    ] = None,
    admin: Annotated[bool, typer.Option("--admin", help="May use the admin endpoints.")] = False,
    name: Annotated[str | None, typer.Option(help="A label for the key.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Make a key and print it once: it is stored only as a hash.

    The tenant is made if new. Its limits change only where a limit flag is given (and then
    only that limit); `vidgate tenants set` changes them later. The tenant's limits are printed
    after the key."""
    given = limit_flags(rate_limit, max_concurrent, daily_videos, deadline)
    tenants = book()
    tenants.ensure_tenant(tenant)
    tenants.set_limits(tenant, given)  # validated before the key is made
    key = tenants.create_key(tenant, admin=admin, name=name)
    if webhook_url is not None:
        tenants.ensure_tenant(tenant, webhook_url=webhook_url)
    secret = tenants.tenant(tenant)["webhook_secret"]
    limits = tenants.get_tenant(tenant)
    if json_output:
        print_json(
            {
                "key": key.secret,
                "id": key.id,
                "tenant": tenant,
                "admin": admin,
                "webhook_secret": secret,
                "limits": limits.limits(),
            }
        )
        return
    out.print(key.secret)
    typer.echo(
        f"key {key.id} for tenant {tenant!r}{' (admin)' if admin else ''}; it is shown only "
        f"this once. Client webhooks for this tenant are signed with {secret}\n"
        f"tenant {tenant!r} limits: {limits.describe()} (change them with "
        f"`vidgate tenants set {tenant}`)",
        err=True,
    )


@app.command("list")
@friendly
def list_keys(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Keys (never their secrets): id, tenant, admin, created, last used, revoked."""
    keys = book().list_keys(tenant)
    if json_output:
        print_json(
            [
                {
                    "id": k.id,
                    "tenant": k.tenant,
                    "admin": k.admin,
                    "name": k.name,
                    "created_at": k.created_at.isoformat(),
                    "last_used_at": k.last_used_at.isoformat() if k.last_used_at else None,
                    "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
                }
                for k in keys
            ]
        )
        return
    table = Table(title="API keys")
    for column in ("id", "tenant", "admin", "name", "created", "last used", "revoked"):
        table.add_column(column)
    for k in keys:
        table.add_row(
            k.id,
            k.tenant,
            "yes" if k.admin else "",
            k.name or "",
            k.created_at.strftime("%Y-%m-%d %H:%M"),
            k.last_used_at.strftime("%Y-%m-%d %H:%M") if k.last_used_at else "",
            k.revoked_at.strftime("%Y-%m-%d %H:%M") if k.revoked_at else "",
        )
    out.print(table)


@app.command("revoke")
@friendly
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (or the key itself).")],
) -> None:
    """Revoke a key: requests with it are refused from now on."""
    if not book().revoke(key_id):
        fail(f"no active key {key_id.split('_')[1] if key_id.startswith('vg_') else key_id!r}")
    out.print("revoked")
