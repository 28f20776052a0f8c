"""``vidgate keys``: API keys for the gateway's tenants."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from ..db import make_engine, upgrade
from ..settings import Settings
from ..tenancy import Limits, TenantBook, parse_rate
from ._console import fail, friendly, out, print_json

app = typer.Typer(help="Create, list and revoke API keys for the gateway.", no_args_is_help=True)


def _book() -> TenantBook:
    settings = Settings()
    settings.ensure_dirs()
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    return TenantBook(engine)


@app.command("create")
@friendly
def create(
    tenant: Annotated[str, typer.Option(help="The tenant the key belongs to (made if new).")],
    rate_limit: Annotated[
        str | None, typer.Option(help="Requests per period, e.g. 60/min, 10/s.")
    ] = None,
    max_concurrent: Annotated[
        int | None, typer.Option(help="Unfinished jobs at once.", min=1)
    ] = None,
    daily_videos: Annotated[int | None, typer.Option(help="Jobs per UTC day.", min=1)] = None,
    webhook_url: Annotated[
        str | None, typer.Option(help="The tenant's default URL for job events.")
    ] = None,
    admin: Annotated[bool, typer.Option("--admin", help="May use the admin endpoints.")] = False,
    name: Annotated[str | None, typer.Option(help="A label for the key.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Make a key and print it once: it is stored only as a hash."""
    book = _book()
    limits = None
    if rate_limit is not None or max_concurrent is not None or daily_videos is not None:
        count, period = parse_rate(rate_limit) if rate_limit else (None, 60.0)
        limits = Limits(
            rate_limit=count,
            rate_period=period,
            max_concurrent=max_concurrent,
            daily_videos=daily_videos,
        )
    key = book.create_key(tenant, admin=admin, name=name, limits=limits)
    if webhook_url is not None:
        book.ensure_tenant(tenant, webhook_url=webhook_url)
    secret = book.tenant(tenant)["webhook_secret"]
    if json_output:
        print_json(
            {
                "key": key.secret,
                "id": key.id,
                "tenant": tenant,
                "admin": admin,
                "webhook_secret": secret,
            }
        )
        return
    out.print(key.secret)
    typer.echo(
        f"key {key.id} for tenant {tenant!r}{' (admin)' if admin else ''}; it is shown only "
        f"this once. Client webhooks for this tenant are signed with {secret}",
        err=True,
    )


@app.command("list")
@friendly
def list_keys(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Keys (never their secrets): id, tenant, admin, created, last used, revoked."""
    keys = _book().list_keys(tenant)
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
    if not _book().revoke(key_id):
        fail(f"no active key {key_id.split('_')[1] if key_id.startswith('vg_') else key_id!r}")
    out.print("revoked")
