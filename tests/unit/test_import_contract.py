"""The import contract of pyproject.toml [tool.importlinter] holds with no exception: the
layers, interfaces that reach the store only through services, a pure domain, and no import
cycle anywhere in src/kopilka (a new cycle or an upward import fails here).

Each contract is its own test, so a failure names the contract it breaks
(docs/architecture.md, "The import contract")."""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"

CONTRACTS = ("layers", "interfaces-use-services", "domain-pure", "acyclic")


@pytest.fixture(autouse=True)
def _loggers_left_enabled() -> Iterator[None]:
    # import-linter configures logging as it runs, which disables every logger that exists
    # by then (``disable_existing_loggers``): later tests of Kopilka's logs would see none
    existing = logging.root.manager.loggerDict
    enabled = [x for x in existing.values() if isinstance(x, logging.Logger) and not x.disabled]
    yield
    for logger in enabled:
        logger.disabled = False


def _lint(*contracts: str, config: Path = PYPROJECT) -> int:
    # no_cache: grimp would otherwise write its cache into the working directory
    return lint_imports(
        config_filename=str(config),
        limit_to_contracts=contracts,
        no_cache=True,
        no_logo=True,
    )


def test_the_contracts_list_no_imports_to_ignore() -> None:
    """No contract has an exception list, and these tests check every contract there is."""
    text = PYPROJECT.read_text()
    assert "ignore_imports" not in text
    config = tomllib.loads(text)["tool"]["importlinter"]
    assert tuple(c["id"] for c in config["contracts"]) == CONTRACTS


@pytest.mark.parametrize("contract", CONTRACTS)
def test_import_contract_holds_with_no_exception_list(contract: str) -> None:
    """The contract is kept: ``lint-imports`` reports no import that breaks it."""
    assert _lint(contract) == 0
