"""The simulator's ASGI app: each provider's wire format under its own path prefix.

/runway        Runway API                     (runwayml SDK: base_url=…/runway)
/luma          Luma Dream Machine API         (lumaai SDK: base_url=…/luma/dream-machine/v1)
/luma-agents   Luma Agents API                (luma-agents SDK: base_url=…/luma-agents/v1)
/openai        OpenAI Videos API              (openai SDK: base_url=…/openai/v1)
/_simulator    stats, reset, and the signed output files
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from .faults import FaultProfile
from .state import SimState, SimulatorConfig, sim_state

__all__ = ["create_app", "sim_state"]


def create_app(config: SimulatorConfig | None = None) -> FastAPI:
    from . import fal, gemini, luma, luma_agents, openai, replicate, runway, vertex

    app = FastAPI(title="vidgate provider simulator", docs_url="/_simulator/docs")
    app.state.sim = SimState(config or SimulatorConfig())

    @app.middleware("http")
    async def count_requests(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        parts = request.url.path.strip("/").split("/")
        key = f"{request.method} /{parts[0]} {response.status_code}"
        app.state.sim.requests[key] += 1
        return response

    @app.get("/_simulator/stats")
    async def stats(request: Request) -> dict[str, Any]:
        return sim_state(request).stats()

    @app.post("/_simulator/reset")
    async def reset(request: Request) -> dict[str, str]:
        old = sim_state(request)
        app.state.sim = SimState(old.config)
        return {"status": "reset"}

    @app.get("/_simulator/files/{name}")
    async def files(request: Request, name: str, expires: int = 0, sig: str = "") -> Response:
        sim = sim_state(request)
        task_id, _, suffix = name.rpartition(".")
        task = sim.tasks.get(task_id)
        if task is None or not sim.check_signature(name, expires, sig):
            return JSONResponse({"error": "AccessDenied: bad signature"}, status_code=403)
        if expires < time.time():
            return JSONResponse({"error": "AccessDenied: Request has expired"}, status_code=403)
        if task.first_download_fails():
            return JSONResponse({"error": "InternalError"}, status_code=500)
        if suffix == "jpg":
            return FileResponse(await sim.thumbnail(task), media_type="image/jpeg")
        return FileResponse(await sim.render(task), media_type="video/mp4")

    app.include_router(runway.router, prefix="/runway")
    app.include_router(luma.router, prefix="/luma")
    app.include_router(luma_agents.router, prefix="/luma-agents")
    app.include_router(openai.router, prefix="/openai")
    app.include_router(replicate.router, prefix="/replicate")
    app.include_router(fal.router, prefix="/fal")
    app.include_router(gemini.router, prefix="/gemini")
    app.include_router(vertex.router, prefix="/vertex")
    return app


def profile_from_json(rates: dict[str, float] | None, seed: int = 0) -> FaultProfile:
    return FaultProfile(rates=dict(rates or {}), seed=seed)
