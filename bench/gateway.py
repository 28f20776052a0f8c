"""Gateway benchmark: vidgate serve beside a bare FastAPI endpoint that does one database insert.

    python bench/gateway.py [--seconds 10] [--out bench/results.json]

Measured in the same run on the same machine, each server a single uvicorn process:
- start-up: spawn to the first healthy answer;
- latency at concurrency 1 (p50/p99 of sequential requests, httpx, keep-alive);
- throughput at concurrency 32 (``wrk`` from Debian, a separate C process, so the client is not
  the bottleneck);
- memory: the server's resident set after the load, and while streaming a 200 MB file.

vidgate runs API-only (``--no-worker``) on SQLite so that generation work does not share the two
cores with the measurement; the baseline inserts into SQLite with the same WAL settings.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent

BASELINE = textwrap.dedent(
    """
    import os, sqlalchemy as sa
    from fastapi import FastAPI
    from vidgate.db import make_engine

    engine = make_engine(os.environ["BENCH_DB"])
    rows = sa.Table("rows", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("body", sa.JSON))
    rows.metadata.create_all(engine)
    app = FastAPI()

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @app.post("/insert")
    def insert(body: dict):
        with engine.begin() as conn:
            new = conn.execute(rows.insert().values(body=body)).inserted_primary_key[0]
        return {"id": new}
    """
)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start(cmd: list[str], env: dict[str, str], url: str) -> tuple[subprocess.Popen[bytes], float]:
    began = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, time.perf_counter() - began
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"{cmd} exited with {proc.returncode}")
        time.sleep(0.02)


def latency(client: httpx.Client, method: str, path: str, n: int, **kw: Any) -> dict[str, float]:
    samples = []
    for _ in range(n):
        began = time.perf_counter()
        response = client.request(method, path, **kw)
        samples.append((time.perf_counter() - began) * 1000)
        assert response.status_code < 400, response.text[:200]
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 2),
        "p99_ms": round(samples[int(len(samples) * 0.99) - 1], 2),
    }


def wrk(url: str, seconds: int, headers: dict[str, str], body: str | None = None) -> float:
    script = ""
    if body is not None:
        script = f'wrk.method = "POST"\nwrk.body = {json.dumps(body)}\n'
    script += "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in headers.items())
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    out = subprocess.run(
        ["wrk", "-t2", "-c32", f"-d{seconds}s", "-s", handle.name, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(handle.name)
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return round(float(line.split()[1]), 1)
    raise RuntimeError(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    work = Path(tempfile.mkdtemp(prefix="vidgate-bench-"))
    results: dict[str, Any] = {
        "machine": os.uname().machine,
        "cpus": os.cpu_count(),
        # Other work on the machine while measuring (1-minute load average, before and after).
        "load_before": round(os.getloadavg()[0], 2),
    }

    # -- the baseline ---------------------------------------------------------------------
    (work / "baseline.py").write_text(BASELINE, encoding="utf-8")
    env = {
        **os.environ,
        "BENCH_DB": f"sqlite:///{work / 'baseline.sqlite'}",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(work), os.environ.get("PYTHONPATH")])),
    }
    proc, startup = start(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "baseline:app",
            "--port",
            "8931",
            "--log-level",
            "warning",
        ],
        env,
        "http://127.0.0.1:8931",
    )
    try:
        with httpx.Client(base_url="http://127.0.0.1:8931") as client:
            lat = latency(client, "POST", "/insert", args.requests, json={"prompt": "x"})
        rps = wrk(
            "http://127.0.0.1:8931/insert",
            args.seconds,
            {"content-type": "application/json"},
            '{"prompt": "x"}',
        )
        results["baseline"] = {
            "startup_s": round(startup, 2),
            "insert": {**lat, "rps_c32": rps},
            "rss_mib": round(rss_mib(proc.pid), 1),
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)

    # -- vidgate ---------------------------------------------------------------------------
    home = work / "vidgate"
    env = {**os.environ, "VIDGATE_HOME": str(home), "VIDGATE_SIMULATED_LATENCY": "0.2"}
    key = json.loads(
        subprocess.run(
            [sys.executable, "-m", "vidgate", "keys", "create", "--tenant", "bench", "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )["key"]
    # One finished video to retrieve and download: run it with a worker first.
    worker, _ = start(
        [sys.executable, "-m", "vidgate", "serve", "--port", "8932"], env, "http://127.0.0.1:8932"
    )
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url="http://127.0.0.1:8932", headers=headers, timeout=60) as client:
        video = client.post(
            "/v1/videos", json={"prompt": "bench", "duration": 4, "resolution": "720p"}
        ).json()
        while client.get(f"/v1/videos/{video['id']}").json()["status"] != "completed":
            time.sleep(0.1)
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=30)

    proc, startup = start(
        [sys.executable, "-m", "vidgate", "serve", "--port", "8933", "--no-worker"],
        env,
        "http://127.0.0.1:8933",
    )
    try:
        base = "http://127.0.0.1:8933"
        body = {"prompt": "bench", "duration": 4, "resolution": "720p"}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            create = latency(client, "POST", "/v1/videos", args.requests, json=body)
            retrieve = latency(client, "GET", f"/v1/videos/{video['id']}", args.requests)
            content = latency(client, "GET", f"/v1/videos/{video['id']}/content", args.requests)
        auth = {"Authorization": f"Bearer {key}", "content-type": "application/json"}
        results["vidgate"] = {
            "startup_s": round(startup, 2),
            "create": {
                **create,
                "rps_c32": wrk(f"{base}/v1/videos", args.seconds, auth, json.dumps(body)),
            },
            "retrieve": {
                **retrieve,
                "rps_c32": wrk(f"{base}/v1/videos/{video['id']}", args.seconds, auth),
            },
            "content": {
                **content,
                "rps_c32": wrk(f"{base}/v1/videos/{video['id']}/content", args.seconds, auth),
            },
            "rss_mib": round(rss_mib(proc.pid), 1),
        }
        # Constant memory: stream a 200 MB file through /content and watch the server's RSS.
        stored = next((home / "media" / "videos").glob(f"{video['id']}.mp4"))
        original = stored.read_bytes()
        with stored.open("wb") as handle:
            handle.write(original + os.urandom(200 * 1024 * 1024))
        before = rss_mib(proc.pid)
        peak = before
        with (
            httpx.Client(base_url=base, headers=headers, timeout=120) as client,
            client.stream("GET", f"/v1/videos/{video['id']}/content") as response,
        ):
            received = 0
            for chunk in response.iter_bytes(1 << 20):
                received += len(chunk)
                peak = max(peak, rss_mib(proc.pid))
        stored.write_bytes(original)
        results["vidgate"]["stream_200mb"] = {
            "received_mib": round(received / 2**20, 1),
            "rss_before_mib": round(before, 1),
            "rss_peak_mib": round(peak, 1),
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    results["load_after"] = round(os.getloadavg()[0], 2)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
