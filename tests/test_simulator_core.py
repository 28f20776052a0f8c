"""The simulator's shared machinery: faults, the task timeline, signed output files, stats."""

from __future__ import annotations

import time

import httpx
import pytest

from vidgate.media.probe import probe
from vidgate.simulator import FaultProfile, RenderSpec, SimTask, parse_faults
from vidgate.simulator.faults import UnknownFault, strip_markers
from vidgate.simulator.server import RunningSimulator


def test_faults_from_header_and_prompt() -> None:
    faults = parse_faults("429, retry-after=2", "a fox [sim:fail,moderation-after=3]")
    assert faults.names() == ["429", "fail", "moderation-after", "retry-after"]
    assert faults.value("retry-after", 0) == 2 and faults.value("moderation-after", 0) == 3
    assert strip_markers("a fox [sim:fail]") == "a fox"
    with pytest.raises(UnknownFault, match="'explode'"):
        parse_faults("explode")


def test_profile_draws_are_seeded() -> None:
    draws = [FaultProfile({"500-poll": 0.5}, seed=3).draw(["500-poll"]).names() for _ in range(2)]
    assert draws[0] == draws[1]
    profile = FaultProfile({"500-poll": 0.5}, seed=3)
    fired = sum("500-poll" in profile.draw(["500-poll"]) for _ in range(400))
    assert 150 < fired < 250


def task(**faults: float | None) -> SimTask:
    spec = RenderSpec.from_request("a fox", 1, "360p", "16:9", seed=1)
    return SimTask(
        id="t1",
        provider="x",
        spec=spec,
        faults=parse_faults(",".join(faults)),
        latency=10,
        created_at=1000.0,
    )


def test_timeline() -> None:
    plain = task()
    assert plain.at(1000.5).phase == "queued"
    assert plain.at(1005).phase == "running" and plain.at(1005).progress == pytest.approx(0.5)
    assert plain.at(1010).phase == "succeeded"
    assert task(fail=None).at(1007).failure == "fail"
    assert task(hang=None).at(9999).phase == "running"
    assert task(throttled=None).at(1005).phase == "throttled"
    assert task(slow=None).at(1010).phase == "running"


def test_signed_files_expire_and_faults_shape_the_output(simulator: RunningSimulator) -> None:
    sim = simulator.state
    good = sim.add(task())
    good.created_at = time.time() - 100
    url = sim.signed_url(good)
    response = httpx.get(url)
    assert response.status_code == 200 and response.headers["content-type"] == "video/mp4"
    tampered = url.replace("sig=", "sig=0")
    assert httpx.get(tampered).status_code == 403
    expired = sim.add(
        SimTask(
            id="t2", provider="x", spec=good.spec, faults=parse_faults("expired-url"), latency=0
        )
    )
    assert "expired" in httpx.get(sim.signed_url(expired)).text
    short = sim.add(
        SimTask(
            id="t3",
            provider="x",
            spec=good.spec,
            faults=parse_faults("wrong-duration,500-download"),
            latency=0,
        )
    )
    assert httpx.get(sim.signed_url(short)).status_code == 500
    body = httpx.get(sim.signed_url(short)).content
    path = simulator.state.config.media_dir / "check.mp4"
    path.write_bytes(body)
    assert probe(path).duration == pytest.approx(0.5, abs=0.05)
    stats = httpx.get(f"{simulator.url}/_simulator/stats").json()
    assert stats["creates"] == {"x": 3}
