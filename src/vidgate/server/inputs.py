"""What a request through the gateway may name as an input, and where uploads go.

Library and CLI users name local files freely (``Engine.submit``); a gateway caller is remote
and hostile until proven otherwise, so through the gateway:

- a local input (``image``, ``last_frame``, ``video``) must resolve — symlinks followed, the
  file existing — inside the caller's own uploads folder (``$VIDGATE_HOME/uploads/<tenant>``,
  where ``input_reference`` uploads are saved), and its content must be an image (PNG, JPEG,
  WebP), or a video (MP4/MOV, WebM) for ``video``;
- anything else must be an http(s) URL that passes the SSRF guard; other schemes are refused.

Every refused local input gets the same answer, which names no path: whether a path exists
outside the uploads folder, or why a file in it was refused, is never told.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from ..exceptions import InvalidRequest
from ..settings import Settings
from ..ssrf import check_url
from ..types import VideoRequest

__all__ = ["INPUT_FIELDS", "guard_inputs", "image_suffix", "sniff", "uploads_folder"]

#: The request fields that name an input file or URL, and the kinds of content each takes.
INPUT_FIELDS: dict[str, frozenset[str]] = {
    "image": frozenset({"image"}),
    "last_frame": frozenset({"image"}),
    "video": frozenset({"video"}),
}
_SUFFIXES = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}
_HEAD = 64


def uploads_folder(settings: Settings, tenant: str) -> Path:
    """Where ``tenant``'s uploaded inputs are kept (tenant names cannot climb: see tenancy)."""
    return settings.resolved_home / "uploads" / tenant


def sniff(head: bytes) -> tuple[str, str] | None:
    """``(kind, format)`` of a file from its first bytes: ``("image", "png")``,
    ``("video", "mp4")`` …, or None when it is neither an image nor a video we take."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image", "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image", "jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image", "webp"
    if head[4:8] == b"ftyp":
        return "video", "mp4"  # MP4 and QuickTime (MOV) both open with an ftyp box
    if head.startswith(b"\x1a\x45\xdf\xa3") and b"webm" in head[:_HEAD]:
        return "video", "webm"
    return None


def image_suffix(head: bytes) -> str | None:
    """The file suffix for an image we take, from its first bytes; None for anything else."""
    found = sniff(head)
    return _SUFFIXES[found[1]] if found and found[0] == "image" else None


def _refusal(label: str, kinds: frozenset[str]) -> InvalidRequest:
    what = "a video" if kinds == {"video"} else "an image"
    return InvalidRequest(
        f"{label} must be an http(s) URL, or {what} uploaded with this key's tenant "
        "(input_reference)",
        details={"field": label},
    )


def _local(value: str, folder: Path, label: str, kinds: frozenset[str]) -> str:
    """The real path of an accepted local input, or the one refusal for every other case."""
    try:
        root = folder.resolve()
        path = Path(value).resolve(strict=True)
        if path == root or not path.is_relative_to(root) or not path.is_file():
            raise _refusal(label, kinds)
        with path.open("rb") as file:
            head = file.read(_HEAD)
    except (OSError, ValueError, RuntimeError):
        # Missing, unreadable, a NUL byte, a symlink loop: the same answer as outside.
        raise _refusal(label, kinds) from None
    found = sniff(head)
    if found is None or found[0] not in kinds:
        raise _refusal(label, kinds)
    return str(path)


def guard_inputs(request: VideoRequest, settings: Settings, tenant: str) -> VideoRequest:
    """The request with its local inputs replaced by their real paths, once each input passed
    the rules above and ``webhook_url`` passed the SSRF guard; ``InvalidRequest`` otherwise.
    Create and estimate both call this (it resolves names and reads files: run it off the
    event loop)."""
    allow = settings.ssrf_allow
    if request.webhook_url:
        check_url(request.webhook_url, allow=allow, label="webhook_url")
    update: dict[str, str] = {}
    for label, kinds in INPUT_FIELDS.items():
        value = getattr(request, label)
        if value is None:
            continue
        try:
            scheme = urlsplit(value).scheme.lower()
        except ValueError:
            raise _refusal(label, kinds) from None
        if scheme in ("http", "https"):
            check_url(value, allow=allow, label=label)
        elif scheme or "://" in value:
            raise _refusal(label, kinds)  # file:, data:, ftp:, a provider's own id …
        else:
            update[label] = _local(value, uploads_folder(settings, tenant), label, kinds)
    return request.model_copy(update=update) if update else request
