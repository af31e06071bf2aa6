"""The scheduler beside the Bolt app: alerts, digest, outbox and sync jobs, persisted in the database.

- Jobs live in APScheduler's SQLAlchemyJobStore (table `apscheduler_jobs`, created by APScheduler in the
  same database), so a restart keeps each job's next run time. Every job coalesces: after downtime a job that
  missed several runs runs once. Alerts, outbox and sync tolerate a delay of one interval; the digest has no
  grace limit, so a digest missed while everything was down is sent late rather than skipped (still once a
  week).
- Several processes may run this (replicas behind a load balancer): only the holder of the `scheduler` lease
  (engine.store.lease) looks at the job store at all; the others just keep trying to take the lease, and one of them
  does when the holder stops renewing it.
- Jobs are module-level functions without arguments (APScheduler stores them as textual references, so they must
  be picklable); each worker thread is bound to this process's JobContext (runtime, Slack client, lease) when it
  starts.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from apscheduler.util import obj_to_ref
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from bot.jobs import JobContext, bind, current
from bot.jobs.alerts import alerts_job
from bot.jobs.delivery import deliver_job, invite_fix
from bot.jobs.digest import digest_job
from config.settings import Settings
from engine.ingest.sync import sync_all
from engine.runtime import Runtime
from engine.store.lease import DEFAULT_TTL, Lease

log = logging.getLogger(__name__)

JOB_TABLE = "apscheduler_jobs"
ALERTS, DIGEST, OUTBOX, SYNC = "marginbot.alerts", "marginbot.digest", "marginbot.outbox", "marginbot.sync"
OUTBOX_EVERY = timedelta(minutes=1)
RENEW_EVERY = 15.0  # seconds between lease renewals; well under DEFAULT_TTL (60 s)
_CRON = re.compile(r"^(?:(?P<dow>[a-z*][a-z0-9,\-*/]*)\s+)?(?P<hour>\d{1,2}):(?P<minute>\d{2})$")


class ConfigError(ValueError):
    """A scheduler setting that cannot be read; the message names the setting and the accepted forms."""


# Crontab's days of the week: 0 and 7 are Sunday. APScheduler 3 counts 0 as Monday (its own documented mismatch), so
# the day field is handed to it as names: `0 9 * * 1` fired on Tuesdays, `1-5` from Tuesday to Saturday.
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DAY_NAMES = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")


def _day_number(word: str) -> int:
    if word.isdigit() and int(word) <= 7:
        return int(word) % 7
    if word[:3] in _DAYS and word in (word[:3], _DAY_NAMES[_DAYS.index(word[:3])]):
        return _DAYS.index(word[:3])
    raise ValueError(f"{word!r} is no day of the week (0-7, 0 and 7 are Sunday, or sun to sat)")


def _day_range(a: str, b: str, item: str) -> tuple[int, int]:
    """A range of days `a-b` as (first, last), Sunday 0 at its start and 7 at its end; refused, with its fix, when it
    runs backward or when both ends are Sunday written two ways (see MARGINBOT_DIGEST_CRON's description).

    Numbers are crontab's, which refuses a range that descends: 7-6 read as every day (7 taken as 0) and 5-0 as
    Friday to Sunday. A name for Sunday starts a range as 0 and ends it as 7 (mon-sun, sun-sat). Sunday at both ends
    was the whole week as sun-7 and Sunday alone as 7-sun: only 0-7 (crontab's whole week) and Sunday written alike
    at both ends (sun-sun, 7-7, 0-0: Sunday alone) are read; a mix of a number and Sunday is refused."""
    first, last = _day_number(a), _day_number(b)
    where = f"day of the week {item!r}"
    if first == last == 0:
        if a == b or not (a.isdigit() or b.isdigit()):
            return 0, 0
        if (a, b) == ("0", "7"):
            return 0, 7
        raise ValueError(f"{where} runs from Sunday to Sunday: write 0-7 (or *) for every day, or sun for Sunday alone")
    if a == "7":
        raise ValueError(f"{where} runs backward, 7 being Sunday at the week's end: start it on Sunday as 0 (0-{b})")
    if last == 0:
        if b == "0":
            raise ValueError(
                f"{where} runs backward, 0 being Sunday at the week's start: end it on Sunday as 7 ({a}-7)"
            )
        last = 7  # a name: sun ends the week
    if first > last:
        raise ValueError(f"{where} runs backward: a range of days runs forward (e.g. 1-5, mon-fri)")
    return first, last


def crontab_days(field: str) -> str:
    """A crontab day-of-week field (`1`, `1-5`, `mon,wed`, `*/2`, `0`, `7`) as the day names APScheduler reads alike:
    `*` stays every day."""
    if field == "*":
        return field
    days: set[int] = set()
    for item in field.split(","):
        spread, _, step_text = item.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise ValueError(f"{item!r}: a step is a whole number from 1")
        if spread == "*":
            first, last = 0, 6
        elif "-" in spread:
            a, _, b = spread.partition("-")
            first, last = _day_range(a, b, item)
        else:
            first = last = _day_number(spread)
            if step is not None:
                last = 6
        days.update(d % 7 for d in range(first, last + 1, step or 1))
    return ",".join(_DAYS[d] for d in sorted(days))


def digest_trigger(text: str, tz: ZoneInfo) -> CronTrigger:
    """MARGINBOT_DIGEST_CRON: `mon 09:00`, `mon-fri 08:30`, `09:00` (every day) or a 5-field crontab, whose days of
    the week are crontab's (0 and 7 Sunday)."""
    value = " ".join(text.strip().lower().split())
    try:
        if len(value.split()) == 5:
            minute, hour, day, month, dow = value.split()
            return CronTrigger(
                minute=minute, hour=hour, day=day, month=month, day_of_week=crontab_days(dow), timezone=tz
            )
        m = _CRON.match(value)
        if m is None:
            raise ValueError("unrecognised form")
        return CronTrigger(
            day_of_week=crontab_days(m.group("dow") or "*"),
            hour=int(m.group("hour")),
            minute=int(m.group("minute")),
            timezone=tz,
        )
    except ValueError as exc:
        raise ConfigError(
            f"MARGINBOT_DIGEST_CRON={text!r} is not a schedule ({exc}); use e.g. 'mon 09:00', "
            "'mon-fri 08:30' or a crontab line '0 9 * * mon'"
        ) from None


def job_specs(settings: Settings) -> list[dict[str, Any]]:
    """What should be scheduled. `run_at_start`: a job new to the store runs right away the first time."""
    tz = settings.tz
    alert_every = timedelta(minutes=settings.alert_every_minutes)
    sync_every = timedelta(minutes=settings.sync_every_minutes)
    return [
        {
            "id": ALERTS,
            "func": alerts_job,
            "trigger": IntervalTrigger(seconds=int(alert_every.total_seconds()), timezone=tz),
            "grace": int(alert_every.total_seconds()),
            "run_at_start": True,
        },
        {
            "id": DIGEST,
            "func": digest_job,
            "trigger": digest_trigger(settings.digest_cron, tz),
            "grace": None,
            "run_at_start": False,
        },
        {
            "id": OUTBOX,
            "func": deliver_job,
            "trigger": IntervalTrigger(seconds=int(OUTBOX_EVERY.total_seconds()), timezone=tz),
            "grace": int(OUTBOX_EVERY.total_seconds()),
            "run_at_start": True,
        },
        {
            "id": SYNC,
            "func": sync_job,
            "trigger": IntervalTrigger(seconds=int(sync_every.total_seconds()), timezone=tz),
            "grace": int(sync_every.total_seconds()),
            "run_at_start": True,
        },
    ]


def _trigger_key(trigger: BaseTrigger) -> tuple[Any, ...]:
    # An IntervalTrigger's repr carries its start date (new every time); compare what defines it instead.
    if isinstance(trigger, IntervalTrigger):
        return ("interval", trigger.interval_length, str(trigger.timezone))
    return (type(trigger).__name__, repr(trigger))


def ensure_jobs(scheduler: BackgroundScheduler, settings: Settings) -> None:
    """Add the jobs that are missing and update changed ones, keeping each job's pending run time.

    `add_job(replace_existing=True)` alone would reset next_run_time to the next future fire time on every
    start, silently dropping a run missed while the service was down; so an unchanged job is left alone.
    """
    for spec in job_specs(settings):
        existing = scheduler.get_job(spec["id"])
        if (
            existing is not None
            and existing.func_ref == obj_to_ref(spec["func"])
            and _trigger_key(existing.trigger) == _trigger_key(spec["trigger"])
            and existing.misfire_grace_time == spec["grace"]
        ):
            continue
        options: dict[str, Any] = {}
        if existing is not None and existing.next_run_time is not None:
            options["next_run_time"] = existing.next_run_time
        elif spec["run_at_start"]:
            options["next_run_time"] = datetime.now(settings.tz)
        scheduler.add_job(
            spec["func"],
            spec["trigger"],
            id=spec["id"],
            name=spec["id"],
            misfire_grace_time=spec["grace"],
            coalesce=True,
            max_instances=1,
            replace_existing=True,
            **options,
        )
        log.info("scheduled %s: %s", spec["id"], spec["trigger"])


class _SharedEngineJobStore(SQLAlchemyJobStore):
    """The job store on the runtime's engine: it must not dispose of an engine it does not own."""

    def start(self, scheduler: Any, alias: str) -> None:
        try:
            super().start(scheduler, alias)
        except (IntegrityError, ProgrammingError, OperationalError):
            # Another process created the table at the same moment; what matters is that it exists.
            if not inspect(self.engine).has_table(JOB_TABLE):
                raise

    def shutdown(self) -> None:
        pass


class LeasedScheduler(BackgroundScheduler):
    """A BackgroundScheduler that processes jobs only while it holds the database lease."""

    def __init__(self, lease: Lease, *, renew_every: float = RENEW_EVERY, **options: Any) -> None:
        self.lease = lease
        self.renew_every = renew_every
        self.holding = False
        super().__init__(**options)

    def _process_jobs(self) -> float | None:
        # APScheduler's main loop calls this whenever it wakes; it returns how long to sleep. Taking or
        # renewing the lease first means a process that lost it stops before touching any job.
        if self.state == STATE_STOPPED:
            return None  # woken by shutdown(): the executors are gone, there is nothing left to run
        try:
            holding = self.lease.acquire()
        except Exception:
            log.exception("could not take or renew the scheduler lease")
            holding = False
        if holding != self.holding:
            self.holding = holding
            if holding:
                log.info("this process (%s) now runs the scheduled jobs", self.lease.holder)
            else:
                log.warning("this process (%s) no longer holds the scheduler lease", self.lease.holder)
        if not holding:
            return self.renew_every
        wait: float | None = super()._process_jobs()
        return self.renew_every if wait is None else min(wait, self.renew_every)

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)
        if self.holding:
            self.holding = False
            try:
                self.lease.release()
            except Exception:
                log.exception("could not release the scheduler lease; another process takes over when it expires")


def check_channels(client: Any, settings: Settings) -> list[str]:
    """Which alert and digest channels the bot cannot post in, each with the fix; also logged."""
    problems: list[str] = []
    wanted: dict[str, list[str]] = {}
    for setting, channels in (
        ("MARGINBOT_ALERT_CHANNELS", settings.alert_channels),
        ("MARGINBOT_DIGEST_CHANNELS", settings.digest_channels),
    ):
        if not channels:
            log.info("%s is empty: nothing will be posted for it", setting)
        for channel in channels:
            wanted.setdefault(channel, []).append(setting)
    for channel, settings_ in wanted.items():
        where = " and ".join(settings_)
        try:
            info = client.conversations_info(channel=channel)
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else "error"
            if error == "channel_not_found":
                problems.append(
                    f"channel {channel} ({where}) not found: check the ID, or if it is private, " + invite_fix(channel)
                )
            else:
                problems.append(f"cannot check channel {channel} ({where}): Slack says {error}")
            continue
        except (SlackClientError, OSError) as exc:
            problems.append(f"cannot check channel {channel} ({where}): {type(exc).__name__}")
            continue
        ch = info.get("channel") or {}
        if ch.get("is_archived"):
            problems.append(f"channel #{ch.get('name', channel)} ({where}) is archived: pick another channel")
        elif ch.get("is_member") is False:
            problems.append(
                f"not a member of #{ch.get('name', channel)} ({where}): {invite_fix(channel, ch.get('name'))}"
            )
    for problem in problems:
        log.warning("cannot reach a channel: %s", problem)
    return problems


def sync_job() -> None:
    """Scheduled every MARGINBOT_SYNC_EVERY_MINUTES: pull usage, costs and revenue from configured sources."""
    ctx = current()
    if ctx.lease is not None and not ctx.lease.held():
        log.info("sync job skipped: this process does not hold the scheduler lease")
        return
    results = sync_all(ctx.runtime)
    # One line for the run (every source's summary), a warning when any source failed.
    level = logging.INFO if all(r.ok for r in results) else logging.WARNING
    summaries = [" ".join(part.strip() for part in r.summary().splitlines()) for r in results]
    log.log(level, "sync: %s", " | ".join(summaries) or "no source is configured")


def start_scheduler(
    runtime: Runtime,
    client: Any,
    *,
    lease_ttl: timedelta = DEFAULT_TTL,
    renew_every: float = RENEW_EVERY,
    check_at_start: bool = True,
    workers: int = 4,
) -> BackgroundScheduler:
    """Start the scheduler for `marginbot serve` (call `.shutdown()` on exit). Returns at once."""
    lease = Lease(runtime.engine, ttl=lease_ttl)
    context = JobContext(runtime, client, lease)
    scheduler = LeasedScheduler(
        lease,
        renew_every=renew_every,
        jobstores={"default": _SharedEngineJobStore(engine=runtime.engine, tablename=JOB_TABLE)},
        executors={"default": ThreadPoolExecutor(workers, pool_kwargs={"initializer": bind, "initargs": (context,)})},
        job_defaults={"coalesce": True, "max_instances": 1},
        timezone=runtime.settings.tz,
    )
    if check_at_start and client is not None:
        check_channels(client, runtime.settings)
    scheduler.start()
    ensure_jobs(scheduler, runtime.settings)
    return scheduler


def job_ids() -> Iterable[str]:
    return (ALERTS, DIGEST, OUTBOX, SYNC)
