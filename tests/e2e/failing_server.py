"""``kopilka serve`` with some use cases broken on purpose, run as
``python -m tests.e2e.failing_server``: the log tests drive requests that end in 500
through it and then search what it wrote to stderr.

A use case fails only for data marked with :data:`BOOM` (a card, an e-mail, a SKU, a
receipt id), so the rest of a flow works as usual. Each failure happens where a real bug
would, deep in a request that carries an API key and personal data in its frames, and
most quote the request's card, phone or e-mail in their message."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

BOOM = "BOOM"


def break_some_use_cases() -> None:
    from kopilka.services import members, one_time_codes, purchases

    lookup, quote, prepare_commit = members.lookup, purchases.quote, purchases.prepare_commit
    send_code = one_time_codes.send_code

    def broken_lookup(ctx: Any, program: Any, kind: str, value: str) -> Any:
        if value.upper().startswith(BOOM):
            # a database error, whose text would quote the statement's values
            with ctx.engine.connect() as conn:
                conn.execute(
                    text("SELECT * FROM no_such_table WHERE kind = :kind AND value = :value"),
                    {"kind": kind, "value": value},
                )
        return lookup(ctx, program, kind, value)

    def broken_quote(ctx: Any, program: Any, cmd: Any) -> Any:
        if any(line.sku == BOOM for line in cmd.basket.lines):
            # a bug whose message quotes the card: ValueError: invalid literal for int()
            identifier = cmd.member.identifier
            int(str(identifier[1] if identifier else cmd.member.member_id))
        return quote(ctx, program, cmd)

    def broken_prepare_commit(ctx: Any, program: Any, cmd: Any, **kw: Any) -> Any:
        book = prepare_commit(ctx, program, cmd, **kw)
        if not cmd.receipt_id.startswith(BOOM):
            return book

        named = cmd.member.identifier
        who = {named[0].value: named[1]} if named else {"member_id": cmd.member.member_id}

        def broken_book(*args: Any) -> Any:
            raise RuntimeError(f"the booking failed for {who}")

        return broken_book

    def broken_send_code(ctx: Any, program: Any, cmd: Any) -> Any:
        if cmd.address.upper().startswith(BOOM):
            raise KeyError(cmd.address)  # a bug whose message is the e-mail address
        return send_code(ctx, program, cmd)

    members.lookup = broken_lookup
    purchases.quote = broken_quote
    purchases.prepare_commit = broken_prepare_commit
    one_time_codes.send_code = broken_send_code


def main() -> None:
    from kopilka.cli.serve import run_server

    break_some_use_cases()
    run_server()  # KOPILKA_* from the environment: database, port, log format


if __name__ == "__main__":
    main()
