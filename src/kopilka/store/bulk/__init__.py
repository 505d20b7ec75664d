"""The set-based writers and readers of the importer: ids reserved up front, one statement
per table and batch (:mod:`.writer`), the ledger's port in memory for a batch
(:mod:`.ledger`), and the per-batch lookups and resume checkpoint (:mod:`.lookup`).

The request path does not use them; the bulk expiry sweep, which it does use, stays in
:mod:`kopilka.store.repos.bulk_expiry`.
"""
