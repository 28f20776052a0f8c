"""What every content scanner gets and gives: one decoded sample in, contract findings out.

A scanner is anything with a ``name`` and ``scan(sample) -> list[Finding]`` (:class:`Scanner`).
It runs in a media-lane process (never on the event loop) and is made once per process, on
first use, so a model is loaded once per lane process, not once per video.

The :class:`MediaSample` is what the one decode (``frames.py``) produced: the frames worth
looking at, full size (the first, the last, frames spread evenly over the clip and the first
frame of each scene), and per-frame figures over *every* frame (brightness, contrast, how much
it changed from the one before) for the technical checks. A still image is a sample of one
frame. Scanners never decode anything themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from vidgate.safety.policy import Finding

__all__ = [
    "DEFECT",
    "ONNX_THREADS",
    "MediaSample",
    "SampledFrame",
    "Scanner",
    "frame_detail",
    "session_options",
]

#: The category of a technical finding (black, frozen, short, silent): a broken output, not a
#: policy matter. The scan step fails the attempt (``output_defective``) instead of asking the
#: tenant's policy.
DEFECT = "defect"

#: ONNX Runtime threads per model in one lane process (the lane has a process per core already).
ONNX_THREADS = 2

Rgb = npt.NDArray[np.uint8]
Figures = npt.NDArray[np.float32]


@dataclass(frozen=True)
class SampledFrame:
    """One decoded frame kept for the models: where it is, why it was kept, its pixels."""

    index: int
    time: float  # seconds from the start
    reason: Literal["first", "uniform", "scene", "last", "image"]
    rgb: Rgb  # (height, width, 3), at most ``frames.MAX_SIDE`` on its long side


@dataclass(frozen=True)
class MediaSample:
    """What one decode of a video (or one read of an image) gives the scanners."""

    kind: Literal["video", "image"]
    frames: list[SampledFrame]
    #: Per frame, over every decoded frame: mean luma (0-255), luma standard deviation, and the
    #: mean absolute luma change from the previous frame (0 for the first), on a small grid.
    brightness: Figures = field(default_factory=lambda: np.zeros(0, np.float32))
    contrast: Figures = field(default_factory=lambda: np.zeros(0, np.float32))
    change: Figures = field(default_factory=lambda: np.zeros(0, np.float32))
    fps: float = 0.0
    #: Seconds the decoded video frames span, and what the container and stream headers claim.
    video_span: float = 0.0
    claimed_duration: float = 0.0
    has_audio: bool = False
    audio_span: float = 0.0
    audio_peak: float = 0.0  # the loudest decoded sample, 0..1
    audio_expected: bool = False

    @property
    def frame_count(self) -> int:
        return int(self.brightness.size)


@runtime_checkable
class Scanner(Protocol):
    """A content scanner (see the module docstring)."""

    name: str

    def scan(self, sample: MediaSample) -> list[Finding]: ...


def frame_detail(frames: list[SampledFrame]) -> str:
    """The frames that triggered a finding, as the job shows them (``frame 12 at 0.50 s``)."""
    shown = ", ".join(f"frame {f.index} at {f.time:.2f} s" for f in frames[:5])
    more = len(frames) - 5
    return shown + (f" (+{more} more)" if more > 0 else "")


def session_options(onnxruntime: Any) -> Any:
    """ONNX Runtime session options for a model in a lane process: :data:`ONNX_THREADS` threads,
    and no spin-waiting between runs (a worker's cores belong to its event loop and the other
    lane processes, not to idle model threads)."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = ONNX_THREADS
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options
