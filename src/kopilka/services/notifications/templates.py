"""Message templates: per topic and language a subject, an HTML body and a plain-text body,
each a Jinja2 template rendered in a sandbox (``SandboxedEnvironment``: no attribute
access to Python internals) with ``StrictUndefined`` (a misspelt variable is an error, not
an empty string). The package ships every topic's defaults as files
(``templates/<language>/<topic>.subject|.html|.txt``); a program may store its own version
of any of them (the console's template editor), checked before it is stored: a syntax
error or an unknown variable is reported with its part and line, and nothing is written.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.pool
import resource
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import TracebackType
from typing import Literal, TypedDict

from jinja2 import StrictUndefined, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from kopilka.domain.errors import ValidationError
from kopilka.domain.messages import msg
from kopilka.domain.notifications import LANGUAGES, Purpose
from kopilka.domain.program import Program
from kopilka.services.context import ServiceContext
from kopilka.services.notifications.topics import COMMON_VARIABLES, Value, get_topic
from kopilka.store.repos.audit_log import AuditLogRepo
from kopilka.store.repos.messages import TemplateRepo, TemplateRow
from kopilka.store.uow import UnitOfWork

Part = Literal["subject", "html", "text"]
PARTS: tuple[Part, ...] = ("subject", "html", "text")
_SUFFIX: dict[Part, str] = {"subject": "subject", "html": "html", "text": "txt"}
# a template's name in Jinja's traceback, so an error at rendering time finds its line
_NAME = "<message template>"
MAX_TEMPLATE = 50_000


@dataclass(frozen=True, slots=True)
class TemplateSource:
    """The three parts of one topic's template in one language, and whether they are the
    program's own (``custom``) or the shipped defaults."""

    topic: str
    language: str
    subject: str
    html: str
    text: str
    custom: bool = False

    def part(self, name: Part) -> str:
        """The source of one part."""
        return {"subject": self.subject, "html": self.html, "text": self.text}[name]


@dataclass(frozen=True, slots=True)
class Rendered:
    """A message as it is sent: the subject (one line), the HTML and the plain text."""

    subject: str
    html: str
    text: str


class TemplateProblem(TypedDict):
    """An error in one part of a template: ``part``, ``line`` (1-based; None when Jinja
    could not tell) and ``message`` (Jinja's, in English)."""

    part: str
    line: int | None
    message: str


class TemplateInvalid(ValidationError):
    """A template that does not render: ``details.problems`` lists each
    :class:`TemplateProblem`."""


@cache
def _environment(html: bool) -> SandboxedEnvironment:
    return SandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=html,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def default_template(topic: str, language: str) -> TemplateSource:
    """The shipped template of ``topic`` in ``language``."""
    folder = resources.files("kopilka.services.notifications").joinpath("templates", language)
    parts = {p: folder.joinpath(f"{topic}.{_SUFFIX[p]}").read_text(encoding="utf-8") for p in PARTS}
    return TemplateSource(topic, language, parts["subject"], parts["html"], parts["text"])


def template_in(uow: UnitOfWork, program_id: int, topic: str, language: str) -> TemplateSource:
    """The program's own template of ``topic`` in ``language``, or the default."""
    row = TemplateRepo(uow.conn).get(program_id, topic, language)
    if row is None:
        return default_template(topic, language)
    return TemplateSource(topic, language, row.subject, row.html, row.text, custom=True)


def _line_of(tb: TracebackType | None) -> int | None:
    """The template's line in a rendering error's traceback (Jinja rewrites its frames to
    carry the template's name and line)."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == _NAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _render_part(
    part: Part, text: str, variables: Mapping[str, Value]
) -> tuple[str | None, TemplateProblem | None]:
    """One part rendered, or its problem (a syntax error, an undefined variable, an unsafe
    access the sandbox refused, any error the template's expressions raise)."""
    if len(text) > MAX_TEMPLATE:
        return None, {"part": part, "line": None, "message": "the template is too long"}
    env = _environment(part == "html")
    try:
        code = env.compile(text, name=_NAME, filename=_NAME)
        template = env.template_class.from_code(env, code, env.make_globals(None))
        return template.render(dict(variables)), None
    except TemplateSyntaxError as e:
        return None, {"part": part, "line": e.lineno, "message": e.message or str(e)}
    except Exception as e:  # an admin's template may raise anything; report, not crash
        line = _line_of(sys.exc_info()[2])
        return None, {"part": part, "line": line, "message": str(e) or type(e).__name__}


def _render_parts(
    source: TemplateSource, variables: Mapping[str, Value], *, bounded: bool = False
) -> tuple[dict[Part, str], list[TemplateProblem]]:
    """Each part rendered, and each part's problem (:func:`_render_part`); ``bounded``: each
    in the checker's process, within its time and memory (:func:`_checked_part`)."""
    out: dict[Part, str] = {}
    problems: list[TemplateProblem] = []
    render_part = _checked_part if bounded else _render_part
    for part in PARTS:
        rendered, problem = render_part(part, source.part(part), variables)
        if problem is not None:
            problems.append(problem)
        elif rendered is not None:
            out[part] = rendered
    return out, problems


# A template is checked (before it is stored or previewed) in a process of its own, within
# CHECK_SECONDS and CHECK_MEMORY for each part: the sandbox keeps a template away from
# Python's internals, not from asking for a string of a billion characters
# (``{{ "x" * 10**9 }}``, ``"x".ljust(...)``, a filter's width) or loops of a trillion turns,
# either of which would hold the API's worker. A stored template has passed its check with
# the topic's sample values, and is sent in-process.
CHECK_SECONDS = 5.0
CHECK_MEMORY = 1 << 30


def _limit_memory() -> None:
    """The checker process's bound on its address space (a larger string fails with
    ``MemoryError``, reported as the part's problem)."""
    resource.setrlimit(resource.RLIMIT_AS, (CHECK_MEMORY, CHECK_MEMORY))


class _Checker:
    """The checker's process: started on the first check, and again after a part that
    overran its time stopped it; one part at a time."""

    def __init__(self) -> None:
        self.pool: multiprocessing.pool.Pool | None = None
        self.lock = threading.Lock()

    def __call__(
        self, part: Part, text: str, variables: Mapping[str, Value]
    ) -> tuple[str | None, TemplateProblem | None]:
        """:func:`_render_part` in the checker's process; a part still rendering after
        :data:`CHECK_SECONDS` is a problem, and the process is stopped."""
        with self.lock:
            if self.pool is None:
                context = multiprocessing.get_context("spawn")
                self.pool = context.Pool(1, initializer=_limit_memory)
            pending = self.pool.apply_async(_render_part, (part, text, dict(variables)))
            try:
                return pending.get(timeout=CHECK_SECONDS)
            except multiprocessing.TimeoutError:
                self.pool.terminate()
                self.pool = None
                message = f"the template takes more than {CHECK_SECONDS:g} s to render"
                return None, {"part": part, "line": None, "message": message}


_checked_part = _Checker()


def check_source(source: TemplateSource, variables: Mapping[str, Value]) -> list[TemplateProblem]:
    """Each part's problem when rendered with ``variables`` (none: it renders), each part
    rendered in the checker's process within its time and memory; the subject must not be
    empty, and a marketing topic's bodies must carry ``unsubscribe_url``."""
    out, problems = _render_parts(source, variables, bounded=True)
    if "subject" in out and not out["subject"].strip():
        problems.append({"part": "subject", "line": 1, "message": "the subject is empty"})
    if get_topic(source.topic).purpose == Purpose.MARKETING:
        for part in ("html", "text"):
            if "unsubscribe_url" not in source.part(part):
                problems.append(
                    {
                        "part": part,
                        "line": None,
                        "message": "a marketing message must carry {{ unsubscribe_url }}",
                    }
                )
    return problems


def sample_variables(topic: str) -> dict[str, Value]:
    """What the preview and the checks render a topic's template with: its sample
    variables and the common ones (a transactional topic's ``unsubscribe_url`` None, as
    when it is sent)."""
    samples = {**COMMON_VARIABLES, **get_topic(topic).variables}
    if get_topic(topic).purpose != Purpose.MARKETING:
        samples["unsubscribe_url"] = None
    return samples


def render(source: TemplateSource, variables: Mapping[str, Value]) -> Rendered:
    """The message as sent; :class:`TemplateInvalid` (with the problems) when a part fails."""
    out, problems = _render_parts(source, variables)
    if problems:
        raise TemplateInvalid(msg("the template does not render"), problems=problems)
    subject = " ".join(out["subject"].split())
    return Rendered(subject, out["html"], out["text"].strip() + "\n")


def preview(source: TemplateSource) -> Rendered:
    """The template rendered with its topic's sample variables (the console's preview);
    :class:`TemplateInvalid` with every problem when it does not render."""
    return render(source, sample_variables(source.topic))


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise ValidationError(
            msg("the language must be one of: %(languages)s", languages=", ".join(LANGUAGES)),
            field="language",
        )


def get_template(
    ctx: ServiceContext, program: Program, topic: str, language: str
) -> TemplateSource:
    """The program's template of ``topic`` in ``language`` (its own, or the default)."""
    get_topic(topic)
    _check_language(language)
    with ctx.uow(read_only=True) as uow:
        return template_in(uow, program.id, topic, language)


def list_templates(ctx: ServiceContext, program: Program) -> list[TemplateRow]:
    """The program's own templates (topics and languages it changed)."""
    with ctx.uow(read_only=True) as uow:
        return TemplateRepo(uow.conn).for_program(program.id)


def save_template(
    ctx: ServiceContext, program: Program, source: TemplateSource, actor: str
) -> TemplateSource:
    """Store the program's own version of a template after checking it renders with the
    topic's sample variables (:class:`TemplateInvalid` listing each part's problem and line
    otherwise; nothing is written). Audited: before and after."""
    get_topic(source.topic)
    _check_language(source.language)
    problems = check_source(source, sample_variables(source.topic))
    if problems:
        raise TemplateInvalid(msg("the template does not render"), problems=problems)
    now = ctx.now()
    with ctx.uow() as uow:
        before = template_in(uow, program.id, source.topic, source.language)
        TemplateRepo(uow.conn).put(
            TemplateRow(
                program.id,
                source.topic,
                source.language,
                source.subject,
                source.html,
                source.text,
                now,
                actor,
            )
        )
        AuditLogRepo(uow.conn).add(
            program.id,
            actor,
            "notifications.template",
            f"{source.topic}/{source.language}",
            _audit(before),
            _audit(source),
            now,
        )
        uow.commit()
    return TemplateSource(
        source.topic, source.language, source.subject, source.html, source.text, custom=True
    )


def reset_template(
    ctx: ServiceContext, program: Program, topic: str, language: str, actor: str
) -> TemplateSource:
    """Drop the program's own version (the default applies again); audited."""
    get_topic(topic)
    _check_language(language)
    now = ctx.now()
    with ctx.uow() as uow:
        before = template_in(uow, program.id, topic, language)
        if TemplateRepo(uow.conn).remove(program.id, topic, language):
            AuditLogRepo(uow.conn).add(
                program.id,
                actor,
                "notifications.template_reset",
                f"{topic}/{language}",
                _audit(before),
                None,
                now,
            )
        uow.commit()
    return default_template(topic, language)


def _audit(source: TemplateSource) -> dict[str, object]:
    return {
        "custom": source.custom,
        "subject": source.subject,
        "html": source.html,
        "text": source.text,
    }
