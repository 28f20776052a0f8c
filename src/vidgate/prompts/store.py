"""Per-tenant templates in the database: one row per immutable version (``prompt_templates``).

A version is never updated or deleted: posting a template under an existing name adds the next
version. Every read and write is scoped to one tenant, so a tenant never sees another's.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from ..db.tables import prompt_templates
from ..exceptions import InvalidTemplate
from .templates import Template

__all__ = ["TemplateStore"]

#: How many times a version number lost to a concurrent post is tried again.
_RACES = 5


class TemplateStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def versions(self, tenant: str, name: str | None = None) -> list[Template]:
        """Every version the tenant made (of ``name`` only, if given), oldest first."""
        query = sa.select(prompt_templates.c.body).where(prompt_templates.c.tenant == tenant)
        if name is not None:
            query = query.where(prompt_templates.c.name == name)
        query = query.order_by(prompt_templates.c.name, prompt_templates.c.version)
        with self.engine.connect() as conn:
            rows = conn.execute(query).scalars().all()
        return [Template.model_validate(body) for body in rows]

    def add(self, tenant: str, template: Template, after: int) -> Template:
        """Store ``template`` as the tenant's next version of its name: one past both ``after``
        (the newest version the tenant sees elsewhere: built-in, operator) and its own."""
        newest = sa.select(sa.func.max(prompt_templates.c.version)).where(
            prompt_templates.c.tenant == tenant, prompt_templates.c.name == template.name
        )
        for _ in range(_RACES):
            with self.engine.connect() as conn:
                own = conn.execute(newest).scalar() or 0
            stored = template.model_copy(
                update={"version": max(own, after) + 1, "source": "tenant"}
            )
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        prompt_templates.insert().values(
                            tenant=tenant,
                            name=stored.name,
                            version=stored.version,
                            body=stored.model_dump(mode="json"),
                            created_at=datetime.now(UTC),
                        )
                    )
            except sa.exc.IntegrityError:
                continue  # another post took this version number: take the next one
            return stored
        raise InvalidTemplate(
            f"template {template.name} is being posted concurrently; try again",
            details={"template": template.name},
        )
