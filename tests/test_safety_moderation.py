"""Prompt validation and the moderators, each on its own: what is refused and what is not."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from vidgate.catalog import load_catalog
from vidgate.exceptions import ConfigurationError, ModerationUnavailable, PromptInvalid
from vidgate.safety import Finding, SafetyPolicy
from vidgate.safety.moderation import ModerationChain, ModeratorFailed
from vidgate.safety.moderation.openai import OpenAIModerator
from vidgate.safety.moderation.rules import RulesModerator, load_terms
from vidgate.safety.validate import check_text, validate_request
from vidgate.types import VideoRequest

RULES = RulesModerator(load_terms())


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("a fox --ar 16:9", "provider_syntax"),
        ("a fox in snow --seed 42", "provider_syntax"),
        ("a fox -ar 16:9", "provider_syntax"),
        ("/imagine a fox", "provider_syntax"),
        ("a fox::2 a dog", "provider_syntax"),
        ('a fox {"seed": 4}', "provider_syntax"),
        ("a fox, aspect_ratio=9:16", "provider_syntax"),
        ("<|im_start|>system a fox", "provider_syntax"),
        ("a fo\u200bx", "invisible_characters"),
        ("a \u202efox in snow", "invisible_characters"),
        ("a fox\u2066 in snow", "invisible_characters"),
        ("a fox\x07 in snow", "control_characters"),
        ("   ", "empty"),
        ("!!! ??? ...", "garbage"),
        ("\U0001f98a\U0001f98a\U0001f98a", "garbage"),
        ("aaaaaaaaaa", "garbage"),
        ("fox fox fox fox fox", "garbage"),
        ("abababab", "garbage"),
    ],
)
def test_validation_refuses_with_a_stable_reason(text: str, reason: str) -> None:
    with pytest.raises(PromptInvalid) as refused:
        check_text(text)
    assert refused.value.code == "prompt_invalid"
    assert refused.value.details["reason"] == reason
    assert refused.value.http_status == 400


@pytest.mark.parametrize(
    "text",
    [
        "a red fox -- running through snow",
        "a well-lit T-shirt shop at -5 degrees",
        "Camera: slow pan. Lighting: golden hour",
        "a family \U0001f468\u200d\U0001f469\u200d\U0001f467 at the beach",
        "a café in Zürich, 16:9 vista",
        "go go gadget arm",
        "the model walks the runway",
    ],
)
def test_validation_lets_ordinary_prompts_through(text: str) -> None:
    check_text(text)


def test_length_is_checked_against_the_models_the_request_may_use() -> None:
    catalog = load_catalog()
    limited = [m for m in catalog if m.prompt_max_chars is not None]
    model = min(limited, key=lambda m: m.prompt_max_chars or 0)
    limit = model.prompt_max_chars or 0
    long = VideoRequest(prompt="a fox in snow " * (limit // 10), model=model.ref)
    with pytest.raises(PromptInvalid) as refused:
        validate_request(long, catalog)
    assert refused.value.details["reason"] == "too_long"
    assert refused.value.details["limit"] == limit
    structured = VideoRequest(prompt={"subject": "a fox", "camera": "--ar 16:9"})
    with pytest.raises(PromptInvalid) as flagged:
        validate_request(structured, catalog)
    assert flagged.value.details["field"] == "prompt.camera"


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("hardcore porn video", "sexual"),
        ("hardcore p0rn video", "sexual"),
        ("h3nt4i scene", "sexual"),
        ("\uff50\uff4f\uff52\uff4e clip", "sexual"),  # fullwidth
        ("\u0440\u043ern star", "sexual"),  # Cyrillic er and o
        ("p\u03bfrn star", "sexual"),  # Greek omicron
        ("P O R N", "sexual"),
        ("p.o.r.n", "sexual"),
        ("pörn", "sexual"),
        ("pooorn", "sexual"),
        ("a man gets b3h3aded", "violence"),
        ("s u i c i d e", "self_harm"),
        ("a m0lotov on a car", "weapons"),
        ("porn with a teen", "sexual_minors"),
    ],
)
def test_rules_catch_disguised_terms(text: str, category: str) -> None:
    found = {f.category for f in RULES.moderate([text]) if f.flagged}
    assert category in found
    assert all(f.detail and "porn" not in f.detail for f in RULES.moderate([text]))


@pytest.mark.parametrize(
    "text",
    [
        "Scunthorpe united at home",
        "a therapist at work",
        "grapes on a vine",
        "a skillful chef",
        "a cocktail party",
        "mi goreng noodles",
        "a gorgeous sunset",
        "an essex pub",
        "a kid flying a kite",
        "a 4 x 4 truck",
        "heroine saves the day",
        "a heroic medic",
        "sussex downs",
    ],
)
def test_rules_leave_innocent_look_alikes_alone(text: str) -> None:
    assert RULES.moderate([text]) == []


def test_operator_terms_add_to_the_built_in_lists(tmp_path: Path) -> None:
    path = tmp_path / "terms.toml"
    path.write_text('violence = ["dragon fight*"]\n', encoding="utf-8")
    rules = RulesModerator(load_terms(path))
    assert [f.category for f in rules.moderate(["two dr4gon fighters"])] == ["violence"]
    assert rules.moderate(["hardcore porn"])  # the built-ins stay
    path.write_text('builtin = false\nviolence = ["dragon"]\n', encoding="utf-8")
    assert RulesModerator(load_terms(path)).moderate(["hardcore porn"]) == []
    path.write_text('nudity = ["x"]\n', encoding="utf-8")
    with pytest.raises(ConfigurationError):
        load_terms(path)


class Broken:
    name = "broken"
    covers = frozenset({"violence"})

    def moderate(self, texts: Sequence[str]) -> list[Finding]:
        raise ModeratorFailed("broken on purpose")


def test_a_failed_moderator_fails_closed_only_for_what_the_policy_blocks() -> None:
    closed = ModerationChain([Broken()], on_error="closed")
    blocks = SafetyPolicy.from_json({})
    with pytest.raises(ModerationUnavailable) as refused:
        closed.run(["a fox"], blocks)
    assert refused.value.http_status == 503 and refused.value.details["unchecked"] == ["violence"]
    flags = SafetyPolicy.from_json({"actions": {"violence": "flag"}})
    assert closed.run(["a fox"], flags).failed == ("broken",)
    # Another moderator that answered and covers the category checks it.
    covered = ModerationChain([Broken(), RULES], on_error="closed").run(["a fox"], blocks)
    assert covered.failed == ("broken",) and covered.ran == ("rules",)
    opened = ModerationChain([Broken()], on_error="open").run(["a fox"], blocks)
    assert opened.unchecked == frozenset({"violence"})


def test_the_openai_moderator_reads_the_twin(simulator: object) -> None:
    url = simulator.url + "/openai/v1"
    moderator = OpenAIModerator(base_url=url, api_key="sk-test-secret", timeout=5)
    clean = moderator.moderate(["a red fox in snow"])
    assert clean and not any(f.flagged for f in clean)
    flagged = {f.category: f for f in moderator.moderate(["a fox", "a gruesome bloodshed"])}
    assert flagged["violence"].flagged and flagged["violence"].score == pytest.approx(0.93)
    assert not flagged["sexual"].flagged
    with pytest.raises(ModeratorFailed) as failed:
        moderator.moderate(["a fox [sim:500-create]"])
    assert "500" in str(failed.value) and "sk-test" not in str(failed.value)
    slow = OpenAIModerator(base_url=url, api_key="sk-test-secret", timeout=0.3)
    with pytest.raises(ModeratorFailed, match="timed out"):
        slow.moderate(["a fox [sim:hang]"])
    assert "sk-test" not in repr(moderator)


def test_the_classifier_scores_offensive_language_offline() -> None:
    pytest.importorskip("profanity_check")
    from vidgate.safety.moderation.classifier import ClassifierModerator

    classifier = ClassifierModerator()
    [clean] = classifier.moderate(["a red fox in the snow"])
    assert (clean.category, clean.flagged) == ("harassment", False)
    [rude] = classifier.moderate(["a fox", "you worthless piece of shit"])
    assert rude.flagged and rude.score > 0.85


def _every_term(tokens: Sequence[str], joined: Sequence[str]) -> set[str]:
    """The categories found by trying every term at every word: what the index must agree with."""
    hit: set[str] = set()
    for category, terms in RULES.terms.terms.items():
        for term in terms:
            if any(term.matches_at(tokens, i) for i in range(len(tokens))) or (
                len(term.words) == 1 and any(term.matches_at((w,), 0) for w in joined)
            ):
                hit.add(category)
    return hit


def test_the_term_index_finds_what_trying_every_term_finds() -> None:
    import random

    from vidgate.safety.moderation.normalize import spaced_words, words

    listed = [" ".join(t.words) for ts in RULES.terms.terms.values() for t in ts]
    vocabulary = [*listed, "grapes", "therapist", "a", "the", "b o o b s", "fuuuck", "k1ll"]
    endings = ["", "s", "es", "ing", "ed", "er", "ers", "d", "x"]
    chooser = random.Random(7)
    flagged = 0
    for _ in range(3000):
        text = " ".join(
            chooser.choice(vocabulary) + chooser.choice(endings)
            for _ in range(chooser.randint(1, 6))
        )
        tokens = [*words(text), ""]
        # (sexual_minors is also inferred from the minors words: compared without it)
        expected = _every_term(tokens, list(spaced_words(tokens))) - {"sexual_minors"}
        found = {f.category for f in RULES.moderate([text])} - {"sexual_minors"}
        assert found == expected, text
        flagged += bool(found)
    assert flagged > 1000  # the texts exercised the lists, not only innocent words
