"""Content safety: categories, per-tenant policy, the audit of every decision, prompt
validation and the moderation chain run at admission.

Layer: imports types, settings, exceptions, db, catalog, media — never engine, server or cli;
those call into it.
"""

from __future__ import annotations

from .categories import CATEGORIES, OTHER, POLICY_CATEGORIES
from .policy import Action, Decision, Finding, SafetyPolicy, decide, default_policy, load_policy

__all__ = [
    "CATEGORIES",
    "OTHER",
    "POLICY_CATEGORIES",
    "Action",
    "Decision",
    "Finding",
    "SafetyPolicy",
    "decide",
    "default_policy",
    "load_policy",
]
