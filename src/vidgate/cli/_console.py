"""Shared CLI plumbing: consoles, clean error reporting, JSON output."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, NoReturn, ParamSpec, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.markup import escape
from sqlalchemy.exc import SQLAlchemyError

from ..exceptions import VidgateError

# Piped output (not a terminal) gets room for whole table rows instead of rich's 80 columns.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, soft_wrap=True)

P = ParamSpec("P")
R = TypeVar("R")

#: Exit codes: 0 success, 1 the job or an operation failed, 2 the input was wrong.
EXIT_FAILED = 1
EXIT_USAGE = 2


def fail(message: str, *, code: str | None = None, exit_code: int = EXIT_FAILED) -> NoReturn:
    label = escape(f"error[{code}]" if code else "error")
    err.print(f"[bold red]{label}:[/] {escape(message)}", markup=True, highlight=False)
    raise typer.Exit(exit_code)


def print_json(value: Any) -> None:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif isinstance(value, list):
        value = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def describe_validation(exc: ValidationError) -> str:
    lines = []
    for problem in exc.errors():
        where = ".".join(str(p) for p in problem["loc"]) or "request"
        lines.append(f"{where}: {problem['msg'].removeprefix('Value error, ')}")
    return "; ".join(lines)


def friendly(func: Callable[P, R]) -> Callable[P, R]:
    """Turn vidgate's errors into one clear line and an exit code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ValidationError as exc:
            fail(describe_validation(exc), code="invalid_request", exit_code=EXIT_USAGE)
        except VidgateError as exc:
            exit_code = EXIT_USAGE if exc.outcome == "user_error" else EXIT_FAILED
            fail(exc.message, code=exc.code, exit_code=exit_code)
        except SQLAlchemyError as exc:
            # The driver's first line says what happened; the URL (and its password) is not shown.
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            fail(
                f"the database is unavailable ({reason}); check VIDGATE_DATABASE_URL",
                code="database",
            )
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper
