"""Structured logging: JSON lines in production, readable console lines otherwise.

Every event passes :func:`redact` before it is rendered, so secrets (passwords, tokens,
API keys) and personal data (phone, email, card, names, birthday) never reach a log,
whatever a caller passes. Call :func:`configure_logging` once per process; nothing is
configured at import time.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any

import structlog

from kopilka.settings import Settings

MASK = "***"

# substrings of a key name that mark its value as secret or personal
SENSITIVE = (
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "cookie",
    "phone",
    "email",
    "card",
    "first_name",
    "last_name",
    "birthday",
    "identifier",
)
_SENSITIVE_KEY = re.compile("|".join(re.escape(s) for s in SENSITIVE), re.IGNORECASE)
# the redacted forms of values logged under innocuous keys (e.g. inside a message)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_PHONE = re.compile(r"\+?\(?\d[\d\s().-]{7,}\d")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _mask_phone(match: re.Match[str]) -> str:
    text = match.group()
    digits = sum(c.isdigit() for c in text)
    # dates and times are not phones; a phone has 10-15 digits
    if _DATE.search(text) or not 10 <= digits <= 15:
        return text
    return MASK


def is_sensitive(key: str) -> bool:
    """Whether a value logged under ``key`` must be masked."""
    return bool(_SENSITIVE_KEY.search(key.replace("-", "_")))


def _scrub(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: MASK if is_sensitive(str(k)) else _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_scrub(v) for v in value)
    if isinstance(value, str):
        return _PHONE.sub(_mask_phone, _EMAIL.sub(MASK, value))
    return value


def redact(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: mask sensitive keys (at any depth) and emails/phones in text."""
    return {k: MASK if is_sensitive(k) else _scrub(v) for k, v in event_dict.items()}


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted (tests swap it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure_logging(settings: Settings) -> None:
    """Route stdlib and structlog logs to stderr at ``settings.log_level``, redacted."""
    level = logging.getLevelNamesMapping()[settings.log_level.upper()]
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        redact,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if settings.log_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = StderrHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # migrations announce every step at info; an operator wants them only when debugging
    logging.getLogger("alembic").setLevel(max(level, logging.WARNING))
    # uvicorn installs its own handlers; let its records flow through ours instead
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True


def get_logger(name: str | None = None) -> Any:
    """A structlog logger; bind context with ``.bind(...)``."""
    return structlog.stdlib.get_logger(name)
