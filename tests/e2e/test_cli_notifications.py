"""``kopilka notifications``: a program's templates listed, shown, set from a file (each
problem printed with its part and line, nothing written), previewed and reset; the policy
shown and replaced from a file, checked by the API's own schema; changes audited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_cli import Cli, cli_on

WINBACK = """\
subject: "We miss you, {{ first_name }}"
html: |
  <p>{{ days }} days without you; {{ balance }} points wait.</p>
  <p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>
text: |
  {{ days }} days without you; {{ balance }} points wait.
  Unsubscribe: {{ unsubscribe_url }}
"""


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with cli_on(tmp_path, monkeypatch) as c:
        c.ok("db", "upgrade")
        c.ok("program", "create", "--code", "shop")
        yield c


def test_a_template_is_set_from_a_file_shown_previewed_and_reset(cli: Cli, tmp_path: Path):
    """The default first; a YAML file stores the program's own (audited under the
    actor); show --json prints what set reads; the preview renders the sample values;
    reset brings the default back."""
    assert (
        cli.json("notifications", "templates", "show", "-p", "shop", "winback", "en")["custom"]
        is False
    )
    file = tmp_path / "winback.yaml"
    file.write_text(WINBACK, encoding="utf-8")
    out = cli.ok(
        "notifications",
        "templates",
        "set",
        "-p",
        "shop",
        "winback",
        "en",
        "--file",
        str(file),
        "--actor",
        "olga",
    )
    assert "template winback (en) stored" in out.stdout
    shown = cli.json("notifications", "templates", "show", "-p", "shop", "winback", "en")
    assert shown["custom"] is True
    assert shown["subject"] == "We miss you, {{ first_name }}"
    again = tmp_path / "again.json"
    again.write_text(json.dumps(shown), encoding="utf-8")  # show --json is what set reads
    cli.ok("notifications", "templates", "set", "-p", "shop", "winback", "en", "-f", str(again))
    listed = {r["topic"]: r for r in cli.json("notifications", "templates", "list", "-p", "shop")}
    assert listed["winback"]["custom"] == {"ru": False, "en": True}
    rendered = cli.json("notifications", "templates", "preview", "-p", "shop", "winback", "en")
    assert "points wait." in rendered["text"]
    assert "{{" not in rendered["html"]
    cli.ok("notifications", "templates", "reset", "-p", "shop", "winback", "en")
    assert (
        cli.json("notifications", "templates", "show", "-p", "shop", "winback", "en")["custom"]
        is False
    )
    audited = cli.sql(
        "SELECT actor, action FROM audit_log WHERE action LIKE 'notifications.template%'"
        " ORDER BY id"
    )
    assert tuple(audited[0]) == ("cli:olga", "notifications.template")
    assert audited[-1][1] == "notifications.template_reset"


def test_a_template_that_does_not_render_is_refused_line_by_line(cli: Cli, tmp_path: Path):
    """Each problem with its part and line on stderr, exit 2, nothing stored; a file that
    is not a template's mapping is refused before the program is read."""
    file = tmp_path / "bad.yaml"
    file.write_text(
        'subject: "Hi"\nhtml: "<p>{{ balance }} {{ unsubscribe_url }}</p>"\n'
        'text: "one\\n{{ dayz }}\\n{{ unsubscribe_url }}"\n',
        encoding="utf-8",
    )
    refused = cli(
        "notifications", "templates", "set", "-p", "shop", "winback", "en", "-f", str(file)
    )
    assert refused.exit_code == 2
    assert "Plain text, line 2: 'dayz' is undefined" in refused.stderr
    assert "nothing was written" in refused.stderr
    assert cli.sql("SELECT count(*) FROM message_templates")[0][0] == 0
    extra = tmp_path / "extra.yaml"
    extra.write_text("subject: a\nhtml: b\ntext: c\nfooter: d\n", encoding="utf-8")
    assert (
        cli(
            "notifications", "templates", "set", "-p", "shop", "otp_code", "en", "-f", str(extra)
        ).exit_code
        == 2
    )
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n", encoding="utf-8")
    wrong = cli(
        "notifications", "templates", "set", "-p", "shop", "otp_code", "en", "-f", str(listed)
    )
    assert wrong.exit_code == 2
    assert "the file must hold a mapping" in wrong.stderr
    unknown = cli("notifications", "templates", "show", "-p", "shop", "nope", "en")
    assert unknown.exit_code == 2
    assert "unknown topic" in unknown.stderr


def test_the_policy_is_shown_and_replaced_from_a_file(cli: Cli, tmp_path: Path):
    """The defaults; a file replaces them (the channel it does not name keeps its cap);
    a wrong value is refused naming it, and nothing changes."""
    assert cli.json("notifications", "policy", "show", "-p", "shop")["quiet_hours"] == {
        "start": "21:00",
        "end": "09:00",
    }
    file = tmp_path / "policy.yaml"
    file.write_text(
        "caps: {sms: {count: 1, days: 14}}\nquiet_hours: {start: '22:00', end: '08:00'}\n"
        "default_language: en\ndisabled_topics: [winback]\n",
        encoding="utf-8",
    )
    done = cli.json(
        "notifications", "policy", "set", "-p", "shop", "-f", str(file), "--actor", "ops"
    )
    assert done["caps"]["sms"] == {"count": 1, "days": 14}
    assert done["caps"]["email"] == {"count": 2, "days": 7}
    assert done["disabled_topics"] == ["winback"]
    assert (
        "quiet hours: 22:00-08:00" in cli.ok("notifications", "policy", "show", "-p", "shop").stdout
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("quiet_hours: {start: '25:00', end: '08:00'}\n", encoding="utf-8")
    refused = cli("notifications", "policy", "set", "-p", "shop", "-f", str(bad))
    assert refused.exit_code == 2
    assert "quiet_hours" in refused.stderr
    assert cli.json("notifications", "policy", "show", "-p", "shop") == done
    audited = cli.sql("SELECT actor FROM audit_log WHERE action = 'notifications.settings'")
    assert [r[0] for r in audited] == ["cli:ops"]
