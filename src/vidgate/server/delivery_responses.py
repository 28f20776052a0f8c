"""How a stored file is answered: the one place the content routes build file responses.

Every file response — a local file, bytes proxied from S3, a 304, a 206 — carries:

- a strong ``ETag``: the file's SHA-256 (the same on every host and backend), honoured by
  ``If-None-Match`` (304) and ``If-Range``;
- ``Accept-Ranges: bytes``; a single ``Range`` gets 206 with ``Content-Range``, an
  unsatisfiable one 416 (``Content-Range: bytes */<size>``), several ranges the whole file;
- the asset's own ``Content-Type``;
- ``Cache-Control`` chosen by the route (``IMMUTABLE`` on a signed, versioned link; ``PRIVATE``
  on the authenticated ``/content``), and ``private, no-store`` on a redirect to a presigned URL,
  which expires;
- CORS for the origins in ``VIDGATE_CORS_ORIGINS`` (``cors_headers``, and ``preflight`` for the
  OPTIONS routes), with ``Vary: Origin`` only when the answer names one origin.

With a backend that has signed URLs (S3), ``VIDGATE_CONTENT_DELIVERY`` picks a 302 to the
presigned URL (``redirect``, what ``auto`` means) or the bytes streamed through this process
(``proxy``); a local file is always sent from disk.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Literal

from fastapi import Request
from fastapi.responses import FileResponse, RedirectResponse, Response, StreamingResponse

from ..engine.files import StoredFile
from ..settings import Settings
from ..storage import IMMUTABLE

__all__ = [
    "IMMUTABLE",
    "PRIVATE",
    "cors_headers",
    "file_response",
    "preflight",
    "wants_redirect",
]

#: The authenticated ``/content`` route: the bytes behind it never change, but the answer
#: depends on the caller's key, so no shared cache may keep it.
PRIVATE = "private, max-age=31536000, immutable"
#: A redirect to a presigned URL: that URL expires, so the redirect is never stored.
NO_STORE = "private, no-store"
_EXPOSED = "Accept-Ranges, Content-Length, Content-Range, ETag"
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def wants_redirect(settings: Settings, stored: StoredFile) -> bool:
    """Redirect to a presigned URL rather than send the bytes (S3 with ``redirect``/``auto``)."""
    return stored.path is None and settings.content_delivery in ("auto", "redirect")


def cors_headers(request: Request, settings: Settings) -> dict[str, str]:
    """The CORS headers for a request from another origin, if that origin is allowed."""
    origin = request.headers.get("origin")
    allowed = settings.cors_origins
    if not origin or not allowed:
        return {}
    if "*" in allowed:
        return {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": _EXPOSED}
    if origin not in allowed:
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Expose-Headers": _EXPOSED,
        "Vary": "Origin",
    }


def preflight(request: Request, settings: Settings) -> Response:
    """The answer to a CORS preflight (OPTIONS) on a content route: GET and HEAD, with the
    headers a player sends (Range, If-None-Match, If-Range, Authorization)."""
    headers = cors_headers(request, settings)
    if headers:
        headers.update(
            {
                "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
                "Access-Control-Allow-Headers": "Authorization, Range, If-None-Match, If-Range",
                "Access-Control-Max-Age": "86400",
            }
        )
    return Response(status_code=204, headers=headers)


def _matches(header: str | None, etag: str) -> bool:
    """``If-None-Match``: weak comparison over a list, or ``*``."""
    if header is None:
        return False
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag in tags


def _range(header: str | None, size: int) -> tuple[int, int] | Literal["unsatisfiable"] | None:
    """One byte range (inclusive), ``unsatisfiable``, or None (no range, several, or a form
    we ignore: the whole file is the answer then, as RFC 9110 allows)."""
    if header is None:
        return None
    found = _RANGE.fullmatch(header.strip())
    if found is None:
        return None
    first, last = found.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - suffix), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if last and int(last) < start:
        return None  # invalid: ignored
    if start >= size:
        return "unsatisfiable"
    return start, end


def file_response(
    request: Request,
    settings: Settings,
    stored: StoredFile,
    *,
    cache_control: str,
    redirect: bool = True,
) -> Response:
    """Answer a GET or HEAD for ``stored`` (see the module docstring). ``redirect=False`` sends
    the bytes even where a presigned URL could be handed out."""
    base = {
        "ETag": stored.etag,
        "Cache-Control": cache_control,
        "Accept-Ranges": "bytes",
        **cors_headers(request, settings),
    }
    if _matches(request.headers.get("if-none-match"), stored.etag):
        return Response(status_code=304, headers=base)
    if redirect and wants_redirect(settings, stored):
        url = stored.signed_url()
        if url is not None:
            return RedirectResponse(url, 302, headers={**base, "Cache-Control": NO_STORE})
    if stored.path is not None:
        return FileResponse(stored.path, media_type=stored.content_type, headers=base)
    return _proxied(request, stored, base)


def _proxied(request: Request, stored: StoredFile, base: dict[str, str]) -> Response:
    size = stored.size_bytes
    wanted = _range(request.headers.get("range"), size)
    if_range = request.headers.get("if-range")
    if if_range is not None and if_range.strip() != stored.etag:
        wanted = None  # the client holds another version: the whole file
    if wanted == "unsatisfiable":
        return Response(status_code=416, headers={**base, "Content-Range": f"bytes */{size}"})
    head_only = request.method == "HEAD"
    if wanted is None:
        headers = {**base, "Content-Length": str(size)}
        body = iter(()) if head_only else stored.open_range(0, None)
        return _stream(body, 200, headers, stored.content_type)
    start, end = wanted
    headers = {
        **base,
        "Content-Length": str(end - start + 1),
        "Content-Range": f"bytes {start}-{end}/{size}",
    }
    body = iter(()) if head_only else stored.open_range(start, end)
    return _stream(body, 206, headers, stored.content_type)


def _stream(
    body: Iterator[bytes], status: int, headers: dict[str, str], content_type: str
) -> StreamingResponse:
    # A sync iterator: Starlette reads it in a worker thread, so the event loop never waits on S3.
    return StreamingResponse(body, status_code=status, headers=headers, media_type=content_type)
