"""The prompts room's admission stage, and the hints create and estimate report.

``expand_template`` is a stage of ``Engine.resolve`` (``(request, context) → request``): a
request naming a template becomes the request that runs, before routing plans it, so create
and estimate see the same thing. ``hints`` lints the request for the model the plan chose.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..catalog.schema import ModelProfile
from ..types import PromptHint, VideoRequest
from .lint import lint
from .sources import TemplateLibrary
from .templates import expand

__all__ = ["PromptContext", "expand_template", "hints"]


@dataclass(frozen=True)
class PromptContext:
    tenant: str
    library: TemplateLibrary


def expand_template(request: VideoRequest, context: PromptContext) -> VideoRequest:
    """The request with its template applied (unchanged without one). An unknown template or
    a missing, unknown or mistyped variable raises, naming it; nothing is spent."""
    if request.template is None:
        return request
    return expand(request, context.library.get(request.template, context.tenant))


def hints(request: VideoRequest, model: ModelProfile | None) -> list[PromptHint]:
    return lint(request, model)
