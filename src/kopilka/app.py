"""The composition root: settings → engine → services, built in one place, on demand."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr
from sqlalchemy import Engine

from kopilka.domain.clock import Clock, SystemClock
from kopilka.services.context import DeliverySettings, MessagingSettings, ServiceContext
from kopilka.settings import Settings, load_settings
from kopilka.store.checkpoint import WalCheckpointer
from kopilka.store.db import make_engine, sqlite_file


@dataclass
class Kopilka:
    """Everything a process (API server, CLI command, worker) needs, wired once."""

    settings: Settings
    engine: Engine
    services: ServiceContext
    # SQLite files built for background checkpoints: enter it while the process writes
    checkpointer: WalCheckpointer | None = None

    def close(self) -> None:
        self.engine.dispose()


def upgrade_database(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` of the schema (the latest by default).

    Here, in the composition root, so that the interfaces (``kopilka db upgrade``, ``kopilka
    serve``, ``kopilka demo``) migrate without importing the store themselves."""
    from kopilka.store.migrate import upgrade  # Alembic: only where migrations run

    upgrade(url, revision)


def build(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    migrate: bool = False,
    background_checkpoints: bool = False,
) -> Kopilka:
    """Build the engine and the service context; optionally run migrations first.

    ``background_checkpoints``: on a SQLite file, commits leave the write-ahead log to
    ``Kopilka.checkpointer``, which the caller enters for as long as it writes (the API
    server: its lifespan)."""
    settings = settings or load_settings()
    url = settings.effective_database_url
    if migrate:
        upgrade_database(url)
    engine = make_engine(
        url,
        pool_size=settings.db_pool_size,
        sqlite_synchronous=settings.sqlite_synchronous,
        sqlite_autocheckpoint=not background_checkpoints,
    )
    checkpointer = None
    if background_checkpoints and sqlite_file(engine) is not None:
        checkpointer = WalCheckpointer(engine)
    delivery = DeliverySettings(
        allow_private_webhooks=settings.webhooks_allow_private,
        nats_url=settings.nats_url or None,
        nats_subject_prefix=settings.nats_subject_prefix,
    )
    services = ServiceContext(
        engine, clock or SystemClock(), delivery=delivery, messaging=messaging_settings(settings)
    )
    return Kopilka(settings, engine, services, checkpointer)


def messaging_settings(settings: Settings) -> MessagingSettings:
    """How members' messages leave, from the settings (secrets read out of their
    ``SecretStr`` only here)."""

    def secret(value: SecretStr | None) -> str | None:
        return None if value is None else value.get_secret_value()

    return MessagingSettings(
        email=settings.email_adapter,
        smtp_host=settings.smtp_host,
        smtp_port=settings.smtp_port,
        smtp_username=settings.smtp_username,
        smtp_password=secret(settings.smtp_password),
        smtp_starttls=settings.smtp_starttls,
        smtp_ssl=settings.smtp_ssl,
        smtp_ca_file=None if settings.smtp_ca_file is None else str(settings.smtp_ca_file),
        smtp_from=settings.smtp_from,
        smtp_timeout=settings.smtp_timeout,
        sms=settings.sms_adapter,
        sms_url=settings.sms_url,
        sms_token=secret(settings.sms_token),
        push=settings.push_adapter,
        push_url=settings.push_url,
        push_token=secret(settings.push_token),
        public_url=settings.public_url,
        secret=settings.secret_key,
        max_attempts=settings.message_attempts,
        retry_base=settings.message_retry_base,
    )
