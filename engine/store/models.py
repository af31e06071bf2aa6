"""Tables. Money in the event path is integer nano-USD (exact sums); contract terms are Decimal.

Why nano-USD: token prices are quoted per million tokens with up to ~4 decimals, so one event's cost is a
fraction of a micro-dollar. Each event's cost components are computed exactly and rounded once to the nano-dollar
(half up, in engine.pricing.book); 10M events can drift at most $0.005 in total, and every sum after that is exact
integer arithmetic.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlmodel import Field, SQLModel

from engine.money import NANO
from engine.store.bounds import MONEY_DIGITS, MONEY_PLACES, PCT_DIGITS, PCT_PLACES

# The cost types and columns live in engine.store.columns: reports need their names without loading these tables.
from engine.store.columns import COST_COLUMNS, COST_TYPES

# Usage counters kept in both rollups.
COUNT_COLUMNS = (
    "events",
    "requests",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "retrieval_queries",
    "rerank_calls",
    "compute_ms",
    "cache_hits",
    "unpriced_events",
    "cache_write_1h_tokens",
    "web_searches",
)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always tz-aware UTC in Python, whatever the database keeps (SQLite keeps text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _money() -> Any:
    return Column(Numeric(MONEY_DIGITS, MONEY_PLACES), nullable=False, default=Decimal(0))


def _pct() -> Any:
    """A percentage 0–100 with two decimals, or NULL (not set)."""
    return Column(Numeric(PCT_DIGITS, PCT_PLACES), nullable=True)


def _big(**kw: Any) -> Any:
    return Field(default=0, sa_type=BigInteger, **kw)


def _added_big() -> Any:
    """A counter added after the first schema: its server default fills the rows stored before it existed."""
    return Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": "0"})


def _ts(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


class Customer(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=200)
    name: str = Field(default="", max_length=300)
    aliases: str = Field(default="", max_length=2000)  # ';'-separated


class Contract(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("customer", "product", "start", name="uq_contract_customer_product_start"),)

    id: int | None = Field(default=None, primary_key=True)
    customer: str = Field(index=True, max_length=200)
    product: str = Field(default="", max_length=200)  # '' = every product
    plan: str = Field(max_length=10)  # an engine.vocab.Plan
    start: date
    end: date | None = None  # inclusive; None = open
    seats: int = 0
    seat_price_usd: Decimal = Field(default=Decimal(0), sa_column=_money())
    platform_fee_usd: Decimal = Field(default=Decimal(0), sa_column=_money())
    included_units: Decimal = Field(default=Decimal(0), sa_column=_money())
    unit: str = Field(default="", max_length=10)  # an engine.vocab.Unit, or '' (none; metered plans need one)
    unit_price_usd: Decimal = Field(default=Decimal(0), sa_column=_money())
    # The customer's own terms, kept on each of its contracts (the importer keeps them equal across them; see
    # engine.reports.accounts): Slack member IDs to mention, ';'-separated, and margin bands overriding the
    # global MARGINBOT_BREACH_PCT / MARGINBOT_HEALTHY_PCT (None = the global one).
    owner: str = Field(default="", max_length=500, sa_column_kwargs={"server_default": ""})
    breach_pct: Decimal | None = Field(default=None, sa_column=_pct())
    healthy_pct: Decimal | None = Field(default=None, sa_column=_pct())


class UsageEvent(SQLModel, table=True):
    __tablename__ = "usage_event"

    # Compared bytewise on PostgreSQL (collation "C", migration 0006): the primary key is probed for every event
    # stored, and a byte comparison costs a fraction of a locale's. Only equality is asked of it.
    event_id: str = Field(
        primary_key=True,
        max_length=200,
        sa_type=String(200).with_variant(String(200, collation="C"), "postgresql"),
    )
    ts: datetime = _ts()
    day: date  # calendar day in MARGINBOT_TIMEZONE (the one recorded in meta)
    customer: str = Field(max_length=200)
    product: str = Field(default="", max_length=200)
    feature: str = Field(default="", max_length=200)
    provider: str = Field(default="", max_length=100)
    model: str = Field(default="", max_length=200)
    input_tokens: int = _big()
    cached_input_tokens: int = _big()
    cache_write_tokens: int = _big()
    output_tokens: int = _big()
    requests: int = _big()
    retrieval_queries: int = _big()
    rerank_calls: int = _big()
    compute_ms: int = _big()
    source_cost_nano: int | None = Field(default=None, sa_type=BigInteger)
    task_id: str | None = Field(default=None, max_length=200)
    cache_hit: bool = False
    prompt_hash: str | None = Field(default=None, max_length=128)
    priced: bool = True  # False: tokens with no price anywhere (counted, shown, never silently $0)
    cost_uncached_input: int = _big()
    cost_cached_input: int = _big()
    cost_cache_write: int = _big()
    cost_output: int = _big()
    cost_request_fee: int = _big()
    cost_source: int = _big()
    cost_retrieval: int = _big()
    cost_rerank: int = _big()
    cost_compute: int = _big()
    source: str = Field(default="", max_length=100)
    cache_write_1h_tokens: int = _added_big()  # the part of cache_write_tokens written with a 1-hour TTL
    web_searches: int = _added_big()
    service_tier: str = Field(  # an engine.vocab.ServiceTier
        default="standard", max_length=20, sa_column_kwargs={"server_default": "standard"}
    )
    cost_cache_write_1h: int = _added_big()
    cost_web_search: int = _added_big()


class _RollupMeasures(SQLModel):
    """What each daily rollup keeps per row: the COUNT_COLUMNS, then one nano-USD sum per cost type (COST_COLUMNS)."""

    events: int = _big()
    requests: int = _big()
    input_tokens: int = _big()
    cached_input_tokens: int = _big()
    cache_write_tokens: int = _big()
    output_tokens: int = _big()
    retrieval_queries: int = _big()
    rerank_calls: int = _big()
    compute_ms: int = _big()
    cache_hits: int = _big()
    unpriced_events: int = _big()
    cost_uncached_input: int = _big()
    cost_cached_input: int = _big()
    cost_cache_write: int = _big()
    cost_output: int = _big()
    cost_request_fee: int = _big()
    cost_source: int = _big()
    cost_retrieval: int = _big()
    cost_rerank: int = _big()
    cost_compute: int = _big()
    cache_write_1h_tokens: int = _added_big()
    web_searches: int = _added_big()
    cost_cache_write_1h: int = _added_big()
    cost_web_search: int = _added_big()


class DailyRollup(_RollupMeasures, table=True):
    """One row per day × customer × product × feature × model × service tier: what one customer's answer reads.
    (The tier is kept so a what-if re-prices batch usage at the batch prices of the model it routes to.)"""

    __tablename__ = "daily_rollup"
    __table_args__ = (
        Index("ix_daily_rollup_customer_day", "customer", "day"),
        # Few rows have unpriced usage; this lets "which models are unpriced" skip the rest.
        Index(
            "ix_daily_rollup_unpriced",
            "day",
            sqlite_where=text("unpriced_events > 0"),
            postgresql_where=text("unpriced_events > 0"),
        ),
    )

    day: date = Field(primary_key=True)
    customer: str = Field(primary_key=True, max_length=200)
    product: str = Field(primary_key=True, max_length=200)
    feature: str = Field(primary_key=True, max_length=200)
    provider: str = Field(primary_key=True, max_length=100)
    model: str = Field(primary_key=True, max_length=200)
    service_tier: str = Field(
        default="standard", primary_key=True, max_length=20, sa_column_kwargs={"server_default": "standard"}
    )


class DailyCustomerProduct(_RollupMeasures, table=True):
    """One row per day × customer × product: what the portfolio, revenue and alerts read."""

    __tablename__ = "daily_customer_product"
    # Keyed by day first, and clustered so on SQLite (no rowid): the portfolio, the alerts and the digest read
    # every customer over a window of days, which is then one contiguous range whatever the history stored (keyed
    # by customer first, each of them read every day ever stored). One customer's days come through the index.
    __table_args__ = (
        Index("ix_daily_customer_product_customer", "customer", "day", "product"),
        {"sqlite_with_rowid": False},
    )

    day: date = Field(primary_key=True)
    customer: str = Field(primary_key=True, max_length=200)
    product: str = Field(primary_key=True, max_length=200)


class WeeklyCustomerProduct(SQLModel, table=True):
    """daily_customer_product summed by week (Monday to Sunday), only what the portfolio reads: a 30-day window is
    four or five weeks and a few days at its ends, a fifth of the rows its days are.

    Kept by the database itself: triggers on daily_customer_product (migration 0005; on PostgreSQL one upsert per
    statement since 0006) add every change of a daily row to its week, whoever writes it (an import's fold, a
    reprice's rebuild), in the same transaction. (A columnar import on SQLite drops them for its transaction and
    folds the weekly rows it adds itself: engine.ingest.writer.EventWriter._weekly_off.)
    """

    __tablename__ = "weekly_customer_product"
    __table_args__ = ({"sqlite_with_rowid": False},)

    week: date = Field(primary_key=True)  # its Monday
    customer: str = Field(primary_key=True, max_length=200)
    product: str = Field(primary_key=True, max_length=200)
    events: int = _big()
    unpriced_events: int = _big()
    requests: int = _big()
    tokens: int = _big()  # input + output tokens
    cost_nano: int = _big()  # every cost column together


class TaskRollup(SQLModel, table=True):
    """One row per agent task: its total cost and the day it started (tasks are billed once)."""

    __tablename__ = "task_rollup"
    __table_args__ = (
        # Tasks counted per product and ranked by cost over a window read this index alone (it carries the cost):
        # the work follows the window's tasks, not every task the customer ever had.
        Index("ix_task_rollup_customer_day", "customer", "day", "product", "cost_nano"),
    )

    customer: str = Field(primary_key=True, max_length=200)
    product: str = Field(primary_key=True, max_length=200)
    task_id: str = Field(primary_key=True, max_length=200)
    day: date
    events: int = _big()
    cost_nano: int = _big()


class RevenueActual(SQLModel, table=True):
    """Billed revenue (e.g. Stripe invoice lines). Where present it replaces modelled contract revenue."""

    __tablename__ = "revenue_actual"
    __table_args__ = (Index("ix_revenue_actual_customer", "customer", "period_start"),)

    id: str = Field(primary_key=True, max_length=200)  # source-stable line id
    source: str = Field(default="stripe", max_length=50)
    customer: str = Field(max_length=200)
    product: str = Field(default="", max_length=200)
    period_start: date
    period_end: date  # inclusive
    amount_usd: Decimal = Field(default=Decimal(0), sa_column=_money())
    currency: str = Field(default="usd", max_length=10)
    invoice_id: str = Field(default="", max_length=200)
    # A one-off charge (a Stripe invoice item, its period starting where it ends): added to its day's revenue, where
    # a service period's line replaces the contract's (engine.reports.revenue.uncovered_runs).
    one_off: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    # On an invoice marked uncollectible in Stripe: revenue as earned all the same (a write-off is a bad-debt expense,
    # not a reversal of revenue), which the answers over its days say (engine.reports.invoicing.written_off).
    uncollectible: bool = Field(default=False, sa_column_kwargs={"server_default": false()})


class RevenueUnconverted(SQLModel, table=True):
    """Billed lines in a currency marginbot does not read (a Stripe invoice in EUR), kept in their own currency so
    the answers over their days can say they were left out of revenue (engine.reports.invoicing.unconverted)."""

    __tablename__ = "revenue_unconverted"
    __table_args__ = (Index("ix_revenue_unconverted_customer", "customer", "period_start"),)

    id: str = Field(primary_key=True, max_length=200)  # the line's id, as revenue_actual's
    source: str = Field(default="stripe", max_length=50)
    customer: str = Field(max_length=200)
    product: str = Field(default="", max_length=200)
    period_start: date
    period_end: date  # inclusive
    currency: str = Field(max_length=10)  # lower case, as Stripe sends it
    amount_minor: int = Field(default=0, sa_type=BigInteger)  # in the currency's smallest unit (cents; yen)
    invoice_id: str = Field(default="", max_length=200)


class ProviderCost(SQLModel, table=True):
    """What a provider billed (OpenAI Costs API, Anthropic cost report), to reconcile priced usage against."""

    __tablename__ = "provider_cost"
    __table_args__ = (Index("ix_provider_cost_provider_day", "provider", "day"),)

    id: str = Field(primary_key=True, max_length=300)  # source-stable: bucket start + grouping keys
    source: str = Field(max_length=50)  # openai | anthropic
    provider: str = Field(max_length=100)
    day: date  # UTC day of the bucket
    project: str = Field(default="", max_length=200)  # OpenAI project / Anthropic workspace
    line_item: str = Field(default="", max_length=300)  # model or cost line as the provider names it
    amount_usd: Decimal = Field(default=Decimal(0), sa_column=Column(Numeric(24, 9), nullable=False))


class ImportRun(SQLModel, table=True):
    __tablename__ = "import_run"

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=100)
    name: str = Field(default="", max_length=1000)
    started_at: datetime = _ts()
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    rows_read: int = 0
    rows_imported: int = 0
    rows_duplicate: int = 0
    rows_rejected: int = 0
    status: str = Field(default="running", max_length=20)


class Meta(SQLModel, table=True):
    key: str = Field(primary_key=True, max_length=100)
    value: str = Field(default="", sa_type=Text)


class SyncCursor(SQLModel, table=True):
    __tablename__ = "sync_cursor"

    source: str = Field(primary_key=True, max_length=100)
    cursor: str = Field(default="", sa_type=Text)  # JSON, the source's own resume point
    updated_at: datetime = _ts()


class AlertState(SQLModel, table=True):
    """Where each customer or product stands for alerting, so a restart neither repeats nor forgets."""

    __tablename__ = "alert_state"

    subject_kind: str = Field(primary_key=True, max_length=20)  # customer | product
    subject: str = Field(primary_key=True, max_length=200)
    status: str = Field(default="ok", max_length=20)  # ok | breach | watch | no_revenue | unpriced
    since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_posted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_margin_pct: Decimal | None = Field(default=None, sa_column=Column(Numeric(9, 4), nullable=True))
    detail: str = Field(default="", sa_type=Text)  # JSON
    # Who acknowledged the current episode (a Slack member ID) and when: its reminders stop until it ends.
    acked_by: str = Field(default="", max_length=50)
    acked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Reminders are held until this moment (the Snooze button), by this member.
    snoozed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    snoozed_by: str = Field(default="", max_length=50)


class AlertThread(SQLModel, table=True):
    """One subject announced in one alert message (its thread's root in that channel).

    While `closed_at` is empty the episode is open there: its reminders, recoveries and escalations reply under
    the root, and Acknowledge, Snooze and the recovery re-render the root. The root's ts is the outbox row's
    `slack_ts` (`root_key` is that row's dedupe key); a root whose row failed means "not announced there yet".
    """

    __tablename__ = "alert_thread"
    __table_args__ = (Index("ix_alert_thread_subject", "subject_kind", "subject", "channel"),)

    root_key: str = Field(primary_key=True, max_length=300)
    subject_kind: str = Field(primary_key=True, max_length=20)
    subject: str = Field(primary_key=True, max_length=200)
    channel: str = Field(max_length=100)
    opened_at: datetime = _ts()
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # recovered | quiet | moved | cleared | undelivered; empty while open
    outcome: str = Field(default="", max_length=20)


class Outbox(SQLModel, table=True):
    """Messages to Slack, written in the same transaction as the decision to send them."""

    __table_args__ = (
        UniqueConstraint("dedupe_key", name="uq_outbox_dedupe_key"),
        Index("ix_outbox_channel_slack_ts", "channel", "slack_ts"),
    )

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=300)
    channel: str = Field(max_length=100)
    kind: str = Field(max_length=30)  # alert | digest | ...
    payload: str = Field(sa_type=Text)  # JSON: text, blocks, files
    status: str = Field(default="pending", max_length=20, index=True)  # pending | sent | failed
    attempts: int = 0
    next_attempt_at: datetime = _ts()
    created_at: datetime = _ts()
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str = Field(default="", sa_type=Text)
    slack_ts: str = Field(default="", max_length=50)
    reply_to: str = Field(default="", max_length=300)  # dedupe key of the message whose thread this replies in
    claim: str = Field(default="", max_length=40)  # the token of the claim sending it; only that claim marks it


class Lease(SQLModel, table=True):
    """A named lease: the one process holding it runs the scheduler."""

    name: str = Field(primary_key=True, max_length=100)
    holder: str = Field(max_length=200)
    expires_at: datetime = _ts()


__all__ = [
    "COST_COLUMNS",
    "COST_TYPES",
    "COUNT_COLUMNS",
    "NANO",
    "AlertState",
    "AlertThread",
    "Contract",
    "Customer",
    "DailyCustomerProduct",
    "DailyRollup",
    "ImportRun",
    "Lease",
    "Meta",
    "Outbox",
    "ProviderCost",
    "RevenueActual",
    "SyncCursor",
    "TaskRollup",
    "UsageEvent",
    "WeeklyCustomerProduct",
]
