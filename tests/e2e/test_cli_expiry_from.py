"""``kopilka program set-expiry-from``: what a program's expiry counts from."""

from __future__ import annotations

from tests.e2e.test_cli import Cli, cli, fresh_cli  # noqa: F401 (fixtures)


def test_set_expiry_from_and_read_it_back(cli: Cli) -> None:  # noqa: F811
    """A new program counts from the earning; set-expiry-from switches it to the
    activation (and back), as show and create --expiry-from say."""
    created = cli.json("program", "create", "--code", "shop", "--activation-delay-days", "14")
    assert created["expiry_from"] == "earning"
    out = cli.ok("program", "set-expiry-from", "shop", "activation").stdout
    assert "expiry counts from activation" in out
    assert cli.json("program", "show", "shop")["expiry_from"] == "activation"
    assert cli.json("program", "set-expiry-from", "shop", "earning")["expiry_from"] == "earning"
    other = cli.json("program", "create", "--code", "other", "--expiry-from", "activation")
    assert other["expiry_from"] == "activation"


def test_an_unknown_choice_is_refused(cli: Cli) -> None:  # noqa: F811
    """Anything but earning or activation is a usage error (exit 2), nothing changes."""
    cli.ok("program", "create", "--code", "shop")
    result = cli("program", "set-expiry-from", "shop", "purchase")
    assert result.exit_code == 2
    assert result.stderr.startswith("error[validation_error]: ")
    assert cli.json("program", "show", "shop")["expiry_from"] == "earning"
