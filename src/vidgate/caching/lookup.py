"""``ResultCache``: whether a request can be served from an earlier job's stored video.

Admission (``Engine._admit``) asks ``probe()`` once the request is resolved. Two kinds of hit:

- **exact** (``cache: true``, the default): the same normalized key (``key.py``), an explicit
  seed, and the earlier job served by a model the catalogue marks ``deterministic_seed`` — the
  provider would render the same video again, so serving the stored one changes nothing but
  the bill.
- **similar** (``cache: "similar"``, opt-in): the caller accepts a video made for a
  near-identical prompt. Every other parameter must be equal, the seed too (an unset seed
  matches an unset seed); the prompts' embeddings (``similar.py``) must reach the tenant's
  threshold (else ``VIDGATE_CACHE_SIMILARITY``). Because the caller has said a close video will
  do, any model's result qualifies here, deterministic or not, and an identical key is the
  closest match of all. Without the ``embeddings`` extra only identical prompts match.

Scope: the tenant (``VIDGATE_CACHE_SCOPE=tenant``) or the same end user (``user``); never
another tenant. A result is served for ``VIDGATE_CACHE_TTL`` seconds after its job completed.
A job that misses is remembered (``remember()``, in its admission transaction) and becomes
servable once it completes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import sqlalchemy as sa

from .._clock import utcnow
from ..catalog import Catalog
from ..exceptions import VidgateError
from ..settings import Settings
from ..storage import IMMUTABLE, Storage
from ..storage.base import StoredObject
from ..types import Asset, CacheHit, VideoRequest, new_id
from .key import CacheKey, request_key
from .similar import Embedder, cosine, from_bytes, load_embedder, to_bytes
from .store import CacheStore, Entry

__all__ = ["Probe", "ResultCache"]

NO_EMBEDDINGS = (
    "similar prompts were not compared: the embeddings extra is not installed "
    "(pip install 'vidgate[embeddings]'); only an identical request could match"
)


@dataclass(frozen=True)
class Probe:
    """What the cache said about one request."""

    key: CacheKey | None = None  # None: cache off, or the request cannot be cached
    hit: CacheHit | None = None
    note: str | None = None  # something the job's history should say


class ResultCache:
    def __init__(
        self,
        engine: sa.Engine,
        catalog: Catalog,
        storage: Storage,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        embedder: Callable[[], Embedder | None] = load_embedder,
    ) -> None:
        self.store = CacheStore(engine)
        self.catalog = catalog
        self.storage = storage
        self.enabled = settings.cache
        self.ttl = settings.cache_ttl
        self.scope: Literal["tenant", "user"] = settings.cache_scope
        self.similarity = settings.cache_similarity
        self.clock = clock
        self.embedder = embedder

    # -- admission ---------------------------------------------------------------------------

    def probe(self, request: VideoRequest, candidates: Sequence[str], tenant: str) -> Probe:
        """Look the resolved request up. Never raises for the cache's own sake: a cache that
        cannot answer is a miss."""
        if not self.enabled:
            return Probe()
        key = request_key(request, candidates)
        similar = request.cache == "similar"
        if key is None or request.cache is False or (request.seed is None and not similar):
            return Probe(key=key)  # nothing to look up (no seed: no exact hit can be safe)
        user = (request.user or "") if self.scope == "user" else None
        since = self.clock() - timedelta(seconds=self.ttl)
        for entry in self.store.exact(tenant, user, key.exact, since):
            if similar or (request.seed is not None and self._deterministic(entry)):
                return Probe(key, _hit(entry, "exact"))
        if not similar:
            return Probe(key)
        return self._similar(key, tenant, user, since)

    def _deterministic(self, entry: Entry) -> bool:
        try:
            return self.catalog.get(f"{entry.provider}:{entry.model}").deterministic_seed
        except VidgateError:  # a model no longer in the catalogue
            return False

    def _similar(self, key: CacheKey, tenant: str, user: str | None, since: datetime) -> Probe:
        entries = self.store.near(tenant, user, key.rest, since)
        if not entries:
            return Probe(key)
        embedder = self.embedder()
        if embedder is None:
            return Probe(key, note=NO_EMBEDDINGS)
        model_id = embedder.model_id
        missing = [e for e in entries if e.embedding is None or e.embedding_model != model_id]
        vectors = embedder.embed([key.prompt, *(e.prompt for e in missing)])
        made = {e.id: to_bytes(v) for e, v in zip(missing, vectors[1:], strict=True)}
        self.store.save_embeddings(made, model_id)
        threshold = self.store.threshold(tenant) or self.similarity
        best: tuple[float, Entry] | None = None
        for entry in entries:
            raw = made.get(entry.id, entry.embedding)
            if raw is None:
                continue
            score = cosine(vectors[0], from_bytes(raw))
            if score >= threshold and (best is None or score > best[0]):
                best = (score, entry)
        if best is None:
            return Probe(key)
        score, entry = best
        return Probe(key, _hit(entry, "similar", round(min(score, 1.0), 4)))

    def remember(
        self, conn: sa.Connection, probe: Probe, *, tenant: str, user: str | None, job_id: str
    ) -> None:
        """In the admission transaction of a job that will run: keep its key, so its result
        can be served once it completes."""
        if probe.key is not None:
            self.store.add(
                conn, tenant=tenant, user=user or "", key=probe.key, job_id=job_id, now=utcnow()
            )

    # -- serving -----------------------------------------------------------------------------

    def copy(self, hit: CacheHit, job_id: str) -> list[Asset] | None:
        """The cached job's own copies of the earlier job's stored files, so deleting either
        job leaves the other whole. None when the earlier files are gone (then it is a miss).
        Copied through the storage interface (``Storage.copy``: an atomic put locally, a
        server-side copy on S3), so any backend can do it."""
        found = {a.kind: a for a in self.store.assets(hit.job_id)}
        if "video" not in found:
            return None
        copies: list[Asset] = []
        for kind, asset in found.items():
            if asset.deleted_at is not None:  # removed by a delete or the retention policy
                if kind == "video":
                    self.discard(copies)
                    return None
                continue
            try:
                copied = self._copy_asset(asset, hit.job_id, job_id)
            except VidgateError:
                copied = None
            if copied is None:
                if kind == "video":
                    self.discard(copies)
                    return None
                continue  # a still or rendition gone from storage: the copy goes without it
            copies.append(copied)
        return copies

    def _copy_asset(self, asset: Asset, old_job: str, job_id: str) -> Asset | None:
        """One asset's files under the new job's keys (every file of a delivered variant: an
        HLS set's playlists and segments too); None when one of them is gone."""
        keys = asset.facts.keys if asset.facts is not None and asset.facts.keys else [asset.key]
        stored: list[StoredObject] = []
        for key in keys:
            if old_job in key:
                target = key.replace(old_job, job_id, 1)
            else:
                target = f"{asset.kind}s/{job_id}{Path(key).suffix}"
            content_type = asset.content_type if key == asset.key else _type_of(key)
            try:
                # Through the storage interface: an atomic put locally, a server-side copy on
                # S3; a source that is gone raises, and the copy is a miss.
                stored.append(self.storage.copy(key, target, content_type, cache_control=IMMUTABLE))
            except VidgateError:
                self.discard_keys([s.key for s in stored])
                raise
        main = stored[keys.index(asset.key)] if asset.key in keys else stored[0]
        facts = (
            asset.facts.model_copy(update={"keys": [s.key for s in stored]})
            if asset.facts is not None
            else None
        )
        return asset.model_copy(
            update={
                "id": new_id("asset"),
                "key": main.key,
                "uri": main.uri,
                "size_bytes": main.size_bytes,
                "sha256": main.sha256,
                "facts": facts,
            }
        )

    def discard_keys(self, keys: Sequence[str]) -> None:
        for key in keys:
            self.storage.delete(key)

    def discard(self, copies: Sequence[Asset]) -> None:
        """Remove copies made for a job that was then not created."""
        for asset in copies:
            self.discard_keys(asset.facts.keys if asset.facts is not None else [asset.key])
            self.storage.delete(asset.key)


def _hit(
    entry: Entry, match: Literal["exact", "similar"], similarity: float | None = None
) -> CacheHit:
    return CacheHit(
        job_id=entry.job_id,
        match=match,
        prompt=entry.prompt,
        provider=entry.provider,
        model=entry.model,
        similarity=similarity,
    )


def _type_of(key: str) -> str:
    """The content type of one file of a delivered set (an HLS playlist or segment)."""
    return {
        ".m3u8": "application/vnd.apple.mpegurl",
        ".m4s": "video/iso.segment",
        ".mp4": "video/mp4",
    }.get(Path(key).suffix.lower(), "application/octet-stream")
