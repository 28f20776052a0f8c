"""The prompts room on its own: the structured prompt, rendering from catalogue data, the
linter, template substitution and typing, and the template library's sources and versions."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from vidgate.catalog import load_catalog
from vidgate.catalog.schema import ModelProfile, Prompting
from vidgate.db import make_engine, upgrade
from vidgate.exceptions import (
    InvalidTemplate,
    MissingTemplateVariable,
    TemplateNotFound,
    TemplateVariableError,
    UnknownTemplateVariable,
)
from vidgate.prompts.lint import lint
from vidgate.prompts.render import render
from vidgate.prompts.sources import TemplateLibrary, parse_template
from vidgate.prompts.store import TemplateStore
from vidgate.prompts.templates import expand, placeholders
from vidgate.types import VideoRequest

CATALOG = load_catalog()
PARTS = {
    "subject": "a red fox",
    "action": "trots through fresh snow",
    "camera": "slow dolly-in",
    "lighting": "golden hour backlight",
    "atmosphere": "quiet",
    "style": "cinematic",
}


def _model(**prompting: object) -> ModelProfile:
    base = CATALOG.get("simulated:synth-1")
    return base.model_copy(
        update={
            "negative_prompt": False,
            "prompt_max_chars": 200,
            "prompting": Prompting.model_validate(prompting),
        }
    )


# -- the structured prompt -------------------------------------------------------------------


def test_a_structured_prompt_is_kept_in_parts_with_a_neutral_text() -> None:
    request = VideoRequest(prompt={**PARTS, "negative": "blur"})
    assert request.prompt == (
        "A red fox trots through fresh snow. Camera: slow dolly-in. Lighting: golden hour "
        "backlight. Atmosphere: quiet. Style: cinematic."
    )
    assert request.negative_prompt == "blur"
    assert request.prompt_parts is not None and request.prompt_parts.negative == ""
    assert VideoRequest.model_validate(request.model_dump(mode="json")) == request


@pytest.mark.parametrize(
    ("prompt", "problem"),
    [
        ({"camera": "pan"}, "needs a subject or an action"),
        ({"subject": "x" * 2001}, "at most 2000"),
        ({"subject": "fox", "camera": "c" * 501}, "at most 500"),
        ({"subject": "fox", "mood": "calm"}, "Extra inputs"),
        ({"subject": "fox", "negative": "a"}, "negative prompt once"),
    ],
)
def test_every_part_is_bounded_and_checked(prompt: dict[str, str], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        VideoRequest(prompt=prompt, negative_prompt="b")  # type: ignore[arg-type]


# -- rendering --------------------------------------------------------------------------------


def test_the_order_and_labels_are_the_models_catalogue_data() -> None:
    request = VideoRequest(prompt=PARTS)
    veo = CATALOG.get("google:veo-3.1-fast-generate-preview")
    assert render(request, veo).prompt.startswith(
        "A red fox trots through fresh snow. Style: cinematic. Camera: slow dolly-in."
    )
    plain = _model(order=["lighting", "camera", "style", "atmosphere"], labels=False)
    assert render(request, plain).prompt == (
        "A red fox trots through fresh snow. Golden hour backlight. Slow dolly-in. Cinematic. "
        "Quiet."
    )


def test_a_long_prompt_loses_its_last_sections_to_fit_and_says_so() -> None:
    request = VideoRequest(prompt={**PARTS, "style": "s" * 150})
    sent = render(request, _model())
    assert len(sent.prompt) <= 200 and "Style:" not in sent.prompt
    assert "Atmosphere: quiet." in sent.prompt
    assert sent.warnings == [
        "the prompt was longer than simulated:synth-1 takes (200 characters): left out its style"
    ]


def test_a_negative_prompt_goes_in_the_field_or_is_folded_or_dropped() -> None:
    request = VideoRequest(prompt="a fox in snow", negative_prompt="blur")
    field = render(request, CATALOG.get("simulated:synth-1"))
    assert (field.prompt, field.negative_prompt, field.negative) == (
        "a fox in snow",
        "blur",
        "field",
    )
    folded = render(request, _model(negative_fallback="fold", fold_prefix="Without "))
    assert (folded.prompt, folded.negative_prompt) == ("a fox in snow Without blur.", None)
    dropped = render(request, _model(negative_fallback="drop"))
    assert (dropped.prompt, dropped.negative, dropped.negative_prompt) == (
        "a fox in snow",
        "dropped",
        None,
    )
    assert "dropped" in dropped.warnings[0]
    too_long = VideoRequest(prompt="f" * 195, negative_prompt="blur")
    assert render(too_long, _model()).negative == "dropped"  # folding would pass the limit


def test_a_provider_override_replaces_the_prompts_parts_for_that_provider_only() -> None:
    request = VideoRequest(
        prompt=PARTS, prompt_overrides={"simulated": {"camera": "static wide shot"}}
    )
    assert "Camera: static wide shot." in render(request, CATALOG.get("simulated:synth-1")).prompt
    assert "Camera: slow dolly-in." in render(request, CATALOG.get("luma:ray-2")).prompt


def test_a_negative_prompt_no_longer_refuses_a_model_without_the_field() -> None:
    from vidgate.catalog import violations

    request = VideoRequest(prompt="a fox", negative_prompt="blur")
    assert violations(CATALOG.get("luma:ray-2"), request) == []


# -- the linter --------------------------------------------------------------------------------


def _codes(request: VideoRequest, ref: str | None = "simulated:synth-1") -> list[str]:
    return [h.code for h in lint(request, CATALOG.get(ref) if ref else None)]


def test_hints_name_a_missing_camera_and_light() -> None:
    assert _codes(VideoRequest(prompt="a fox in snow")) == ["no_camera", "no_lighting"]
    assert _codes(VideoRequest(prompt="a fox, slow pan, golden hour")) == []
    assert _codes(VideoRequest(prompt={"subject": "a fox", "camera": "slow pan"})) == [
        "no_lighting"
    ]


def test_hints_find_conflicting_instructions() -> None:
    request = VideoRequest(prompt={**PARTS, "camera": "static shot", "action": "pans across"})
    hints = lint(request, None)
    assert [h.message for h in hints if h.code == "conflict"] == [
        "the prompt asks for a static camera and a moving one"
    ]
    rain = VideoRequest(prompt="rain on a neon street, slow pan", negative_prompt="rain, people")
    assert any("excludes what the prompt asks for: rain" in h.message for h in lint(rain, None))


def test_hints_name_a_prompt_too_long_and_a_negative_the_model_ignores() -> None:
    long = VideoRequest(prompt="a fox at dusk, slow pan " + "x" * 1000, negative_prompt="blur")
    assert _codes(long, "runway:gen4.5") == ["too_long"]
    fitted = VideoRequest(prompt={**PARTS, "style": "s" * 480, "atmosphere": "a" * 480})
    assert "too_long" in _codes(fitted, "runway:gen4.5")
    ignored = VideoRequest(prompt="a fox at dusk, slow pan", negative_prompt="blur")
    assert _codes(ignored, "luma:ray-2") == ["negative_ignored"]
    assert _codes(ignored, "simulated:synth-1") == []


# -- templates --------------------------------------------------------------------------------


def _template(**fields: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": "shot",
        "variables": {
            "thing": {"type": "string", "description": "what is filmed"},
            "count": {"type": "int", "default": 2, "min": 1, "max": 5},
            "mood": {"type": "enum", "choices": ["calm", "tense"], "default": "calm"},
            "night": {"type": "bool", "default": False, "true_text": "at night", "false_text": ""},
        },
        "prompt": {"subject": "{count} {thing} {night}", "atmosphere": "{mood} {{literal}}"},
        "parameters": {"duration": 4, "aspect_ratio": "9:16"},
    }
    body.update(fields)
    return body


@pytest.mark.parametrize(
    "text", ["{thing.__class__}", "{thing[0]}", "{thing!r}", "{thing:>10}", "{ thing }", "a } b"]
)
def test_substitution_refuses_anything_but_plain_placeholders(text: str) -> None:
    with pytest.raises(InvalidTemplate, match="a placeholder is"):
        placeholders(text)
    with pytest.raises(InvalidTemplate):
        parse_template(_template(prompt={"subject": text}))


def test_a_template_expands_with_typed_variables_and_default_parameters() -> None:
    template = parse_template(_template())
    request = VideoRequest(template="shot", variables={"thing": "{count} boats", "count": "3"})
    done = expand(request, template)
    # A value is inserted as text, never read as a placeholder itself.
    assert done.prompt_parts is not None
    assert done.prompt_parts.subject == "3 {count} boats"
    assert done.prompt_parts.atmosphere == "calm {literal}"
    assert (done.template, done.variables) == (
        "shot@1",
        {"thing": "{count} boats", "count": 3, "mood": "calm", "night": False},
    )
    assert (done.duration, done.aspect_ratio) == (4.0, "9:16")
    assert expand(done, template) == done  # expanding twice changes nothing
    own = VideoRequest(template="shot", variables={"thing": "boats"}, duration=2)
    assert expand(own, template).duration == 2  # the caller's own parameter wins


@pytest.mark.parametrize(
    ("variables", "error", "name"),
    [
        ({}, MissingTemplateVariable, "thing"),
        ({"thing": "x", "colour": "red"}, UnknownTemplateVariable, "colour"),
        ({"thing": "x", "count": "many"}, TemplateVariableError, "count"),
        ({"thing": "x", "count": 9}, TemplateVariableError, "count"),
        ({"thing": "x", "mood": "happy"}, TemplateVariableError, "mood"),
        ({"thing": "x", "night": "perhaps"}, TemplateVariableError, "night"),
    ],
)
def test_a_bad_variable_is_an_error_naming_it(
    variables: dict[str, object], error: type[Exception], name: str
) -> None:
    template = parse_template(_template())
    with pytest.raises(error) as raised:
        expand(VideoRequest(template="shot", variables=variables), template)  # type: ignore[arg-type]
    assert isinstance(raised.value, TemplateVariableError)
    assert raised.value.details["variable"] == name and name in str(raised.value)
    assert raised.value.http_status == 400


def test_a_template_with_an_undeclared_placeholder_or_bad_default_is_refused() -> None:
    with pytest.raises(InvalidTemplate, match="not a declared variable"):
        parse_template(_template(prompt={"subject": "{ghost}"}))
    bad = _template()
    bad["variables"] = {"mood": {"type": "enum", "choices": ["a"], "default": "b"}}
    with pytest.raises(InvalidTemplate, match="default of mood"):
        parse_template({**bad, "prompt": {"subject": "{mood}"}})


def _library(tmp_path: Path, directory: Path | None = None) -> TemplateLibrary:
    engine = make_engine(f"sqlite:///{tmp_path / 'templates.sqlite'}")
    upgrade(engine)
    return TemplateLibrary(TemplateStore(engine), directory)


def test_built_ins_operator_files_and_tenant_versions_share_one_sequence(tmp_path: Path) -> None:
    folder = tmp_path / "ours"
    folder.mkdir()
    (folder / "teaser.toml").write_text('name = "teaser"\n[prompt]\nsubject = "a teaser"\n')
    (folder / "clash.toml").write_text(
        'name = "product-shot"\nversion = 1\n[prompt]\nsubject = "not the built-in"\n'
    )
    library = _library(tmp_path, folder)
    names = {t.name: t for t in library.latest("acme")}
    assert {
        "product-shot",
        "social-vertical",
        "b-roll",
        "explainer-scene",
        "real-estate-walkthrough",
        "logo-reveal",
        "talking-subject",
        "nature-travel",
        "teaser",
    } <= set(names)
    assert names["teaser"].source == "operator"
    # A file cannot replace a built-in version: versions never change.
    assert library.get("product-shot@1", "acme").source == "builtin"
    mine = library.create({**_template(name="product-shot"), "version": 1}, "acme")
    assert mine.ref == "product-shot@3" and mine.source == "tenant"
    assert library.get("product-shot", "acme").ref == "product-shot@3"
    assert library.create(_template(name="product-shot"), "acme").version == 4
    assert library.get("product-shot@2", "acme").source == "builtin"  # unchanged
    # Another tenant sees none of it.
    assert library.get("product-shot", "other").ref == "product-shot@2"
    with pytest.raises(TemplateNotFound, match="no version 3"):
        library.get("product-shot@3", "other")
    library.create(_template(name="secret-one"), "acme")
    with pytest.raises(TemplateNotFound):
        library.get("secret-one", "other")
    assert "secret-one" not in {t.name for t in library.latest("other")}


def test_every_built_in_template_renders_with_its_defaults(tmp_path: Path) -> None:
    library = _library(tmp_path)
    for template in library.latest("default"):
        given = {n: "a thing" for n, v in template.variables.items() if v.required}
        done = expand(VideoRequest(template=template.name, variables=given), template)
        assert done.prompt_parts is not None and done.prompt_parts.subject
        assert done.prompt_parts.camera and done.prompt_parts.lighting, template.ref
        assert "{" not in done.prompt, template.ref


def test_tenant_templates_on_each_database_number_concurrent_posts_apart(backend: str) -> None:
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from vidgate.engine import Engine
    from vidgate.settings import Settings

    engine = Engine(Settings())
    try:
        library = engine.templates
        body = _template(name="race")
        with ThreadPoolExecutor(4) as pool:
            made = list(pool.map(lambda _: library.create(body, "acme"), range(4)))
        assert sorted(t.version for t in made) == [1, 2, 3, 4]
        assert [t.version for t in library.all("acme", "race")] == [1, 2, 3, 4]
        assert library.all("other", "race") == []
        request, _ = engine.resolve(
            VideoRequest(template="race@2", variables={"thing": "boats"}), tenant="acme"
        )
        assert request.template == "race@2"
        with pytest.raises(TemplateNotFound):
            engine.resolve(VideoRequest(template="race", variables={"thing": "x"}), tenant="b")
    finally:
        asyncio.run(engine.close())
