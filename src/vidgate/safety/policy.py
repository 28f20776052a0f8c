"""Per-tenant safety policy: what to do with each category a moderator or scanner flags.

A policy maps categories to an action — ``block`` (refuse: nothing is submitted or charged),
``flag`` (run the job and mark it), ``allow`` — with a ``default`` for flagged categories it
does not name, and two choices for later stages: what a blocked generated video does
(``on_output_block``) and what a provider's own safety refusal does (``on_provider_refusal``).

The operator's default policy is ``VIDGATE_SAFETY_POLICY`` (JSON, or the path of a JSON file)
over the built-in one (every category blocks); a tenant's stored policy is merged over that.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, cast, get_args

import sqlalchemy as sa

from ..db.tables import tenants
from ..exceptions import InvalidSafetyPolicy, TenantNotFound
from ..settings import Settings
from .categories import CATEGORIES, POLICY_CATEGORIES

__all__ = [
    "ACTIONS",
    "Action",
    "Decision",
    "Finding",
    "RefusalChoice",
    "SafetyPolicy",
    "decide",
    "default_policy",
    "policy_from",
    "load_policy",
    "severity",
]

Action = Literal["block", "flag", "allow"]
RefusalChoice = Literal["fail", "fallback"]
ACTIONS: tuple[str, ...] = get_args(Action)
_CHOICES: tuple[str, ...] = get_args(RefusalChoice)
_SEVERITY = {"allow": 0, "flag": 1, "block": 2}
_KEYS = ("actions", "default", "on_output_block", "on_provider_refusal")


def severity(action: str) -> int:
    """How strong an action is: block > flag > allow."""
    return _SEVERITY[action]


def _frozen(actions: Mapping[str, Action]) -> Mapping[str, Action]:
    return MappingProxyType(dict(actions))


@dataclass(frozen=True)
class SafetyPolicy:
    actions: Mapping[str, Action] = field(default_factory=dict)
    default: Action = "block"
    on_output_block: RefusalChoice = "fail"
    on_provider_refusal: RefusalChoice = "fallback"

    def __post_init__(self) -> None:
        object.__setattr__(self, "actions", _frozen(self.actions))

    def action(self, category: str) -> Action:
        """What this policy does with a flagged ``category``."""
        return self.actions.get(category, self.default)

    def to_json(self) -> dict[str, object]:
        return {
            "actions": {c: self.actions[c] for c in POLICY_CATEGORIES if c in self.actions},
            "default": self.default,
            "on_output_block": self.on_output_block,
            "on_provider_refusal": self.on_provider_refusal,
        }

    @classmethod
    def from_json(cls, data: object) -> SafetyPolicy:
        """A policy from its JSON shape (every key optional). Raises ``InvalidSafetyPolicy``
        (``safety_policy_invalid``) naming what is wrong."""
        return cls().merged(data)

    def merged(self, data: object) -> SafetyPolicy:
        """This policy with the keys ``data`` sets replaced (``actions`` merged per category;
        an action of ``null`` removes the category's own action so it takes the default)."""
        if not isinstance(data, Mapping):
            raise InvalidSafetyPolicy("a safety policy is a JSON object")
        unknown = sorted(str(k) for k in data if k not in _KEYS)
        if unknown:
            raise InvalidSafetyPolicy(
                f"unknown safety policy key(s): {', '.join(unknown)[:200]}; "
                f"the keys are {', '.join(_KEYS)}"
            )
        actions: dict[str, Action] = dict(self.actions)
        given = data.get("actions", {})
        if not isinstance(given, Mapping):
            raise InvalidSafetyPolicy("safety policy 'actions' is an object of category: action")
        for category, action in given.items():
            if not isinstance(category, str) or category not in POLICY_CATEGORIES:
                raise InvalidSafetyPolicy(
                    f"unknown safety category {str(category)[:64]!r}; the categories are "
                    f"{', '.join(POLICY_CATEGORIES)}"
                )
            if action is None:
                actions.pop(category, None)
                continue
            actions[category] = _action(action, f"actions.{category}")
        default = _action(data.get("default", self.default), "default")
        on_output = _choice(data.get("on_output_block", self.on_output_block), "on_output_block")
        on_refusal = _choice(
            data.get("on_provider_refusal", self.on_provider_refusal), "on_provider_refusal"
        )
        return SafetyPolicy(actions, default, on_output, on_refusal)


def _action(value: object, where: str) -> Action:
    if value not in ACTIONS:
        raise InvalidSafetyPolicy(
            f"safety policy {where} is one of {', '.join(ACTIONS)}, not {str(value)[:32]!r}"
        )
    return cast(Action, value)


def _choice(value: object, where: str) -> RefusalChoice:
    if value not in _CHOICES:
        raise InvalidSafetyPolicy(
            f"safety policy {where} is one of {', '.join(_CHOICES)}, not {str(value)[:32]!r}"
        )
    return cast(RefusalChoice, value)


@dataclass(frozen=True)
class Finding:
    """What one moderator or scanner says about one category. ``detail`` says where (a frame,
    a rule list) — never the offending text itself."""

    category: str
    score: float
    flagged: bool
    source: str
    detail: str | None = None

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "category": self.category,
            "score": round(self.score, 4),
            "flagged": self.flagged,
            "source": self.source,
        }
        if self.detail is not None:
            out["detail"] = self.detail
        return out


@dataclass(frozen=True)
class Decision:
    action: Action  # the worst action over flagged findings ("allow" if none)
    categories: tuple[str, ...]  # flagged categories
    findings: tuple[Finding, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "action": self.action,
            "categories": list(self.categories),
            "findings": [f.to_json() for f in self.findings],
        }


def _order(category: str) -> tuple[int, str]:
    return (
        (POLICY_CATEGORIES.index(category), "") if category in POLICY_CATEGORIES else (99, category)
    )


def decide(policy: SafetyPolicy, findings: Sequence[Finding]) -> Decision:
    """The policy's answer to ``findings``: the strongest action any flagged category takes."""
    flagged = sorted({f.category for f in findings if f.flagged}, key=_order)
    action: Action = "allow"
    for category in flagged:
        candidate = policy.action(category)
        if severity(candidate) > severity(action):
            action = candidate
    return Decision(action=action, categories=tuple(flagged), findings=tuple(findings))


#: The built-in policy: every category blocks.
BUILTIN = SafetyPolicy({c: "block" for c in CATEGORIES}, default="block")


def default_policy(settings: Settings) -> SafetyPolicy:
    """The operator's policy: ``VIDGATE_SAFETY_POLICY`` (JSON, or a path to a JSON file) over
    the built-in one (every category blocks; a provider's refusal falls back when
    ``VIDGATE_FALLBACK_ON_MODERATION`` is on, else fails). A bad value raises
    ``InvalidSafetyPolicy``."""
    raw = (settings.safety_policy or "").strip()
    base = replace(
        BUILTIN, on_provider_refusal="fallback" if settings.fallback_on_moderation else "fail"
    )
    if not raw:
        return base
    if not raw.startswith("{"):
        path = Path(raw).expanduser()
        try:
            raw = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidSafetyPolicy(
                f"VIDGATE_SAFETY_POLICY names a file that cannot be read: {path}"
            ) from exc
    try:
        data: Any = json.loads(raw)
    except ValueError as exc:
        raise InvalidSafetyPolicy("VIDGATE_SAFETY_POLICY is not valid JSON") from exc
    return base.merged(data)


def load_policy(database: sa.Engine, tenant: str, settings: Settings | None = None) -> SafetyPolicy:
    """The policy for ``tenant``: its stored ``safety_policy`` over the operator's default. A
    tenant with no row (the library's local tenant) gets the default."""
    with database.connect() as conn:
        stored = conn.execute(
            sa.select(tenants.c.safety_policy).where(tenants.c.name == tenant)
        ).scalar()
    return policy_from(stored, settings or Settings())


def policy_from(stored: object, settings: Settings) -> SafetyPolicy:
    """A tenant's policy from its stored ``safety_policy`` column (JSON text, a mapping or
    None) over the operator's default."""
    base = default_policy(settings)
    if not stored:
        return base
    data = json.loads(stored) if isinstance(stored, str) else stored
    return base.merged(data)


def store_policy(database: sa.Engine, tenant: str, data: Mapping[str, object] | None) -> None:
    """Set (merged over the tenant's current stored keys) or, with ``None``, clear a tenant's
    own policy. Raises ``InvalidSafetyPolicy`` before writing anything bad."""
    with database.begin() as conn:
        row = conn.execute(
            sa.select(tenants.c.safety_policy).where(tenants.c.name == tenant)
        ).first()
        if row is None:
            raise TenantNotFound(tenant)
        value: str | None = None
        if data is not None:
            current: dict[str, Any] = json.loads(row[0]) if row[0] else {}
            merged = {k: v for k, v in current.items() if k != "actions"}
            merged.update({k: v for k, v in data.items() if k != "actions"})
            actions = dict(current.get("actions", {}))
            given = data.get("actions", {})
            if isinstance(given, Mapping):
                actions.update(given)
                actions = {k: v for k, v in actions.items() if v is not None}
            elif "actions" in data:
                merged["actions"] = given  # let validation name it
            merged.setdefault("actions", actions)
            SafetyPolicy.from_json(merged)  # validates
            value = json.dumps(merged, sort_keys=True)
        conn.execute(tenants.update().where(tenants.c.name == tenant).values(safety_policy=value))
