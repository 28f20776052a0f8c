"""Reading catalogue files and looking models up."""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from pathlib import Path

from pydantic import ValidationError

from ..exceptions import ConfigurationError, UnknownModel
from ..settings import Settings
from ..types import parse_ref
from .schema import ModelProfile, Price, ProviderProfile

__all__ = ["DATA_DIR", "Catalog", "add_profile_source", "load_catalog", "load_provider_file"]

DATA_DIR = Path(__file__).with_name("data")

#: Where profiles that are not catalogue files come from: the provider registry adds its
#: plugins' profiles here when it is imported (providers stand above the catalogue, so the
#: catalogue never imports them).
_profile_sources: list[Callable[[], list[ProviderProfile]]] = []


def add_profile_source(source: Callable[[], list[ProviderProfile]]) -> None:
    """Have ``load_catalog()`` include the profiles ``source`` returns (before the files, so a
    catalogue file for the same provider still replaces a plugin's profile)."""
    if source not in _profile_sources:
        _profile_sources.append(source)
        _cached.cache_clear()


def load_provider_file(path: Path) -> ProviderProfile:
    """Parse and validate one provider's TOML file; a broken file names itself and the problem."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        return ProviderProfile.model_validate(raw)
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as exc:
        raise ConfigurationError(f"catalogue file {path} is invalid: {exc}") from exc


class Catalog:
    """All known providers and models, looked up by ``provider:model``."""

    def __init__(self, providers: Iterable[ProviderProfile]) -> None:
        self._providers: dict[str, ProviderProfile] = {}
        for profile in providers:
            # A later file for the same provider replaces the earlier one (local overrides win).
            self._providers[profile.name] = profile

    def __iter__(self) -> Iterator[ModelProfile]:
        for profile in self._providers.values():
            yield from profile.models

    @property
    def providers(self) -> dict[str, ProviderProfile]:
        return dict(self._providers)

    def provider(self, name: str) -> ProviderProfile:
        try:
            return self._providers[name]
        except KeyError:
            hint = _suggest(name, self._providers)
            raise UnknownModel(
                f"unknown provider {name!r}{hint}; known: {', '.join(sorted(self._providers))}",
                details={"provider": name},
            ) from None

    def with_prices(self, prices: dict[str, Price]) -> Catalog:
        """This catalogue with some models' prices replaced (``provider:model`` → price)."""
        profiles = []
        for profile in self._providers.values():
            models = [
                model.model_copy(update={"price": prices[model.ref]})
                if model.ref in prices
                else model
                for model in profile.models
            ]
            copied = profile.model_copy(update={"models": models})
            profiles.append(copied)
        return Catalog(profiles)

    def get(self, ref: str) -> ModelProfile:
        """Look up ``provider:model``. Raises ``UnknownModel`` with the closest known ids."""
        provider_name, model_id = parse_ref(ref)
        if model_id is None:
            raise UnknownModel(
                f"model ids look like 'provider:model', not {ref!r}", details={"model": ref}
            )
        profile = self.provider(provider_name)
        for model in profile.models:
            if model.id == model_id:
                return model
        known = [m.id for m in profile.models]
        hint = _suggest(model_id, known)
        raise UnknownModel(
            f"provider {provider_name!r} has no model {model_id!r}{hint}; "
            f"its models: {', '.join(known)}",
            details={"model": ref},
        )


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _catalog_files() -> list[Path]:
    files = sorted(DATA_DIR.glob("*.toml"))
    extra = Settings().catalog_dir
    if extra:
        files += sorted(extra.expanduser().glob("*.toml"))
    return files


@lru_cache(maxsize=1)
def _cached(files: tuple[Path, ...]) -> Catalog:
    plugins = [profile for source in _profile_sources for profile in source()]
    profiles = [load_provider_file(path) for path in files]
    return Catalog([*plugins, *profiles])


def load_catalog() -> Catalog:
    """The built-in catalogue, plus plugin profiles and ``$VIDGATE_CATALOG_DIR`` files."""
    return _cached(tuple(_catalog_files()))
