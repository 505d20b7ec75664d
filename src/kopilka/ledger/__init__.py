"""The exact core: double-entry journal, lots, holds, reversals, expiry and verification.

Import direction: the ledger uses the pure domain and talks to storage only through the
:class:`~kopilka.ledger.ports.LedgerPort` protocol, which ``kopilka.store`` implements.
"""
