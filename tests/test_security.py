"""Security through the real gateway and the real HTTP senders: what a request may name as an
input (its own uploads, by content, or a public http(s) URL), and the SSRF guard at connect time
(DNS rebinding, IPv6 forms that embed a private IPv4 address)."""

from __future__ import annotations

import base64
import datetime as dt
import io
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from PIL import Image

from vidgate import ssrf
from vidgate.exceptions import InvalidRequest
from vidgate.providers._http import fetch_user_image
from vidgate.server import create_app
from vidgate.server.tenancy import TenantBook
from vidgate.settings import Settings
from vidgate.simulator.server import free_port
from vidgate.ssrf import GuardedTransport, check_url, forbidden

SMALL = {"duration": 1, "resolution": "360p", "aspect_ratio": "16:9"}
PUBLIC = "93.184.216.34"  # what a rebinding name answers at the check (never connected to)


# -- loopback servers ----------------------------------------------------------------------------


def _serve(app: Any, port: int, **config: Any) -> tuple[uvicorn.Server, threading.Thread]:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **config)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.02)
    return server, thread


@dataclass
class Receiver:
    """A loopback HTTP server that records every request and answers 200 with ``body``."""

    body: bytes = b"ok"
    requests: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.requests.append({"path": scope["path"], "headers": headers})
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": self.body})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver(body=_png())
    found.port = free_port()
    server, thread = _serve(found, found.port, lifespan="off")
    try:
        yield found
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _png(colour: tuple[int, int, int] = (255, 0, 0)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 360), colour).save(out, format="PNG")
    return out.getvalue()


@dataclass
class Gateway:
    url: str
    home: Path
    book: TenantBook
    app: Any

    def client(self, tenant: str) -> httpx.Client:
        secret = self.book.create_key(tenant).secret
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {secret}"}, timeout=30
        )

    def uploads(self, tenant: str) -> Path:
        folder = self.home / "uploads" / tenant
        folder.mkdir(parents=True, exist_ok=True)
        return folder


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """The real app on loopback; no SSRF allowance (loopback receivers are refused here)."""
    home = tmp_path_factory.mktemp("security")
    settings = Settings(
        home=home,
        simulated_latency=0.3,
        poll_interval=0.05,
        queue_poll_interval=0.1,
        webhook_retry_base=0.1,
    )
    app = create_app(settings)
    port = free_port()
    server, thread = _serve(app, port)
    try:
        yield Gateway(f"http://127.0.0.1:{port}", home, app.state.gateway.tenants, app)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _wait(check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return found


# -- 1. local inputs through the gateway ---------------------------------------------------------

ROUTES = ["/v1/videos", "/v1/videos/estimate"]


def _refused(response: httpx.Response, field: str, home: Path) -> str:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["message"].startswith(f"{field} must be an http(s) URL"), error["message"]
    text = response.text
    for secret in (str(home), "/proc", "environ", "uploads/", "No such file", "Errno"):
        assert secret not in text, f"{secret!r} leaked: {text}"
    return str(error["message"])


@pytest.mark.parametrize("route", ROUTES)
def test_traversal_out_of_the_home_is_refused(gateway: Gateway, route: str) -> None:
    folder = gateway.uploads("walker")
    with gateway.client("walker") as http:
        for path in (
            f"{gateway.home}/../../../../proc/self/environ",
            f"{folder}/../../../../../../proc/self/environ",
            f"{folder}/../../vidgate.sqlite",
            "/proc/self/environ",
        ):
            _refused(
                http.post(route, json={"prompt": "x", "image": path, **SMALL}),
                "image",
                gateway.home,
            )


@pytest.mark.parametrize("route", ROUTES)
def test_another_tenants_upload_is_refused(gateway: Gateway, route: str) -> None:
    with gateway.client("victim") as http:
        made = http.post(
            "/v1/videos",
            data={"prompt": "a secret", "seconds": "1", "size": "640x360"},
            files={"input_reference": ("secret.png", _png((0, 0, 255)), "image/png")},
        )
        assert made.status_code == 200, made.text
    theirs = next(gateway.uploads("victim").iterdir())
    with gateway.client("thief") as http:
        for path in (str(theirs), f"{gateway.uploads('thief')}/../victim/{theirs.name}"):
            first = http.post(route, json={"prompt": "x", "image": path, **SMALL})
            _refused(first, "image", gateway.home)
            last = {"prompt": "x", "image": f"https://{PUBLIC}/a.png", "last_frame": path}
            _refused(http.post(route, json={**last, **SMALL}), "last_frame", gateway.home)


@pytest.mark.parametrize("route", ROUTES)
def test_a_symlink_in_the_uploads_folder_pointing_out_is_refused(
    gateway: Gateway, route: str, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.png"
    outside.write_bytes(_png())  # a real image: only where it lives is wrong
    link = gateway.uploads("linker") / f"link{len(route)}.png"
    link.symlink_to(outside)
    with gateway.client("linker") as http:
        response = http.post(route, json={"prompt": "x", "image": str(link), **SMALL})
    _refused(response, "image", gateway.home)
    assert str(tmp_path) not in response.text


@pytest.mark.parametrize("route", ROUTES)
def test_a_file_that_is_not_an_image_is_refused_even_in_the_uploads_folder(
    gateway: Gateway, route: str
) -> None:
    folder = gateway.uploads(f"sniffed{len(route)}")
    fake = folder / "fake.png"
    fake.write_text("API_KEY=sk-live-123\n")
    movie = folder / "clip.mp4"
    movie.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))
    with gateway.client(f"sniffed{len(route)}") as http:
        _refused(
            http.post(route, json={"prompt": "x", "image": str(fake), **SMALL}),
            "image",
            gateway.home,
        )
        _refused(
            http.post(route, json={"prompt": "x", "image": str(movie), **SMALL}),
            "image",
            gateway.home,
        )
        _refused(
            http.post(route, json={"prompt": "x", "image": str(folder), **SMALL}),
            "image",
            gateway.home,
        )


def test_video_takes_a_video_from_the_uploads_folder_by_content(tmp_path: Path) -> None:
    """``video`` is not a create field today; the guard covers it for when it becomes one."""
    from vidgate.server.inputs import guard_inputs
    from vidgate.types import VideoRequest

    settings = Settings(home=tmp_path)
    folder = tmp_path / "uploads" / "t"
    folder.mkdir(parents=True)
    (folder / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))
    (folder / "clip.webm").write_bytes(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm")
    (folder / "photo.png").write_bytes(_png())
    for name in ("clip.mp4", "clip.webm"):
        request = VideoRequest(prompt="x", video=str(folder / ".." / "t" / name))
        assert guard_inputs(request, settings, "t").video == str(folder / name)
    for bad in (str(folder / "photo.png"), "/etc/hostname", "luma:dm:1234", "file:///x.mp4"):
        with pytest.raises(InvalidRequest, match=r"video must be an http.s. URL, or a video"):
            guard_inputs(VideoRequest(prompt="x", video=bad), settings, "t")
    with pytest.raises(InvalidRequest, match=r"video must be an http.s. URL"):
        guard_inputs(VideoRequest(prompt="x", video=str(folder / "clip.mp4")), settings, "u")


def test_an_upload_whose_content_is_not_an_image_is_not_kept(gateway: Gateway) -> None:
    with gateway.client("liar") as http:
        response = http.post(
            "/v1/videos",
            data={"prompt": "x"},
            files={"input_reference": ("a.png", b"#!/bin/sh\nid\n", "image/png")},
        )
    assert response.status_code == 400 and "PNG, JPEG or WebP" in response.text
    assert list(gateway.uploads("liar").iterdir()) == []


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("image", "file:///etc/passwd"),
        ("image", "FILE:///proc/self/environ"),
        ("image", "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()),
        ("image", "ftp://example.com/cat.png"),
        ("image", "gopher://127.0.0.1:6379/_INFO"),
        ("last_frame", "jar:file:///etc/passwd!/"),
        ("last_frame", "luma:dm:1234"),
        ("image", "http://[::1"),
    ],
)
def test_other_schemes_are_refused(gateway: Gateway, route: str, field: str, value: str) -> None:
    body = {"prompt": "x", field: value, **SMALL}
    if field == "last_frame":
        body["image"] = f"https://{PUBLIC}/first.png"
    with gateway.client("schemes") as http:
        response = http.post(route, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"].startswith(f"{field} must be an http(s) URL")
    assert "passwd" not in response.text and "environ" not in response.text


@pytest.mark.parametrize("route", ROUTES)
def test_no_existence_oracle(gateway: Gateway, route: str, tmp_path: Path) -> None:
    exists = tmp_path / "exists.png"
    exists.write_bytes(_png())
    with gateway.client("oracle") as http:
        answers = [
            http.post(route, json={"prompt": "x", "image": path, **SMALL}).json()
            for path in (
                str(exists),
                str(tmp_path / "missing.png"),
                "/etc/passwd",
                "/etc/no-such-file",
                f"{gateway.uploads('oracle')}/missing.png",
                "relative/missing.png",
            )
        ]
    assert all(answer == answers[0] for answer in answers), answers


def test_estimate_answers_exactly_as_create(gateway: Gateway) -> None:
    bodies: list[dict[str, Any]] = [
        {"image": "/proc/self/environ"},
        {"image": "file:///etc/passwd"},
        {"image": "http://10.0.0.8/cat.png"},
        {"webhook_url": "http://169.254.169.254/latest"},
    ]
    with gateway.client("twins") as http:
        for extra in bodies:
            body = {"prompt": "x", **SMALL, **extra}
            created = http.post("/v1/videos", json=body)
            estimated = http.post("/v1/videos/estimate", json=body)
            assert created.status_code == estimated.status_code == 400, (created.text, extra)
            assert created.json() == estimated.json()


def test_a_legitimate_upload_works_end_to_end(gateway: Gateway, tmp_path: Path) -> None:
    import av

    with gateway.client("honest") as http:
        created = http.post(
            "/v1/videos",
            data={"prompt": "a red dawn", "seconds": "1", "size": "640x360"},
            files={"input_reference": ("red.png", _png(), "image/png")},
        )
        assert created.status_code == 200, created.text
        [upload] = gateway.uploads("honest").iterdir()
        # The caller may name its own upload again (JSON), for create and estimate.
        again = {"prompt": "a red dusk", "image": str(upload), **SMALL}
        assert http.post("/v1/videos/estimate", json=again).status_code == 200
        second = http.post("/v1/videos", json=again)
        assert second.status_code == 200, second.text
        done = _wait(
            lambda: (
                (v := http.get(f"/v1/videos/{created.json()['id']}").json())["status"]
                in ("completed", "failed")
                and v
            )
        )
        assert done["status"] == "completed", done["error"]
        body = http.get(f"/v1/videos/{done['id']}/content").content
    out = tmp_path / "first.mp4"
    out.write_bytes(body)
    with av.open(str(out)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert frame[..., 0].mean() > 150 and frame[..., 1].mean() < 100


def test_the_library_keeps_local_paths(tmp_path: Path) -> None:
    """``Engine`` callers are trusted with their own files: no uploads folder needed."""
    from vidgate.engine.service import _check_inputs
    from vidgate.types import VideoRequest

    image = tmp_path / "anywhere.png"
    image.write_bytes(_png())
    _check_inputs(VideoRequest(prompt="x", image=str(image)))


# -- 2. SSRF at connect time ---------------------------------------------------------------------


class Rebinding:
    """A DNS answer with no TTL: public the first ``public_for`` times, loopback after. Only
    lookups for ``port`` count (the gateway's delivery loop may look up other tests' names)."""

    def __init__(self, port: int, public_for: int = 1) -> None:
        self.port = port
        self.public_for = public_for
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        if port != self.port:
            return ssrf.system_resolver(host, port)
        self.calls.append(host)
        return [PUBLIC] if len(self.calls) <= self.public_for else ["127.0.0.1"]


async def test_the_transport_refuses_a_rebound_name_at_connect_time(receiver: Receiver) -> None:
    rebinding = Rebinding(receiver.port)
    url = f"http://rebind.example:{receiver.port}/x"
    assert check_url(url, resolve=rebinding) == url  # admission saw a public address
    async with httpx.AsyncClient(transport=GuardedTransport(resolve=rebinding)) as client:
        with pytest.raises(InvalidRequest, match="non-public address"):
            await client.get(url)
    assert receiver.requests == [] and len(rebinding.calls) == 2


async def test_the_webhook_sender_checks_the_address_it_connects_to(
    gateway: Gateway, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Public at the create's check and at the sender's own check, loopback when it connects.
    rebinding = Rebinding(receiver.port, public_for=2)
    monkeypatch.setattr(ssrf, "resolver", rebinding)
    dispatcher = gateway.app.state.gateway.dispatcher
    with gateway.client("rebinder") as http:
        job = http.post(
            "/v1/videos",
            json={"prompt": "x", "webhook_url": f"http://localhost:{receiver.port}/h", **SMALL},
        )
        assert job.status_code == 200, job.text
    first = _wait(
        lambda: [d for d in dispatcher.deliveries(job_id=job.json()["id"]) if d["attempts"] >= 1]
    )
    assert "non-public address" in first[0]["last_error"]
    assert receiver.requests == [] and len(rebinding.calls) >= 3


async def test_the_image_fetcher_checks_the_address_it_connects_to(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    rebinding = Rebinding(receiver.port)
    monkeypatch.setattr(ssrf, "resolver", rebinding)
    async with httpx.AsyncClient() as client:
        with pytest.raises(InvalidRequest, match="non-public address"):
            await fetch_user_image(
                client,
                f"http://localhost:{receiver.port}/cat.png",
                provider="openai",
                ssrf_allow=[],
                max_bytes=1 << 20,
            )
    assert receiver.requests == [] and rebinding.calls == ["localhost", "localhost"]


async def test_an_allow_listed_loopback_receiver_still_gets_requests(receiver: Receiver) -> None:
    url = f"http://127.0.0.1:{receiver.port}/cat.png"
    async with httpx.AsyncClient() as client:
        data = await fetch_user_image(
            client, url, provider="openai", ssrf_allow=["127.0.0.1"], max_bytes=1 << 20
        )
    assert data == receiver.body
    transport = GuardedTransport(allow=["127.0.0.0/8"], resolve=lambda h, p: ["127.0.0.1"])
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.post(f"http://hooks.internal:{receiver.port}/h", content=b"{}")
    assert response.status_code == 200
    # The request went to the checked address, under its own name.
    assert receiver.requests[-1]["headers"]["host"] == f"hooks.internal:{receiver.port}"


EMBEDDED = [
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "::127.0.0.1",  # IPv4-compatible
    "::8.8.8.8",
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "2001::1",
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b:1::a00:1",  # local-use NAT64
    "::1",
    "fe80::1",
    "fc00::1",
]


@pytest.mark.parametrize("address", EMBEDDED)
def test_ipv6_forms_that_embed_a_private_ipv4_address_are_refused(address: str) -> None:
    import ipaddress

    assert forbidden(ipaddress.ip_address(address))
    with pytest.raises(InvalidRequest, match="non-public address"):
        check_url(f"http://[{address}]/cat.png")  # a literal: no DNS involved


@pytest.mark.parametrize("address", ["2002:7f00:1::", "2002:a9fe:a9fe::", "64:ff9b::7f00:1"])
async def test_the_transport_refuses_embedded_forms_a_name_resolves_to(address: str) -> None:
    transport = GuardedTransport(resolve=lambda h, p: [address])
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(InvalidRequest, match="non-public address"):
            await client.get("http://six.example/")


async def test_a_slow_lookup_is_a_connect_timeout() -> None:
    release = threading.Event()

    def stuck(host: str, port: int) -> list[str]:
        release.wait(5)
        return [PUBLIC]

    transport = GuardedTransport(resolve=stuck)
    try:
        async with httpx.AsyncClient(transport=transport, timeout=0.05) as client:
            with pytest.raises(httpx.ConnectTimeout):
                await client.get("http://slow.example/")
    finally:
        release.set()


def test_public_addresses_pass() -> None:
    import ipaddress

    for address in (PUBLIC, "2606:4700::1111", "2002:5db8:d822::1"):
        assert not forbidden(ipaddress.ip_address(address)), address
    assert check_url("http://x.example/", resolve=lambda h, p: [PUBLIC])


def test_the_guard_does_not_tell_what_a_name_resolves_to() -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_url("http://db.internal/", resolve=lambda h, p: ["10.9.8.7"])
    assert "10.9.8.7" not in caught.value.message and "10.9.8.7" not in str(caught.value.details)


def _tls_pair(tmp_path: Path) -> tuple[Path, Path, ssl.SSLContext]:
    """A self-signed certificate for the name ``guarded.test`` only."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "guarded.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("guarded.test")]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file, ssl.create_default_context(cafile=str(cert_file))


async def test_tls_is_verified_against_the_host_name_not_the_address(tmp_path: Path) -> None:
    cert_file, key_file, trust = _tls_pair(tmp_path)
    receiver = Receiver()
    port = free_port()
    server, thread = _serve(
        receiver, port, lifespan="off", ssl_certfile=str(cert_file), ssl_keyfile=str(key_file)
    )
    try:
        transport = GuardedTransport(
            allow=["127.0.0.1/32"],
            resolve=lambda h, p: ["127.0.0.1"],
            verify=trust,
        )
        async with httpx.AsyncClient(transport=transport) as client:
            ok = await client.get(f"https://guarded.test:{port}/")
            # The certificate names guarded.test: another name on the same address fails.
            with pytest.raises(httpx.ConnectError, match=r"CERTIFICATE_VERIFY_FAILED|match"):
                await client.get(f"https://other.test:{port}/")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert ok.status_code == 200
    assert receiver.requests[0]["headers"]["host"] == f"guarded.test:{port}"
