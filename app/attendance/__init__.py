"""Clock-in: durable confirm through a journal, batched flush, push to HR, retention."""

from .clockin import ClockInService
from .flush import PunchFlusher
from .journal import PunchJournal
from .punches import PunchAudit, PunchWriter
from .push import WebhookPusher
from .records import Candidate, ClockInResult, PunchRecord
from .retention import RetentionService
from .scheduler import build_scheduler, describe_jobs, job_specs
from .service import Attendance, open_attendance, open_retention

__all__ = [
    "Attendance", "Candidate", "ClockInResult", "ClockInService", "PunchAudit", "PunchFlusher",
    "PunchJournal", "PunchRecord", "PunchWriter", "RetentionService", "WebhookPusher",
    "build_scheduler", "describe_jobs", "job_specs", "open_attendance", "open_retention",
]
