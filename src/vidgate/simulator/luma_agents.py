"""Simulator twin of the luma_agents API. (Being written.)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
