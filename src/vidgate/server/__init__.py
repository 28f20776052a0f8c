"""The gateway service: an HTTP API for many tenants (``vidgate serve``)."""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
