"""The simulator's shared machinery: faults, the task timeline, signed output files, stats."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request

from vidgate.media.probe import probe
from vidgate.simulator import (
    FaultProfile,
    Faults,
    RenderSpec,
    SimState,
    SimTask,
    SimulatorConfig,
    parse_faults,
)
from vidgate.simulator._common import CreateFaults, bearer_token, poll_fails, request_key
from vidgate.simulator.faults import DRAWABLE, FAULTS, UnknownFault, drawable, strip_markers
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


def test_drawable_faults_keep_one_order_and_name_only_known_faults() -> None:
    assert drawable() == list(DRAWABLE) and set(DRAWABLE) == FAULTS - {"retry-after"}
    some = drawable(exclude={"moderation-after", "500-poll"}, webhooks=False)
    assert some == [name for name in DRAWABLE if name in some]  # the drawing order holds
    assert not {"moderation-after", "500-poll"} & set(some)
    assert not [name for name in some if name.startswith("webhook-")]
    assert "webhook-late" in drawable() and "webhook-late" not in drawable(webhooks=False)
    with pytest.raises(UnknownFault, match="explode"):
        drawable(exclude={"explode"})


def _request(*headers: tuple[str, str]) -> Request:
    raw = [(name.encode(), value.encode()) for name, value in headers]
    return Request({"type": "http", "method": "POST", "path": "/", "headers": raw})


def test_bearer_token_takes_only_the_named_schemes_and_a_non_blank_token() -> None:
    assert bearer_token(_request(("authorization", "Bearer  sk-1 "))) == "sk-1"
    assert bearer_token(_request(("authorization", "bearer sk-1"))) == "sk-1"
    assert bearer_token(_request(("authorization", "Token r8_1"))) is None
    assert bearer_token(_request(("authorization", "Token r8_1")), ("bearer", "token")) == "r8_1"
    assert bearer_token(_request(("authorization", "Bearer   "))) is None
    assert bearer_token(_request()) is None


def test_requested_create_faults_fire_once_per_request_and_drawn_ones_always() -> None:
    sim = SimState(SimulatorConfig(profile=FaultProfile({"fail": 1.0})))
    plain = _request(("x-simulator-fault", "429"))
    by_ref = _request(("x-simulator-fault", "429"), ("x-vidgate-reference", "att-1"))
    assert request_key(by_ref, b"{}") == "ref:att-1"
    assert request_key(plain, b"{}") != request_key(plain, b"{}", scope=b"app/x")
    requested = parse_faults("429")
    first = CreateFaults.draw(sim, plain, b"{}", requested, ["fail"])
    assert first.all.names() == ["429", "fail"]
    assert first.fires("429") and not first.fires("429")  # a retry of the same create passes
    again = CreateFaults.draw(sim, plain, b"{}", requested, ["fail"])
    assert not again.fires("429") and again.fires("fail") and again.fires("fail")
    assert CreateFaults.draw(sim, plain, b"{other}", requested, []).fires("429")


def test_a_read_fails_while_the_task_is_young_when_asked_or_drawn() -> None:
    sim = SimState(SimulatorConfig())
    young = task(**{"500-poll": None})
    assert poll_fails(sim, young) and poll_fails(sim, young) and not poll_fails(sim, young)
    assert poll_fails(sim, task(), Faults({"500-poll": None})) and not poll_fails(sim, task())
    drawing = SimState(SimulatorConfig(profile=FaultProfile({"500-poll": 1.0})))
    assert poll_fails(drawing, task())


def task(**faults: float | None) -> SimTask:
    spec = RenderSpec.from_request("a fox", 1, "360p", "16:9", seed=1)
    named = ",".join(name if value is None else f"{name}={value}" for name, value in faults.items())
    return SimTask(
        id="t1",
        provider="x",
        spec=spec,
        faults=parse_faults(named),
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


def _task_with(task_id: str, prompt: str, faults: str = "", seed: int | None = 1) -> SimTask:
    spec = RenderSpec.from_request(prompt, 1, "360p", "16:9", seed=seed)
    return SimTask(id=task_id, provider="x", spec=spec, faults=parse_faults(faults), latency=0)


async def test_outputs_are_rendered_once_per_distinct_spec(tmp_path: Path) -> None:
    sim = SimState(SimulatorConfig(media_dir=tmp_path, generic_renders=True))
    same = [sim.add(_task_with(f"s{i}", f"prompt {i}", seed=None)) for i in range(6)]
    # Concurrent downloads of tasks that share a spec wait for the one render.
    paths = await asyncio.gather(*(sim.render(t) for t in same), sim.render(same[0]))
    assert sim.render_count == 1
    assert [p.name for p in paths[:6]] == [f"s{i}.mp4" for i in range(6)]  # each task's name
    assert len({p.read_bytes() for p in paths}) == 1
    # Faults that change the bytes get their own (cached) variant.
    short = sim.add(_task_with("short", "x", "wrong-duration"))
    tall = sim.add(_task_with("tall", "x", "wrong-aspect"))
    cut = sim.add(_task_with("cut", "x", "truncated"))
    cut_again = sim.add(_task_with("cut2", "y", "truncated"))
    for variant in (short, tall, cut, cut_again):
        await sim.render(variant)
    assert sim.render_count == 4
    assert probe(await sim.render(short)).duration == pytest.approx(0.5, abs=0.05)
    assert (probe(await sim.render(tall)).width, probe(await sim.render(tall)).height) == (
        360,
        640,
    )
    whole = (await sim.render(same[0])).stat().st_size
    assert (await sim.render(cut)).stat().st_size == whole // 2
    # A thumbnail is made once per render too.
    assert await sim.thumbnail(same[1]) == await sim.thumbnail(same[2])
    assert sim.stats()["renders"] == 4


async def test_without_generic_renders_the_prompt_and_seed_shape_the_output(
    tmp_path: Path,
) -> None:
    sim = SimState(SimulatorConfig(media_dir=tmp_path))
    a, b = sim.add(_task_with("a", "a fox")), sim.add(_task_with("b", "a fox"))
    other = sim.add(_task_with("c", "a cat"))
    reseeded = sim.add(_task_with("d", "a fox", seed=2))
    outputs = [await sim.render(t) for t in (a, b, other, reseeded)]
    assert sim.render_count == 3  # a and b share prompt and seed
    assert outputs[0].read_bytes() == outputs[1].read_bytes() != outputs[2].read_bytes()


def test_a_timeline_names_its_next_change_so_watchers_sleep_until_then() -> None:
    plain = task()
    assert plain.changes_at(1000) == pytest.approx(1001.5)  # queued -> running
    assert plain.changes_at(1002) == pytest.approx(1010)  # running -> succeeded
    assert plain.changes_at(1010) is None
    for moment in (1000.0, 1002.0):
        change = plain.changes_at(moment)
        assert change is not None
        assert plain.at(change - 1e-6).phase == plain.at(moment).phase != plain.at(change).phase
    assert task(fail=None).changes_at(1002) == pytest.approx(1006)
    assert task(fail=None).changes_at(1006) is None
    assert task(hang=None).changes_at(1002) is None
    assert task(slow=None).changes_at(1002) == pytest.approx(1007.5)
    assert task(slow=None).changes_at(1010) == pytest.approx(1050)
    assert task(**{"moderation-after": 3}).changes_at(1002) == pytest.approx(1003)
    canceled = task()
    canceled.canceled_at = 1001
    assert canceled.changes_at(1002) is None


async def test_timers_run_callbacks_at_their_wall_clock_moment() -> None:
    sim = SimState(SimulatorConfig())
    fired: list[float] = []
    done = asyncio.Event()
    due = time.time() + 0.05
    sim.call_at(due + 0.05, lambda: (fired.append(time.time()), done.set()))
    sim.call_at(due, lambda: fired.append(time.time()))
    await asyncio.wait_for(done.wait(), 5)
    assert len(fired) == 2 and fired[0] >= due - 0.01 and fired[1] >= fired[0]
