"""Simulator twin of the fal API. (Being written.)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
