"""A local stand-in for the providers vidgate cannot reach from here: each provider's documented
wire format on localhost, with faults on demand, so adapters and official SDKs can be tested.

Run it with ``vidgate simulator``; build it with ``create_app()``.
"""

from __future__ import annotations

from .app import create_app
from .faults import FAULT_HEADER, FaultProfile, Faults, parse_faults
from .state import RenderSpec, SimState, SimTask, SimulatorConfig

__all__ = [
    "FAULT_HEADER",
    "FaultProfile",
    "Faults",
    "RenderSpec",
    "SimState",
    "SimTask",
    "SimulatorConfig",
    "create_app",
    "parse_faults",
]
