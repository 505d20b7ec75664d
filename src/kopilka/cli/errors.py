"""How the CLI reports failures: ``error[<code>]: <message>`` on stderr, never a traceback.

Expected failures (a :class:`KopilkaError`, bad command-line input, invalid settings,
an unreachable or unmigrated database) are caught once, at the root command group, so
no command needs its own try/except.

Exit codes: 0 success, 1 ``verify`` found violations or the database failed,
2 bad input or a refused operation.
"""

from __future__ import annotations

from typing import Any, NoReturn

import pydantic
import typer
from sqlalchemy.exc import DBAPIError, OperationalError

from kopilka.domain.errors import KopilkaError

# Typer vendors its own click; its public BadParameter leads to the UsageError base class
UsageError: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError"
)

EXIT_VIOLATIONS = 1
EXIT_DATABASE = 1
EXIT_REFUSED = 2


def fail(
    code: str, message: str, exit_code: int = EXIT_REFUSED, hint: str | None = None
) -> NoReturn:
    """Print one error line (and an optional hint) to stderr and exit."""
    typer.echo(f"error[{code}]: {message}", err=True)
    if hint:
        typer.echo(f"hint: {hint}", err=True)
    raise typer.Exit(exit_code)


class KopilkaGroup(typer.core.TyperGroup):
    """The root group: turns expected exceptions from any sub-command into one error line."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KopilkaError as e:
            field = e.details.get("field")
            fail(e.code, e.message + (f" (field: {field})" if field else ""))
        except UsageError as e:
            if type(e).__name__ == "NoArgsIsHelpError":
                raise  # a bare group name: Typer shows its help
            usage_ctx = getattr(e, "ctx", None)
            where = usage_ctx.command_path if usage_ctx else "kopilka"
            fail("validation_error", e.format_message(), hint=f"see '{where} --help'")  # type: ignore[attr-defined]
        except pydantic.ValidationError as e:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
                for err in e.errors()
            )
            fail("config_error", f"invalid settings: {problems}")
        except OperationalError as e:
            fail(
                "database_error",
                str(e.orig).splitlines()[0] if e.orig else str(e).splitlines()[0],
                EXIT_DATABASE,
                hint="is the database reachable, and did you run 'kopilka db upgrade'?",
            )
        except DBAPIError as e:
            fail("database_error", str(e.orig).splitlines()[0], EXIT_DATABASE)
