"""``kopilka notifications``: a program's message templates and notification policy, as
the console's Notifications pages and ``/v1/notifications`` edit them
(docs/notifications.md).

A file given with ``--file`` is YAML or JSON (JSON is YAML), read and checked here, once,
by the API's own request schemas (``TemplateIn``, ``PolicyIn``): a template is a mapping
of ``subject``, ``html`` and ``text``; a policy the shape ``policy show --json`` prints. A
template that does not render with its topic's sample values is refused with each
problem's part and line (exit 2) and nothing is written. Changes are audited under
``cli:<actor>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
import yaml
from rich.markup import escape
from rich.table import Table

from kopilka.api.schemas.notifications import PolicyIn, TemplateIn
from kopilka.cli.actor import Actor, cli_actor
from kopilka.cli.errors import fail
from kopilka.cli.runtime import console, kopilka, print_json
from kopilka.cli.selectors import Json, ProgramCode
from kopilka.domain.errors import ValidationError
from kopilka.domain.notifications import LANGUAGES, NotificationPolicy
from kopilka.services import notifications as notif_svc
from kopilka.services import programs as program_svc

app = typer.Typer(
    help="Message templates and the notification policy (docs/notifications.md).",
    no_args_is_help=True,
)
templates = typer.Typer(
    help="Message templates: list, show, set from a file, preview, reset.",
    no_args_is_help=True,
)
policy = typer.Typer(
    help="The notification policy: caps, quiet hours, default language, topics off.",
    no_args_is_help=True,
)
app.add_typer(templates, name="templates")
app.add_typer(policy, name="policy")

MAX_FILE = 1_000_000  # three parts of at most 50,000 characters, and room for YAML's quoting
PART_NAMES = {"subject": "Subject", "html": "HTML", "text": "Plain text"}

TopicArg = Annotated[str, typer.Argument(metavar="TOPIC", help="The topic, e.g. winback.")]
LanguageArg = Annotated[str, typer.Argument(metavar="LANG", help="ru or en.")]
FileOpt = Annotated[
    Path, typer.Option("--file", "-f", help="YAML or JSON with subject, html and text.")
]


def read_mapping(path: Path) -> dict[str, Any]:
    """A YAML or JSON file's top-level mapping; ValidationError naming what is wrong."""
    if not path.is_file():
        raise ValidationError(f"{path} is not a file", field="file")
    if path.stat().st_size > MAX_FILE:
        raise ValidationError("the file is larger than 1 MB", field="file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        raise ValidationError("the file is not UTF-8 text", field="file") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ValidationError(f"the file is not YAML or JSON{where}", field="file") from None
    if not isinstance(data, dict):
        raise ValidationError("the file must hold a mapping", field="file")
    return data


def _topic(topic: str, language: str) -> None:
    """The topic and language checked before anything is read (ValidationError)."""
    notif_svc.get_topic(topic)
    if language not in LANGUAGES:
        raise ValidationError(f"the language must be one of: {', '.join(LANGUAGES)}", field="lang")


def problem_line(problem: notif_svc.TemplateProblem) -> str:
    """One problem as a line: ``Plain text, line 2: 'dayz' is undefined``."""
    part = PART_NAMES.get(problem["part"], problem["part"])
    line = f", line {problem['line']}" if problem["line"] is not None else ""
    return f"{part}{line}: {problem['message']}"


def refuse(problems: list[notif_svc.TemplateProblem]) -> NoReturn:
    """Print each problem, then the error line (exit 2)."""
    for p in problems:
        typer.echo(problem_line(p), err=True)
    fail("validation_error", "the template does not render; nothing was written")


def _print_source(source: notif_svc.TemplateSource) -> None:
    out = console()
    whose = "the program's own" if source.custom else "the default"
    out.print(f"[bold]{source.topic}[/] ({source.language}, {whose})")
    for part in ("subject", "html", "text"):
        out.print(f"--- {part}")
        out.print(escape(source.part(part)), highlight=False)


@templates.command("list")
def list_(program_code: ProgramCode, json_out: Json = False) -> None:
    """The topics, their purpose and variables, and in which languages the program has
    its own template."""
    with kopilka() as k:
        program = program_svc.get_program(k.services, program_code)
        custom = {(t.topic, t.language) for t in notif_svc.list_templates(k.services, program)}
    rows: list[dict[str, Any]] = [
        {
            "topic": key,
            "purpose": str(topic.purpose),
            "variables": sorted(topic.variables),
            "custom": {lang: (key, lang) in custom for lang in LANGUAGES},
        }
        for key, topic in sorted(notif_svc.TOPICS.items())
    ]
    if json_out:
        print_json(rows)
        return
    table = Table(title="message templates")
    for column in ("topic", "purpose", "variables", *LANGUAGES):
        table.add_column(column)
    for row in rows:
        marks = ["own" if row["custom"][lang] else "default" for lang in LANGUAGES]
        table.add_row(row["topic"], row["purpose"], ", ".join(row["variables"]), *marks)
    console().print(table)


@templates.command("show")
def show(
    program_code: ProgramCode, topic: TopicArg, language: LanguageArg, json_out: Json = False
) -> None:
    """The program's template of TOPIC in LANG (its own, or the default); ``--json``
    prints what ``set --file`` reads."""
    _topic(topic, language)
    with kopilka() as k:
        program = program_svc.get_program(k.services, program_code)
        source = notif_svc.get_template(k.services, program, topic, language)
    if json_out:
        print_json(
            {"subject": source.subject, "html": source.html, "text": source.text}
            | {"custom": source.custom}
        )
        return
    _print_source(source)


def _source_from(file: Path, topic: str, language: str) -> notif_svc.TemplateSource:
    data = read_mapping(file)
    data.pop("custom", None)  # what show --json adds: not part of a template
    return TemplateIn.model_validate(data).to_source(topic, language)


@templates.command("set")
def set_(
    program_code: ProgramCode,
    topic: TopicArg,
    language: LanguageArg,
    file: FileOpt,
    actor: Actor = None,
    json_out: Json = False,
) -> None:
    """Store the program's own template of TOPIC in LANG from the file, once every part
    renders with the topic's sample values (and a marketing topic's bodies carry
    ``{{ unsubscribe_url }}``); otherwise each problem is printed with its part and line
    and nothing is written. Audited as ``notifications.template``."""
    _topic(topic, language)
    source = _source_from(file, topic, language)
    problems = notif_svc.check_source(source, notif_svc.sample_variables(topic))
    if problems:
        refuse(problems)
    with kopilka() as k:
        program = program_svc.get_program(k.services, program_code)
        try:
            saved = notif_svc.save_template(k.services, program, source, cli_actor(actor))
        except notif_svc.TemplateInvalid as e:
            refuse(e.details["problems"])
    if json_out:
        print_json({"topic": topic, "language": language, "custom": saved.custom})
    else:
        console().print(f"template {topic} ({language}) stored for program {program.code}")


@templates.command("preview")
def preview(
    program_code: ProgramCode,
    topic: TopicArg,
    language: LanguageArg,
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="A template to render instead of the stored one."),
    ] = None,
    json_out: Json = False,
) -> None:
    """The template rendered with the topic's sample values, as it would be sent (the
    file's, or the program's current one); stores nothing."""
    _topic(topic, language)
    with kopilka() as k:
        program = program_svc.get_program(k.services, program_code)
        source = (
            notif_svc.get_template(k.services, program, topic, language)
            if file is None
            else _source_from(file, topic, language)
        )
    problems = notif_svc.check_source(source, notif_svc.sample_variables(topic))
    if problems:
        refuse(problems)
    rendered = notif_svc.preview(source)
    if json_out:
        print_json({"subject": rendered.subject, "html": rendered.html, "text": rendered.text})
        return
    out = console()
    for part in ("subject", "html", "text"):
        out.print(f"--- {part}")
        out.print(escape(getattr(rendered, part)), highlight=False)


@templates.command("reset")
def reset(
    program_code: ProgramCode, topic: TopicArg, language: LanguageArg, actor: Actor = None
) -> None:
    """Drop the program's own template of TOPIC in LANG: the default applies again.
    Audited as ``notifications.template_reset``."""
    _topic(topic, language)
    with kopilka() as k:
        program = program_svc.get_program(k.services, program_code)
        notif_svc.reset_template(k.services, program, topic, language, cli_actor(actor))
    console().print(f"template {topic} ({language}): the default again")


def _print_policy(current: NotificationPolicy, json_out: bool) -> None:
    data = current.to_json()
    if json_out:
        print_json(data)
        return
    out = console()
    for channel, cap in current.caps.items():
        out.print(f"cap {channel}: {cap.count} marketing messages in {cap.days} days")
    quiet = data["quiet_hours"]
    assert isinstance(quiet, dict)
    out.print(f"quiet hours: {quiet['start']}-{quiet['end']}")
    out.print(f"default language: {current.default_language}")
    off = ", ".join(sorted(current.disabled_topics)) or "none"
    out.print(f"topics off: {off}")


@policy.command("show")
def policy_show(program_code: ProgramCode, json_out: Json = False) -> None:
    """The program's policy (the defaults when never set); ``--json`` prints what
    ``policy set --file`` reads."""
    with kopilka() as k:
        program = program_svc.get_program(k.services, program_code)
        current = notif_svc.get_policy(k.services, program)
    _print_policy(current, json_out)


@policy.command("set")
def policy_set(
    program_code: ProgramCode,
    file: Annotated[
        Path,
        typer.Option(
            "--file",
            "-f",
            help="YAML or JSON: caps, quiet_hours, default_language, disabled_topics.",
        ),
    ],
    actor: Actor = None,
    json_out: Json = False,
) -> None:
    """Replace the program's policy by the file's (a channel it does not name keeps the
    default cap). Every value is checked first; audited as ``notifications.settings``."""
    wanted = PolicyIn.model_validate(read_mapping(file)).to_policy()
    with kopilka() as k:
        program = program_svc.get_program(k.services, program_code)
        done = notif_svc.set_policy(k.services, program, wanted, cli_actor(actor))
    _print_policy(done, json_out)
