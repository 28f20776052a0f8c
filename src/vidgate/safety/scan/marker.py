"""``marker``: flags the synthetic unsafe-content marker, so the whole scan path can be tested.

No explicit image can be used in tests, so the simulated provider draws a stand-in on demand
(``[simulate:unsafe-output]``: a solid :data:`~vidgate.media.synth.MARKER_RGB` block over the
middle of the second half of the clip) and this scanner reports it as :data:`CATEGORY` with
the share of the frame it covers as the score. It is cheap (no model), so the test suite runs
with it alone; never configure it in production.
"""

from __future__ import annotations

import numpy as np

from vidgate.media.synth import MARKER_RGB
from vidgate.safety.policy import Finding

from .base import MediaSample, frame_detail

__all__ = ["CATEGORY", "MIN_SHARE", "MarkerScanner"]

#: The category the marker stands for.
CATEGORY = "sexual"
#: The share of a frame the marker must cover for the frame to count.
MIN_SHARE = 0.1
_TOLERANCE = 60  # per channel, after the encoder's chroma subsampling


class MarkerScanner:
    """Reports frames carrying the marker colour (see the module docstring)."""

    name = "marker"

    def scan(self, sample: MediaSample) -> list[Finding]:
        target = np.asarray(MARKER_RGB, dtype=np.int16)
        hits, best = [], 0.0
        for frame in sample.frames:
            close = np.abs(frame.rgb.astype(np.int16) - target).max(axis=2) <= _TOLERANCE
            share = float(close.mean())
            best = max(best, share)
            if share >= MIN_SHARE:
                hits.append(frame)
        flagged = bool(hits)
        return [
            Finding(
                category=CATEGORY,
                score=round(min(1.0, best / 0.25), 4),
                flagged=flagged,
                source=self.name,
                detail=frame_detail(hits) if flagged else None,
            )
        ]
