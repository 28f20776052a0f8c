"""The dashboard over real HTTP (a browser's requests, without the browser): sign-in and its
cookie, CSRF on every form, tenant isolation, the jobs list and its filters, the live list's
events, the job page and its actions. tests/test_dashboard_browser.py drives real Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.budget_support import FIRST_PER_SECOND, priced_catalog
from tests.dashboard_support import csrf_of, form_token, sign_in
from tests.test_gateway import SMALL, Server, running_gateway, wait_done
from vidgate.catalog import loader

#: Less media work per job than the default profile: the pages, not the encoder, are tested.
LIGHT = '{"tiers": [], "hls": true, "sprite": true, "poster": true, "preview": false}'


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A gateway whose offline models have a price (budget_support), so jobs cost money."""
    with pytest.MonkeyPatch.context() as patch:
        priced_catalog(tmp_path_factory.mktemp("catalog"), patch)
        with running_gateway(
            tmp_path_factory.mktemp("dashboard"),
            signed_links=True,
            dashboard_refresh=0.05,
            delivery_profile=LIGHT,
        ) as server:
            yield server
    loader._cached.cache_clear()


def _create(server: Server, key: str, prompt: str, **extra: object) -> str:
    with server.client(key) as api:
        answer = api.post("/v1/videos", json={"prompt": prompt, **SMALL, **extra})
        assert answer.status_code == 200, answer.text
        job_id: str = answer.json()["id"]
        return job_id


def test_pages_need_a_session_and_send_you_back_after_signing_in(gateway: Server) -> None:
    anonymous = httpx.Client(base_url=gateway.url, follow_redirects=False)
    answer = anonymous.get("/jobs?status=failed")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Fjobs%3Fstatus%3Dfailed"
    assert anonymous.get("/").headers["location"] == "/jobs"

    key = gateway.key("dash-a")
    form = anonymous.get("/login")
    token = form_token(form.text)
    assert form.headers["content-security-policy"].startswith("default-src 'self'")
    signed = anonymous.post(
        "/login", data={"key": key, "csrf": token, "next": "/jobs?status=failed"}
    )
    assert signed.status_code == 303 and signed.headers["location"] == "/jobs?status=failed"
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    listing = anonymous.get("/jobs")
    assert listing.status_code == 200 and "dash-a" in listing.text
    assert key not in listing.text and key.split("_", 2)[2] not in listing.text


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil"])
def test_after_sign_in_never_leaves_the_dashboard(gateway: Server, target: str) -> None:
    client = httpx.Client(base_url=gateway.url, follow_redirects=False)
    token = form_token(client.get("/login").text)
    key = gateway.key("dash-next")
    answer = client.post("/login", data={"key": key, "csrf": token, "next": target})
    assert answer.status_code == 303 and answer.headers["location"] == "/jobs"


def test_a_wrong_key_or_a_forged_sign_in_gets_no_session(gateway: Server) -> None:
    client = httpx.Client(base_url=gateway.url, follow_redirects=False)
    token = form_token(client.get("/login").text)
    wrong = client.post("/login", data={"key": "vg_nope_nope", "csrf": token})
    assert wrong.status_code == 401 and "not accepted" in wrong.text
    assert "vidgate_session" not in client.cookies

    # A page on another site posting a real key: it cannot read or set our sign-in cookie.
    key = gateway.key("dash-forged")
    other = httpx.Client(base_url=gateway.url, follow_redirects=False)
    forged = other.post("/login", data={"key": key, "csrf": "guessed"})
    assert forged.status_code == 403 and "forged" in forged.text
    assert "vidgate_session" not in other.cookies
    assert forged.headers["content-type"].startswith("text/html")  # a page, not JSON


def test_a_tenant_sees_only_its_own_jobs(gateway: Server) -> None:
    mine, theirs = gateway.key("dash-mine"), gateway.key("dash-theirs")
    own = _create(gateway, mine, "a lighthouse at dawn")
    other = _create(gateway, theirs, "a secret prototype")
    client = sign_in(gateway.url, mine)
    listing = client.get("/jobs").text
    assert own in listing and other not in listing and "a secret prototype" not in listing
    refused = client.get(f"/jobs/{other}")
    assert refused.status_code == 404 and "a secret prototype" not in refused.text
    for action in ("cancel", "retry"):
        token = csrf_of(client, "/jobs")
        answer = client.post(f"/jobs/{other}/{action}", data={"csrf": token})
        assert answer.status_code == 404
    assert client.get(f"/jobs/{other}/download").status_code == 404

    admin = sign_in(gateway.url, gateway.key("dash-ops", admin=True))
    everything = admin.get("/jobs").text
    assert own in everything and other in everything
    only = admin.get("/jobs", params={"tenant": "dash-theirs"}).text
    assert other in only and own not in only
    assert admin.get(f"/jobs/{other}").status_code == 200


def test_filters_and_search(gateway: Server) -> None:
    key = gateway.key("dash-filter")
    heron = _create(gateway, key, "A grey heron in 100% fog", user="u-1")
    fox = _create(gateway, key, "a fox under the moon", user="u-2")
    client = sign_in(gateway.url, key)

    def shown(**query: str) -> set[str]:
        page = client.get("/jobs", params=query)
        assert page.status_code == 200, page.text
        return {job for job in (heron, fox) if job in page.text}

    assert shown() == {heron, fox}
    assert shown(q="HERON") == {heron}
    assert shown(q="100%") == {heron}  # a wildcard in the search is a plain character
    assert shown(q="_") == set()
    assert shown(user="u-2") == {fox}
    assert shown(provider="simulated") == {heron, fox}
    assert shown(provider="runway") == set()
    assert shown(since="2000-01-01", until="2000-01-02") == set()
    bad = client.get("/jobs", params={"since": "yesterday"})
    assert bad.status_code == 400 and "2026-12-01" in bad.text
    assert client.get("/jobs", params={"status": "exploded"}).status_code == 400
    # The API's list takes the same filters.
    with gateway.client(key) as api:
        listed = api.get("/v1/videos", params={"q": "heron"}).json()["data"]
        assert [v["id"] for v in listed] == [heron]
        listed = api.get("/v1/videos", params={"user": "u-2", "order": "asc"}).json()["data"]
        assert [v["id"] for v in listed] == [fox]


def test_the_live_list_says_when_a_job_changes(gateway: Server) -> None:
    key = gateway.key("dash-live")
    client = sign_in(gateway.url, key)
    with client.stream("GET", "/jobs/events") as events:
        assert events.headers["content-type"].startswith("text/event-stream")
        lines = events.iter_lines()
        assert next(lines).startswith("retry:")
        job = _create(gateway, key, "a kite over the dunes")
        for line in lines:
            if line == "event: changed":
                break
    rows = client.get("/jobs/rows").text
    assert job in rows and "<tr" in rows and "<html" not in rows


def test_a_job_page_links_its_video_and_history(gateway: Server) -> None:
    key = gateway.key("dash-job")
    done = _create(gateway, key, "a paper boat on a puddle")
    with gateway.client(key) as api:
        wait_done(api, done)
    client = sign_in(gateway.url, key)
    page = client.get(f"/jobs/{done}")
    assert page.status_code == 200
    html = page.text
    assert 'id="player"' in html and "/v1/files/" in html and "sig=" in html
    assert "simulated" in html and "Attempts" in html and "Provider calls" in html
    download = client.get(f"/jobs/{done}/download")
    assert download.status_code == 303
    video = httpx.get(gateway.url + download.headers["location"])
    assert video.status_code == 200 and video.content[4:8] == b"ftyp"


def test_signing_out_or_revoking_the_key_ends_the_session(gateway: Server) -> None:
    made = gateway.book.create_key("dash-out")
    assert made.secret is not None
    client = sign_in(gateway.url, made.secret)
    cookie = client.cookies["vidgate_session"]
    token = csrf_of(client, "/jobs")
    assert client.post("/logout", data={"csrf": "wrong"}).status_code == 403
    assert client.post("/logout", data={"csrf": token}).status_code == 303
    replay = httpx.Client(base_url=gateway.url, cookies={"vidgate_session": cookie})
    assert replay.get("/jobs", follow_redirects=False).status_code == 303

    again = sign_in(gateway.url, made.secret)
    assert again.get("/jobs").status_code == 200
    gateway.book.revoke(made.id)
    assert again.get("/jobs", follow_redirects=False).status_code == 303


def test_create_from_a_template_and_the_live_estimate(gateway: Server) -> None:
    key = gateway.key("dash-create")
    client = sign_in(gateway.url, key)
    form = client.get("/create", params={"template": "product-shot"})
    assert form.status_code == 200 and 'data-template="product-shot"' in form.text
    token = form_token(form.text)
    fields = {
        "csrf": token,
        "template": "product-shot",
        "var_product-shot__product": "a red sneaker",
        "var_logo-reveal__brand": "ignored: another template's variable",
        "duration": "1",
        "resolution": "360p",
        "user": "carol",
    }
    estimate = client.post("/create/estimate", data=fields)
    assert estimate.status_code == 200 and "<html" not in estimate.text
    assert "simulated:synth-1" in estimate.text and "chosen" in estimate.text
    assert "Why the other" in estimate.text  # the models that cannot, with their reasons
    assert client.post("/create/estimate", data={**fields, "csrf": "x"}).status_code == 403
    bad = client.post("/create/estimate", data={**fields, "duration": "soon"})
    assert bad.status_code == 200 and "duration is a number" in bad.text

    made = client.post("/create", data={**fields, "action": "generate"})
    assert made.status_code == 303, made.text
    job_id = made.headers["location"].rsplit("/", 1)[1]
    with gateway.client(key) as api:
        video = api.get(f"/v1/videos/{job_id}").json()
    assert video["template"].startswith("product-shot@") and "red sneaker" in video["prompt"]
    assert video["user"] == "carol" and video["seconds"] == "1"

    # Without the page's script: "Estimate" posts the whole form and the quote comes back in it.
    whole = client.post("/create", data={**fields, "action": "estimate"})
    assert whole.status_code == 200 and "simulated:synth-1" in whole.text
    assert 'value="a red sneaker"' in whole.text  # the form keeps what was typed
    refused = client.post("/create", data={"csrf": token, "prompt": "", "action": "generate"})
    assert refused.status_code == 400 and "prompt is required" in refused.text
    assert client.post("/create", data={"prompt": "no token"}).status_code == 403


def test_create_with_a_structured_prompt_and_an_image(gateway: Server, tmp_path: Path) -> None:
    from PIL import Image

    key = gateway.key("dash-image")
    client = sign_in(gateway.url, key)
    token = csrf_of(client, "/create")
    picture = tmp_path / "first.png"
    Image.new("RGB", (64, 36), (200, 30, 30)).save(picture)
    with picture.open("rb") as image:
        made = client.post(
            "/create",
            data={
                "csrf": token,
                "part_subject": "a red kite",
                "part_camera": "slow pan",
                "duration": "1",
                "resolution": "360p",
                "action": "generate",
            },
            files={"image": ("first.png", image, "image/png")},
        )
    assert made.status_code == 303, made.text
    job_id = made.headers["location"].rsplit("/", 1)[1]
    with gateway.client(key) as api:
        video = api.get(f"/v1/videos/{job_id}").json()
    assert video["prompt"] == "A red kite. Camera: slow pan."  # the parts, composed
    assert "image to video" in client.get(f"/jobs/{job_id}").text
    fake = client.post(
        "/create",
        data={"csrf": token, "prompt": "x", "action": "generate"},
        files={"image": ("x.png", b"not an image at all", "image/png")},
    )
    assert fake.status_code == 400 and "PNG, JPEG or WebP" in fake.text


def test_spend_shows_what_jobs_cost_by_user(gateway: Server) -> None:
    key, other = gateway.key("dash-spend"), gateway.key("dash-spend-other")
    job = _create(gateway, key, "a lantern festival", user="dora")
    elsewhere = _create(gateway, other, "a quiet harbour", user="erik")
    with gateway.client(key) as api:
        assert wait_done(api, job)["status"] == "completed"
    with gateway.client(other) as api:
        wait_done(api, elsewhere)
    client = sign_in(gateway.url, key)
    cost = f"${FIRST_PER_SECOND * SMALL['duration']:.2f}"
    page = client.get("/spend", params={"window": "day", "by": "user"})
    assert page.status_code == 200, page.text
    assert cost in page.text and "dora" in page.text and "erik" not in page.text
    assert "<rect" in page.text and "<svg" in page.text  # the chart, drawn on the server
    assert "Projected for the month" in page.text
    bad = client.get("/spend", params={"window": "decade"})
    assert bad.status_code == 400 and "month" in bad.text

    admin = sign_in(gateway.url, gateway.key("dash-spend-ops", admin=True))
    everyone = admin.get("/spend", params={"window": "day", "by": "user"}).text
    assert "dora" in everyone and "erik" in everyone


def test_providers_show_success_timing_and_lifecycle(gateway: Server) -> None:
    key = gateway.key("dash-providers")
    job = _create(gateway, key, "a sailing dinghy")
    with gateway.client(key) as api:
        wait_done(api, job)
    client = sign_in(gateway.url, key)
    page = client.get("/providers", params={"window": "hour"})
    assert page.status_code == 200, page.text
    assert "simulated:synth-1" in page.text and "100.0%" in page.text
    assert "openai:sora-2" in page.text and "retired" in page.text  # the catalogue's notices
    assert "Balance" not in page.text  # account balances are for admins
    admin = sign_in(gateway.url, gateway.key("dash-providers-ops", admin=True))
    assert "Balance" in admin.get("/providers").text
    assert client.get("/providers", params={"window": "year"}).status_code == 400
