"""``nudenet``: NudeNet 3.4.2's region detector (its ONNX model ships in the wheel; offline).

Each sampled frame goes through the detector (batched); an exposed-body region of the labels in
:data:`SEXUAL_LABELS` scoring at least :data:`THRESHOLD` flags ``sexual``. The finding's score is
the highest such region score over the frames, its detail the label and the frames. Needs the
``safety`` extra (``pip install 'vidgate[safety]'``); the detector is made once per process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vidgate.exceptions import ConfigurationError
from vidgate.safety.policy import Finding

from .base import MediaSample, SampledFrame, frame_detail, session_options

__all__ = ["SEXUAL_LABELS", "THRESHOLD", "NudeNetScanner"]

SEXUAL_LABELS = frozenset(
    {
        "FEMALE_GENITALIA_EXPOSED",
        "MALE_GENITALIA_EXPOSED",
        "FEMALE_BREAST_EXPOSED",
        "BUTTOCKS_EXPOSED",
        "ANUS_EXPOSED",
    }
)
THRESHOLD = 0.6
_BATCH = 4
_RESOLUTION = 320  # the bundled 320n model's input size


class NudeNetScanner:
    """NudeNet's detector over the sampled frames (see the module docstring)."""

    name = "nudenet"

    def __init__(self) -> None:
        try:
            import nudenet
            import onnxruntime
            from nudenet import NudeDetector
        except ImportError as exc:
            raise ConfigurationError(
                "the nudenet scanner needs the safety extra: pip install 'vidgate[safety]'",
                details={"scanner": self.name},
            ) from exc
        options = session_options(onnxruntime)
        model = Path(nudenet.__file__).with_name("320n.onnx")
        session = onnxruntime.InferenceSession(
            str(model), options, providers=["CPUExecutionProvider"]
        )
        # NudeDetector.__init__ makes a session with ONNX Runtime's defaults (every core); this
        # sets the same attributes on one whose threads are bounded.
        detector: Any = NudeDetector.__new__(NudeDetector)
        detector.onnx_session = session
        detector.input_width = detector.input_height = _RESOLUTION
        detector.input_name = session.get_inputs()[0].name
        self._detector = detector

    def scan(self, sample: MediaSample) -> list[Finding]:
        # NudeNet reads OpenCV's channel order (BGR).
        images = [frame.rgb[:, :, ::-1].copy() for frame in sample.frames]
        results: list[list[dict[str, Any]]] = (
            self._detector.detect_batch(images, batch_size=_BATCH) if images else []
        )
        best, label = 0.0, ""
        hits: list[SampledFrame] = []
        for frame, detections in zip(sample.frames, results, strict=True):
            scores = [
                (float(d["score"]), str(d["class"]))
                for d in detections
                if d.get("class") in SEXUAL_LABELS
            ]
            top = max(scores, default=(0.0, ""))
            if top[0] > best:
                best, label = top
            if top[0] >= THRESHOLD:
                hits.append(frame)
        flagged = bool(hits)
        return [
            Finding(
                category="sexual",
                score=round(best, 4),
                flagged=flagged,
                source=self.name,
                detail=f"{label}: {frame_detail(hits)}" if flagged else None,
            )
        ]
