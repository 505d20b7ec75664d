"""``kopilka rules``: rules documents kept in version control, deployed from a script.

``validate`` checks a file without a database; ``publish`` stores it as the next version
through the same audited service as the API and the console (actor ``cli:NAME``);
``list``, ``show`` and ``diff`` read the published versions; ``preview`` evaluates a
draft on a basket beside the version in force, writing nothing. An invalid document
prints every problem on its own line, ``FILE:LINE: FIELD: MESSAGE``, and exits 2.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import pydantic
import typer
from rich.table import Table

from kopilka.api.schemas.purchases import BasketIn
from kopilka.app import Kopilka
from kopilka.cli.actor import Actor, cli_actor
from kopilka.cli.errors import EXIT_REFUSED, fail
from kopilka.cli.runtime import console, kopilka, parse_instant, print_json
from kopilka.cli.selectors import Json
from kopilka.domain.errors import ValidationError
from kopilka.domain.program import Program
from kopilka.ledger.idempotency import caller_key
from kopilka.services import back_office
from kopilka.services import programs as program_svc
from kopilka.services import rules as rules_svc

app = typer.Typer(
    help="Rules documents: validate, publish, list, show, diff and preview versions.",
    no_args_is_help=True,
)

T = TypeVar("T")

File = Annotated[
    Path,
    typer.Argument(
        help="The rules document (YAML, or JSON when the name ends in .json).",
        exists=True,
        dir_okay=False,
        readable=True,
    ),
]
Format = Annotated[
    rules_svc.RulesFormat | None,
    typer.Option("--format", help="The document's format (default: by the file name)."),
]
OptionalProgram = Annotated[
    str | None,
    typer.Option("--program", "-p", help="Program code or id (default: the only program)."),
]
Key = Annotated[
    str | None,
    typer.Option(
        "--key",
        help="Idempotency key (default: a new UUID); a retry with the same key publishes "
        "nothing twice.",
    ),
]


def _read(path: Path, fmt: rules_svc.RulesFormat | None) -> tuple[str, rules_svc.RulesFormat]:
    """The document's text and format (by ``fmt``, else by the file's name)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValidationError(f"{path} is not UTF-8 text", field="file") from None
    if fmt is None:
        is_json = path.suffix.lower() == ".json"
        fmt = rules_svc.RulesFormat.JSON if is_json else rules_svc.RulesFormat.YAML
    return text, fmt


@contextmanager
def _located(path: Path) -> Iterator[None]:
    """Print every problem of an invalid document at its line and field, then exit 2."""
    try:
        yield
    except ValidationError as e:
        problems = e.details.get("errors")
        if not isinstance(problems, list) or not problems:
            raise
        for p in problems:
            where = f"{p['path']}: " if p.get("path") else ""
            typer.echo(f"error[{e.code}]: {path}:{p['line']}: {where}{p['message']}", err=True)
        raise typer.Exit(EXIT_REFUSED) from None


def _program(k: Kopilka, code: str | None) -> Program:
    """The program named, or the only one there is."""
    if code is not None:
        return program_svc.get_program(k.services, code)
    programs = program_svc.list_programs(k.services)
    if len(programs) != 1:
        raise ValidationError(
            f"there are {len(programs)} programs: name one with --program", field="program"
        )
    return programs[0]


def _with_program(code: str | None, work: Callable[[Kopilka, Program], T]) -> T:
    with kopilka() as k:
        return work(k, _program(k, code))


@app.command()
def validate(file: File, fmt: Format = None, json_out: Json = False) -> None:
    """Check a rules document without publishing it (no database needed): every problem
    with its line and field, exit code 2 when there is any."""
    text, how = _read(file, fmt)
    with _located(file):
        ruleset = rules_svc.parse_document(text, how, 1)
    rules = [{"id": r.id, "kind": r.kind} for r in ruleset.rules]
    if json_out:
        print_json({"valid": True, "currency": ruleset.currency, "rules": rules})
    else:
        console().print(f"{file}: valid, {len(rules)} rules ({ruleset.currency})")


@app.command()
def publish(
    file: File,
    program_code: OptionalProgram = None,
    effective_at: Annotated[
        str | None,
        typer.Option(help="When the version takes effect, ISO 8601 (default: now)."),
    ] = None,
    backdate: Annotated[
        bool, typer.Option(help="Allow an effective time in the past (audited as a backdate).")
    ] = False,
    fmt: Format = None,
    actor: Actor = None,
    key: Key = None,
    json_out: Json = False,
) -> None:
    """Validate a rules document and publish it as the program's next version, audited
    as a publication through the API is (rules.publish, actor cli:NAME)."""
    text, how = _read(file, fmt)
    who = cli_actor(actor)
    at = parse_instant(effective_at, "effective_at")
    stored_key = caller_key("cli", key or str(uuid.uuid4()))

    def work(k: Kopilka, program: Program) -> rules_svc.RuleVersion:
        with _located(file):
            return back_office.publish_rules(
                k.services,
                program,
                text,
                fmt=how,
                effective_at=at,
                backdate=backdate,
                key=stored_key,
                actor=who,
            )

    done = _with_program(program_code, work)
    if json_out:
        print_json(done)
    else:
        console().print(
            f"published version [bold]{done['version']}[/], in force from {done['effective_at']}"
        )


@app.command("list")
def list_(program_code: OptionalProgram = None, json_out: Json = False) -> None:
    """Every published version, oldest first."""
    versions = _with_program(program_code, lambda k, p: rules_svc.list_versions(k.services, p))
    if json_out:
        print_json(versions)
        return
    table = Table("version", "effective at", "published at", "published by", "format")
    for v in versions:
        table.add_row(
            str(v["version"]), v["effective_at"], v["published_at"], v["published_by"], v["format"]
        )
    console().print(table)


@app.command()
def show(
    version: Annotated[int, typer.Argument(help="The version number.", min=1)],
    program_code: OptionalProgram = None,
    json_out: Json = False,
) -> None:
    """Print one version's document as published (with --json: its rules and dates too)."""
    found = _with_program(program_code, lambda k, p: rules_svc.get_version(k.services, p, version))
    if json_out:
        print_json(found)
    else:
        typer.echo(found.get("document", ""), nl=False)


@app.command()
def diff(
    a: Annotated[int, typer.Argument(help="The older version.", min=1)],
    b: Annotated[int, typer.Argument(help="The newer version.", min=1)],
    program_code: OptionalProgram = None,
    json_out: Json = False,
) -> None:
    """The unified diff of two versions' documents (nothing printed when they are equal)."""
    found = _with_program(program_code, lambda k, p: rules_svc.diff_versions(k.services, p, a, b))
    if json_out:
        print_json(found)
        return
    if not found["rows"]:
        return
    typer.echo(f"--- version {a}\n+++ version {b}")
    for row in found["rows"]:
        typer.echo(row["text"] if row["kind"] == "hunk" else f"{row['mark']}{row['text']}")


def _basket(value: str) -> dict[str, Any]:
    """The ``--basket`` JSON: inline, or ``@FILE``."""
    text = value
    if value.startswith("@"):
        try:
            text = Path(value[1:]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ValidationError(f"cannot read {value[1:]}: {e}", field="basket") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValidationError(f"--basket is not JSON: {e}", field="basket") from None
    if not isinstance(data, dict):
        raise ValidationError("--basket must be a JSON object", field="basket")
    return data


@app.command()
def preview(
    file: File,
    basket: Annotated[
        str,
        typer.Option(
            help="The basket as a quote's JSON body (member_id or member, lines, store, "
            "channel...), inline or @FILE."
        ),
    ],
    program_code: OptionalProgram = None,
    fmt: Format = None,
    json_out: Json = False,
) -> None:
    """What the draft would award for a basket, beside the version in force; publishes
    and writes nothing."""
    text, how = _read(file, fmt)
    try:
        body = BasketIn.model_validate(_basket(basket))
    except pydantic.ValidationError as e:
        first = e.errors(include_url=False)[0]
        where = ".".join(str(x) for x in first["loc"]) or "basket"
        fail("validation_error", f"--basket: {where}: {first['msg']}")

    def work(k: Kopilka, program: Program) -> dict[str, Any]:
        ctx = k.services
        subject = body.to_preview(program, ctx.now())
        with _located(file):
            draft = rules_svc.preview(ctx, program, rules_svc.PreviewRules(text, subject, how))
        in_force = rules_svc.version_in_force(ctx, program)
        current: rules_svc.RulePreview | None = None
        if in_force is not None:
            document = in_force.get("document", "")
            command = rules_svc.PreviewRules(
                document, subject, rules_svc.RulesFormat(in_force["format"])
            )
            current = rules_svc.preview(ctx, program, command)
        return {
            "draft": draft,
            "in_force": current,
            "in_force_version": in_force["version"] if in_force else None,
        }

    out = _with_program(program_code, work)
    if json_out:
        print_json(out)
        return
    draft, current = out["draft"], out["in_force"]
    label = f"version {out['in_force_version']}" if current else "in force (none)"
    table = Table("", "draft", label, title=f"member {draft['member_id']}")
    table.add_row(
        "points earned",
        str(draft["points_earned"]),
        str(current["points_earned"] if current else 0),
    )
    rule_ids = sorted({*draft["by_rule"], *(current["by_rule"] if current else {})})
    for rule_id in rule_ids:
        table.add_row(
            f"  rule {rule_id}",
            str(draft["by_rule"].get(rule_id, 0)),
            str(current["by_rule"].get(rule_id, 0) if current else 0),
        )
    earning = {*draft["by_line"], *(current["by_line"] if current else {})}
    for line_id in [ln.line_id for ln in body.lines if ln.line_id in earning]:
        table.add_row(
            f"  line {line_id}",
            str(draft["by_line"].get(line_id, 0)),
            str(current["by_line"].get(line_id, 0) if current else 0),
        )
    table.add_row(
        "max redeemable",
        str(draft["max_redeemable"]),
        str(current["max_redeemable"] if current else 0),
    )
    console().print(table)
