"""Simulator twin of the luma API. (Being written.)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
