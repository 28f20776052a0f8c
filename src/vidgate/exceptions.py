"""Every error vidgate raises, in one tree.

Each class carries a stable ``code`` (the string that reaches job records, JSON output and
HTTP bodies), whether it is ``retryable``, and the ``outcome`` class that decides what the
engine does next (see ``vidgate.types.Outcome``)::

    VidgateError                        error
    ├── ConfigurationError              configuration
    │   └── MissingCredentials          missing_credentials      (names the env var to set)
    ├── InvalidRequest                  invalid_request          (the caller's input is wrong)
    │   ├── UnknownModel                unknown_model
    │   ├── UnsupportedRequest          unsupported              (capability check failed)
    │   ├── ModelRetired                model_retired
    │   ├── IdempotencyConflict         idempotency_conflict
    │   ├── RequestTooLarge             request_too_large        (gateway: body over the limit)
    │   ├── InvalidTemplate             invalid_template         (a template that cannot be used)
    │   ├── TemplateVariableError       template_variable_invalid  (names the variable)
    │   │   ├── MissingTemplateVariable template_variable_missing
    │   │   └── UnknownTemplateVariable template_variable_unknown
    │   ├── PromptInvalid               prompt_invalid           (with a stable ``reason``)
    │   ├── InvalidSafetyPolicy         safety_policy_invalid    (a policy that cannot be used)
    │   ├── InvalidDeliveryProfile      delivery_profile_invalid (a profile that cannot be used)
    │   └── ContentBlocked              content_rejected         (422: the safety policy blocks it)
    ├── TemplateNotFound                template_not_found       (no such template or version)
    ├── JobNotFound                     not_found
    ├── NotFound                        not_found                (gateway: no such route, delivery)
    │   └── VariantNotAvailable         variant_not_available    (no such delivered variant)
    ├── TenantNotFound                  not_found                (gateway admin: no such tenant)
    ├── MethodNotAllowed                method_not_allowed       (gateway: wrong HTTP method)
    ├── ContentNotReady                 content_not_ready        (gateway: no video file yet)
    ├── OutputQuarantined               output_quarantined       (451: held by the content scan)
    ├── QuarantineConflict              quarantine_conflict      (409: not held, or superseded)
    ├── AuthenticationFailed            unauthorized             (gateway: no or bad API key)
    ├── PermissionDenied                forbidden                (gateway: not an admin key)
    ├── LimitExceeded                   limit_exceeded           (gateway: a tenant's limit)
    │   ├── TooManyRequests             too_many_requests        rate limit, with retry_after
    │   ├── ConcurrencyLimitReached     concurrency_limit        unfinished jobs at the cap
    │   ├── DailyQuotaExceeded          daily_quota_exceeded     jobs per UTC day
    │   └── QuotaExceeded               quota_exceeded           videos a day, seconds a month
    ├── BudgetExceeded                  budget_exceeded          (402: the job could overspend)
    ├── ModerationUnavailable           moderation_unavailable   (503: a moderator failed, closed)
    ├── ProviderError                   provider_error           (anything a provider said)
    │   ├── ProviderUnavailable         provider_unavailable     retryable: 5xx, timeout, network
    │   │   └── RateLimited             rate_limited             retryable: 429, THROTTLED
    │   ├── ProviderAuthError           provider_auth            operator action
    │   ├── InsufficientCredits         insufficient_credits     operator action
    │   ├── ProviderRejectedRequest     provider_invalid_request the provider refused our input
    │   ├── GenerationFailed            generation_failed        terminal for this provider
    │   ├── SubmitUncertain             submit_uncertain         a create may or may not exist
    │   └── ContentRejected             content_rejected         moderation, input or output
    │       └── OutputBlocked           output_blocked           vidgate's scan quarantined it
    ├── MediaError                      media_error
    │   ├── MediaUnreadable             media_unreadable         not a decodable video
    │   ├── OutputMismatch              output_mismatch          not what was asked for
    │   ├── OutputDefective             output_defective         black, frozen, short, silent
    │   └── DeliveryFailed              delivery_failed          renditions could not be made
    ├── StorageError                    storage_error
    ├── ProvenanceError                 provenance_failed        (a file could not be signed)
    ├── JobTimeout                      timeout
    └── JobCanceled                     canceled

Messages never contain secrets: provider errors carry URLs with their query strings removed.
Every class pickles with its fields intact, because errors cross DBOS's step boundaries.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AuthenticationFailed",
    "BudgetExceeded",
    "ConcurrencyLimitReached",
    "ConfigurationError",
    "ContentNotReady",
    "MethodNotAllowed",
    "NotFound",
    "RequestTooLarge",
    "DailyQuotaExceeded",
    "QuotaExceeded",
    "LimitExceeded",
    "PermissionDenied",
    "TooManyRequests",
    "ContentBlocked",
    "ContentRejected",
    "InvalidSafetyPolicy",
    "InvalidDeliveryProfile",
    "VariantNotAvailable",
    "DeliveryFailed",
    "PromptInvalid",
    "OutputBlocked",
    "OutputDefective",
    "OutputQuarantined",
    "QuarantineConflict",
    "GenerationFailed",
    "IdempotencyConflict",
    "InvalidTemplate",
    "MissingTemplateVariable",
    "TemplateNotFound",
    "TemplateVariableError",
    "UnknownTemplateVariable",
    "InsufficientCredits",
    "InvalidRequest",
    "JobCanceled",
    "JobNotFound",
    "JobTimeout",
    "MediaError",
    "MediaUnreadable",
    "MissingCredentials",
    "ModerationUnavailable",
    "ModelRetired",
    "OutputMismatch",
    "ProvenanceError",
    "ProviderAuthError",
    "ProviderError",
    "ProviderRejectedRequest",
    "ProviderUnavailable",
    "RateLimited",
    "StorageError",
    "SubmitUncertain",
    "TenantNotFound",
    "UnknownModel",
    "UnsupportedRequest",
    "VidgateError",
]


class VidgateError(Exception):
    """Base of every vidgate error: a stable code, a human message and structured details."""

    code: ClassVar[str] = "error"
    #: The HTTP status the gateway answers with.
    http_status: ClassVar[int] = 500
    retryable: ClassVar[bool] = False
    #: What the engine should do with a job that met this error (a ``vidgate.types.Outcome`` value).
    outcome: ClassVar[str] = "terminal"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuild through __new__ + __dict__ so subclasses with other signatures pickle too.
        return (_rebuild, (type(self), self.args, self.__dict__))

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape used in job records, CLI ``--json`` output and HTTP error bodies."""
        return {
            "code": self.code,
            "message": self.message,
            "retryable": self.retryable,
            "outcome": self.outcome,
            "details": self.details,
        }


def _rebuild(cls: type[VidgateError], args: tuple[Any, ...], state: dict[str, Any]) -> VidgateError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class ConfigurationError(VidgateError):
    """vidgate, or a provider, is not set up to do what was asked."""

    code = "configuration"
    http_status = 503
    outcome = "operator_action"


class MissingCredentials(ConfigurationError):
    """A provider was asked for, but its API key is not in the environment."""

    code = "missing_credentials"

    def __init__(self, provider: str, env_vars: list[str]) -> None:
        names = " or ".join(env_vars) if env_vars else "its API key variable"
        super().__init__(
            f"provider {provider!r} needs an API key: set {names} in the environment",
            details={"provider": provider, "env_vars": env_vars},
        )


class InvalidRequest(VidgateError):
    """The caller's input cannot be served as given. Nothing was spent."""

    code = "invalid_request"
    http_status = 400
    outcome = "user_error"


class UnknownModel(InvalidRequest):
    code = "unknown_model"


class UnsupportedRequest(InvalidRequest):
    """No model (or not the model asked for) can render this combination of parameters."""

    code = "unsupported"


class ModelRetired(InvalidRequest):
    code = "model_retired"


class IdempotencyConflict(InvalidRequest):
    code = "idempotency_conflict"
    http_status = 409


class RequestTooLarge(InvalidRequest):
    """The request body (or one of its fields) is larger than the gateway accepts."""

    code = "request_too_large"
    http_status = 413


class InvalidTemplate(InvalidRequest):
    """A template that cannot be stored or used: its shape, a placeholder, a default."""

    code = "invalid_template"


class TemplateVariableError(InvalidRequest):
    """A template variable given with the wrong type or a value it does not allow. The
    variable's name is in ``details["variable"]``."""

    code = "template_variable_invalid"

    def __init__(self, message: str, *, variable: str, template: str) -> None:
        super().__init__(
            message, details={"param": "variables", "variable": variable, "template": template}
        )


class MissingTemplateVariable(TemplateVariableError):
    """A variable with no default was not given."""

    code = "template_variable_missing"


class UnknownTemplateVariable(TemplateVariableError):
    """A variable the template does not declare was given."""

    code = "template_variable_unknown"


class PromptInvalid(InvalidRequest):
    """The prompt (after template expansion) cannot be sent: ``details["reason"]`` is a stable
    word — ``too_long``, ``control_characters``, ``invisible_characters``,
    ``provider_syntax``, ``empty``, ``garbage`` — and ``details["field"]`` the prompt field."""

    code = "prompt_invalid"

    def __init__(self, message: str, *, reason: str, field: str = "prompt", **extra: Any) -> None:
        super().__init__(message, details={"reason": reason, "field": field, **extra})
        self.reason = reason


class InvalidSafetyPolicy(InvalidRequest):
    """A safety policy (a tenant's, or ``VIDGATE_SAFETY_POLICY``) that cannot be used."""

    code = "safety_policy_invalid"


class InvalidDeliveryProfile(InvalidRequest):
    """A delivery profile (``VIDGATE_DELIVERY_PROFILE`` or a tenant's) that cannot be used: not
    JSON, an unknown key, a wrong type or an unknown tier. ``details.field`` names the key."""

    code = "delivery_profile_invalid"


class ContentBlocked(InvalidRequest):
    """The safety policy blocks this request's content before anything was submitted or
    reserved. ``details["categories"]`` name the categories and ``details["stage"]`` where it
    was found; the offending text is never echoed."""

    code = "content_rejected"
    http_status = 422

    def __init__(self, categories: tuple[str, ...] | list[str], *, stage: str = "prompt") -> None:
        named = ", ".join(categories) or "other"
        super().__init__(
            f"the content safety policy blocks this request ({named})",
            details={"categories": list(categories), "stage": stage},
        )
        self.categories = tuple(categories)
        self.stage = stage


class TemplateNotFound(VidgateError):
    """No template by that name (or no such version of it) is visible to the caller."""

    code = "template_not_found"
    http_status = 404
    outcome = "user_error"


class JobNotFound(VidgateError):
    code = "not_found"
    http_status = 404
    outcome = "user_error"

    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job with id {job_id!r}", details={"job_id": job_id})


class NotFound(VidgateError):
    """Something other than a job does not exist: a route, a webhook delivery, a stored file."""

    code = "not_found"
    http_status = 404
    outcome = "user_error"


class VariantNotAvailable(NotFound):
    """A video has no delivered file of the asked variant; ``details.available`` lists the
    variants it has."""

    code = "variant_not_available"


class TenantNotFound(VidgateError):
    code = "not_found"
    http_status = 404
    outcome = "user_error"

    def __init__(self, tenant: str) -> None:
        super().__init__(f"no tenant named {tenant!r}", details={"tenant": tenant})


class MethodNotAllowed(VidgateError):
    code = "method_not_allowed"
    http_status = 405
    outcome = "user_error"


class ContentNotReady(VidgateError):
    """A job's video (or thumbnail) was asked for before the job produced it."""

    code = "content_not_ready"
    http_status = 409
    outcome = "user_error"


class AuthenticationFailed(VidgateError):
    code = "unauthorized"
    http_status = 401
    outcome = "user_error"


class PermissionDenied(VidgateError):
    code = "forbidden"
    http_status = 403
    outcome = "user_error"


class LimitExceeded(VidgateError):
    """A tenant's limit refused the request; ``retry_after`` says when to try again."""

    code = "limit_exceeded"
    http_status = 429
    outcome = "user_error"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        details = {"retry_after": retry_after} if retry_after is not None else {}
        super().__init__(message, details=details)
        self.retry_after = retry_after


class TooManyRequests(LimitExceeded):
    code = "too_many_requests"


class ConcurrencyLimitReached(LimitExceeded):
    code = "concurrency_limit"


class DailyQuotaExceeded(LimitExceeded):
    code = "daily_quota_exceeded"


class QuotaExceeded(LimitExceeded):
    """A tenant's (or its end user's) quota of videos a day or seconds of output a month is
    used up; ``details`` say which, how much, and when it resets (``resets_at``)."""

    code = "quota_exceeded"

    def __init__(self, message: str, *, retry_after: float, details: dict[str, Any]) -> None:
        super().__init__(message, retry_after=retry_after)
        self.details.update(details)


class BudgetExceeded(VidgateError):
    """Admitting the job could spend more than a budget allows: nothing was spent. ``details``
    hold the budget, what is used and reserved, what this job could cost, and ``resets_at``."""

    code = "budget_exceeded"
    http_status = 402
    outcome = "user_error"


class ModerationUnavailable(VidgateError):
    """A moderator the admission check needs errored or timed out and the chain fails closed
    (``VIDGATE_MODERATION_ON_ERROR=closed``): nothing was submitted or reserved; try again."""

    code = "moderation_unavailable"
    http_status = 503
    retryable = True
    outcome = "retryable"


class ProviderError(VidgateError):
    """Something a provider returned or failed to return."""

    code = "provider_error"
    http_status = 502

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status_code: int | None = None,
        provider_code: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        merged = {
            "provider": provider,
            "status_code": status_code,
            "provider_code": provider_code,
            "request_id": request_id,
            "retry_after": retry_after,
        }
        merged.update(details or {})
        super().__init__(message, details={k: v for k, v in merged.items() if v is not None})
        self.provider = provider
        self.status_code = status_code
        self.provider_code = provider_code
        self.request_id = request_id
        self.retry_after = retry_after


class ProviderUnavailable(ProviderError):
    """A 5xx, a timeout or a network failure: try again later."""

    code = "provider_unavailable"
    retryable = True
    outcome = "retryable"


class RateLimited(ProviderUnavailable):
    code = "rate_limited"


class ProviderAuthError(ProviderError):
    code = "provider_auth"
    outcome = "operator_action"


class InsufficientCredits(ProviderError):
    code = "insufficient_credits"
    outcome = "operator_action"


class ProviderRejectedRequest(ProviderError):
    """The provider refused the request's parameters (its 400/422): the caller must change them."""

    code = "provider_invalid_request"
    outcome = "user_error"


class GenerationFailed(ProviderError):
    """The provider accepted the job and then failed it: another provider may succeed."""

    code = "generation_failed"


class SubmitUncertain(ProviderError):
    """A create call failed ambiguously and the provider cannot be asked whether the task exists.

    Nothing is sent to this provider again for the job; its ``uncertain_submit`` policy either
    stops the job here or falls back to another provider, recording the possible orphan. An
    operator can look the task up by reference."""

    code = "submit_uncertain"
    outcome = "operator_action"


class ContentRejected(ProviderError):
    """Moderation refused the prompt or input (``stage="input"``) or the result (``"output"``)."""

    code = "content_rejected"
    outcome = "content_rejected"

    def __init__(
        self, message: str, *, provider: str, stage: str = "input", charged: bool = False, **kw: Any
    ) -> None:
        details = dict(kw.pop("details", None) or {})
        details.update({"stage": stage, "charged": charged})
        super().__init__(message, provider=provider, details=details, **kw)
        self.stage = stage
        self.charged = charged


class OutputBlocked(ContentRejected):
    """vidgate's own content scan blocked a generated video: it is quarantined (never served)
    and the tenant's policy (``on_output_block``) says whether the job falls back to another
    provider (``details.fallback``). The attempt stays charged: the video was generated."""

    code = "output_blocked"

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        categories: list[str],
        quarantine_id: str,
        fallback: bool,
    ) -> None:
        super().__init__(
            message,
            provider=provider,
            stage="output",
            charged=True,
            details={
                "categories": categories,
                "quarantine_id": quarantine_id,
                "fallback": fallback,
            },
        )


class OutputQuarantined(VidgateError):
    """The video is held in quarantine by the content scan: it is not served (not by
    ``/content``, its variants or signed links) until an admin releases it."""

    code = "output_quarantined"
    http_status = 451


class QuarantineConflict(VidgateError):
    """A quarantine action that does not fit the item's state (already released or deleted,
    or its job was delivered from another attempt)."""

    code = "quarantine_conflict"
    http_status = 409


class MediaError(VidgateError):
    code = "media_error"


class MediaUnreadable(MediaError):
    """The file is not a video we can decode (truncated, corrupt, or not a video at all)."""

    code = "media_unreadable"


class OutputMismatch(MediaError):
    """The video decodes, but is not what was asked for (duration, aspect ratio, resolution...)."""

    code = "output_mismatch"

    def __init__(self, problems: list[str], *, details: dict[str, Any] | None = None) -> None:
        merged = {"problems": problems}
        merged.update(details or {})
        super().__init__(
            "output does not match the request: " + "; ".join(problems), details=merged
        )
        self.problems = problems


class OutputDefective(MediaError):
    """The video decodes and matches the request, but a technical check of the content scan
    failed: black or blank, frozen, much shorter than its container claims, or silent when
    audio was asked for. Like a mismatch, the attempt fails and the job falls back."""

    code = "output_defective"


class DeliveryFailed(MediaError):
    """The delivery set (renditions, HLS, stills) could not be made from a validated output."""

    code = "delivery_failed"


class StorageError(VidgateError):
    code = "storage_error"
    retryable = True
    outcome = "retryable"


class ProvenanceError(VidgateError):
    """A file could not be given its Content Credentials (C2PA manifest): the file is not what
    its name says, or the C2PA library refused it. A bad certificate or key is a
    ``ConfigurationError`` instead; key material never reaches the message."""

    code = "provenance_failed"


class JobTimeout(VidgateError):
    code = "timeout"


class JobCanceled(VidgateError):
    code = "canceled"
