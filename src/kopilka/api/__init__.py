"""The HTTP API (``/v1``): build it with :func:`kopilka.api.app.create_app`."""
