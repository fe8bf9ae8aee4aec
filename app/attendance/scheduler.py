"""The terminal's one APScheduler instance: flush, push and retention jobs.

Built by the entry point (``daka run``) with :func:`build_scheduler`, never inside a Flask
``create_app``: a scheduler per app would run every job once per process.
:func:`job_specs` is the single list of jobs, also shown by ``daka doctor``; a run-time setting
that changes it (flush interval, retention days, push on/off, time zone) is applied to the
running scheduler by :meth:`AttendanceScheduler.sync`.
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

from .push import pushes_here

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
    if pushes_here(config):
        specs.append(JobSpec(PUSH_JOB, f"deliver punches to the HR webhook every "
                                       f"{config.push.poll_seconds} s",
                             IntervalTrigger(seconds=config.push.poll_seconds, timezone=tz)))
    # one job trims both punches and the stranger/spoof records (issue 25), under one clock check
    what = ([f"punches older than {config.storage.retention_days} days"] if config.storage.retention_days > 0
            else []) + ([f"stranger/spoof records older than {config.records.face_event_days} days"]
                        if config.records.face_event_days > 0 else [])
    if what:
        hour, minute = (int(v) for v in config.storage.retention_time.split(":"))
        specs.append(JobSpec(RETENTION_JOB, f"delete {' and '.join(what)}, daily at "
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


class AttendanceScheduler(BackgroundScheduler):
    """The APScheduler running the attendance jobs; :meth:`sync` fits them to a changed config."""

    def __init__(self, config, attendance: Attendance):
        super().__init__(timezone=config.device.timezone)
        self.attendance = attendance
        self._flush_requested = threading.Event()
        self._funcs = {FLUSH_JOB: self._flush, PUSH_JOB: attendance.pusher.deliver,
                       RETENTION_JOB: attendance.retention.run}

    def _flush(self) -> None:
        self._flush_requested.clear()
        self.attendance.flusher.flush()

    def wake_flush(self) -> None:
        # Once per batch: confirms keep arriving while the flush they asked for is running.
        if not self._flush_requested.is_set():
            self._flush_requested.set()
            self.run_now(FLUSH_JOB)

    def run_now(self, job_id: str) -> None:
        """Run a job as soon as a worker is free (nothing when it is not scheduled)."""
        job = self.get_job(job_id)
        if job is not None and self.running:
            job.modify(next_run_time=dt.datetime.now(dt.UTC))

    def sync(self, config) -> list[str]:
        """Make the jobs those of :func:`job_specs` for ``config`` (running or not); the ids changed.

        Adds, removes and reschedules jobs (a job whose trigger is unchanged keeps its next run
        time), and switches the outbox and the after-flush push wake-up with ``push.webhook_url``.
        """
        changed = []
        wanted = {spec.id: spec for spec in job_specs(config)}
        for job in self.get_jobs():
            if job.id in self._funcs and job.id not in wanted:
                self.remove_job(job.id)
                changed.append(job.id)
        for spec in wanted.values():
            job = self.get_job(spec.id)
            if job is None:
                self.add_job(_guarded(spec.id, self._funcs[spec.id]), spec.trigger, id=spec.id,
                             name=spec.description, max_instances=1, coalesce=True,
                             misfire_grace_time=None)
                changed.append(spec.id)
            elif _trigger_key(job.trigger) != _trigger_key(spec.trigger):
                job.modify(name=spec.description)
                self.reschedule_job(spec.id, trigger=spec.trigger)
                changed.append(spec.id)
        push = pushes_here(config)
        # punches flushed while push is on get an outbox row; each flush then wakes the delivery
        # (a fleet terminal's punches get theirs at the centre, which delivers them)
        self.attendance.writer.push_enabled = push
        self.attendance.flusher.after_flush = (lambda _n: self.run_now(PUSH_JOB)) if push else None
        if changed:
            logger.info("scheduler: {} changed; jobs now: {}", ", ".join(changed),
                        "; ".join(spec.description for spec in wanted.values()))
        return changed


def _trigger_key(trigger) -> tuple[str, str]:
    # str() names the interval or the cron fields, not the zone
    return str(trigger), str(getattr(trigger, "timezone", ""))


def build_scheduler(config, attendance: Attendance) -> AttendanceScheduler:
    """A not yet started scheduler with the attendance jobs; wires the batch-full wake-up."""
    scheduler = AttendanceScheduler(config, attendance)
    attendance.clockin.on_batch_full = scheduler.wake_flush
    scheduler.sync(config)
    return scheduler
