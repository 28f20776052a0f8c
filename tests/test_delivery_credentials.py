"""Content Credentials on a job's delivery set: with the operator's certificate configured,
every variant the job delivers carries a manifest that verifies (inside MP4, JPEG and WebP; a
sidecar beside the HLS playlist and the WebVTT), stating AI generation, the provider and model,
the job and what vidgate did; without one, nothing is signed and each variant says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import small_request
from tests.pki import Pki
from vidgate.engine import Engine
from vidgate.provenance import read_credentials
from vidgate.settings import Settings
from vidgate.types import Job, JobStatus

pytest.importorskip("c2pa")


async def deliver(settings: Settings) -> tuple[Engine, Job]:
    engine = Engine(settings)
    await engine.start()
    job = await engine.submit(small_request(resolution="480p"))
    async for _ in engine.watch(job.id, interval=0.02):
        pass
    return engine, engine.get(job.id)


async def test_every_delivered_variant_carries_credentials_that_verify(
    pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VIDGATE_DELIVERY_PROFILE")  # the default set: HLS, stills, tiers
    settings = Settings(c2pa_cert=pki.cert, c2pa_key=pki.key, deployment_name="test-deploy")
    engine, job = await deliver(settings)
    try:
        assert job.status is JobStatus.COMPLETED, job.error
        storage = engine.runtime.storage
        signed = [a for a in job.assets if a.kind != "thumbnail"]  # made before delivery: unsigned
        assert len(signed) >= 7
        for asset in signed:
            facts = asset.facts
            assert facts is not None and facts.credentials is not None, asset.kind
            assert facts.credentials["signed"] is True, (asset.kind, facts.credentials)
            path = storage.local_path(asset.key)
            assert path is not None
            sidecar = facts.credentials.get("sidecar")
            if sidecar is not None:  # stored beside the file, under the variant's keys
                assert any(k.endswith(Path(sidecar).name) for k in facts.keys), facts.keys
            found = read_credentials(path, trust_anchors=pki.root)
            assert found["verified"] and found["trusted"], (asset.kind, found["problems"])
            assert found["ai_generated"] and found["embedded"] is (sidecar is None)
            assert found["generation"]["job_id"] == job.id, found["generation"]
            assert found["generation"]["variant"] == asset.kind
            actions = [a["action"] for a in found["actions"]]
            if asset.kind == "video":
                assert "c2pa.transcoded" in actions or "c2pa.repackaged" in actions, actions
            # What is stored is what was signed.
            assert asset.sha256 == facts.sha256
        kinds = {a.kind: a for a in job.assets}
        assert kinds["hls"].facts is not None and kinds["hls"].facts.credentials is not None
        assert kinds["hls"].facts.credentials["embedded"] is False
        assert kinds["video"].facts is not None and kinds["video"].facts.credentials is not None
        assert kinds["video"].facts.credentials["embedded"] is True
    finally:
        await engine.close()


async def test_without_a_certificate_nothing_is_signed_and_each_variant_says_why() -> None:
    engine, job = await deliver(Settings())
    try:
        assert job.status is JobStatus.COMPLETED, job.error
        for asset in job.assets:
            if asset.kind == "thumbnail":
                continue
            assert asset.facts is not None and asset.facts.credentials is not None
            assert asset.facts.credentials["signed"] is False
            assert "VIDGATE_C2PA_CERT" in asset.facts.credentials["note"]
        video = engine.runtime.storage.local_path(job.assets[1].key)
        assert video is not None and read_credentials(video)["state"] == "none"
    finally:
        await engine.close()


async def test_a_required_signature_without_a_certificate_fails_the_job() -> None:
    engine, job = await deliver(Settings(c2pa_required=True))
    try:
        assert job.status is JobStatus.FAILED
        assert job.error is not None and job.error.code == "configuration", job.error
    finally:
        await engine.close()
