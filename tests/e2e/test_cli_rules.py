"""``kopilka rules``: validate, publish, list, show, diff and preview, as a deploy script
runs them, against a throwaway SQLite database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_cli import Cli, cli, fresh_cli, grocery  # noqa: F401 (fixtures)

V1 = """\
currency: RUB
rules:
  - id: base
    kind: rate
    description: "1 point per 100 RUB"
    rate: {points: 1, per: "100"}
redemption:
  max_percent: 50
"""
V2 = V1.replace("rate: {points: 1,", "rate: {points: 3,")
# two problems: a priority that is no number (line 5), negative points (line 6)
BROKEN = V1.replace('    description: "1 point per 100 RUB"\n', "    priority: high\n").replace(
    "points: 1,", "points: -1,"
)


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        pytest.param(V1, "rules.yaml", id="yaml"),
        pytest.param(json.dumps({"rules": []}), "r.json", id="json"),
    ],
)
def test_validate_a_good_document(fresh_cli: Cli, tmp_path: Path, text: str, name: str) -> None:  # noqa: F811
    """A valid document (YAML, or JSON by its name) passes with exit 0, with no database."""
    result = fresh_cli.ok("rules", "validate", _write(tmp_path, name, text))
    assert "valid" in result.stdout
    assert not (tmp_path / "kopilka.db").exists()


def test_validate_reports_every_problem_with_line_and_field(
    fresh_cli: Cli,  # noqa: F811
    tmp_path: Path,
) -> None:
    """An invalid document exits 2 and prints each problem as FILE:LINE: FIELD: MESSAGE."""
    path = _write(tmp_path, "broken.yaml", BROKEN)
    result = fresh_cli("rules", "validate", path)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith(f"error[validation_error]: {path}:5: rules[0].priority: ")
    assert lines[1].startswith(f"error[validation_error]: {path}:6: rules[0].rate.points: ")


def test_publish_list_show_diff_and_audit(grocery: Cli, tmp_path: Path) -> None:  # noqa: F811
    """Two versions published from files: listed, shown as written, diffed as a unified
    diff, each publication audited as rules.publish by cli:NAME."""
    one, two = _write(tmp_path, "v1.yaml", V1), _write(tmp_path, "v2.yaml", V2)
    assert grocery.json("rules", "publish", one, "--actor", "deploy")["version"] == 1
    out = grocery.ok("rules", "publish", two, "-p", "grocery", "--actor", "deploy").stdout
    assert "published version 2" in out
    listed = grocery.json("rules", "list")
    assert [(v["version"], v["published_by"]) for v in listed] == [
        (1, "cli:deploy"),
        (2, "cli:deploy"),
    ]
    assert grocery.ok("rules", "show", "2").stdout == V2
    diff = grocery.ok("rules", "diff", "1", "2").stdout.splitlines()
    assert diff[:2] == ["--- version 1", "+++ version 2"]
    assert '-    rate: {points: 1, per: "100"}' in diff
    assert '+    rate: {points: 3, per: "100"}' in diff
    assert grocery.ok("rules", "diff", "2", "2").stdout == ""
    audit = grocery.sql("SELECT actor, action FROM audit_log WHERE action LIKE 'rules.%'")
    assert [tuple(r) for r in audit] == [("cli:deploy", "rules.publish")] * 2


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        pytest.param(("show", "9"), "not_found", "version 9", id="show-missing"),
        pytest.param(("diff", "1", "9"), "not_found", "version 9", id="diff-missing"),
        pytest.param(
            ("publish", "{file}", "--effective-at", "2001-01-01T00:00:00Z"),
            "validation_error",
            "in the past",
            id="past",
        ),
        pytest.param(
            ("publish", "{file}", "--effective-at", "soon"),
            "validation_error",
            "ISO 8601",
            id="bad-time",
        ),
        pytest.param(("list", "-p", "nope"), "not_found", "nope", id="no-program"),
    ],
)
def test_refusals_print_one_error_line(
    grocery: Cli,  # noqa: F811
    tmp_path: Path,
    args: tuple[str, ...],
    code: str,
    fragment: str,
) -> None:
    """A refused command prints error[code] on stderr, exits 2, and publishes nothing."""
    grocery.ok("rules", "publish", _write(tmp_path, "v1.yaml", V1))
    path = _write(tmp_path, "again.yaml", V1)
    result = grocery("rules", *[a.replace("{file}", path) for a in args])
    assert result.exit_code == 2, result.stdout
    assert result.stderr.startswith(f"error[{code}]: ")
    assert fragment in result.stderr
    assert grocery.count("rule_sets") == 1


def test_publish_an_invalid_document_names_its_lines(grocery: Cli, tmp_path: Path) -> None:  # noqa: F811
    """Publishing an invalid file prints its problems by line and stores nothing."""
    result = grocery("rules", "publish", _write(tmp_path, "broken.yaml", BROKEN))
    assert result.exit_code == 2
    assert ":5: rules[0].priority:" in result.stderr
    assert grocery.count("rule_sets") == 0
    assert grocery.count("audit_log") == 0


def test_preview_a_draft_beside_the_version_in_force(grocery: Cli, tmp_path: Path) -> None:  # noqa: F811
    """The draft (3 per 100) and the version in force (1 per 100) on the same basket; the
    preview writes nothing."""
    grocery.ok("rules", "publish", _write(tmp_path, "v1.yaml", V1))
    basket = json.dumps(
        {"member": {"card": "1000-0001"}, "lines": [{"line_id": "a", "sku": "X", "amount": "250"}]}
    )
    draft = _write(tmp_path, "v2.yaml", V2)
    before = grocery.count("journal_entries")
    out = grocery.json("rules", "preview", draft, "--basket", basket)
    assert (out["draft"]["points_earned"], out["in_force"]["points_earned"]) == (6, 2)
    assert out["in_force_version"] == 1
    assert out["draft"]["by_line"] == {"a": 6}
    table = grocery.ok("rules", "preview", draft, "--basket", basket).stdout
    assert "points earned" in table
    assert "version 1" in table
    assert grocery.count("journal_entries") == before


@pytest.mark.parametrize(
    ("basket", "fragment"),
    [
        pytest.param("{", "not JSON", id="not-json"),
        pytest.param('{"member_id": 1}', "lines", id="no-lines"),
        pytest.param("[]", "JSON object", id="not-an-object"),
    ],
)
def test_preview_refuses_a_bad_basket(
    grocery: Cli,  # noqa: F811
    tmp_path: Path,
    basket: str,
    fragment: str,
) -> None:
    """A basket that is no quote body is a validation error naming what is wrong."""
    result = grocery("rules", "preview", _write(tmp_path, "v1.yaml", V1), "--basket", basket)
    assert result.exit_code == 2
    assert result.stderr.startswith("error[validation_error]: ")
    assert fragment in result.stderr
