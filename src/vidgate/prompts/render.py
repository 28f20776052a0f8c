"""A request's prompt as one model takes it: the text and the negative prompt that are sent.

The rules are catalogue data (``ModelProfile.prompting``, ``negative_prompt``,
``prompt_max_chars``), so nothing here knows a provider by name:

- a structured prompt is composed subject and action first, then the model's section order,
  with or without labels; a provider's override parts (from a template) replace the prompt's;
- a text over the model's limit loses whole sections, last in the order first, until it fits
  (subject and action are never cut: admission refused a model they do not fit); a plain text
  prompt is sent as written;
- a negative prompt goes in the model's own field where it has one; otherwise it is folded into
  the text (``fold_prefix`` + negative) when that still fits, or dropped — with a warning either
  way, which the attempt records with what it sent.
"""

from __future__ import annotations

from ..catalog.schema import ModelProfile
from ..prompt_model import compose, sentence
from ..types import SentPrompt, VideoRequest

__all__ = ["apply", "render"]


def render(request: VideoRequest, model: ModelProfile) -> SentPrompt:
    """What ``model`` is sent for ``request``: the rendered prompt, the negative prompt in the
    model's own field (or None), how the negative was handled, and the warnings."""
    rules = model.prompting
    limit = model.prompt_max_chars
    warnings: list[str] = []
    parts = request.prompt_parts
    override = request.prompt_overrides.get(model.provider)
    if parts is not None and override is not None:
        parts = parts.merged(override)
    negative = (override.negative if override is not None else "") or request.negative_prompt or ""

    if parts is None or parts.empty:
        text = request.prompt
    else:
        skip: list[str] = []
        text = compose(parts, rules.order, labels=rules.labels)
        for name in reversed(rules.order):
            if limit is None or len(text) <= limit:
                break
            if getattr(parts, name):
                skip.append(name)
                text = compose(parts, rules.order, labels=rules.labels, skip=skip)
        if skip:
            warnings.append(
                f"the prompt was longer than {model.ref} takes ({limit} characters): "
                f"left out its {', '.join(skip)}"
            )
    if limit is not None and len(text) > limit:
        # Only an override can get here (admission checked subject and action): cut at a word.
        text = text[:limit].rsplit(" ", 1)[0] or text[:limit]
        warnings.append(f"the prompt was cut to the {limit} characters {model.ref} takes")

    if not negative:
        return SentPrompt(prompt=text, warnings=warnings)
    if model.negative_prompt:
        return SentPrompt(
            prompt=text, negative_prompt=negative, negative="field", warnings=warnings
        )
    if rules.negative_fallback == "fold":
        folded = f"{text} {sentence(rules.fold_prefix + negative)}"
        if limit is None or len(folded) <= limit:
            warnings.append(
                f"{model.ref} has no negative-prompt field: the negative prompt was folded into "
                f"the text ({rules.fold_prefix.strip()} …)"
            )
            return SentPrompt(prompt=folded, negative="folded", warnings=warnings)
        warnings.append(
            f"{model.ref} has no negative-prompt field, and folding it into the text would pass "
            f"the model's {limit}-character limit: the negative prompt was dropped"
        )
        return SentPrompt(prompt=text, negative="dropped", warnings=warnings)
    warnings.append(
        f"{model.ref} has no negative-prompt field, and its prompting guide advises against "
        "negative words in the prompt: the negative prompt was dropped"
    )
    return SentPrompt(prompt=text, negative="dropped", warnings=warnings)


def apply(request: VideoRequest, sent: SentPrompt) -> VideoRequest:
    """``request`` as the provider adapter sees it: the rendered text and negative prompt."""
    return request.model_copy(
        update={"prompt": sent.prompt, "negative_prompt": sent.negative_prompt}
    )
