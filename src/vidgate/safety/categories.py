"""The content categories vidgate's safety checks speak in.

Every moderator and scanner reports findings in these names (OpenAI's moderation categories,
fal's and the providers' own refusal reasons are mapped onto them in the module that reads them);
a finding that fits none of them is reported as ``OTHER``. A tenant's policy sets an action per
category (``vidgate.safety.policy``).
"""

from __future__ import annotations

__all__ = ["CATEGORIES", "OTHER", "POLICY_CATEGORIES", "is_category"]

CATEGORIES: tuple[str, ...] = (
    "sexual",
    "sexual_minors",
    "violence",
    "self_harm",
    "hate",
    "harassment",
    "illicit",
    "weapons",
)

#: What a moderator reports for something it flags that fits no category above.
OTHER = "other"

#: Every name a policy may set an action for.
POLICY_CATEGORIES: tuple[str, ...] = (*CATEGORIES, OTHER)


def is_category(name: str) -> bool:
    return name in POLICY_CATEGORIES
