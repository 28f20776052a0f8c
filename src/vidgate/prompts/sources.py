"""Where templates come from, and how a name finds its version.

Three sources, one namespace per tenant: the built-in templates (``library/*.toml``, shipped
with vidgate), the operator's directory (``VIDGATE_TEMPLATES_DIR``, same format) and the
tenant's own (``TemplateStore``, created through the API). Versions of one name form one
sequence: ``product-shot`` is its newest version the tenant can see, ``product-shot@2`` that
version wherever it lives. A file repeating a built-in name@version is skipped (logged):
versions never change.
"""

from __future__ import annotations

import logging
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..exceptions import InvalidTemplate, TemplateNotFound
from .store import TemplateStore
from .templates import Template, parse_ref

__all__ = ["BUILTIN_DIR", "TemplateLibrary", "load_template_file", "parse_template"]

log = logging.getLogger("vidgate.prompts")

BUILTIN_DIR = Path(__file__).parent / "library"


def parse_template(body: Any, source: str = "tenant") -> Template:
    """A template from its data (a TOML file's table, or a POSTed JSON object), checked."""
    if not isinstance(body, dict):
        raise InvalidTemplate("a template is an object (name, variables, prompt, …)")
    try:
        template = Template.model_validate({**body, "source": source})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'template'}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()[:5]
        )
        name = str(body.get("name", ""))[:63]
        raise InvalidTemplate(f"invalid template: {problems}", details={"template": name}) from None
    return template.check()


def load_template_file(path: Path, source: str) -> Template:
    with path.open("rb") as handle:
        return parse_template(tomllib.load(handle), source)


@lru_cache(maxsize=1)
def _builtins() -> tuple[Template, ...]:
    return tuple(load_template_file(p, "builtin") for p in sorted(BUILTIN_DIR.glob("*.toml")))


def _operator(directory: Path | None, taken: set[str]) -> list[Template]:
    if directory is None:
        return []
    found = []
    for path in sorted(directory.expanduser().glob("*.toml")):
        try:
            template = load_template_file(path, "operator")
        except (InvalidTemplate, OSError, tomllib.TOMLDecodeError) as exc:
            log.warning("template file %s skipped: %s", path, exc)
            continue
        if template.ref in taken:
            log.warning("template file %s skipped: %s already exists", path, template.ref)
            continue
        taken.add(template.ref)
        found.append(template)
    return found


class TemplateLibrary:
    """Every template a tenant can see, and the one a reference names."""

    def __init__(self, store: TemplateStore, directory: Path | None) -> None:
        self.store = store
        self.directory = directory

    def _shared(self) -> list[Template]:
        builtin = list(_builtins())
        return builtin + _operator(self.directory, {t.ref for t in builtin})

    def all(self, tenant: str, name: str | None = None) -> list[Template]:
        """Every version the tenant can see (of ``name``), by name then version."""
        shared = [t for t in self._shared() if name is None or t.name == name]
        seen = {t.ref for t in shared}
        own = [t for t in self.store.versions(tenant, name) if t.ref not in seen]
        return sorted(shared + own, key=lambda t: (t.name, t.version))

    def latest(self, tenant: str) -> list[Template]:
        """The newest version of each name the tenant can see."""
        newest: dict[str, Template] = {}
        for template in self.all(tenant):
            newest[template.name] = template
        return list(newest.values())

    def get(self, ref: str, tenant: str) -> Template:
        """``name`` (its newest version) or ``name@version``."""
        name, version = parse_ref(ref)
        versions = self.all(tenant, name)
        if not versions:
            raise TemplateNotFound(
                f"no template named {name!r} (vidgate templates list, GET /v1/templates)",
                details={"template": name},
            )
        if version is None:
            return versions[-1]
        for template in versions:
            if template.version == version:
                return template
        have = ", ".join(str(t.version) for t in versions)
        raise TemplateNotFound(
            f"template {name} has no version {version} (versions: {have})",
            details={"template": f"{name}@{version}"},
        )

    def create(self, body: Any, tenant: str) -> Template:
        """A tenant's new template, or the next version of one it can see. A version given in
        the body is ignored: versions are numbered here."""
        if isinstance(body, dict):
            body = {k: v for k, v in body.items() if k not in ("version", "source")}
        template = parse_template(body)
        existing = self.all(tenant, template.name)
        return self.store.add(tenant, template, existing[-1].version if existing else 0)
