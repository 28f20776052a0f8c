"""Content Credentials (vidgate.provenance): the facts, signing with a test certificate chain
made here, reading back and verifying, tampering, a provider's own manifest kept as the
parent ingredient, the unsigned path, bad configuration, and ``vidgate provenance``.

The certificate chain copies the shape of c2pa-python's own test fixtures (es256_certs.pem):
a root CA, an intermediate CA, and an ES256 end-entity certificate with a critical key usage
(digitalSignature, nonRepudiation) and a critical extended key usage (emailProtection); the
chain handed to the signer is the end entity then the intermediate, never the root."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import pickle
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from cryptography.hazmat.primitives import serialization
from PIL import Image
from typer.testing import CliRunner

import vidgate
from tests.pki import Issued, Pki, issue
from vidgate.cli import app
from vidgate.exceptions import ConfigurationError, ProvenanceError
from vidgate.media.lane import MediaLane
from vidgate.media.probe import probe
from vidgate.media.synth import SynthSpec, render
from vidgate.provenance import (
    DIGITAL_SOURCE_TYPE,
    edit,
    facts,
    read_credentials,
    sign_file,
    signer_config,
)
from vidgate.provenance.manifest import GENERATION_LABEL, definition
from vidgate.settings import Settings

c2pa = pytest.importorskip("c2pa")
runner = CliRunner()


@pytest.fixture
def signing(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The operator's certificate configured, as the engine would read it."""
    monkeypatch.setenv("VIDGATE_C2PA_CERT", str(pki.cert))
    monkeypatch.setenv("VIDGATE_C2PA_KEY", str(pki.key))
    config = signer_config(Settings())
    assert config is not None
    return dict(config)


# -- media made here ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("media")
    mp4 = folder / "clip.mp4"
    render(SynthSpec(prompt="a fox", seed=3, duration=1.0, width=64, height=64, fps=8), mp4)
    other = folder / "other.mp4"
    render(SynthSpec(prompt="a fox", seed=4, duration=1.0, width=64, height=64, fps=8), other)
    jpeg, webp = folder / "poster.jpg", folder / "preview.webp"
    picture = Image.new("RGB", (48, 32), (180, 40, 30))
    picture.save(jpeg, quality=90)
    picture.save(webp)
    webm = folder / "clip.webm"
    with av.open(str(webm), "w") as container:
        stream = container.add_stream("libvpx-vp9", rate=8)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for index in range(4):
            pixels = np.full((64, 64, 3), 40 * index, dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode())
    return {"mp4": mp4, "other": other, "jpeg": jpeg, "webp": webp, "webm": webm}


def the_facts(**changes: Any) -> Any:
    values: dict[str, Any] = {
        "provider": "simulated",
        "model": "sim-video-1",
        "generated_at": dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC),
        "deployment": "acme-prod",
        "job_id": "job_0123",
        "variant": "720p",
        "edits": [
            edit("c2pa.transcoded", codec="h264", width=64, height=64, bitrate=250_000),
            edit("c2pa.repackaged", container="mp4", faststart=True),
        ],
    }
    values.update(changes)
    return facts(**values)


def flip_byte(path: Path, out: Path, marker: bytes, offset: int) -> Path:
    """A copy of ``path`` with one byte changed ``offset`` bytes after the last ``marker``:
    the media data comes after the manifest, whose signature bytes are random and may hold
    the marker too (a JPEG's ``FF DA`` cannot recur after its scan starts: FF is stuffed)."""
    data = bytearray(path.read_bytes())
    at = data.rindex(marker) + offset
    data[at] ^= 0xFF
    out.write_bytes(bytes(data))
    return out


# -- the facts -------------------------------------------------------------------------------


def test_the_manifest_states_ai_generation_the_provider_the_deployment_and_the_edits() -> None:
    manifest = definition(the_facts(), title="video.mp4", fmt="video/mp4")
    actions = manifest["assertions"][0]["data"]["actions"]
    created, transcoded, repackaged = actions
    assert created["action"] == "c2pa.created"
    assert created["digitalSourceType"] == DIGITAL_SOURCE_TYPE
    assert DIGITAL_SOURCE_TYPE.endswith("/trainedAlgorithmicMedia")
    assert created["softwareAgent"] == {"name": "simulated/sim-video-1"}
    assert created["when"] == "2026-11-30T12:00:00Z"
    assert transcoded["action"] == "c2pa.transcoded"
    assert transcoded["parameters"] == dict(codec="h264", width=64, height=64, bitrate=250000)
    assert transcoded["softwareAgent"] == {"name": "vidgate", "version": vidgate.__version__}
    assert repackaged["parameters"] == {"container": "mp4", "faststart": True}
    assert manifest["claim_generator_info"] == [{"name": "vidgate", "version": vidgate.__version__}]
    generation = manifest["assertions"][1]
    assert generation["label"] == GENERATION_LABEL
    assert generation["data"]["deployment"] == "acme-prod"
    assert generation["data"]["job_id"] == "job_0123"
    # With a provider's manifest as the parent, the first action opens it instead.
    opened = definition(the_facts(), title="v.mp4", fmt="video/mp4", parent_label="p")
    first = opened["assertions"][0]["data"]["actions"][0]
    assert first["action"] == "c2pa.opened"
    assert first["parameters"]["ingredientIds"] == ["p"]
    assert first["digitalSourceType"] == DIGITAL_SOURCE_TYPE


def test_facts_are_plain_data_and_refuse_what_cannot_be_written() -> None:
    plain = the_facts(deployment=None, job_id=None, variant=None, edits=[])
    assert json.loads(json.dumps(plain)) == plain
    assert "deployment" not in definition(plain, title="x", fmt="video/mp4")["assertions"][1]
    with pytest.raises(ValueError, match="provider"):
        the_facts(provider="bad\nname")
    with pytest.raises(ValueError, match="edit action"):
        edit("c2pa.deleted")
    with pytest.raises(ValueError, match="plain JSON"):
        edit("c2pa.transcoded", codec=object())


# -- signing and reading back -----------------------------------------------------------------


def test_an_mp4_is_signed_inside_the_file_and_verifies(
    media: dict[str, Path], signing: dict[str, Any], tmp_path: Path
) -> None:
    dest = tmp_path / "video.mp4"
    result = sign_file(media["mp4"], dest, the_facts(), signing)
    assert result["signed"] and result["embedded"] and result["manifest"] is None
    assert result["format"] == "video/mp4" and result["label"].startswith("urn:c2pa:")
    assert not (tmp_path / "video.c2pa").exists()
    # Still the same video.
    assert probe(dest).duration == pytest.approx(probe(media["mp4"]).duration)

    found = read_credentials(dest)
    assert found["state"] == "valid" and found["verified"] and not found["trusted"]
    assert found["embedded"] and found["active_manifest"] == result["label"]
    assert found["ai_generated"]
    assert found["claim_generator"] == f"vidgate/{vidgate.__version__}"
    assert found["signer"] is not None
    assert found["signer"]["common_name"] == "vidgate test signer"
    assert found["generation"]["provider"] == "simulated"
    assert found["generation"]["deployment"] == "acme-prod"
    names = [a["action"] for a in found["actions"]]
    assert names == ["c2pa.created", "c2pa.transcoded", "c2pa.repackaged"]
    assert found["actions"][0]["digital_source_type"] == DIGITAL_SOURCE_TYPE
    assert found["actions"][1]["parameters"]["bitrate"] == 250_000
    assert found["problems"] == []


@pytest.mark.parametrize("kind", ["jpeg", "webp"])
def test_images_are_signed_inside_the_file(
    kind: str, media: dict[str, Path], signing: dict[str, Any], tmp_path: Path
) -> None:
    dest = tmp_path / f"poster{media[kind].suffix}"
    result = sign_file(media[kind], dest, the_facts(variant="poster", edits=[]), signing)
    assert result["embedded"]
    found = read_credentials(dest)
    assert found["verified"] and found["ai_generated"]
    assert found["generation"]["variant"] == "poster"
    with Image.open(dest) as image:
        assert image.size == (48, 32)


def test_signing_again_overwrites_whole_and_leaves_nothing_behind(
    media: dict[str, Path], signing: dict[str, Any], tmp_path: Path
) -> None:
    """A step that runs again after a crash signs again: one valid file, no temporaries."""
    dest = tmp_path / "video.mp4"
    first = sign_file(media["mp4"], dest, the_facts(), signing)
    second = sign_file(media["mp4"], dest, the_facts(), signing)
    assert first["label"] != second["label"]
    found = read_credentials(dest)
    assert found["verified"] and found["active_manifest"] == second["label"]
    assert found["manifests"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["video.mp4"]


def test_a_signer_chaining_to_a_trust_anchor_is_trusted(
    pki: Pki, media: dict[str, Path], signing: dict[str, Any], tmp_path: Path
) -> None:
    dest = tmp_path / "video.mp4"
    sign_file(media["mp4"], dest, the_facts(), signing)
    found = read_credentials(dest, trust_anchors=pki.root)
    assert found["state"] == "trusted" and found["trusted"]


@pytest.mark.parametrize(
    ("kind", "marker", "offset", "code"),
    [
        ("mp4", b"mdat", 40, "assertion.bmffHash.mismatch"),
        ("jpeg", b"\xff\xda", 40, "assertion.dataHash.mismatch"),
    ],
)
def test_a_changed_byte_fails_verification(
    kind: str,
    marker: bytes,
    offset: int,
    code: str,
    media: dict[str, Path],
    signing: dict[str, Any],
    tmp_path: Path,
) -> None:
    signed = tmp_path / f"signed{media[kind].suffix}"
    sign_file(media[kind], signed, the_facts(), signing)
    tampered = flip_byte(signed, tmp_path / f"tampered{signed.suffix}", marker, offset)
    found = read_credentials(tampered)
    assert found["state"] == "invalid" and not found["verified"]
    assert code in [p["code"] for p in found["problems"]]


def test_a_webm_is_copied_unchanged_with_a_sidecar_manifest(
    media: dict[str, Path], signing: dict[str, Any], tmp_path: Path
) -> None:
    dest = tmp_path / "video.webm"
    result = sign_file(media["webm"], dest, the_facts(variant="webm"), signing)
    sidecar = tmp_path / "video.c2pa"
    assert not result["embedded"] and result["manifest"] == str(sidecar)
    assert result["format"] == "video/webm"
    assert dest.read_bytes() == media["webm"].read_bytes()
    found = read_credentials(dest)
    assert found["verified"] and not found["embedded"]
    assert found["manifest_store"] == str(sidecar)
    assert found["generation"]["variant"] == "webm"
    # The sidecar's data hash covers every byte of the file.
    tampered = flip_byte(dest, tmp_path / "tampered.webm", b"\x1f\x43\xb6\x75", 30)
    broken = read_credentials(tampered, manifest=sidecar)
    assert broken["state"] == "invalid"
    assert "assertion.dataHash.mismatch" in [p["code"] for p in broken["problems"]]


def test_a_playlist_gets_a_sidecar_too(signing: dict[str, Any], tmp_path: Path) -> None:
    playlist = tmp_path / "source.m3u8"
    playlist.write_text("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000\n720p.m3u8\n")
    result = sign_file(playlist, tmp_path / "master.m3u8", the_facts(variant="hls"), signing)
    assert result["manifest"] == str(tmp_path / "master.c2pa")
    assert read_credentials(tmp_path / "master.m3u8")["verified"]


# -- a provider's own manifest ----------------------------------------------------------------


@pytest.fixture
def provider_signed(pki: Pki, media: dict[str, Path], tmp_path: Path) -> tuple[Path, str]:
    """The clip as a provider would deliver it: with its own C2PA manifest, by its own key."""
    provider = issue("acme video signer", pki.intermediate)
    source = DIGITAL_SOURCE_TYPE
    manifest = {
        "claim_generator_info": [{"name": "acme-video", "version": "7"}],
        "title": "acme.mp4",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {"actions": [{"action": "c2pa.created", "digitalSourceType": source}]},
            }
        ],
    }
    info = c2pa.C2paSignerInfo(
        c2pa.C2paSigningAlg.ES256,
        provider.pem() + pki.intermediate.pem(),
        provider.key_pem(),
        None,
    )
    original = tmp_path / "original.mp4"
    with (
        c2pa.Signer.from_info(info) as signer,
        c2pa.Builder(manifest) as builder,
        media["mp4"].open("rb") as src,
        original.open("w+b") as out,
    ):
        builder.sign(signer, "video/mp4", src, out)
    with c2pa.Reader(str(original)) as reader:
        label = json.loads(reader.json())["active_manifest"]
    return original, label


@pytest.mark.parametrize("as_parent", [True, False], ids=["rendition", "original"])
def test_a_providers_manifest_is_kept_as_the_parent_ingredient(
    as_parent: bool,
    provider_signed: tuple[Path, str],
    media: dict[str, Path],
    signing: dict[str, Any],
    tmp_path: Path,
) -> None:
    original, provider_label = provider_signed
    dest = tmp_path / "video.mp4"
    if as_parent:  # a rendition made from the provider's file (its manifest lost in the encode)
        result = sign_file(media["other"], dest, the_facts(), signing, original)
    else:  # the provider's file itself, delivered as received
        result = sign_file(original, dest, the_facts(edits=[]), signing)
    assert result["parent_label"] == provider_label
    found = read_credentials(dest)
    assert found["verified"] and found["manifests"] == 2
    assert found["active_manifest"] == result["label"] != provider_label
    (ingredient,) = found["ingredients"]
    assert ingredient["relationship"] == "parentOf"
    assert ingredient["active_manifest"] == provider_label
    assert ingredient["verified"] is True
    assert found["actions"][0]["action"] == "c2pa.opened"
    assert found["ai_generated"]


def test_a_providers_manifest_that_no_longer_verifies_is_kept_and_marked(
    provider_signed: tuple[Path, str], signing: dict[str, Any], tmp_path: Path
) -> None:
    original, provider_label = provider_signed
    broken = flip_byte(original, tmp_path / "broken.mp4", b"mdat", 40)
    dest = tmp_path / "video.mp4"
    assert sign_file(broken, dest, the_facts(), signing)["parent_label"] == provider_label
    found = read_credentials(dest)
    assert found["verified"]  # ours verifies: it states what it received
    (ingredient,) = found["ingredients"]
    assert ingredient["active_manifest"] == provider_label and ingredient["verified"] is False


def test_a_pointer_to_remote_credentials_is_never_fetched(
    pki: Pki, media: dict[str, Path], signing: dict[str, Any], tmp_path: Path
) -> None:
    """A provider's file may name any URL for its credentials: following it would let the
    file make the worker fetch loopback or private addresses. Neither signing nor reading
    does; the loopback server here counts the attempts."""
    hits: list[str] = []

    class Count(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Count)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        info = c2pa.C2paSignerInfo(
            c2pa.C2paSigningAlg.ES256, pki.cert.read_bytes(), pki.key.read_bytes(), None
        )
        remote = tmp_path / "remote.jpg"
        manifest = definition(the_facts(edits=[]), title="remote.jpg", fmt="image/jpeg")
        with (
            c2pa.Signer.from_info(info) as signer,
            c2pa.Builder(manifest) as builder,
            media["jpeg"].open("rb") as src,
            remote.open("w+b") as out,
        ):
            builder.set_no_embed()
            builder.set_remote_url(f"http://127.0.0.1:{server.server_address[1]}/m.c2pa")
            builder.sign(signer, "image/jpeg", src, out)

        result = sign_file(media["jpeg"], tmp_path / "poster.jpg", the_facts(), signing, remote)
        assert result["signed"] and result["parent_label"] is None
        found = read_credentials(remote)
        assert found["state"] == "invalid"
        assert [p["code"] for p in found["problems"]] == ["manifest.remote"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert hits == []


# -- not configured, badly configured, not installed ---------------------------------------------


def test_without_a_certificate_files_are_delivered_unsigned_and_say_so(
    media: dict[str, Path], tmp_path: Path
) -> None:
    assert signer_config(Settings()) is None
    stale = tmp_path / "video.c2pa"
    stale.write_bytes(b"left by an earlier signed run")
    dest = tmp_path / "video.webm"
    result = sign_file(media["webm"], dest, the_facts(), None)
    assert not result["signed"] and result["label"] is None
    assert result["note"] is not None and "VIDGATE_C2PA_CERT" in result["note"]
    assert dest.read_bytes() == media["webm"].read_bytes()
    assert not stale.exists()
    found = read_credentials(dest)
    assert found["state"] == "none" and not found["verified"]


def test_required_credentials_without_a_certificate_are_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VIDGATE_C2PA_REQUIRED", "true")
    with pytest.raises(ConfigurationError, match="VIDGATE_C2PA_CERT"):
        signer_config(Settings())


def _bad_setups(pki: Pki, folder: Path) -> dict[str, tuple[Path | None, Path | None, str]]:
    def write(name: str, data: bytes) -> Path:
        (folder / name).write_bytes(data)
        return folder / name

    def pair(name: str, issued: Issued) -> tuple[Path, Path]:
        return write(f"{name}.pem", issued.pem()), write(f"{name}.key", issued.key_pem())

    encrypted = pki.signer.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    stranger = write("other.key", issue("someone else", pki.intermediate).key_pem())
    junk_key = write("junk.key", b"-----BEGIN PRIVATE KEY-----\nAAAA\n")
    return {
        "only the certificate": (pki.cert, None, "VIDGATE_C2PA_KEY is not set"),
        "a missing file": (folder / "nope.pem", pki.key, "cannot be read"),
        "not a certificate": (write("junk.pem", b"hello"), pki.key, "not a PEM certificate"),
        "not a key": (pki.cert, junk_key, "not a PEM private key"),
        "an encrypted key": (pki.cert, write("enc.key", encrypted), "encrypted"),
        "another's key": (pki.cert, stranger, "not the key"),
        "a CA certificate": (*pair("ca", issue("ca", pki.intermediate, ca=True)), "CA"),
        "self-signed": (*pair("own", issue("self", None)), "self-signed"),
        "expired": (*pair("old", issue("old", pki.intermediate, days=(-60, -1))), "valid from"),
        "no extended key usage": (
            *pair("noeku", issue("no eku", pki.intermediate, eku=False)),
            "extended key usage",
        ),
    }


def test_a_bad_certificate_or_key_is_a_clear_configuration_error_without_key_material(
    pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for case, (cert, key, message) in _bad_setups(pki, tmp_path).items():
        for variable, value in (("VIDGATE_C2PA_CERT", cert), ("VIDGATE_C2PA_KEY", key)):
            if value is None:
                monkeypatch.delenv(variable, raising=False)
            else:
                monkeypatch.setenv(variable, str(value))
        with pytest.raises(ConfigurationError) as caught:
            signer_config(Settings())
        text = str(caught.value) + json.dumps(caught.value.to_dict())
        assert message in text, case
        assert "BEGIN" not in text and pki.signer.key_pem().decode()[40:80] not in text, case


def test_a_certificate_the_library_refuses_at_signing_is_a_configuration_error(
    pki: Pki, media: dict[str, Path], tmp_path: Path
) -> None:
    """signer_config would refuse it first; the library's own check is mapped the same way."""
    own = issue("no eku", pki.intermediate, eku=False)
    (tmp_path / "own.pem").write_bytes(own.pem())
    (tmp_path / "own.key").write_bytes(own.key_pem())
    config: Any = {"cert": str(tmp_path / "own.pem"), "key": str(tmp_path / "own.key")}
    config |= {"alg": "es256", "tsa_url": None}
    with pytest.raises(ConfigurationError, match="refused to sign") as caught:
        sign_file(media["jpeg"], tmp_path / "poster.jpg", the_facts(), config)
    assert "BEGIN" not in str(caught.value)
    assert not (tmp_path / "poster.jpg").exists()


def test_a_file_that_is_not_what_its_name_says_is_a_provenance_error(
    signing: dict[str, Any], tmp_path: Path
) -> None:
    fake = tmp_path / "fake.mp4"
    fake.write_bytes(b"not a video at all" * 10)
    with pytest.raises(ProvenanceError, match="could not be signed") as caught:
        sign_file(fake, tmp_path / "video.mp4", the_facts(), signing)
    again = pickle.loads(pickle.dumps(caught.value))  # it crosses the lane and DBOS steps
    assert again.code == "provenance_failed" and again.details["file"] == "video.mp4"
    assert not (tmp_path / "video.mp4").exists()
    assert not list(tmp_path.glob(".*.tmp"))


def test_vidgate_imports_and_delivers_unsigned_without_the_extra(
    media: dict[str, Path], tmp_path: Path
) -> None:
    script = f"""
import sys
sys.modules["c2pa"] = None  # as if c2pa-python were not installed
import vidgate, vidgate.cli, vidgate.provenance as p
from vidgate.exceptions import ConfigurationError
f = p.facts(provider="simulated", model="m", generated_at="2026-11-30T12:00:00")
assert p.sign_file({str(media["mp4"])!r}, {str(tmp_path / "a.mp4")!r}, f, None)["signed"] is False
try:
    p.sign_file({str(media["mp4"])!r}, {str(tmp_path / "b.mp4")!r}, f,
                {{"cert": "c", "key": "k", "alg": "es256", "tsa_url": None}})
except ConfigurationError as exc:
    print(exc)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "pip install 'vidgate[provenance]'" in done.stdout


async def test_sign_file_runs_in_the_media_lane(
    media: dict[str, Path], signing: dict[str, Any], tmp_path: Path
) -> None:
    lane = MediaLane(1)
    try:
        result = await lane.run(
            sign_file, str(media["mp4"]), str(tmp_path / "video.mp4"), the_facts(), signing, None
        )
    finally:
        lane.shutdown()
    assert result["signed"] and read_credentials(result["path"])["verified"]


# -- the command ---------------------------------------------------------------------------------


def test_the_provenance_command_shows_and_verifies(
    pki: Pki,
    media: dict[str, Path],
    signing: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    signed = tmp_path / "video.mp4"
    sign_file(media["mp4"], signed, the_facts(), signing)

    shown = runner.invoke(app, ["provenance", str(signed)])
    assert shown.exit_code == 0, shown.output
    assert "valid" in shown.output and "AI-generated" in shown.output
    assert "trainedAlgorithmicMedia" in shown.output and "acme-prod" in shown.output
    assert "vidgate test signer" in shown.output

    as_json = runner.invoke(app, ["provenance", str(signed), "--json"])
    assert as_json.exit_code == 0
    assert json.loads(as_json.output)["state"] == "valid"

    assert runner.invoke(app, ["provenance", str(signed), "--require-trusted"]).exit_code == 1
    monkeypatch.setenv("VIDGATE_C2PA_TRUST_ANCHORS", str(pki.root))
    trusted = runner.invoke(app, ["provenance", str(signed), "--require-trusted", "--json"])
    assert trusted.exit_code == 0 and json.loads(trusted.output)["trusted"]

    tampered = flip_byte(signed, tmp_path / "tampered.mp4", b"mdat", 40)
    refused = runner.invoke(app, ["provenance", str(tampered)])
    assert refused.exit_code == 1
    assert "INVALID" in refused.output and "bmffHash.mismatch" in refused.output

    bare = runner.invoke(app, ["provenance", str(media["mp4"]), "--json"])
    assert bare.exit_code == 1 and json.loads(bare.output)["state"] == "none"

    missing = runner.invoke(app, ["provenance", str(tmp_path / "nope.mp4")])
    assert missing.exit_code == 1 and "nope.mp4" in missing.output


def test_the_signer_check_signs_and_verifies_a_test_picture(
    pki: Pki, signing: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    checked = runner.invoke(app, ["provenance", "--check-signer"])
    assert checked.exit_code == 0, checked.output
    assert "vidgate test signer" in checked.output and "es256" in checked.output
    assert "valid" in checked.output
    trusted = runner.invoke(
        app, ["provenance", "--check-signer", "--trust-anchors", str(pki.root), "--json"]
    )
    assert trusted.exit_code == 0 and json.loads(trusted.output)["state"] == "trusted"
    monkeypatch.delenv("VIDGATE_C2PA_KEY")
    broken = runner.invoke(app, ["provenance", "--check-signer"])
    assert broken.exit_code == 3 and "VIDGATE_C2PA_KEY is not set" in broken.output
    assert runner.invoke(app, ["provenance"]).exit_code == 2
