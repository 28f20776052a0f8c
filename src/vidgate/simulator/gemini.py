"""Simulator twin of the gemini API. (Being written.)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
