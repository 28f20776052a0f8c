"""Shared CLI plumbing: consoles, clean error reporting, JSON output."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn, ParamSpec, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.markup import escape
from sqlalchemy.exc import SQLAlchemyError

from ..exceptions import ConfigurationError, VidgateError
from ..settings import Settings

# Piped output (not a terminal) gets room for whole table rows instead of rich's 80 columns.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, soft_wrap=True)

P = ParamSpec("P")
R = TypeVar("R")

#: The exit codes, one table (README "Exit codes"); ``exit_code()`` maps every error to one.
EXIT_OK = 0
#: The job failed or was canceled, or an operation failed (e.g. its output could not be written).
EXIT_FAILED = 1
#: The input or the command line was wrong: nothing was spent.
EXIT_USAGE = 2
#: vidgate is not set up to do it: missing credentials, an unreachable database, an unusable
#: VIDGATE_HOME, an invalid setting or catalogue file.
EXIT_CONFIG = 3
#: Interrupted (Ctrl-C).
EXIT_INTERRUPTED = 130


def exit_code(exc: BaseException) -> int:
    """The exit code for an error that ends a command."""
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, ValidationError):
        # Settings that do not validate are configuration; anything else is the caller's input.
        return EXIT_CONFIG if exc.title == "Settings" else EXIT_USAGE
    if isinstance(exc, ConfigurationError | SQLAlchemyError):
        return EXIT_CONFIG
    if isinstance(exc, VidgateError):
        return EXIT_USAGE if exc.outcome == "user_error" else EXIT_FAILED
    return EXIT_FAILED


def fail(message: str, *, code: str | None = None, exit_code: int = EXIT_FAILED) -> NoReturn:
    label = escape(f"error[{code}]" if code else "error")
    err.print(f"[bold red]{label}:[/] {escape(message)}", markup=True, highlight=False)
    raise typer.Exit(exit_code)


def check_home() -> None:
    """VIDGATE_HOME must be a directory vidgate can write to, or one it can create: say so in
    one line (``ConfigurationError``) instead of failing later with a traceback. Creates
    nothing."""
    home = Settings().resolved_home
    existing = home
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.is_dir() and os.access(existing, os.W_OK | os.X_OK):
        return
    what = "is not a directory" if existing == home else f"cannot be made under {existing}"
    raise ConfigurationError(
        f"VIDGATE_HOME ({home}) {what}: set VIDGATE_HOME to a directory vidgate may write to"
    )


def report(exc: BaseException) -> NoReturn:
    """Print ``exc`` as one clear line and exit with its code (see ``exit_code``)."""
    code = exit_code(exc)
    if isinstance(exc, KeyboardInterrupt):
        err.print("interrupted")
        raise typer.Exit(code) from None
    if isinstance(exc, ValidationError):
        if code == EXIT_CONFIG:
            fail(describe_validation(exc, prefix="VIDGATE_"), code="configuration", exit_code=code)
        fail(describe_validation(exc), code="invalid_request", exit_code=code)
    if isinstance(exc, VidgateError):
        fail(exc.message, code=exc.code, exit_code=code)
    if isinstance(exc, SQLAlchemyError):
        # The driver's first line says what happened; the URL (and its password) is not shown.
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        fail(
            f"the database is unavailable ({reason}); check VIDGATE_DATABASE_URL",
            code="database",
            exit_code=code,
        )
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        fail(f"{exc.strerror or exc}{where}", code="filesystem", exit_code=code)
    raise exc


def print_json(value: Any) -> None:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif isinstance(value, list):
        value = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def describe_validation(exc: ValidationError, *, prefix: str = "") -> str:
    """One line for every problem; ``prefix`` names settings as their variables."""
    lines = []
    for problem in exc.errors():
        where = ".".join(str(p) for p in problem["loc"]) or "request"
        if prefix:
            where = f"{prefix}{where.upper()}"
        lines.append(f"{where}: {problem['msg'].removeprefix('Value error, ')}")
    return "; ".join(lines)


def friendly(func: Callable[P, R]) -> Callable[P, R]:
    """Turn errors into one clear line and an exit code (``report``), never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (ValidationError, VidgateError, SQLAlchemyError, OSError, KeyboardInterrupt) as exc:
            report(exc)

    return wrapper
