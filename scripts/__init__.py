"""Tooling run from a checkout (``python -m scripts.<name>``); the application never imports it."""
