"""Which storage backend this process uses: one setting decides (``VIDGATE_STORAGE_URL``)."""

from __future__ import annotations

from ..settings import Settings
from .base import Storage
from .local import LocalStorage

__all__ = ["open_storage", "storage_name"]


def open_storage(settings: Settings) -> Storage:
    """``s3://bucket/prefix`` → ``S3Storage`` (the ``s3`` extra); unset → ``LocalStorage`` in
    ``VIDGATE_STORAGE_DIR``."""
    if not settings.storage_url:
        return LocalStorage(settings.resolved_storage_dir)
    from .s3 import S3Storage, parse_s3_url

    bucket, prefix = parse_s3_url(settings.storage_url)
    return S3Storage(
        bucket,
        prefix,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        multipart_threshold=settings.s3_multipart_threshold,
        part_size=settings.s3_part_size,
    )


def storage_name(settings: Settings) -> str:
    """Where media is kept, for banners and logs (a URL or a path: no credentials are in it)."""
    return settings.storage_url or str(settings.resolved_storage_dir)
