"""Runtime settings, read from ``KOPILKA_*`` environment variables (and a ``.env`` file).

Nothing here is built at import time: :func:`load_settings` is called by the composition
root (``kopilka.app``) and the CLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from limits import parse as parse_limit
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# refused outside development by the validator below
DEV_SECRET = "dev-insecure-secret"  # noqa: S105


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KOPILKA_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("data")
    # empty means: SQLite file ``kopilka.db`` under data_dir
    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_json: bool = False
    # secret used to sign member-portal sessions; must be set outside development
    secret_key: str = DEV_SECRET
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    db_pool_size: int = Field(default=10, ge=1, le=200)
    # threads per API process that run database work (0: as many as db_pool_size): more
    # than the pool only queue for a connection, or open and close overflow connections
    api_threads: int = Field(default=0, ge=0, le=200)
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    # failed sign-ins to the portal or the console allowed per client address, and per
    # card tried, in a moving window; then 429 until the window has room (web/throttle.py)
    sign_in_limit: str = "10 per 15 minutes"
    # one-time codes the portal sends per client address, and per phone or e-mail, in a
    # moving window (each code sent counts, web/throttle.py); then 429 until there is room
    sign_in_code_limit: str = "5 per 15 minutes"
    # where those failures are counted: memory:// (each server process on its own) or
    # redis://host:port/db (shared by every worker and server)
    sign_in_store: str = "memory://"
    # reverse proxies whose X-Forwarded-For names the client (uvicorn's
    # forwarded_allow_ips: comma-separated addresses or networks, "*" for any); empty:
    # none, the client is the connection's peer
    forwarded_allow_ips: str = ""
    # when set, /metrics answers only ``Authorization: Bearer <this token>`` (Prometheus:
    # ``authorization: {credentials: ...}``); unset, it is open like /healthz
    metrics_token: SecretStr | None = Field(default=None, min_length=16)
    # a member's birthday (it drives birthday bonuses) may be changed through the API at
    # most once in this many days; 0: no limit. Setting it at enrollment is not a change
    birthday_change_days: int = Field(default=365, ge=0, le=3660)
    # the web pages' language for a visitor who chose none (the switch on every page)
    # and whose browser's Accept-Language names no supported one
    default_language: Literal["en", "ru"] = "en"
    # the outbox's webhooks may go to addresses in private or loopback networks (off: a
    # guard against server-side request forgery; tests and a LAN-only setup turn it on)
    webhooks_allow_private: bool = False
    # the outbox's events published to NATS JetStream (nats://host:4222), under
    # <prefix>.<program>.<type>; unset: no NATS channel
    nats_url: str | None = None
    nats_subject_prefix: str = Field(
        default="kopilka", pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$"
    )

    # members' messages (docs/notifications.md): e-mail over SMTP or, in development, only
    # logged (masked); SMS and push through a provider's HTTP API or logged
    email_adapter: Literal["smtp", "log"] = "log"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    # upgrade the plain connection with STARTTLS (port 587), or TLS from the start (465)
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    # a CA file to trust besides the system's (a private mail relay)
    smtp_ca_file: Path | None = None
    smtp_from: str = Field(default="Kopilka <no-reply@localhost>", min_length=3, max_length=254)
    smtp_timeout: float = Field(default=10.0, gt=0, le=300)
    sms_adapter: Literal["http", "log"] = "log"
    sms_url: str | None = None
    sms_token: SecretStr | None = None
    push_adapter: Literal["http", "log"] = "log"
    push_url: str | None = None
    push_token: SecretStr | None = None
    # the site's public address: unsubscribe links in marketing messages start with it
    public_url: str = Field(default="http://127.0.0.1:8000", pattern=r"^https?://[^\s]+$")
    # a failed sending is retried this many times in all, the delay doubling from the base
    message_attempts: int = Field(default=5, ge=1, le=20)
    message_retry_base: float = Field(default=30.0, gt=0, le=86400)

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, v: str) -> str:
        if v.startswith(("postgresql://", "postgres://")):
            v = "postgresql+psycopg://" + v.split("://", 1)[1]
        if v and not v.startswith(("sqlite", "postgresql+psycopg")):
            raise ValueError("database_url must be a sqlite:// or postgresql+psycopg:// URL")
        return v

    @field_validator("sign_in_limit", "sign_in_code_limit")
    @classmethod
    def _a_rate(cls, v: str) -> str:
        if parse_limit(v).amount < 1:  # parse_limit's ValueError names what is wrong
            raise ValueError("the limit must allow at least one try")
        return v

    @field_validator("sign_in_store")
    @classmethod
    def _a_store(cls, v: str) -> str:
        if not v.startswith(("memory://", "redis://", "rediss://")):
            raise ValueError("sign_in_store must be memory://, or a redis:// or rediss:// URL")
        return v

    @model_validator(mode="after")
    def _channels_configured(self) -> Settings:
        if self.smtp_starttls and self.smtp_ssl:
            raise ValueError("KOPILKA_SMTP_STARTTLS and KOPILKA_SMTP_SSL exclude each other")
        for name in ("sms", "push"):
            url = getattr(self, f"{name}_url")
            if getattr(self, f"{name}_adapter") == "http" and not url:
                raise ValueError(f"KOPILKA_{name.upper()}_URL is needed by the http adapter")
            if url and not url.startswith(("http://", "https://")):
                raise ValueError(f"KOPILKA_{name.upper()}_URL must be an http(s) URL")
        return self

    @model_validator(mode="after")
    def _no_default_secret_in_production(self) -> Settings:
        if self.environment == "production" and self.secret_key == DEV_SECRET:
            raise ValueError("KOPILKA_SECRET_KEY must be set in production")
        return self

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'kopilka.db').as_posix()}"


def load_settings(**overrides: object) -> Settings:
    """Read the settings from the environment, with explicit overrides winning."""
    return Settings(**overrides)  # type: ignore[arg-type]
