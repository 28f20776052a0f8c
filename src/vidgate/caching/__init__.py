"""The result cache (issue 11 §6): a request identical to an earlier completed one is served
from that job's stored video, at no cost.

- ``key.py``      the normalized request key (exact, and all but the prompt)
- ``store.py``    the ``result_cache`` table: remember a job's key, find completed results
- ``similar.py``  prompt embeddings (optional extra ``embeddings``) and cosine similarity
- ``lookup.py``   ``ResultCache``: probe at admission, remember misses, copy a hit's files

Between the catalogue and the engine: the engine imports it; it never imports the engine, the
server or the CLI.
"""

from __future__ import annotations

from .key import CacheKey, request_key
from .lookup import Probe, ResultCache

__all__ = ["CacheKey", "Probe", "ResultCache", "request_key"]
