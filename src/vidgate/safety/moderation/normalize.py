"""Text folding for term matching: what a person reads is what is matched.

``words(text)`` gives the text's words after folding — compatibility forms (fullwidth, ligatures)
to plain letters, case, diacritics, Cyrillic and Greek look-alikes to Latin letters, leetspeak
digits and symbols to letters — and, where single letters stand apart
(``p o r n``, ``p.o.r.n``), the words they spell. A term is folded the same way, so it matches
its disguises but never a longer word that merely contains it.
"""

# ruff: noqa: RUF001  (the look-alike letters are the point)
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

__all__ = ["fold", "fold_term", "spaced_words", "words"]

#: Cyrillic and Greek letters that look like Latin ones (lower case; upper case is folded first).
_HOMOGLYPHS = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "һ": "h",
    "ԁ": "d", "ԛ": "q", "ԝ": "w", "ү": "y", "ɡ": "g", "ɑ": "a", "ı": "i",
    # Greek
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "γ": "y", "ω": "w", "ς": "s", "σ": "o", "μ": "u",
}  # fmt: skip
#: Leetspeak: digits and symbols written for letters.
_LEET = {
    "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g",
    "@": "a", "$": "s", "!": "i", "|": "i", "+": "t", "€": "e", "£": "l",
}  # fmt: skip
_TABLE = str.maketrans({**_HOMOGLYPHS, **_LEET})
#: Characters that may stand inside a word (a disguise: ``p*rn`` is not matched, ``p0rn`` is).
_WORD = re.compile(r"[a-z]+")
_RUNS = re.compile(r"(.)\1+")


def _base(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    # Homoglyphs and leet before stripping marks: "й" is not "и", but "ё" → "e" either way.
    text = text.translate(_TABLE)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def fold(text: str) -> str:
    """The text folded to plain lower-case Latin letters (other characters kept)."""
    return _RUNS.sub(r"\1", _base(text))


def fold_term(term: str) -> tuple[str, ...]:
    """A term as the words it is matched as."""
    return tuple(_WORD.findall(_base(term)))


def words(text: str) -> list[str]:
    """The folded words of ``text``, in order (a matcher collapses runs of one letter)."""
    return _WORD.findall(_base(text))


def spaced_words(tokens: list[str], *, longest: int = 24) -> Iterator[str]:
    """Words spelled by single letters standing apart (``p o r n`` → ``porn``): every span of
    three or more consecutive one-letter words, joined."""
    run: list[str] = []
    for token in [*tokens, ""]:
        if len(token) == 1:
            run.append(token)
            continue
        if len(run) >= 3:
            for start in range(len(run)):
                for end in range(start + 3, min(len(run), start + longest) + 1):
                    yield "".join(run[start:end])
        run = []
