"""The Create page: a form over the create body (a text or structured prompt, a template and
its variables, duration, aspect, resolution, audio, an image, model or strategy and priority)
with a live estimate beside the Generate button.

The form is turned into the same fields a ``POST /v1/videos`` body holds, then goes through
the API's own functions (``estimate_video``, ``admit_video``): the page can do nothing the API
cannot. Without JavaScript, "Estimate" posts the form and the page comes back with the quote.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from ..._clock import utcnow
from ...catalog.schema import LifecycleStage
from ...exceptions import InvalidRequest, VidgateError
from ...priority.model import Priority, Strategy
from ...prompt_model import StructuredPrompt
from ...prompts.templates import Template
from ..gateway import Gateway, gateway
from ..videos import admit_video, estimate_video, save_upload
from .sessions import Session
from .web import PageRoute, check_csrf, dashboard_path, page, viewer

__all__ = ["router"]

router = APIRouter(route_class=PageRoute)

#: The structured prompt's parts, in the form's order.
PARTS = tuple(StructuredPrompt.model_fields)
ASPECTS = ("16:9", "9:16", "1:1", "4:3", "3:4", "21:9")
RESOLUTIONS = ("480p", "720p", "1080p", "4k")
#: Plain fields copied into the create body when filled in.
_PLAIN = ("duration", "aspect_ratio", "resolution", "model", "strategy", "priority", "user")
_MAX_FIELD = 10_000


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    if value is None or isinstance(value, UploadFile):
        return ""
    if len(value) > _MAX_FIELD:
        raise InvalidRequest(f"{name} is longer than {_MAX_FIELD} characters")
    return value.strip()


def create_fields(form: FormData, templates: dict[str, Template]) -> dict[str, Any]:
    """The create body the form stands for (the API's field names and shapes)."""
    fields: dict[str, Any] = {}
    parts = {p: _text(form, f"part_{p}") for p in PARTS}
    if any(parts.values()):
        fields["prompt"] = {k: v for k, v in parts.items() if v}
    elif _text(form, "prompt"):
        fields["prompt"] = _text(form, "prompt")
    fields.update(_template_fields(form, templates))
    for name in _PLAIN:
        value = _text(form, name)
        if value:
            fields[name] = value
    if "duration" in fields:
        try:
            fields["duration"] = float(fields["duration"])
        except ValueError:
            raise InvalidRequest("duration is a number of seconds") from None
    audio = _text(form, "audio")
    if audio in ("on", "off"):
        fields["audio"] = audio == "on"
    negative = _text(form, "negative_prompt")
    if negative:
        fields["negative_prompt"] = negative
    seed = _text(form, "seed")
    if seed:
        if not seed.isdigit():
            raise InvalidRequest("seed is a whole number")
        fields["seed"] = int(seed)
    return fields


def _template_fields(form: FormData, templates: dict[str, Template]) -> dict[str, Any]:
    """The chosen template and the variables filled in for it (other templates' are ignored)."""
    chosen = _text(form, "template")
    if not chosen:
        return {}
    template = templates.get(chosen)
    if template is None:
        raise InvalidRequest(f"no template {chosen!r}")
    variables = {n: _text(form, f"var_{chosen}__{n}") for n in template.variables}
    variables = {n: v for n, v in variables.items() if v}
    return {"template": chosen, **({"variables": variables} if variables else {})}


def _templates(gw: Gateway, tenant: str) -> dict[str, Template]:
    return {t.name: t for t in gw.engine.templates.latest(tenant)}


def _models(gw: Gateway) -> list[str]:
    today = utcnow().date()
    retired = LifecycleStage.RETIRED
    return sorted(m.ref for m in gw.engine.catalog if m.lifecycle.stage_on(today) != retired)


async def _form_page(
    request: Request,
    session: Session,
    gw: Gateway,
    values: dict[str, str],
    *,
    estimate: dict[str, Any] | None = None,
    problem: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    templates = await asyncio.to_thread(_templates, gw, session.principal.tenant)
    return page(
        request,
        "create.html",
        session,
        status=status,
        title="Create a video",
        values=values,
        templates=sorted(templates.values(), key=lambda t: t.name),
        parts=PARTS,
        aspects=ASPECTS,
        resolutions=RESOLUTIONS,
        models=_models(gw),
        providers=sorted(gw.engine.catalog.providers),
        strategies=[s.value for s in Strategy],
        priorities=[p.value for p in Priority],
        estimate=estimate,
        problem=problem,
    )


@router.get("/create")
async def create_form(
    request: Request, session: Session = Depends(viewer), gw: Gateway = Depends(gateway)
) -> HTMLResponse:
    values = {k: v for k, v in request.query_params.items() if k == "template"}
    return await _form_page(request, session, gw, values)


async def _read(
    request: Request, session: Session, gw: Gateway
) -> tuple[FormData, dict[str, Any], str | None]:
    form = await request.form(max_part_size=gw.settings.max_body_bytes)
    check_csrf(request, session, _text(form, "csrf") or None)
    templates = await asyncio.to_thread(_templates, gw, session.principal.tenant)
    fields = create_fields(form, templates)
    upload = form.get("image")
    path = None
    if isinstance(upload, UploadFile) and upload.filename:
        path = await save_upload(upload, gw, session.principal.tenant)
    return form, fields, path


def _values(form: FormData) -> dict[str, str]:
    return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}


@router.post("/create")
async def create(
    request: Request, session: Session = Depends(viewer), gw: Gateway = Depends(gateway)
) -> Response:
    """Generate (the default button) or, with ``action=estimate``, the page again with the
    quote. A refusal (a budget, a limit, a prompt the policy blocks) shows on the form."""
    form, fields, upload = await _read(request, session, gw)
    tenant = session.principal.tenant
    try:
        if _text(form, "action") == "estimate":
            if upload is not None:
                fields["image"] = upload
            found = await estimate_video(gw, tenant, fields)
            return await _form_page(request, session, gw, _values(form), estimate=found)
        job = await admit_video(gw, tenant, fields, upload)
    except VidgateError as exc:
        return await _form_page(
            request, session, gw, _values(form), problem=f"{exc}", status=exc.http_status
        )
    return RedirectResponse(dashboard_path(request, f"jobs/{job.id}"), status_code=303)


@router.post("/create/estimate")
async def estimate(
    request: Request, session: Session = Depends(viewer), gw: Gateway = Depends(gateway)
) -> HTMLResponse:
    """The live estimate: the quote per capable model, why the others cannot, prompt hints
    (an HTML fragment the page swaps in as the form changes)."""
    try:
        _, fields, upload = await _read(request, session, gw)
        if upload is not None:
            fields["image"] = upload
        found = await estimate_video(gw, session.principal.tenant, fields)
    except VidgateError as exc:
        if exc.http_status in (401, 403):
            raise
        return page(request, "estimate.html", session, estimate=None, problem=str(exc))
    return page(request, "estimate.html", session, estimate=found, problem=None)


def variables_json(template: Template) -> str:
    """A template's variables for the page (type, description, default, choices)."""
    return json.dumps({n: v.model_dump(mode="json") for n, v in template.variables.items()})
