"""The ``kopilka`` command line, run in-process against a throwaway SQLite database."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import structlog
import typer
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from kopilka.cli import app
from kopilka.store.migrate import alembic_config

runner = CliRunner()


class Cli:
    """Invoke ``kopilka`` commands; ``json`` parses the stdout of a ``--json`` command."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __call__(self, *args: str) -> Any:
        return runner.invoke(app, list(args))

    def ok(self, *args: str) -> Any:
        result = self(*args)
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return result

    def json(self, *args: str) -> Any:
        cut = args.index("--") if "--" in args else len(args)
        return json.loads(self.ok(*args[:cut], "--json", *args[cut:]).stdout)

    def sql(self, query: str) -> list[Any]:
        engine = create_engine(self.url)
        try:
            with engine.begin() as conn:
                result = conn.execute(text(query))
                return list(result) if result.returns_rows else []
        finally:
            engine.dispose()

    def count(self, table: str) -> int:
        return int(self.sql(f"SELECT COUNT(*) FROM {table}")[0][0])


@contextmanager
def cli_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    """A CLI whose settings point at an SQLite file in ``tmp_path``; logging restored after."""
    url = f"sqlite:///{tmp_path / 'kopilka.db'}"
    monkeypatch.setenv("KOPILKA_DATABASE_URL", url)
    monkeypatch.setenv("KOPILKA_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("KOPILKA_ENVIRONMENT", raising=False)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield Cli(url)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.reset_defaults()


@pytest.fixture
def fresh_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    """A CLI on an empty (not yet migrated) database."""
    with cli_on(tmp_path, monkeypatch) as cli:
        yield cli


@pytest.fixture
def cli(fresh_cli: Cli, migrated_sqlite: Callable[[Path], str]) -> Cli:
    """A CLI on a migrated database: a copy of the session's (``db upgrade`` itself is
    test_db_upgrade_and_current's; running it for each test was most of their setup)."""
    migrated_sqlite(Path(fresh_cli.url.removeprefix("sqlite:///")))
    return fresh_cli


@pytest.fixture
def grocery(cli: Cli) -> Cli:
    """A migrated database with program 'grocery' and member 1 holding 100 points."""
    cli.ok(
        "program", "create", "--code", "grocery", "--expiry-kind", "months_end", "--expiry-n", "12"
    )
    cli.ok("member", "add", "-p", "grocery", "--card", "1000-0001", "--phone", "8 912 000-00-01")
    cli.ok("points", "earn", "100", "-p", "grocery", "--id", "1", "--key", "seed-earn")
    return cli


def _command_paths(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, sub in getattr(command, "commands", {}).items():
        paths.extend(_command_paths(sub, (*prefix, name)))
    return paths


COMMANDS = _command_paths(typer.main.get_command(app))


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "kopilka")
def test_every_command_has_help(fresh_cli: Cli, path: tuple[str, ...]) -> None:
    """Every command and sub-command answers --help without touching the database."""
    result = fresh_cli.ok(*path, "--help")
    assert "Usage" in result.stdout
    assert not Path(fresh_cli.url.removeprefix("sqlite:///")).exists()


def test_db_upgrade_and_current(fresh_cli: Cli) -> None:
    """db upgrade migrates an empty database to the head revision, which db current shows."""
    assert "(none" in fresh_cli.ok("db", "current").stdout
    fresh_cli.ok("db", "upgrade")
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert f"revision {head}" in fresh_cli.ok("db", "current").stdout
    assert fresh_cli.count("programs") == 0


def test_program_create_show_list(cli: Cli) -> None:
    """A program created with flags is shown and listed with exactly those settings."""
    created = cli.json(
        "program", "create", "--code", "cafe", "--name", "Cafe", "--point-value", "0.50",
        "--rounding", "half_up", "--timezone", "Europe/Moscow", "--expiry-kind", "days",
        "--expiry-n", "90", "--activation-delay-days", "14", "--negative-balance", "debt",
    )  # fmt: skip
    assert created["point_value_minor"] == 50
    assert created["activation_delay_days"] == 14
    shown = cli.json("program", "show", "cafe")
    assert shown == created
    assert [p["code"] for p in cli.json("program", "list")] == ["cafe"]
    assert "cafe" in cli.ok("program", "list").stdout


def test_program_restore_policy_defaults_to_expire_and_can_be_changed(cli: Cli) -> None:
    """A new program restores spent points only while valid (``expire``, issue 18 item 14);
    ``set-restore-policy`` moves a program either way, and a bad policy is refused."""
    assert cli.json("program", "create", "--code", "shop")["restore_policy"] == "expire"
    changed = cli.json("program", "set-restore-policy", "shop", "reissue")
    assert changed["restore_policy"] == "reissue"
    assert cli.json("program", "show", "shop")["restore_policy"] == "reissue"
    assert (
        "restore policy expire" in cli.ok("program", "set-restore-policy", "shop", "expire").stdout
    )
    assert cli.json("program", "show", "shop")["restore_policy"] == "expire"
    refused = cli("program", "set-restore-policy", "shop", "forever")
    assert refused.exit_code != 0


def test_program_rules_approval_is_off_until_switched_on(cli: Cli) -> None:
    """A program publishes rules directly until ``set-rules-approval CODE on`` asks that a
    marketer's rules be approved; ``off`` switches back; another word is refused."""
    assert cli.json("program", "create", "--code", "shop")["rules_approval"] is False
    assert cli.json("program", "set-rules-approval", "shop", "on")["rules_approval"] is True
    assert cli.json("program", "show", "shop")["rules_approval"] is True
    assert "approval of rules off" in cli.ok("program", "set-rules-approval", "shop", "off").stdout
    assert cli.json("program", "show", "shop")["rules_approval"] is False
    assert cli("program", "set-rules-approval", "shop", "maybe").exit_code != 0


def test_program_self_enrolment_is_off_until_switched_on(cli: Cli) -> None:
    """Visitors may join a program in the portal once ``set-self-enrolment CODE on``; the
    change is audited under the actor; another word is refused."""
    cli.json("program", "create", "--code", "shop")
    on = cli.json("program", "set-self-enrolment", "shop", "on", "--actor", "ops")
    assert on == {"self_enrolment": True}
    assert (
        "self-enrolment in the portal off"
        in cli.ok("program", "set-self-enrolment", "shop", "off").stdout
    )
    assert cli("program", "set-self-enrolment", "shop", "maybe").exit_code != 0
    audited = cli.sql("SELECT actor FROM audit_log WHERE action = 'portal.settings'")
    assert audited[0][0] == "cli:ops"


def test_program_found_by_a_code_of_digits_or_by_id(cli: Cli) -> None:
    """A code may be all digits: ``program show 2024`` finds the program coded 2024, not the
    program of id 2024; an id that is no program's code still finds its program."""
    made = cli.json("program", "create", "--code", "2024", "--name", "Year")
    assert made["id"] != 2024
    assert cli.json("program", "show", "2024")["code"] == "2024"
    assert cli.json("program", "show", str(made["id"]))["code"] == "2024"


def test_member_add_show_block_unblock(grocery: Cli) -> None:
    """A member is found by any identifier, shows balances, and can be blocked and unblocked."""
    added = grocery.json(
        "member", "add", "-p", "grocery", "--email", "Anna@Example.COM", "--first-name", "Анна",
        "--birthday", "1990-02-28", "--consent", "marketing_email", "--consent", "sms=no",
    )  # fmt: skip
    by_email = grocery.json("member", "show", "-p", "grocery", "--email", "anna@example.com")
    assert by_email["id"] == added["id"]
    assert by_email["first_name"] == "Анна"
    assert by_email["identifiers"] == {"email": ["anna@example.com"]}
    by_phone = grocery.json("member", "show", "-p", "grocery", "--phone", "+7 912 000 00 01")
    assert by_phone["balance"] == {"available": 100, "pending": 0, "held": 0}
    assert grocery.sql("SELECT purpose, granted FROM consents ORDER BY purpose") == [
        ("marketing_email", True),
        ("sms", False),
    ]
    blocked = grocery.json("member", "block", "-p", "grocery", "--id", "1", "--reason", "fraud")
    assert (blocked["status"], blocked["blocked_reason"]) == ("blocked", "fraud")
    refused = grocery("points", "earn", "5", "-p", "grocery", "--id", "1")
    assert refused.exit_code == 2
    assert refused.stderr.startswith("error[member_blocked]:")
    unblocked = grocery.json("member", "unblock", "-p", "grocery", "--card", "1000-0001")
    assert unblocked["status"] == "active"


def test_points_earn_redeem_adjust_history(grocery: Cli) -> None:
    """Earn, redeem and adjust move the balance; a repeated key has no second effect."""
    first = grocery.json("points", "redeem", "30", "-p", "grocery", "--id", "1", "--key", "r1")
    again = grocery.json("points", "redeem", "30", "-p", "grocery", "--id", "1", "--key", "r1")
    assert first == again
    assert first["balance"]["available"] == 70
    generated = grocery.json("points", "earn", "5", "-p", "grocery", "--card", "1000-0001")
    assert len(generated["idempotency_key"]) == 36  # a fresh uuid4, printed
    adjusted = grocery.json(
        "points", "adjust", "-p", "grocery", "--id", "1", "--reason", "double scan",
        "--actor", "support:anna", "--", "-25",
    )  # fmt: skip
    assert adjusted["balance"]["available"] == 50
    page = grocery.json("points", "history", "-p", "grocery", "--id", "1", "--limit", "2")
    assert [i["kind"] for i in page["items"]] == ["adjust", "earn"]
    older = grocery.json(
        "points", "history", "-p", "grocery", "--id", "1", "--before", str(page["next_cursor"])
    )
    assert [i["kind"] for i in older["items"]] == ["redeem", "earn"]
    assert older["next_cursor"] is None
    table = grocery.ok("points", "history", "-p", "grocery", "--id", "1").stdout
    assert "double scan" in table


def test_a_cli_key_is_stored_in_the_callers_namespace(grocery: Cli) -> None:
    """``--key purchase:R-9`` is stored as ``caller:cli:purchase:R-9``, never as the key
    receipt R-9 is booked under; a key with a space is refused and writes nothing."""
    grocery.ok("points", "earn", "5", "-p", "grocery", "--id", "1", "--key", "purchase:R-9")
    keys = {k for (k,) in grocery.sql("SELECT key FROM idempotency_keys")}
    assert "caller:cli:purchase:R-9" in keys
    assert "purchase:R-9" not in keys
    entries = grocery.count("journal_entries")
    refused = grocery("points", "earn", "5", "-p", "grocery", "--id", "1", "--key", "a b")
    assert refused.exit_code == 2
    assert refused.stderr.startswith("error[validation_error]:")
    assert grocery.count("journal_entries") == entries


def test_expire_and_activate_sweeps(grocery: Cli) -> None:
    """expire --as-of moves due points to breakage; activate makes pending points available."""
    grocery.ok("program", "create", "--code", "delayed", "--activation-delay-days", "14")
    grocery.ok("member", "add", "-p", "delayed", "--card", "2000-0001")
    grocery.ok("points", "earn", "40", "-p", "delayed", "--id", "2")
    early = grocery.json("activate", "-p", "delayed", "--as-of", "2000-01-01T00:00:00Z")
    assert early["activate_due"] == 0
    activated = grocery.json("activate", "-p", "delayed", "--as-of", "2100-01-01")
    assert (activated["activate_due"], activated["expire_holds"]) == (1, 0)
    assert (
        grocery.json("member", "show", "-p", "delayed", "--id", "2")["balance"]["available"] == 40
    )
    expired = grocery.json(
        "expire", "-p", "grocery", "--as-of", "2100-01-01T00:00:00+03:00", "--workers", "3"
    )
    assert expired["expire_due"] == 1
    assert (
        "lots expired: 0" in grocery.ok("expire", "-p", "grocery", "--as-of", "2100-01-02").stdout
    )
    report = grocery.json("verify")
    assert report["ok"]
    assert report["totals"]["breakage"] == 100


def test_cli_back_office_writes_are_audited_with_their_actor(
    grocery: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """points adjust, member block and unblock, activate and expire write the audit log
    as the API and the console do (who, what, on what, before and after): the actor is
    cli:<--actor>, or cli:<the operating-system user> without it. They wrote none before."""
    monkeypatch.setenv("LOGNAME", "ops-user")  # what getpass.getuser() reads first
    grocery.ok(
        "points", "adjust", "-p", "grocery", "--id", "1", "--reason", "double scan",
        "--actor", "anna", "--", "-25",
    )  # fmt: skip
    grocery.ok("member", "block", "-p", "grocery", "--id", "1", "--reason", "fraud")
    grocery.ok("member", "unblock", "-p", "grocery", "--id", "1", "--actor", "boris")
    grocery.ok("activate", "-p", "grocery", "--actor", "cron")
    grocery.ok("expire", "-p", "grocery", "--as-of", "2100-01-01")
    rows = grocery.sql("SELECT actor, action, target, before, after FROM audit_log ORDER BY id")
    assert [r[:3] for r in rows] == [
        ("cli:anna", "points.adjust", "member:1"),
        ("cli:ops-user", "member.block", "member:1"),
        ("cli:boris", "member.unblock", "member:1"),
        ("cli:cron", "job.expire-holds", "program:grocery"),
        ("cli:cron", "job.activate", "program:grocery"),
        ("cli:ops-user", "job.expire-holds", "program:grocery"),
        ("cli:ops-user", "job.activate", "program:grocery"),
        ("cli:ops-user", "job.expire", "program:grocery"),
    ]
    before = json.loads(rows[0][3])
    after = json.loads(rows[0][4])
    assert (before["available"], after["available"]) == (100, 75)
    assert json.loads(rows[1][4])["status"] == "blocked"
    assert json.loads(rows[7][4])["handled"] == 1  # the 75 points, expired in 2100
    history = grocery.json("points", "history", "-p", "grocery", "--id", "1")["items"]
    assert next(i for i in history if i["kind"] == "adjust")["actor"] == "cli:anna"


def test_an_actor_that_is_no_printable_name_is_refused(grocery: Cli) -> None:
    """--actor must be a printable name; a blank one is a validation error, nothing written."""
    args = ("member", "block", "-p", "grocery", "--id", "1", "--reason", "x", "--actor", " ")
    result = grocery(*args)
    assert result.exit_code == 2
    assert result.stderr.startswith("error[validation_error]: ")
    assert grocery.count("audit_log") == 0


def test_verify_reports_a_clean_ledger(grocery: Cli) -> None:
    """verify exits 0 on a consistent ledger and prints every check and the liability;
    for one program it stores the report too (the console's verify page reads it), which
    a whole-database run does not."""
    result = grocery.ok("verify", "--program", "grocery")
    assert "ledger verified" in result.stdout
    assert "liability" in result.stdout
    assert grocery.count("verify_reports") == 1
    grocery.ok("verify")
    assert grocery.count("verify_reports") == 1


def test_verify_fails_on_a_corrupted_balance(grocery: Cli) -> None:
    """A member balance changed behind the ledger's back makes verify exit 1 and name it."""
    grocery.sql("UPDATE member_balances SET available = available + 7 WHERE member_id = 1")
    result = grocery("verify")
    assert result.exit_code == 1
    assert "FAIL" in result.stdout
    report = json.loads(grocery("verify", "--json").stdout)
    failed = {c["name"] for c in report["checks"] if not c["ok"]}
    assert "member_balances_match_postings" in failed
    one = grocery("verify", "--program", "grocery", "--json")
    assert one.exit_code == 1
    assert not json.loads(one.stdout)["ok"]
    assert grocery.count("verify_reports") == 1


@pytest.mark.parametrize(
    ("args", "table"),
    [
        (("member", "add", "-p", "grocery", "--email", "not-an-email"), "members"),
        (("member", "add", "-p", "grocery"), "members"),
        (("member", "add", "-p", "grocery", "--card", "1", "--birthday", "31.12.1990"), "members"),
        (("points", "earn", "-5", "-p", "grocery", "--id", "1"), "journal_entries"),
        (("points", "earn", "many", "-p", "grocery", "--id", "1"), "journal_entries"),
        (
            ("points", "earn", "5", "-p", "grocery", "--id", "1", "--card", "1000-0001"),
            "journal_entries",
        ),
        (
            (
                "points",
                "adjust",
                "-p",
                "grocery",
                "--id",
                "1",
                "--reason",
                " ",
                "--actor",
                "a",
                "5",
            ),
            "journal_entries",
        ),
        (("points", "history", "-p", "grocery", "--id", "1", "--limit", "0"), "journal_entries"),
        (("program", "create", "--code", "bad code!"), "programs"),
        (("program", "create", "--code", "x", "--rounding", "sideways"), "programs"),
        (("program", "create", "--code", "x", "--point-value", "0.001"), "programs"),
        (("expire", "-p", "grocery", "--as-of", "yesterday"), "journal_entries"),
        (("expire", "-p", "grocery", "--workers", "0"), "journal_entries"),
        (("bogus",), "programs"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else v,
)
def test_bad_input_is_a_validation_error_and_writes_nothing(
    grocery: Cli, args: tuple[str, ...], table: str
) -> None:
    """Bad input prints error[validation_error] on stderr, exits 2, and changes no table."""
    before = grocery.count(table)
    result = grocery(*args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error[validation_error]: "), result.stderr
    assert "Traceback" not in result.output
    assert grocery.count(table) == before


def test_refused_operation_names_its_code(grocery: Cli) -> None:
    """A business refusal is one error line with its stable code, exit 2, no traceback."""
    result = grocery("points", "redeem", "1000", "-p", "grocery", "--id", "1")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0].startswith("error[insufficient_points]: ")
    missing = grocery("member", "show", "-p", "grocery", "--card", "9999-9999")
    assert missing.stderr.startswith("error[not_found]: ")
    conflict = grocery("points", "earn", "1", "-p", "grocery", "--id", "1", "--key", "seed-earn")
    assert conflict.stderr.startswith("error[idempotency_conflict]: ")


def test_unmigrated_database_is_a_clear_error(fresh_cli: Cli) -> None:
    """Commands on a database without the schema say so and suggest db upgrade."""
    result = fresh_cli("program", "list")
    assert result.exit_code == 1
    assert result.stderr.startswith("error[database_error]: ")
    assert "kopilka db upgrade" in result.stderr


def test_invalid_settings_are_a_config_error(
    fresh_cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Production with the default secret is refused before any work, as a config error."""
    monkeypatch.setenv("KOPILKA_ENVIRONMENT", "production")
    result = fresh_cli("program", "list")
    assert result.exit_code == 2
    assert result.stderr.startswith("error[config_error]: ")
    assert "KOPILKA_SECRET_KEY" in result.stderr
