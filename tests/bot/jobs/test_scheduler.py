"""The scheduler: persisted jobs, catch-up after downtime, one scheduler among replicas, channel checks.

APScheduler runs on the real clock, so these tests wait (briefly) for its thread; the engine's clock stays pinned
through the runtime (NOW), so what the jobs evaluate is deterministic.
"""

from __future__ import annotations

import logging
import pickle
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.jobs import JobContext, bind
from bot.jobs.scheduler import (
    ALERTS,
    DIGEST,
    JOB_TABLE,
    ConfigError,
    LeasedScheduler,
    _SharedEngineJobStore,
    check_channels,
    crontab_days,
    digest_trigger,
    start_scheduler,
    sync_job,
)
from config.settings import Settings
from engine.runtime import Runtime
from engine.store.lease import Lease
from tests.bot.jobs.support import alerts_runtime, plain_client
from tests.conftest import NOW
from tests.fakes.slack_api import Reply, SlackStandIn

FAST = {"lease_ttl": timedelta(seconds=3), "renew_every": 0.2}


@pytest.fixture
def rt(settings: Settings, slack: SlackStandIn, tmp_path: Path) -> Runtime:
    return alerts_runtime(settings, slack, tmp_path, alert_channels=["CALERTS"], digest_channels=["CLEAD"])


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def offline_set_next_run(rt: Runtime, job_id: str, when: datetime) -> None:
    """What downtime looks like in the job store: a next run time in the past. Done with a paused scheduler."""
    offline = LeasedScheduler(
        Lease(rt.engine, "offline-test"), jobstores={"default": _SharedEngineJobStore(engine=rt.engine,
                                                                                      tablename=JOB_TABLE)}
    )  # fmt: skip
    offline.start(paused=True)
    offline.modify_job(job_id, next_run_time=when)
    offline.shutdown(wait=False)


def test_two_schedulers_on_the_same_postgresql_post_one_alert_not_two(
    rt: Runtime, slack: SlackStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    if rt.engine.dialect.name != "postgresql":
        pytest.skip(
            "the replica test runs on the PostgreSQL variant (MARGINBOT_TEST_POSTGRES_URL); SQLite is one process"
        )
    first = start_scheduler(rt, plain_client(slack), **FAST)  # type: ignore[arg-type]
    second = start_scheduler(Runtime(rt.settings, now_override=NOW), plain_client(slack), **FAST)  # type: ignore[arg-type]
    schedulers = [first, second]
    try:
        slack.wait_for(lambda c: c.method == "chat.postMessage", timeout=20)
        time.sleep(2.0)  # ten lease renewals: time enough for a second scheduler to (wrongly) post too
        assert len(slack.calls_to("chat.postMessage")) == 1
        holders = [s for s in schedulers if s.holding]  # type: ignore[attr-defined]
        assert len(holders) == 1
        # The holder stops: the other takes over (at once, since the lease is released on shutdown).
        holder = holders[0]
        other = second if holder is first else first
        holder.shutdown()
        schedulers.remove(holder)
        wait_until(lambda: other.holding)  # type: ignore[attr-defined]
        time.sleep(0.5)
        assert len(slack.calls_to("chat.postMessage")) == 1  # and it does not repeat the alert
    finally:
        for s in schedulers:
            s.shutdown()


def test_a_missed_digest_is_caught_up_once_after_a_restart(rt: Runtime, slack: SlackStandIn) -> None:
    start_scheduler(rt, plain_client(slack), **FAST).shutdown()  # type: ignore[arg-type]
    tz = ZoneInfo(rt.settings.timezone)
    missed = datetime(2026, 11, 9, 9, 0, tzinfo=tz)  # a Monday 09:00 the service was down for
    offline_set_next_run(rt, DIGEST, missed)

    scheduler = start_scheduler(rt, plain_client(slack), **FAST)  # type: ignore[arg-type]
    try:
        slack.wait_for(lambda c: c.method == "files.completeUploadExternal", timeout=20)
        wait_until(lambda: (job := scheduler.get_job(DIGEST)) is not None and job.next_run_time > missed)
        job = scheduler.get_job(DIGEST)
        assert job is not None and (job.next_run_time.weekday(), job.next_run_time.hour) == (0, 9)
    finally:
        scheduler.shutdown()
    digests = [c for c in slack.calls_to("chat.postMessage") if c.body["channel"] == "CLEAD"]
    assert len(digests) == 1 and "2026-W45" in digests[0].text

    # Another restart: the digest is not sent again.
    scheduler = start_scheduler(rt, plain_client(slack), **FAST)  # type: ignore[arg-type]
    time.sleep(1.0)
    scheduler.shutdown()
    assert len([c for c in slack.calls_to("chat.postMessage") if c.body["channel"] == "CLEAD"]) == 1
    assert len(slack.calls_to("files.completeUploadExternal")) == 1


def test_many_missed_alert_runs_coalesce_into_one(
    rt: Runtime, slack: SlackStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    start_scheduler(rt, plain_client(slack), **FAST).shutdown()  # type: ignore[arg-type]
    offline_set_next_run(rt, ALERTS, datetime(2026, 11, 1, 0, 0, tzinfo=UTC))  # thousands of hourly runs ago
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="bot.jobs.alerts"):
        scheduler = start_scheduler(rt, plain_client(slack), **FAST)  # type: ignore[arg-type]
        try:
            wait_until(lambda: any(r.getMessage().startswith("alerts: checked") for r in caplog.records))
            time.sleep(1.0)
        finally:
            scheduler.shutdown()
    assert len([r for r in caplog.records if r.getMessage().startswith("alerts: checked")]) == 1


def test_jobs_are_stored_as_textual_references_without_arguments(rt: Runtime, slack: SlackStandIn) -> None:
    scheduler = start_scheduler(rt, plain_client(slack), **FAST)  # type: ignore[arg-type]
    try:
        jobs = {job.id: job for job in scheduler.get_jobs()}
    finally:
        scheduler.shutdown()
    assert {j.func_ref for j in jobs.values()} == {
        "bot.jobs.alerts:alerts_job",
        "bot.jobs.digest:digest_job",
        "bot.jobs.delivery:deliver_job",
        "bot.jobs.scheduler:sync_job",
    }
    for job in jobs.values():
        assert job.args == () and job.kwargs == {} and job.coalesce is True
        pickle.loads(pickle.dumps(job.__getstate__()))
    assert jobs[DIGEST].misfire_grace_time is None  # a missed digest is sent late, never skipped
    assert jobs[ALERTS].misfire_grace_time == 3600


def test_scheduler_checks_its_channels_at_start_and_says_which_it_cannot_reach(
    rt: Runtime, slack: SlackStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    slack.queue(
        "conversations.info",
        Reply(200, {"ok": False, "error": "channel_not_found"}),
        Reply(200, {"ok": True, "channel": {"id": "CLEAD", "name": "leadership", "is_member": False}}),
    )
    with caplog.at_level(logging.WARNING, logger="bot.jobs.scheduler"):
        problems = check_channels(plain_client(slack), rt.settings)
    assert len(problems) == 2
    assert problems[0].startswith("channel CALERTS (MARGINBOT_ALERT_CHANNELS) not found")
    assert "not a member of #leadership (MARGINBOT_DIGEST_CHANNELS): invite @marginbot to #leadership" in problems[1]
    assert "invite @marginbot to #leadership" in caplog.text
    assert check_channels(plain_client(slack), rt.settings) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mon 09:00", datetime(2026, 11, 16, 9, 0)),
        ("MON-FRI 08:30", datetime(2026, 11, 16, 8, 30)),
        ("07:15", datetime(2026, 11, 16, 7, 15)),
        ("0 9 * * mon", datetime(2026, 11, 16, 9, 0)),
        # Crontab's day numbers, 0 and 7 Sunday: `1` is Monday (APScheduler's own numbering fired it on Tuesdays).
        ("0 9 * * 1", datetime(2026, 11, 16, 9, 0)),
        ("0 9 * * 0", datetime(2026, 11, 22, 9, 0)),
        ("0 9 * * 7", datetime(2026, 11, 22, 9, 0)),
        ("30 8 * * 2-5", datetime(2026, 11, 17, 8, 30)),
        ("0 9 * * 6,7", datetime(2026, 11, 21, 9, 0)),
        ("0 9 * * 5-7", datetime(2026, 11, 20, 9, 0)),
        ("0 9 * * */3", datetime(2026, 11, 18, 9, 0)),  # sun, wed, sat
        ("0 18 * * sun", datetime(2026, 11, 15, 18, 0)),
        # A range ending on Sunday by name, as before: sat-sun was refused as running backwards.
        ("sat-sun 10:00", datetime(2026, 11, 21, 10, 0)),
        ("0 9 * * sat-sun", datetime(2026, 11, 21, 9, 0)),
        ("mon-sun 09:00", datetime(2026, 11, 16, 9, 0)),
    ],
)
def test_digest_cron_forms_fire_in_the_configured_time_zone(text: str, expected: datetime) -> None:
    paris = ZoneInfo("Europe/Paris")
    trigger = digest_trigger(text, paris)
    assert trigger.get_next_fire_time(None, datetime(2026, 11, 15, 12, 0, tzinfo=paris)) == expected.replace(
        tzinfo=paris
    )


def test_an_unreadable_digest_cron_names_the_setting() -> None:
    with pytest.raises(ConfigError, match="MARGINBOT_DIGEST_CRON='monday at nine'"):
        digest_trigger("monday at nine", ZoneInfo("UTC"))
    with pytest.raises(ConfigError, match="MARGINBOT_DIGEST_CRON"):
        digest_trigger("mon 25:00", ZoneInfo("UTC"))
    with pytest.raises(ConfigError, match="'8' is no day of the week"):
        digest_trigger("0 9 * * 8", ZoneInfo("UTC"))
    with pytest.raises(ConfigError, match="a range of days runs forward"):
        digest_trigger("0 9 * * 5-1", ZoneInfo("UTC"))


@pytest.mark.parametrize(
    ("field", "days"),
    [
        ("7-7", "sun"),
        ("sun-sun", "sun"),
        ("0-7", "sun,mon,tue,wed,thu,fri,sat"),
        ("5-7", "sun,fri,sat"),
        ("fri-sun", "sun,fri,sat"),
        ("5-7/2", "sun,fri"),
        ("*/2", "sun,tue,thu,sat"),
        ("1/2", "mon,wed,fri"),
        ("0-0", "sun"),
        ("sunday-sun", "sun"),
        ("sun-sat", "sun,mon,tue,wed,thu,fri,sat"),
        ("mon-sun", "sun,mon,tue,wed,thu,fri,sat"),
        ("sat-7", "sun,sat"),
        ("0-2", "sun,mon,tue"),
    ],
)
def test_crontab_days_read_as_crontab_numbers_them(field: str, days: str) -> None:
    assert crontab_days(field) == days


@pytest.mark.parametrize(
    ("field", "fix"),
    [
        # 7-6 was every day (7 read as 0); crontab refuses a range that runs backward.
        ("7-6", "'7-6' runs backward, 7 being Sunday at the week's end: start it on Sunday as 0 (0-6)"),
        ("7-sat", "start it on Sunday as 0 (0-sat)"),
        ("5-0", "'5-0' runs backward, 0 being Sunday at the week's start: end it on Sunday as 7 (5-7)"),
        # sun-7 was the whole week and 7-sun Sunday alone.
        ("sun-7", "'sun-7' runs from Sunday to Sunday: write 0-7 (or *) for every day, or sun for Sunday alone"),
        ("7-sun", "'7-sun' runs from Sunday to Sunday"),
        ("0-sun", "'0-sun' runs from Sunday to Sunday"),
        ("7-0", "'7-0' runs from Sunday to Sunday"),
        ("fri-mon", "'fri-mon' runs backward: a range of days runs forward"),
    ],
)
def test_a_range_of_days_that_runs_backward_or_from_sunday_to_sunday_two_ways_is_refused_in_one_line(
    field: str, fix: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        digest_trigger(f"0 9 * * {field}", ZoneInfo("UTC"))
    said = str(caught.value)
    assert said.startswith(f"MARGINBOT_DIGEST_CRON='0 9 * * {field}' is not a schedule (day of the week ")
    assert fix in said and "\n" not in said


def test_sync_job_calls_sync_all_with_the_runtime_and_logs_each_result(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import bot.jobs.scheduler
    from engine.ingest.sync import SyncResult

    seen: list[Runtime] = []

    def sync_all(runtime: Runtime) -> list[SyncResult]:
        seen.append(runtime)
        return [SyncResult(source="openai"), SyncResult(source="stripe", error="stripe: HTTP 401")]

    monkeypatch.setattr(bot.jobs.scheduler, "sync_all", sync_all)
    bind(JobContext(rt, None, None))
    with caplog.at_level(logging.INFO, logger="bot.jobs.scheduler"):
        sync_job()
    assert seen == [rt]
    assert "sync: openai:" in caplog.text and "stripe: HTTP 401" in caplog.text
