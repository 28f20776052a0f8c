"""Templates: a prompt with typed variables, default parameters and per-provider overrides.

A template is data (a TOML file in ``library/`` or the operator's directory, or a JSON body
POSTed to ``/v1/templates``). Its text says ``{name}`` where a variable goes (``{{`` and ``}}``
are literal braces); substitution is this module's own loop over those placeholders — no
``str.format``, so no attribute or index access ever runs on a value. ``expand`` turns a request
that names a template into the request that runs: the parts filled in, the template's default
parameters where the caller left one unset, and ``template`` pinned to ``name@version`` with
the variables as used (defaults included).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..exceptions import (
    InvalidTemplate,
    MissingTemplateVariable,
    TemplateVariableError,
    UnknownTemplateVariable,
)
from ..prompt_model import StructuredPrompt
from ..types import VideoRequest

__all__ = [
    "NAME_RE",
    "Template",
    "TemplateParameters",
    "Variable",
    "coerce_variables",
    "expand",
    "parse_ref",
    "substitute",
]

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_VAR_NAME = r"[A-Za-z_][A-Za-z0-9_]{0,63}"
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_VARIABLE = re.compile(rf"^{_VAR_NAME}$")
_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}
VARIABLES_MAX = 32
STRING_MAX_CHARS = 1000

Value = str | bool | int


class Variable(BaseModel):
    """One typed variable: its type, description and default (no default: required)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["string", "int", "enum", "bool"] = "string"
    description: str = Field(default="", max_length=500)
    default: Value | None = None
    choices: list[str] = Field(default_factory=list, max_length=64, description="enum values")
    min: int | None = None
    max: int | None = None
    max_length: int = Field(default=200, ge=1, le=STRING_MAX_CHARS)
    true_text: str = Field(default="true", max_length=200, description="a bool's text when true")
    false_text: str = Field(default="false", max_length=200, description="… and when false")

    def text(self, value: Value) -> str:
        """The value as it appears in the prompt."""
        if isinstance(value, bool):
            return self.true_text if value else self.false_text
        return str(value)

    @property
    def required(self) -> bool:
        return self.default is None


class TemplateParameters(BaseModel):
    """The request parameters a template sets unless the caller sets them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    duration: float | None = Field(default=None, gt=0, le=600)
    aspect_ratio: str | None = Field(default=None, max_length=16)
    resolution: str | None = Field(default=None, max_length=16)
    fps: int | None = Field(default=None, ge=1, le=120)
    audio: bool | None = None


class Template(BaseModel):
    """One immutable version of a template."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(max_length=63)
    version: int = Field(default=1, ge=1, le=100_000)
    title: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=2000)
    variables: dict[str, Variable] = Field(default_factory=dict)
    prompt: StructuredPrompt
    parameters: TemplateParameters = Field(default_factory=TemplateParameters)
    overrides: dict[str, StructuredPrompt] = Field(
        default_factory=dict, description="provider name → parts that replace the prompt's"
    )
    source: Literal["builtin", "operator", "tenant"] = "builtin"

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME_RE.match(value):
            raise ValueError("a template name is lowercase letters, digits and dashes")
        return value

    @field_validator("variables")
    @classmethod
    def _variable_names(cls, value: dict[str, Variable]) -> dict[str, Variable]:
        if len(value) > VARIABLES_MAX:
            raise ValueError(f"at most {VARIABLES_MAX} variables")
        for name in value:
            if not _VARIABLE.match(name):
                raise ValueError(f"variable name {name[:64]!r} is not a plain name")
        return value

    @field_validator("overrides")
    @classmethod
    def _override_count(cls, value: dict[str, StructuredPrompt]) -> dict[str, StructuredPrompt]:
        if len(value) > 16:
            raise ValueError("at most 16 provider overrides")
        return value

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def check(self) -> Template:
        """Every placeholder names a declared variable; every default is of its type."""
        for where, parts in (("prompt", self.prompt), *self.overrides.items()):
            for field, text in parts.model_dump().items():
                for name in placeholders(text, f"{where}.{field}", self.name):
                    if name not in self.variables:
                        raise InvalidTemplate(
                            f"template {self.name}: {where}.{field} uses {{{name}}}, which is "
                            "not a declared variable",
                            details={"template": self.name, "variable": name},
                        )
        for name, variable in self.variables.items():
            if variable.type == "enum" and not variable.choices:
                raise InvalidTemplate(
                    f"template {self.name}: enum variable {name} lists no choices",
                    details={"template": self.name, "variable": name},
                )
            if variable.default is not None:
                try:
                    _coerce(self.name, name, variable, variable.default)
                except TemplateVariableError as exc:
                    raise InvalidTemplate(
                        f"template {self.name}: the default of {name} is invalid: {exc}",
                        details={"template": self.name, "variable": name},
                    ) from None
        return self


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``"product-shot@2"`` → ``("product-shot", 2)``; ``"product-shot"`` → (…, None)."""
    name, at, version = ref.strip().partition("@")
    if not NAME_RE.match(name) or (at and not version.isdigit()) or len(version) > 6:
        raise InvalidTemplate(
            f"{ref[:80]!r} is not a template name (name or name@version)",
            details={"template": ref[:80]},
        )
    return name, int(version) if at else None


def placeholders(text: str, where: str = "text", template: str = "") -> list[str]:
    """The variable names ``text`` refers to; anything brace-like but not ``{name}``,
    ``{{`` or ``}}`` is refused (no ``{a.b}``, ``{a[0]}``, ``{a!r}``, stray braces)."""
    names = []
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        inner = match.group(1)
        if inner is None or not _VARIABLE.match(inner):
            raise InvalidTemplate(
                f"template {template}: {where} has {token[:40]!r}; a placeholder is {{name}}, "
                "and a literal brace is written {{ or }}",
                details={"template": template},
            )
        names.append(inner)
    return names


def substitute(text: str, values: dict[str, str]) -> str:
    """``text`` with each ``{name}`` replaced by its text (checked by ``placeholders``)."""

    def one(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        return values[match.group(1)]

    return _TOKEN.sub(one, text)


def _coerce(template: str, name: str, variable: Variable, raw: Any) -> Value:
    """``raw`` (a JSON value, or a string from the command line) as the variable's type."""

    def wrong(why: str) -> TemplateVariableError:
        return TemplateVariableError(
            f"template {template}: variable {name} {why}", variable=name, template=template
        )

    if variable.type == "bool":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
            return raw.strip().lower() in _TRUE
        raise wrong(f"must be true or false, not {str(raw)[:40]!r}")
    if variable.type == "int":
        return _whole(raw, variable, wrong)
    if not isinstance(raw, str):
        raise wrong(f"must be text, not {type(raw).__name__}")
    text = " ".join(raw.split())
    if variable.type == "enum":
        if text not in variable.choices:
            raise wrong(f"must be one of {', '.join(variable.choices)}, not {text[:40]!r}")
        return text
    if not text:
        raise wrong("must not be empty")
    if len(text) > variable.max_length:
        raise wrong(f"is longer than {variable.max_length} characters")
    return text


def _whole(raw: Any, variable: Variable, wrong: Callable[[str], TemplateVariableError]) -> int:
    if isinstance(raw, bool):
        raise wrong("must be a whole number, not a boolean")
    if isinstance(raw, int):
        number = raw
    elif isinstance(raw, str) and re.fullmatch(r"-?\d{1,12}", raw.strip()):
        number = int(raw)
    else:
        raise wrong(f"must be a whole number, not {str(raw)[:40]!r}")
    if variable.min is not None and number < variable.min:
        raise wrong(f"must be at least {variable.min}")
    if variable.max is not None and number > variable.max:
        raise wrong(f"must be at most {variable.max}")
    return number


def coerce_variables(template: Template, given: dict[str, Any]) -> dict[str, Value]:
    """The variables as used: each given value typed, each missing one its default. An unknown
    name, a missing required one or a wrong type is an error naming the variable."""
    for name in given:
        if name not in template.variables:
            known = ", ".join(template.variables) or "none"
            raise UnknownTemplateVariable(
                f"template {template.ref} has no variable {name[:64]!r} (its variables: {known})",
                variable=name[:64],
                template=template.ref,
            )
    values: dict[str, Value] = {}
    for name, variable in template.variables.items():
        if name in given:
            values[name] = _coerce(template.ref, name, variable, given[name])
        elif variable.default is not None:
            values[name] = _coerce(template.ref, name, variable, variable.default)
        else:
            about = f" ({variable.description})" if variable.description else ""
            raise MissingTemplateVariable(
                f"template {template.ref} needs variable {name}{about}",
                variable=name,
                template=template.ref,
            )
    return values


def _fill(parts: StructuredPrompt, values: dict[str, str]) -> StructuredPrompt:
    filled = {field: substitute(text, values) for field, text in parts.model_dump().items()}
    return StructuredPrompt.model_validate(filled)


def expand(request: VideoRequest, template: Template) -> VideoRequest:
    """The request that runs: the template's parts filled in under the caller's own parts
    (a caller's text prompt is the subject), its parameters where the caller set none, its
    per-provider overrides, and ``template`` = ``name@version`` with the variables as used.
    Expanding an expanded request gives it back unchanged."""
    values = coerce_variables(template, dict(request.variables))
    texts = {name: template.variables[name].text(value) for name, value in values.items()}
    try:
        parts = _fill(template.prompt, texts)
        overrides = {p: _fill(o, texts) for p, o in template.overrides.items()}
    except ValidationError as exc:
        first = exc.errors()[0]
        raise _invalid(template, first) from None
    own = request.prompt_parts
    if own is None and request.prompt.strip():
        own = StructuredPrompt(subject=request.prompt)
    if own is not None:
        parts = parts.merged(own)
    data: dict[str, Any] = request.model_dump(include=request.model_fields_set)
    for field, value in template.parameters.model_dump(exclude_none=True).items():
        data.setdefault(field, value)
    negative = parts.negative
    data.update(
        prompt=parts.model_copy(update={"negative": ""}).text(),
        prompt_parts=parts.model_copy(update={"negative": ""}),
        prompt_overrides={**overrides, **request.prompt_overrides},
        template=template.ref,
        variables=values,
    )
    if negative and not request.negative_prompt:
        data["negative_prompt"] = negative
    try:
        return VideoRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise _invalid(template, first) from None


def _invalid(template: Template, error: Any) -> InvalidTemplate:
    where = ".".join(str(p) for p in error.get("loc", ())) or "request"
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return InvalidTemplate(
        f"template {template.ref} with these variables makes an invalid request: "
        f"{where}: {message}",
        details={"template": template.ref, "field": where},
    )
