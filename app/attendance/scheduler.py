"""The terminal's one APScheduler instance: flush, push and retention jobs.

Built by the entry point (``daka run``) with :func:`build_scheduler`, never inside a Flask
``create_app``: a scheduler per app would run every job once per process.
:func:`job_specs` is the single list of jobs, also shown by ``daka doctor``.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from loguru import logger

if TYPE_CHECKING:
    from .service import Attendance

FLUSH_JOB, PUSH_JOB, RETENTION_JOB = "attendance.flush", "push.deliver", "attendance.retention"


@dataclass(frozen=True)
class JobSpec:
    id: str
    description: str
    trigger: object


def job_specs(config) -> list[JobSpec]:
    tz = config.device.timezone
    specs = [JobSpec(FLUSH_JOB, f"flush journaled punches every {config.attendance.flush_seconds} s "
                                f"or at {config.attendance.flush_batch} waiting",
                     IntervalTrigger(seconds=config.attendance.flush_seconds, timezone=tz))]
    if config.push.webhook_url:
        specs.append(JobSpec(PUSH_JOB, f"deliver punches to the HR webhook every "
                                       f"{config.push.poll_seconds} s",
                             IntervalTrigger(seconds=config.push.poll_seconds, timezone=tz)))
    if config.storage.retention_days > 0:
        hour, minute = (int(v) for v in config.storage.retention_time.split(":"))
        specs.append(JobSpec(RETENTION_JOB, f"delete punches older than "
                                            f"{config.storage.retention_days} days, daily at "
                                            f"{config.storage.retention_time}",
                             CronTrigger(hour=hour, minute=minute, timezone=tz)))
    return specs


def describe_jobs(config) -> dict:
    """The doctor's ``scheduler`` section: the jobs the terminal schedules."""
    return {"ok": True, "jobs": [{"id": s.id, "what": s.description, "trigger": str(s.trigger)}
                                 for s in job_specs(config)]}


def _guarded(name, func):
    def run():
        try:
            func()
        except Exception:  # a failed run is logged and retried by the next one
            logger.exception("scheduled job {} failed", name)
    return run


def build_scheduler(config, attendance: Attendance) -> BackgroundScheduler:
    """A not yet started scheduler with the attendance jobs; wires the batch-full wake-up."""
    scheduler = BackgroundScheduler(timezone=config.device.timezone)
    flush_requested = threading.Event()

    def flush():
        flush_requested.clear()
        attendance.flusher.flush()

    funcs = {FLUSH_JOB: flush, PUSH_JOB: attendance.pusher.deliver,
             RETENTION_JOB: attendance.retention.run}
    for spec in job_specs(config):
        scheduler.add_job(_guarded(spec.id, funcs[spec.id]), spec.trigger, id=spec.id,
                          name=spec.description, max_instances=1, coalesce=True,
                          misfire_grace_time=None)

    def run_now(job_id):
        job = scheduler.get_job(job_id)
        if job is not None and scheduler.running:
            job.modify(next_run_time=dt.datetime.now(dt.UTC))

    def wake_flush():
        # Once per batch: confirms keep arriving while the flush they asked for is running.
        if not flush_requested.is_set():
            flush_requested.set()
            run_now(FLUSH_JOB)

    attendance.clockin.on_batch_full = wake_flush
    if config.push.webhook_url:
        attendance.flusher.after_flush = lambda _n: run_now(PUSH_JOB)
    return scheduler
