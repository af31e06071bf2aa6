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
    database_url: str = Field(
        "sqlite:///marginbot.db",
        validation_alias=_env("DATABASE_URL"),
        description=(
            "Where marginbot keeps its data: a SQLite file (`sqlite:///path.db`, the default, next to where "
            "you run it) or PostgreSQL (`postgresql://user:pass@host/db`; `postgres://` as hosted Postgres "
            "hands it out is accepted). The schema is created or migrated on first use."
        ),
    )
    prices_file: Path = Field(
        DEFAULT_PRICES_FILE,
        validation_alias=_env("MARGINBOT_PRICES_FILE"),
        description=(
            "The price file (TOML): model price overrides, discounts and unit costs over the genai-prices "
            "catalogue. The default is the repository's config/prices.toml (if it is missing: catalogue prices "
            "and no unit costs); a file set here must exist, or marginbot refuses to start. Run `marginbot "
            "reprice` after changing it: until then answers say that prices changed."
        ),
    )
    catalogue_file: Path | None = Field(
        None,
        validation_alias=_env("MARGINBOT_CATALOGUE_FILE"),
        description=(
            "The genai-prices catalogue data (JSON) that `marginbot prices update` refreshes and marginbot prices "
            "from. Empty (the default): `catalogue.json` beside the price file. While that file does not exist, "
            "the catalogue bundled with the installed genai-prices package is used. A running `marginbot serve` "
            "reloads it when it changes; run `marginbot reprice` after it changes (imports and syncs wait for it)."
        ),
    )
    breach_pct: Decimal = Field(
        Decimal(40),
        ge=0,
        le=100,  # a margin line, as a customer's own bands in the contracts file are
        validation_alias=_env("MARGINBOT_BREACH_PCT"),
        description=(
            "Gross margin, in percent (0 to 100), below which a customer or product is in breach (alerts, status, "
            "forecasts). 40 means under 40%."
        ),
    )
    healthy_pct: Decimal = Field(
        Decimal(55),
        ge=0,
        le=100,  # a margin line, as a customer's own bands in the contracts file are
        validation_alias=_env("MARGINBOT_HEALTHY_PCT"),
        description=(
            "Gross margin, in percent (0 to 100), at or above which a customer or product is healthy; between "
            "the breach line and this it is on watch. Must be at least MARGINBOT_BREACH_PCT; it is also the default "
            "target of `marginbot floor`."
        ),
    )
    materiality_usd: Decimal = Field(
        Decimal(1),
        ge=0,
        validation_alias=_env("MARGINBOT_MATERIALITY_USD"),
        description=(
            "A customer or product whose revenue and COGS over the period are both under this many dollars (and "
            "whose usage all has a price) is immaterial: shown with its figures and labelled so, but never a "
            "headline, not counted among those in breach or on watch, and it opens no alert (one already open goes "
            "on as before). 0 makes every subject material."
        ),
    )
    mover_min_usd: Decimal = Field(
        Decimal(1),
        ge=0,
        validation_alias=_env("MARGINBOT_MOVER_MIN_USD"),
        description=(
            "The smallest change in a cost, in dollars, that answers, alerts and the digest call a mover or a "
            "cost driver (e.g. 1 or 0.50). Together with MARGINBOT_MOVER_MIN_PCT: the higher floor applies."
        ),
    )
    mover_min_pct: Decimal = Field(
        Decimal(1),
        ge=0,
        le=100,
        validation_alias=_env("MARGINBOT_MOVER_MIN_PCT"),
        description=(
            "The smallest change in a cost, in percent of the subject's COGS (the customer's, the product's or, in "
            "the digest, the portfolio's), that is called a mover. 1 means 1%."
        ),
    )
    timezone: str = Field(
        "UTC",
        validation_alias=_env("MARGINBOT_TIMEZONE"),
        description=(
            "IANA time zone (e.g. Europe/Paris) in which days, months and the digest's weeks are cut, and the"
            " digest is scheduled. Changing it later needs `marginbot reprice`."
        ),
    )

    # --- Slack ---
    slack_bot_token: SecretStr | None = Field(
        None,
        validation_alias=_env("SLACK_BOT_TOKEN"),
        description=(
            "The Bot User OAuth Token (`xoxb-...`) from the Slack app's OAuth & Permissions page. Required by"
            " `serve`; without it alerts and the digest wait in the outbox."
        ),
    )
    slack_signing_secret: SecretStr | None = Field(
        None,
        validation_alias=_env("SLACK_SIGNING_SECRET"),
        description=(
            "The Signing Secret from the Slack app's Basic Information page; verifies every request in HTTP "
            "mode. Not needed in Socket Mode."
        ),
    )
    slack_app_token: SecretStr | None = Field(
        None,
        validation_alias=_env("SLACK_APP_TOKEN"),
        description=(
            "An app-level token (`xapp-...`) with the connections:write scope. When set, `serve` connects in "
            "Socket Mode (no public URL); unset, it serves HTTP on PORT."
        ),
    )
    slack_api_url: str = Field(
        "https://slack.com/api/",
        validation_alias=_env("SLACK_API_URL"),
        description="Base URL of Slack's Web API; change it only for an enterprise gateway or a test stand-in.",
    )
    port: int = Field(
        3000,
        ge=0,
        le=65535,
        validation_alias=_env("PORT"),
        description=(
            "The port `serve` listens on in HTTP mode, 0 to 65535 (`/slack/events` for Slack, `GET /healthz` and "
            "`GET /readyz` for load balancers). `marginbot serve --port` overrides it."
        ),
    )
    allowed_users: IdList = Field(
        default_factory=list,
        validation_alias=_env("MARGINBOT_ALLOWED_USERS"),
        description=(
            "Comma-separated Slack member IDs (U012AB3CD,U045EF6GH) who may see figures, in any channel and "
            "on the Home tab. With this and MARGINBOT_ALLOWED_CHANNELS both empty nobody sees figures."
        ),
    )
    allowed_channels: IdList = Field(
        default_factory=list,
        validation_alias=_env("MARGINBOT_ALLOWED_CHANNELS"),
        description=(
            "Comma-separated channel IDs (C0123ABCD) where anyone asking `/margin` sees figures. Empty: only "
            "MARGINBOT_ALLOWED_USERS do."
        ),
    )

    # --- alerts, digest, scheduler ---
    alert_channels: IdList = Field(
        default_factory=list,
        validation_alias=_env("MARGINBOT_ALERT_CHANNELS"),
        description=(
            "Comma-separated channel IDs where breach alerts, reminders and recoveries are posted. Empty: "
            "alerts are evaluated but nothing is recorded or posted."
        ),
    )
    alert_window_days: int = Field(
        30,
        ge=1,
        le=366,
        validation_alias=_env("MARGINBOT_ALERT_WINDOW_DAYS"),
        description="The trailing number of complete days (1 to 366) each alerts check evaluates.",
    )
    alert_remind_days: int = Field(
        7,
        ge=1,
        validation_alias=_env("MARGINBOT_ALERT_REMIND_DAYS"),
        description=(
            "Days after which a breach (or cost without revenue) that persists is posted again as a reminder."
        ),
    )
    alert_every_minutes: int = Field(
        60,
        ge=1,
        validation_alias=_env("MARGINBOT_ALERT_EVERY_MINUTES"),
        description="How often, in minutes, `serve` checks alerts (`marginbot alerts check` by hand).",
    )
    digest_channels: IdList = Field(
        default_factory=list,
        validation_alias=_env("MARGINBOT_DIGEST_CHANNELS"),
        description="Comma-separated channel IDs that get the weekly digest. Empty: no digest is sent.",
    )
    digest_cron: str = Field(
        "mon 09:00",
        validation_alias=_env("MARGINBOT_DIGEST_CRON"),
        description=(
            "When the weekly digest goes out, in MARGINBOT_TIMEZONE: `mon 09:00`, `mon-fri 08:30`, `09:00` "
            "(every day) or a five-field crontab line like `0 9 * * mon` or `0 9 * * 1` (days numbered as crontab "
            "numbers them: 0 and 7 are Sunday). A range of days runs forward, as crontab's must: Sunday starts one "
            "as 0 or `sun` and ends one as 7 or `sun` (`sun-sat`, `mon-sun`, `5-7`), `0-7` is every day and "
            "`sun-sun` or `7-7` Sunday alone; a range that runs backward (`7-6`, `5-0`, `fri-mon`) or from Sunday "
            "to Sunday written two ways (`sun-7`, `7-sun`) is refused, saying what to write. It is sent once per "
            "ISO week per channel however often this fires."
        ),
    )
    sync_every_minutes: int = Field(
        60,
        ge=1,
        validation_alias=_env("MARGINBOT_SYNC_EVERY_MINUTES"),
        description="How often, in minutes, `serve` syncs every configured source (`marginbot sync all` by hand).",
    )

    # --- connectors ---
    openai_admin_key: SecretStr | None = Field(
        None,
        validation_alias=_env("OPENAI_ADMIN_KEY"),
        description=(
            "An OpenAI organization admin key; enables `marginbot sync openai` (Usage and Costs APIs). Unset:"
            " the source is skipped."
        ),
    )
    openai_base_url: str = Field(
        "https://api.openai.com",
        validation_alias=_env("MARGINBOT_OPENAI_BASE_URL"),
        description="Base URL of the OpenAI API (a proxy or a test stand-in).",
    )
    anthropic_admin_key: SecretStr | None = Field(
        None,
        validation_alias=_env("ANTHROPIC_ADMIN_KEY"),
        description=(
            "An Anthropic Admin API key (`sk-ant-admin...`); enables `marginbot sync anthropic` (usage and "
            "cost reports). Unset: the source is skipped."
        ),
    )
    anthropic_base_url: str = Field(
        "https://api.anthropic.com",
        validation_alias=_env("MARGINBOT_ANTHROPIC_BASE_URL"),
        description="Base URL of the Anthropic API (a proxy or a test stand-in).",
    )
    litellm_url: str | None = Field(
        None,
        validation_alias=_env("LITELLM_URL"),
        description=(
            "Base URL of your LiteLLM proxy; with LITELLM_API_KEY it enables `marginbot sync litellm` (spend "
            "logs). Unset: the source is skipped."
        ),
    )
    litellm_api_key: SecretStr | None = Field(
        None,
        validation_alias=_env("LITELLM_API_KEY"),
        description="A LiteLLM master or admin key, needed with LITELLM_URL.",
    )
    langfuse_base_url: str = Field(
        "https://cloud.langfuse.com",
        validation_alias=_env("MARGINBOT_LANGFUSE_BASE_URL"),
        description=(
            "Base URL of Langfuse: the default is Langfuse Cloud (EU); set your region's or your self-hosted URL."
        ),
    )
    langfuse_public_key: str | None = Field(
        None,
        validation_alias=_env("LANGFUSE_PUBLIC_KEY"),
        description=(
            "Langfuse public key (`pk-lf-...`); with LANGFUSE_SECRET_KEY it enables `marginbot sync "
            "langfuse`. Unset: the source is skipped."
        ),
    )
    langfuse_secret_key: SecretStr | None = Field(
        None,
        validation_alias=_env("LANGFUSE_SECRET_KEY"),
        description="Langfuse secret key (`sk-lf-...`), needed with LANGFUSE_PUBLIC_KEY.",
    )
    stripe_api_key: SecretStr | None = Field(
        None,
        validation_alias=_env("STRIPE_API_KEY"),
        description=(
            "A Stripe secret or restricted key with read access; enables `marginbot sync stripe` (invoices "
            "and subscriptions become billed revenue and seat counts). Unset: the source is skipped."
        ),
    )
    stripe_base_url: str = Field(
        "https://api.stripe.com",
        validation_alias=_env("MARGINBOT_STRIPE_BASE_URL"),
        description="Base URL of the Stripe API (a test stand-in).",
    )
    mapping_file: Path = Field(
        Path("config/mapping.toml"),
        validation_alias=_env("MARGINBOT_MAPPING_FILE"),
        description=(
            "The mapping file (TOML) that says which marginbot customer, product and feature each source "
            "identity is (see config/mapping.example.toml). A relative path is read from the working "
            "directory; a missing file maps nothing, so synced usage lands under the customer `unmapped`."
        ),
    )
    otlp_customer_attribute: str = Field(
        "enduser.id",
        validation_alias=_env("MARGINBOT_OTLP_CUSTOMER_ATTRIBUTE"),
        description="The span (or resource) attribute whose value is the customer in `marginbot import otlp`.",
    )
    # OpenAI/Anthropic usage buckets: None = 1d when MARGINBOT_TIMEZONE is UTC, else 1h (local midnights)
    sync_bucket_width: Literal["1d", "1h"] | None = Field(
        None,
        validation_alias=_env("MARGINBOT_SYNC_BUCKET_WIDTH"),
        description=(
            "Width of the OpenAI and Anthropic usage buckets a sync reads: `1d` or `1h`. Unset: `1d` when "
            "MARGINBOT_TIMEZONE is UTC, else `1h` so each hour lands on its local day. Re-reading an already "
            "synced range at the other width is refused."
        ),
    )

    sync_cost_revisit_days: int = Field(
        3,
        ge=0,
        le=31,
        validation_alias=_env("MARGINBOT_SYNC_COST_REVISIT_DAYS"),
        description=(
            "How many of the last complete UTC days of OpenAI and Anthropic costs (Costs API, cost report) each sync "
            "reads again, replacing what it stored for them: vendors revise a day's cost for a while after it ends. "
            "0 reads a day's costs only with its usage."
        ),
    )

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
        if scheme.lower() == "sqlite" and "?" in rest:
            # SQLAlchemy drops what it does not know with a warning, `mode=ro` among them: the file was then
            # created, migrated and written to by someone who asked for read-only access.
            options = rest.partition("?")[2]
            raise ValueError(
                f"takes no options for a SQLite file (got ?{options}): marginbot writes to its database (it migrates "
                "it on first use); to read without changing a file, point DATABASE_URL at a copy of it"
            )
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
            value = "postgresql+psycopg://" + rest
            _readable_url(value)
        return value

    @field_validator("catalogue_file")
    @classmethod
    def _catalogue_file_not_a_directory(cls, value: Path | None) -> Path | None:
        # A directory would be passed over for the bundled data without a word, and `prices update` could not write it.
        if value is not None and value.is_dir():
            raise ValueError(f"{value} is a directory: name the JSON file in it, e.g. {value / 'catalogue.json'}")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"MARGINBOT_TIMEZONE={value!r} is not an IANA time zone (e.g. Europe/Paris)") from exc
        return value

    @field_validator(
        "slack_bot_token",
        "slack_signing_secret",
        "slack_app_token",
        "openai_admin_key",
        "anthropic_admin_key",
        "litellm_api_key",
        "langfuse_public_key",
        "langfuse_secret_key",
        "stripe_api_key",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # `SLACK_SIGNING_SECRET=` left blank in a .env or a unit file means "not set": taken as a value, it started
        # HTTP mode with an empty signing key, sent an empty token to auth.test, and a blank app token chose Socket
        # Mode. A blank connector key likewise ran its sync with no key, for a vendor's 401, where the source is
        # skipped as unset.
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, SecretStr) and not value.get_secret_value().strip():
            return None
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

    @field_validator("prices_file")
    @classmethod
    def _prices_file_exists(cls, value: Path) -> Path:
        # Runs only for a file that was set (the default is not validated): a mistyped path would otherwise price
        # everything at catalogue prices, silently dropping every override, discount and unit cost.
        if not value.is_file():
            raise ValueError(f"{value} is not a file: fix the path, or unset it to use {DEFAULT_PRICES_FILE}")
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def catalogue_path(self) -> Path:
        """Where the catalogue data lives (it may not exist yet): MARGINBOT_CATALOGUE_FILE, else catalogue.json beside
        the price file. Here rather than in engine/pricing, so a report can fingerprint the prices without importing
        the price file's parser, let alone genai-prices."""
        return self.catalogue_file if self.catalogue_file is not None else self.prices_file.with_name("catalogue.json")


def _readable_url(url: str) -> None:
    """Refuse a URL SQLAlchemy cannot read (it raises ValueError from int() on the first query, with a traceback) or
    whose port no server can have, naming the host and port as written: never the user or password before them."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    authority = url.partition("://")[2].split("/", 1)[0]
    # After an "@" comes the host and port; with none, "bob:secret" may be a user and password that lost their host.
    where = f" {authority.rpartition('@')[2]!r}" if "@" in authority else ""
    fix = "write HOST:PORT with a port from 1 to 65535, e.g. db.internal:5432 (an IPv6 address in brackets: [::1]:5432)"
    try:
        port = make_url(url).port
    except (ArgumentError, ValueError):
        raise ValueError(f"cannot read the host and port{where}: {fix}") from None
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"the port{' in' + where if where else ''} is out of range: {fix}")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once. Tests build their own `Settings(...)` instead."""
    return Settings()
