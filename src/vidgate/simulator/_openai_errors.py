"""OpenAI's error answers for the OpenAI simulator twin (:mod:`vidgate.simulator.openai`): the
``{"error": {message, type, param, code}}`` envelope with its ``x-request-id`` header, the route
wrapper that turns a raised failure into that answer, and the common failures.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.responses import JSONResponse, Response

__all__ = ["Handler", "OpenAIFailure"]


class OpenAIFailure(Exception):
    """An answer in OpenAI's error envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        return _json(self.body, self.status, self.headers)


def _request_id() -> str:
    return "req_" + secrets.token_hex(16)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        body, status_code=status, headers={"x-request-id": _request_id(), **(headers or {})}
    )


Handler = Callable[..., Awaitable[Response]]


def _answers_errors(handler: Handler) -> Handler:
    """Turn an ``OpenAIFailure`` raised by a route into its error answer."""

    @functools.wraps(handler)
    async def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            return await handler(*args, **kwargs)
        except OpenAIFailure as failure:
            return failure.response()

    return wrapper


def _invalid_value(param: str, value: object, allowed: tuple[str, ...]) -> OpenAIFailure:
    quoted = [f"'{a}'" for a in allowed]
    listed = (
        ", ".join(quoted[:-1]) + f", and {quoted[-1]}" if len(quoted) > 2 else " and ".join(quoted)
    )
    return OpenAIFailure(
        400,
        f"Invalid value: '{value}'. Supported values are: {listed}.",
        param=param,
        code="invalid_value",
    )


def _server_error() -> OpenAIFailure:
    return OpenAIFailure(
        500,
        "The server had an error while processing your request. Sorry about that!",
        type_="server_error",
    )
