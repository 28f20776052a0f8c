"""``technical``: the checks that catch a broken output no model would call unsafe.

From the per-frame figures of the one decode (``frames.py``), each a :data:`~.base.DEFECT`
finding whose ``detail`` says what and where:

- **blank**: at least :data:`BLANK_SHARE` of the frames are one flat colour (black included):
  luma spread under :data:`FLAT_CONTRAST`;
- **frozen**: at least :data:`FROZEN_SHARE` of the changes between frames are under
  :data:`STILL_CHANGE` (a still picture sold as video);
- **short**: the decoded frames span less than :data:`SHORT_SHARE` of what the container
  claims (the picture stops while the file runs on);
- **silent**: audio was asked for, and the track is missing, empty or digital silence.

A still image gets no technical check (a flat input image is a choice, not a broken output).
"""

from __future__ import annotations

import numpy as np

from vidgate.safety.policy import Finding

from .base import DEFECT, MediaSample

__all__ = [
    "BLANK_SHARE",
    "FLAT_CONTRAST",
    "FROZEN_SHARE",
    "SHORT_SHARE",
    "SILENCE",
    "STILL_CHANGE",
    "TechnicalScanner",
]

FLAT_CONTRAST = 3.0  # luma standard deviation (0-255) under which a frame is one flat colour
BLANK_SHARE = 0.9
STILL_CHANGE = 0.05  # mean absolute luma change (0-255) under which two frames are the same
FROZEN_SHARE = 0.95
SHORT_SHARE = 0.75
SILENCE = 1e-3  # peak amplitude (0-1) under which audio is silence


class TechnicalScanner:
    """Black or blank frames, frozen video, a short video, missing audio (module docstring)."""

    name = "technical"

    def scan(self, sample: MediaSample) -> list[Finding]:
        found: list[Finding] = []
        count = sample.frame_count
        if sample.kind != "video":
            return found
        if count:
            flat = sample.contrast < FLAT_CONTRAST
            share = float(flat.mean())
            if share >= BLANK_SHARE:
                dark = float(np.median(sample.brightness[flat])) < 24
                what = "black" if dark else "blank (one flat colour)"
                found.append(self._finding(share, f"{what}: {int(flat.sum())} of {count} frames"))
        if count >= 3 and not found:
            still = sample.change[1:] < STILL_CHANGE
            share = float(still.mean())
            if share >= FROZEN_SHARE:
                found.append(
                    self._finding(share, f"frozen: {int(still.sum())} of {count - 1} frame changes")
                )
        claimed = sample.claimed_duration
        if claimed > 0 and sample.video_span < SHORT_SHARE * claimed:
            found.append(
                self._finding(
                    1.0 - sample.video_span / claimed,
                    f"short: the frames span {sample.video_span:.2f} s of the "
                    f"{claimed:.2f} s the file claims",
                )
            )
        if sample.audio_expected:
            if not sample.has_audio or sample.audio_span <= 0:
                found.append(self._finding(1.0, "silent: audio was asked for; there is none"))
            elif sample.audio_peak < SILENCE:
                found.append(
                    self._finding(1.0, "silent: audio was asked for; the track is silence")
                )
        return found

    def _finding(self, score: float, detail: str) -> Finding:
        return Finding(
            category=DEFECT, score=round(score, 4), flagged=True, source=self.name, detail=detail
        )
