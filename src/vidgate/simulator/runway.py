"""Simulator twin of the runway API. (Being written.)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
