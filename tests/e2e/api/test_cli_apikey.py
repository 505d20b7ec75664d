"""``kopilka apikey``: keys made on the command line work over HTTP until revoked."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from kopilka.cli.apikey import app
from kopilka.domain.program import Program


@pytest.fixture
def cli(backend: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("KOPILKA_DATABASE_URL", backend)
    return CliRunner()


def test_create_list_revoke(cli: CliRunner, client: TestClient, program: Program) -> None:
    """A pos key bound to a store is printed once, listed without its secret, accepted by
    the API, and refused after revocation."""
    made = cli.invoke(
        app,
        [
            "create",
            "--program",
            program.code,
            "--role",
            "pos",
            "--name",
            "Till 1",
            "--store",
            "S1",
            "--json",
        ],
    )
    assert made.exit_code == 0, made.output
    key = json.loads(made.output)
    assert key["key"].startswith(f"kp_{key['prefix']}_")
    me = client.get("/v1/me", headers={"Authorization": f"Bearer {key['key']}"}).json()
    assert (me["role"], me["store"], me["program"]) == ("pos", "S1", program.code)

    listed = cli.invoke(app, ["list", "--program", program.code, "--json"])
    assert [k["name"] for k in json.loads(listed.output)] == ["Till 1"]
    assert key["key"] not in listed.output

    assert cli.invoke(app, ["revoke", key["prefix"]]).exit_code == 0
    assert client.get("/v1/me", headers={"X-API-Key": key["key"]}).status_code == 401


def test_pos_key_needs_a_store(cli: CliRunner, program: Program) -> None:
    """A pos key without --store is refused."""
    r = cli.invoke(app, ["create", "--program", program.code, "--role", "pos", "--name", "T"])
    assert r.exit_code != 0


def test_revoke_by_a_prefix_of_digits_or_by_id(
    cli: CliRunner, client: TestClient, program: Program, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A prefix is random hex and now and then all digits: revoking by it still finds the
    key, not a key of that id. A key's id finds it too."""
    args = ["create", "--program", program.code, "--role", "support", "--json"]
    with monkeypatch.context() as m:
        m.setattr("kopilka.services.apikeys.secrets.token_hex", lambda n: "3" * 2 * n)
        digits = json.loads(cli.invoke(app, [*args, "--name", "Digits"]).output)
    other = json.loads(cli.invoke(app, [*args, "--name", "Other"]).output)
    assert digits["prefix"] == "333333333333"

    revoked = cli.invoke(app, ["revoke", digits["prefix"], "--json"])
    assert revoked.exit_code == 0, revoked.output
    assert json.loads(revoked.output)["name"] == "Digits"
    assert client.get("/v1/me", headers={"X-API-Key": digits["key"]}).status_code == 401

    by_id = cli.invoke(app, ["revoke", str(other["id"]), "--json"])
    assert json.loads(by_id.output)["name"] == "Other"
    assert client.get("/v1/me", headers={"X-API-Key": other["key"]}).status_code == 401
