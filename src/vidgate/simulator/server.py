"""Running the simulator: on a port (``vidgate simulator``) or in a background thread (tests)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

from .app import create_app
from .state import SimState, SimulatorConfig

__all__ = ["RunningSimulator", "free_port", "serve", "simulator_in_thread"]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RunningSimulator:
    url: str
    app_state: object

    @property
    def state(self) -> SimState:
        sim: SimState = self.app_state.sim  # type: ignore[attr-defined]
        return sim


@contextmanager
def simulator_in_thread(
    config: SimulatorConfig, host: str = "127.0.0.1"
) -> Iterator[RunningSimulator]:
    """A real HTTP simulator on a free loopback port, for as long as the block runs."""
    port = free_port(host)
    config.public_url = f"http://{host}:{port}"
    app = create_app(config)
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, name="vidgate-simulator", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the simulator did not start")
        time.sleep(0.01)
    try:
        yield RunningSimulator(url=config.public_url, app_state=app.state)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def serve(config: SimulatorConfig, host: str, port: int) -> None:
    config.public_url = config.public_url or f"http://{host}:{port}"
    uvicorn.run(create_app(config), host=host, port=port, log_level="warning")
