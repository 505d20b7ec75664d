"""The parent process of several API workers: ``python -m kopilka.api.supervise HOST PORT N``.

``kopilka serve --workers N`` (N > 1) migrates the database, then replaces itself with this
module, so the process that only watches the workers holds uvicorn and the logging set-up,
not the whole CLI (about 60 MB less, counted in the server's memory).
"""

from __future__ import annotations

import sys

FACTORY = "kopilka.api.factory:app_factory"


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    from kopilka.logging import configure_logging
    from kopilka.settings import load_settings

    host, port, workers = argv if argv is not None else sys.argv[1:]
    configure_logging(load_settings())
    uvicorn.run(
        FACTORY,
        factory=True,
        host=host,
        port=int(port),
        workers=int(workers),
        log_config=None,  # keep the structlog configuration of configure_logging
        proxy_headers=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()
