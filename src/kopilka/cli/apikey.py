"""``kopilka apikey``: create, list and revoke API keys.

The full key is printed once, at creation; only its hash is stored.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from kopilka.cli.runtime import JsonOption, console, kopilka, print_json
from kopilka.services import apikeys as apikey_svc
from kopilka.services.apikeys import ApiKey, Role

app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)


def key_dict(k: ApiKey) -> dict[str, Any]:
    return {
        "id": k.id,
        "prefix": k.prefix,
        "name": k.name,
        "role": str(k.role),
        "store": k.store_code,
        "program": k.program.code,
        "created_at": k.created_at.isoformat(),
        "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
    }


@app.command()
def create(
    program: Annotated[str, typer.Option(help="Code of the program the key is bound to.")],
    role: Annotated[Role, typer.Option(help="What the key may do.")],
    name: Annotated[str, typer.Option(help="Who uses it, e.g. 'Till 1' or 'web shop'.")],
    store: Annotated[str | None, typer.Option(help="Store code (required for role pos).")] = None,
    json_out: bool = JsonOption,
) -> None:
    """Create a key and print it (the only time the full key is shown)."""
    with kopilka() as k:
        key, secret = apikey_svc.create_key(k.services, program, role.value, name, store)
    if json_out:
        print_json({**key_dict(key), "key": secret})
        return
    console().print(f"created API key {key.id} ({key.role}) for program {key.program.code}")
    console().print(f"key: {secret}")
    console().print("store it now: it cannot be shown again")


@app.command("list")
def list_(
    program: str | None = typer.Option(None, help="Only this program's keys."),
    json_out: bool = JsonOption,
) -> None:
    """List keys (never their secrets), revoked ones included."""
    with kopilka() as k:
        keys = apikey_svc.list_keys(k.services, program)
    if json_out:
        print_json([key_dict(key) for key in keys])
        return
    table = Table("id", "prefix", "name", "role", "store", "program", "created", "revoked")
    for key in keys:
        d = key_dict(key)
        table.add_row(
            *(str(d[c] or "") for c in ("id", "prefix", "name", "role", "store")),
            d["program"],
            d["created_at"],
            d["revoked_at"] or "",
        )
    console().print(table)


@app.command()
def revoke(
    key: str = typer.Argument(..., help="The key's id or prefix."),
    json_out: bool = JsonOption,
) -> None:
    """Revoke a key: it stops working at once."""
    with kopilka() as k:
        revoked = apikey_svc.revoke_key(k.services, key)
    if json_out:
        print_json(key_dict(revoked))
        return
    console().print(f"revoked API key {revoked.id} ({revoked.name})")
