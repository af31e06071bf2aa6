"""marginbot's settings, read from the environment (and `.env`) once, then passed down explicitly."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_PRICES_FILE = Path(__file__).resolve().parent / "prices.toml"

# Values people paste from docs and forget to replace; refusing them early beats a confusing 401 later.
_PLACEHOLDERS = {"changeme", "change-me", "xoxb-your-token", "your-signing-secret", "secret", "todo"}


def _env(name: str) -> AliasChoices:
    """Accept the documented environment name and, for tests and code, the field name itself."""
    return AliasChoices(name)


def _split_ids(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


IdList = Annotated[list[str], NoDecode]

# SQLite, and PostgreSQL under every spelling hosts hand out (all served by psycopg 3).
_DATABASE_SCHEMES = {"sqlite", "postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2"}


class Settings(BaseSettings):
    """Every knob marginbot has. Environment names are documented in README's configuration table."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True, case_sensitive=False)

    # --- engine ---
    database_url: str = Field("sqlite:///marginbot.db", validation_alias=_env("DATABASE_URL"))
    prices_file: Path = Field(DEFAULT_PRICES_FILE, validation_alias=_env("MARGINBOT_PRICES_FILE"))
    breach_pct: Decimal = Field(Decimal(40), validation_alias=_env("MARGINBOT_BREACH_PCT"))
    healthy_pct: Decimal = Field(Decimal(55), validation_alias=_env("MARGINBOT_HEALTHY_PCT"))
    timezone: str = Field("UTC", validation_alias=_env("MARGINBOT_TIMEZONE"))

    # --- Slack ---
    slack_bot_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_BOT_TOKEN"))
    slack_signing_secret: SecretStr | None = Field(None, validation_alias=_env("SLACK_SIGNING_SECRET"))
    slack_app_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_APP_TOKEN"))
    slack_api_url: str = Field("https://slack.com/api/", validation_alias=_env("SLACK_API_URL"))
    port: int = Field(3000, validation_alias=_env("PORT"))
    allowed_users: IdList = Field(default_factory=list, validation_alias=_env("MARGINBOT_ALLOWED_USERS"))
    allowed_channels: IdList = Field(default_factory=list, validation_alias=_env("MARGINBOT_ALLOWED_CHANNELS"))

    # --- alerts, digest, scheduler ---
    alert_channels: IdList = Field(default_factory=list, validation_alias=_env("MARGINBOT_ALERT_CHANNELS"))
    alert_window_days: int = Field(30, ge=1, le=366, validation_alias=_env("MARGINBOT_ALERT_WINDOW_DAYS"))
    alert_remind_days: int = Field(7, ge=1, validation_alias=_env("MARGINBOT_ALERT_REMIND_DAYS"))
    alert_every_minutes: int = Field(60, ge=1, validation_alias=_env("MARGINBOT_ALERT_EVERY_MINUTES"))
    digest_channels: IdList = Field(default_factory=list, validation_alias=_env("MARGINBOT_DIGEST_CHANNELS"))
    digest_cron: str = Field("mon 09:00", validation_alias=_env("MARGINBOT_DIGEST_CRON"))
    sync_every_minutes: int = Field(60, ge=1, validation_alias=_env("MARGINBOT_SYNC_EVERY_MINUTES"))

    # --- connectors ---
    openai_admin_key: SecretStr | None = Field(None, validation_alias=_env("OPENAI_ADMIN_KEY"))
    openai_base_url: str = Field("https://api.openai.com", validation_alias=_env("MARGINBOT_OPENAI_BASE_URL"))
    anthropic_admin_key: SecretStr | None = Field(None, validation_alias=_env("ANTHROPIC_ADMIN_KEY"))
    anthropic_base_url: str = Field("https://api.anthropic.com", validation_alias=_env("MARGINBOT_ANTHROPIC_BASE_URL"))
    litellm_url: str | None = Field(None, validation_alias=_env("LITELLM_URL"))
    litellm_api_key: SecretStr | None = Field(None, validation_alias=_env("LITELLM_API_KEY"))
    langfuse_base_url: str = Field("https://cloud.langfuse.com", validation_alias=_env("MARGINBOT_LANGFUSE_BASE_URL"))
    langfuse_public_key: str | None = Field(None, validation_alias=_env("LANGFUSE_PUBLIC_KEY"))
    langfuse_secret_key: SecretStr | None = Field(None, validation_alias=_env("LANGFUSE_SECRET_KEY"))
    stripe_api_key: SecretStr | None = Field(None, validation_alias=_env("STRIPE_API_KEY"))
    stripe_base_url: str = Field("https://api.stripe.com", validation_alias=_env("MARGINBOT_STRIPE_BASE_URL"))
    mapping_file: Path = Field(Path("config/mapping.toml"), validation_alias=_env("MARGINBOT_MAPPING_FILE"))
    otlp_customer_attribute: str = Field("enduser.id", validation_alias=_env("MARGINBOT_OTLP_CUSTOMER_ATTRIBUTE"))
    # OpenAI/Anthropic usage buckets: None = 1d when MARGINBOT_TIMEZONE is UTC, else 1h (local midnights)
    sync_bucket_width: Literal["1d", "1h"] | None = Field(None, validation_alias=_env("MARGINBOT_SYNC_BUCKET_WIDTH"))

    _split = field_validator("allowed_users", "allowed_channels", "alert_channels", "digest_channels", mode="before")(
        _split_ids
    )

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str) -> str:
        value = value.strip()
        scheme, sep, rest = value.partition("://")
        # The mistakes people make, each refused with the URL they meant (never echoing a password).
        if not sep:
            shown = f" ({value})" if "@" not in value else ""
            raise ValueError(
                f"has no scheme{shown}: for a SQLite file write sqlite:///{value if '@' not in value else 'FILE'} "
                "(four slashes for an absolute path), for PostgreSQL postgresql://USER:PASSWORD@HOST:5432/DB"
            )
        if scheme.lower() == "sqlite" and rest and not rest.startswith("/"):
            raise ValueError(f"sqlite://{rest} has two slashes: a SQLite file is sqlite:///{rest} (three slashes)")
        if scheme.lower() not in _DATABASE_SCHEMES:
            raise ValueError(
                f"marginbot does not support {scheme} databases: use sqlite:///FILE or "
                "postgresql://USER:PASSWORD@HOST:5432/DB"
            )
        userinfo = rest.split("/", 1)[0].rpartition("@")[0] if "@" in rest.split("/", 1)[0] else ""
        if "@" in userinfo:
            raise ValueError("the password holds an '@': write it as %40 in DATABASE_URL (URL-encoding)")
        if scheme.lower() != "sqlite":
            # Hosted Postgres hands out postgres:// URLs; SQLAlchemy needs the driver (psycopg 3) spelled out.
            return "postgresql+psycopg://" + rest
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"MARGINBOT_TIMEZONE={value!r} is not an IANA time zone (e.g. Europe/Paris)") from exc
        return value

    @field_validator("slack_bot_token", "slack_signing_secret", "slack_app_token")
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip().lower() in _PLACEHOLDERS:
            raise ValueError("is still a placeholder: paste the real value from your Slack app's settings")
        return value

    @field_validator("healthy_pct")
    @classmethod
    def _bands_ordered(cls, value: Decimal, info: object) -> Decimal:
        breach = getattr(info, "data", {}).get("breach_pct")
        if breach is not None and value < breach:
            raise ValueError("MARGINBOT_HEALTHY_PCT must be at least MARGINBOT_BREACH_PCT")
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once. Tests build their own `Settings(...)` instead."""
    return Settings()
