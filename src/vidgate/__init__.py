"""vidgate: one API over AI video-generation providers, with durable jobs.

>>> from vidgate import Engine, VideoRequest
"""

from __future__ import annotations

from ._version import __version__ as __version__
from .catalog import Catalog, ModelProfile, load_catalog
from .client import AsyncClient, Client
from .engine import Engine
from .exceptions import (
    ConfigurationError,
    ContentRejected,
    GenerationFailed,
    IdempotencyConflict,
    InvalidRequest,
    JobNotFound,
    JobTimeout,
    MediaError,
    MissingCredentials,
    ModelRetired,
    OutputMismatch,
    ProviderError,
    UnsupportedRequest,
    VidgateError,
)
from .settings import Settings
from .types import (
    Asset,
    Attempt,
    CostQuote,
    Job,
    JobError,
    JobStatus,
    MediaInfo,
    Mode,
    Phase,
    VideoRequest,
)

__all__ = [
    # running jobs
    "Engine",
    # a running gateway
    "AsyncClient",
    "Client",
    "Settings",
    # requests and results
    "Asset",
    "Attempt",
    "CostQuote",
    "Job",
    "JobError",
    "JobStatus",
    "MediaInfo",
    "Mode",
    "Phase",
    "VideoRequest",
    # the catalogue
    "Catalog",
    "ModelProfile",
    "load_catalog",
    # errors
    "ConfigurationError",
    "ContentRejected",
    "GenerationFailed",
    "IdempotencyConflict",
    "InvalidRequest",
    "JobNotFound",
    "JobTimeout",
    "MediaError",
    "MissingCredentials",
    "ModelRetired",
    "OutputMismatch",
    "ProviderError",
    "UnsupportedRequest",
    "VidgateError",
]
