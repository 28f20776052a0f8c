"""vidgate: one API over AI video-generation providers."""

from __future__ import annotations

__version__ = "0.1.0"
