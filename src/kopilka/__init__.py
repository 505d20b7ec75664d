"""Kopilka: a self-hosted loyalty-points platform with an exact double-entry ledger."""

__version__ = "0.1.0"
