"""The local rules moderator: term lists by category, matched on folded text.

The built-in lists (``safety/data/terms.toml``) are conservative: terms that name a category
unambiguously. ``VIDGATE_SAFETY_TERMS`` names the operator's own TOML file, ``category =
["term", …]`` (plus ``minors = […]``, words that turn a sexual finding into ``sexual_minors``,
and ``builtin = false`` to drop the built-in lists), added to the built-in ones.

A term matches as whole folded words (``normalize``): its disguises — spacing, case,
leetspeak, diacritics, look-alike letters, fullwidth forms — match; a longer word that contains
it does not (``grapes``, ``Scunthorpe``, ``therapist``). ``term*`` matches a word prefix, and a
plain term also matches with an inflection (s, es, ed, ing, er, ers, d).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ...exceptions import ConfigurationError
from ..categories import CATEGORIES, OTHER
from ..policy import Finding
from .normalize import fold_term, spaced_words, words

__all__ = ["BUILTIN_TERMS", "RulesModerator", "TermList", "load_terms"]

BUILTIN_TERMS = Path(__file__).resolve().parents[1] / "data" / "terms.toml"
_INFLECTIONS = ("", "s", "es", "ed", "d", "ing", "er", "ers")
_MINORS = "minors"


def _collapse(word: str) -> str:
    out: list[str] = []
    for c in word:
        if not out or out[-1] != c:
            out.append(c)
    return "".join(out)


@dataclass(frozen=True)
class Term:
    words: tuple[str, ...]
    prefix: bool

    def matches_at(self, tokens: Sequence[str], start: int) -> bool:
        if start + len(self.words) > len(tokens):
            return False
        for offset, want in enumerate(self.words):
            token = tokens[start + offset]
            last = offset == len(self.words) - 1
            if last and self.prefix:
                if not (token.startswith(want) or _collapse(token).startswith(_collapse(want))):
                    return False
            elif not _same(token, want):
                return False
        return True


def _same(token: str, want: str) -> bool:
    if any(token == want + ending for ending in _INFLECTIONS):
        return True
    short = _collapse(want)
    if len(short) < 3:
        return False  # "xxx" and "kkk" match only as written (after folding)
    folded = _collapse(token)
    return any(folded == short + ending for ending in _INFLECTIONS)


def _term(raw: str) -> Term | None:
    text = raw.strip()
    prefix = text.endswith("*")
    folded = fold_term(text.rstrip("*"))
    return Term(folded, prefix) if folded else None


@dataclass(frozen=True)
class TermList:
    """Terms by category, and the words that make a sexual finding one about minors."""

    terms: Mapping[str, tuple[Term, ...]]
    minors: tuple[Term, ...]
    sources: tuple[str, ...]


def _read(path: Path) -> dict[str, object]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(
            f"the safety term list {path} cannot be read: {type(exc).__name__}"
        ) from exc


def _lists(data: Mapping[str, object], path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in data.items():
        if key == "builtin":
            continue
        if key not in (*CATEGORIES, OTHER, _MINORS):
            raise ConfigurationError(
                f"the safety term list {path} names an unknown category {key!r}; the categories "
                f"are {', '.join((*CATEGORIES, OTHER))} (and 'minors')"
            )
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigurationError(f"{path}: {key} is a list of strings")
        out[key] = list(value)
    return out


@lru_cache(maxsize=8)
def _load(operator: Path | None, mtime: float) -> TermList:
    merged: dict[str, list[str]] = {}
    sources: list[str] = []
    extra = _read(operator) if operator is not None else {}
    if extra.get("builtin", True) is not False:
        for key, value in _lists(_read(BUILTIN_TERMS), BUILTIN_TERMS).items():
            merged.setdefault(key, []).extend(value)
        sources.append("builtin")
    if operator is not None:
        for key, value in _lists(extra, operator).items():
            merged.setdefault(key, []).extend(value)
        sources.append("operator")

    def compiled(raw: Iterable[str]) -> tuple[Term, ...]:
        return tuple(t for t in (_term(r) for r in raw) if t is not None)

    return TermList(
        terms={k: compiled(v) for k, v in merged.items() if k != _MINORS},
        minors=compiled(merged.get(_MINORS, ())),
        sources=tuple(sources),
    )


def load_terms(operator: Path | None = None) -> TermList:
    """The built-in lists plus the operator's file (read again when it changes)."""
    if operator is None:
        return _load(None, 0.0)
    path = operator.expanduser()
    try:
        mtime = path.stat().st_mtime
    except OSError as exc:
        raise ConfigurationError(f"VIDGATE_SAFETY_TERMS names a missing file: {path}") from exc
    return _load(path, mtime)


def _keys(token: str) -> set[str]:
    """The first words a term could have to match ``token`` (``_same``), and its folded form's
    stems: the token without each inflection, as written and with repeats collapsed."""
    out: set[str] = set()
    for form in (token, _collapse(token)):
        out.add(form)
        out.update(form[: -len(e)] for e in _INFLECTIONS if e and form.endswith(e))
    return out


class _Index:
    """Terms looked up by their first word, so a prompt costs a few dictionary lookups per
    word rather than a comparison with every term. Lookups only narrow the candidates:
    ``Term.matches_at`` still decides, so the index never changes what matches."""

    def __init__(self, terms: Mapping[str, Sequence[Term]]) -> None:
        self.exact: dict[str, list[tuple[str, Term]]] = {}
        self.prefix: dict[str, list[tuple[str, Term]]] = {}
        self.prefix_lengths: set[int] = set()
        for category, listed in terms.items():
            for term in listed:
                first = term.words[0]
                if term.prefix and len(term.words) == 1:
                    for form in {first, _collapse(first)}:
                        self.prefix.setdefault(form, []).append((category, term))
                        self.prefix_lengths.add(len(form))
                else:
                    for form in {first, _collapse(first)}:
                        self.exact.setdefault(form, []).append((category, term))

    def candidates(self, token: str) -> list[tuple[str, Term]]:
        if not token:
            return []
        found: list[tuple[str, Term]] = []
        for key in _keys(token):
            found.extend(self.exact.get(key, ()))
        for form in {token, _collapse(token)}:
            for length in self.prefix_lengths:
                if length <= len(form):
                    found.extend(self.prefix.get(form[:length], ()))
        return found

    def categories(self, tokens: Sequence[str], joined: Sequence[str]) -> set[str]:
        """The categories with a term that matches at some word of ``tokens``, or as one
        single-word term over a word of ``joined`` (spaced-out letters put together)."""
        hit: set[str] = set()
        for i, token in enumerate(tokens):
            for category, term in self.candidates(token):
                if category not in hit and term.matches_at(tokens, i):
                    hit.add(category)
        for word in joined:
            for category, term in self.candidates(word):
                if category not in hit and len(term.words) == 1 and term.matches_at((word,), 0):
                    hit.add(category)
        return hit


class RulesModerator:
    """Term lists by category, matched on folded words. Never fails."""

    name = "rules"
    covers = frozenset((*CATEGORIES, OTHER))

    def __init__(self, terms: TermList) -> None:
        self.terms = terms
        self._index = _Index(terms.terms)
        self._minors = _Index({"sexual_minors": terms.minors})

    def moderate(self, texts: Sequence[str]) -> list[Finding]:
        tokens: list[str] = []
        for text in texts:
            tokens.extend(words(text))
            tokens.append("")  # no term spans two texts
        joined = list(spaced_words(tokens))
        hit = self._index.categories(tokens, joined)
        flagged = [category for category in self.terms.terms if category in hit]
        minors = "sexual" in flagged and "sexual_minors" not in flagged
        if minors and self._minors.categories(tokens, joined):
            flagged.append("sexual_minors")
        lists = "+".join(self.terms.sources)
        return [
            Finding(category, 1.0, True, self.name, detail=f"{category} term list ({lists})")
            for category in flagged
        ]
