"""Structured logging: JSON lines in production, readable console lines otherwise.

Every event passes :func:`redact` before it is rendered, so secrets (passwords, tokens,
API keys) and personal data (phone, email, card, names, birthday) never reach a log,
whatever a caller passes. An exception is rendered as plain text *before* redaction, and
without its frames' local variables (which hold requests, headers and bodies), so its
traceback is redacted like any other text, in the console and in JSON alike.

A record logged on a thread that runs an event loop is handed to a writer thread (see
:class:`StderrHandler`): formatting a traceback, or a reader of stderr that is slow to
drain its pipe, never holds the loop. Call :func:`configure_logging` once per process;
nothing is configured at import time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import re
import sys
import threading
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus
from uuid import UUID

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
# an e-mail, also URL-encoded (``anna%40example.com``, ``anna%2Bx%40example.com``)
_EMAIL = re.compile(r"[\w.+%-]+(?:@|%40)[\w-]+\.[\w.-]+", re.IGNORECASE)
_PHONE = re.compile(r"\+?\(?\d[\d\s().-]{7,}\d")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# an API key (kopilka.services.apikeys.KEY_PATTERN), wherever it appears
_API_KEY = re.compile(r"kp_[a-z0-9]{12}_[A-Za-z0-9_-]+")
# a query string's values (an access log line, a URL in a message): a lookup by card,
# phone or e-mail carries them there; only the parameters named here stay readable
_QUERY_VALUE = re.compile(r"([?&;][\w.\[\]-]+)=([^&;\s\"'#]*)")
SAFE_QUERY = frozenset({"kind", "limit", "before", "target", "done", "published"})
# what a database error quotes of the statement's data: SQLAlchemy's parameters, and
# PostgreSQL's ``DETAIL: Key (kind, value)=(card, 1000-0001) already exists``
_SQL_PARAMETERS = re.compile(r"\[parameters: [^\n]*\]")
_KEY_DETAIL = re.compile(r"(Key \([^)]*\)=)\((?:[^)\n]|\)(?!\s|$))*\)")


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


def _mask_query_value(match: re.Match[str]) -> str:
    name = match.group(1)
    return match.group() if name[1:].lower() in SAFE_QUERY else f"{name}={MASK}"


def scrub_text(text: str) -> str:
    """``text`` with e-mails, phones, API keys, query-string values and the data a
    database error quotes masked."""
    if "kp_" in text:
        text = _API_KEY.sub(MASK, text)
    if "=" in text:
        text = _QUERY_VALUE.sub(_mask_query_value, text)
    if "[parameters: " in text:
        text = _SQL_PARAMETERS.sub(f"[parameters: {MASK}]", text)
    if "Key (" in text:
        text = _KEY_DETAIL.sub(rf"\1({MASK})", text)
    return _PHONE.sub(_mask_phone, _EMAIL.sub(MASK, text))


# where kopilka.api.middleware.BodyLimit leaves a request's body in its ASGI scope
BODY_SCOPE_KEY = "kopilka.body"
# an input shorter than this, or a plain lowercase word ("card", "dairy", "block"), is
# not masked in a failure's traceback: it would mask words of the code's own text
_MIN_INPUT = 6
_WORD = re.compile(r"[a-z_]+")


@dataclass(frozen=True, slots=True)
class RequestInputs:
    """What a failed request carried, as it came (query string, body, headers), kept on
    its log record and parsed only when the record is written, off the event loop."""

    query: bytes
    body: bytes | None
    headers: tuple[tuple[bytes, bytes], ...]

    def values(self) -> list[str]:
        """The values worth masking, longest first (a value inside another is masked
        after it): query and form values, a JSON body's strings, credentials."""
        found = {v for _, v in parse_qsl(self.query.decode("latin-1"))}
        if self.body:
            text = self.body.decode("utf-8", "replace")
            try:
                _strings(json.loads(text), found)
            except ValueError:
                found.update(v for _, v in parse_qsl(text))
        for name, raw in self.headers:
            value = raw.decode("latin-1")
            if name in (b"authorization", b"x-api-key"):  # the credential, not its scheme
                found.update(value.split()[-1:])
            elif name == b"cookie":
                found.update(c.partition("=")[2].strip() for c in value.split(";"))
        kept = (v for v in found if len(v) >= _MIN_INPUT and not _WORD.fullmatch(v))
        return sorted(kept, key=len, reverse=True)


def _strings(value: Any, found: set[str]) -> None:
    if isinstance(value, str):
        found.add(value)
    elif isinstance(value, dict):
        for v in value.values():
            _strings(v, found)
    elif isinstance(value, list):
        for v in value:
            _strings(v, found)


def failed_request(scope: Mapping[str, Any]) -> dict[str, Any]:
    """``extra=`` for the record of a request's failure: whatever of its input the
    failure's text quotes (a bug's message, ``int(card)``'s ValueError) is masked."""
    inputs = RequestInputs(
        bytes(scope.get("query_string", b"")),
        scope.get(BODY_SCOPE_KEY),
        tuple(scope.get("headers", ())),
    )
    return {"kopilka_inputs": inputs}


def _mask_inputs(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: a failed request's own input values masked in its record's
    text (the rendered traceback above all), as sent and URL-encoded."""
    inputs = getattr(event_dict.get("_record"), "kopilka_inputs", None)
    if not isinstance(inputs, RequestInputs):
        return event_dict
    values = inputs.values()
    if not values:
        return event_dict
    spellings = sorted(
        {s for v in values for s in (v, quote(v, safe=""), quote_plus(v))}, key=len, reverse=True
    )
    pattern = re.compile("|".join(re.escape(s) for s in spellings), re.IGNORECASE)
    return {
        k: pattern.sub(MASK, v) if isinstance(v, str) and not k.startswith("_") else v
        for k, v in event_dict.items()
    }


# values whose text is what they are; any other object is logged as its type's name,
# never its repr, which could hold anything (a member's fields, a request's headers)
_AS_TEXT = (datetime, date, Decimal, UUID, Enum, PurePath)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if value is None or isinstance(value, int | float):  # bool is an int
        return value
    if isinstance(value, Mapping):
        return {k: MASK if is_sensitive(str(k)) else _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_scrub(v) for v in value)
    if isinstance(value, _AS_TEXT):
        return str(value)
    return f"<{type(value).__name__}>"


def redact(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: mask sensitive keys (at any depth), and e-mails, phones, API
    keys, query-string values and the values a database error quotes in any text, a
    rendered ``exception`` included. An object that is not plain data is logged as its
    type's name. structlog's own entries (``_record``...) are left for it to remove."""
    return {
        k: v if k.startswith("_") else MASK if is_sensitive(k) else _scrub(v)
        for k, v in event_dict.items()
    }


def _record_time(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """The time a stdlib record was made (it may be rendered a moment later, on the
    writer thread), in the TimeStamper's ISO form."""
    record = event_dict.get("_record")
    at = datetime.fromtimestamp(record.created, UTC) if record else datetime.now(UTC)
    event_dict["timestamp"] = at.isoformat().replace("+00:00", "Z")
    return event_dict


class StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is when a record is written (tests swap it).

    A record logged on a thread that runs an event loop (a request's handler, uvicorn's
    access log) is not formatted there: its message is fixed (``%`` arguments applied)
    and it is queued for a writer thread, which formats it (a traceback takes
    milliseconds) and writes it (a full pipe blocks). Records of other threads are
    written at once, so a CLI's or a test's output is there when the call returns.
    :meth:`flush` (``logging.shutdown`` calls it at exit) waits for the queue."""

    def __init__(self) -> None:
        super().__init__()
        self._queue: queue.Queue[logging.LogRecord] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._start = threading.Lock()
        # one line at a time; the loop never takes it (``handle`` below)
        self._io = threading.Lock()

    def handle(self, record: logging.LogRecord) -> Any:
        """As ``logging.Handler.handle``, without the handler's lock around ``emit``:
        another thread holding it through a slow write would hold the loop too."""
        passed = self.filter(record)
        if passed:
            self.emit(record)
        return passed

    def emit(self, record: logging.LogRecord) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            with self._io:
                self._write(record)
            return
        try:
            if not isinstance(record.msg, dict):  # a structlog event is a dict, final
                record.msg, record.args = record.getMessage(), None
            self._queue.put(record)
            if self._writer is None:
                self._start_writer()
        except Exception:
            self.handleError(record)

    def _start_writer(self) -> None:
        with self._start:
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._drain, name="kopilka-log-writer", daemon=True
                )
                self._writer.start()

    def _drain(self) -> None:
        while True:
            record = self._queue.get()
            try:
                with self._io:
                    self._write(record)
            finally:
                self._queue.task_done()

    def _write(self, record: logging.LogRecord) -> None:
        try:
            stream = sys.stderr
            stream.write(self.format(record) + "\n")
            stream.flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        """Wait until the queued records are written (at most a few seconds)."""
        if self._writer is None or not self._writer.is_alive():
            return
        with self._queue.all_tasks_done:
            self._queue.all_tasks_done.wait_for(lambda: not self._queue.unfinished_tasks, 5.0)


def configure_logging(settings: Settings) -> None:
    """Route stdlib and structlog logs to stderr at ``settings.log_level``, redacted."""
    level = logging.getLevelNamesMapping()[settings.log_level.upper()]
    # an exception becomes plain text (stdlib traceback: no local variables, no pretty
    # printer walking the frames) before redaction, which then masks it like any text
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.format_exc_info,
        _mask_inputs,
        redact,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if settings.log_json
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, _record_time],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = StderrHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # migrations announce every step at info; an operator wants them only when debugging
    logging.getLogger("alembic").setLevel(max(level, logging.WARNING))
    # the multipart parser warns about every malformed body a client sends (its problem,
    # answered with a 4xx); only its errors concern an operator
    logging.getLogger("python_multipart").setLevel(max(level, logging.ERROR))
    # uvicorn installs its own handlers; let its records flow through ours instead
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True


def get_logger(name: str | None = None) -> Any:
    """A structlog logger; bind context with ``.bind(...)``."""
    return structlog.stdlib.get_logger(name)
