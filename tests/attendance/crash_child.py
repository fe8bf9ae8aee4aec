"""Child process of the crash test: confirm punches in a loop while the scheduler flushes.

Usage: python tests/attendance/crash_child.py INSTANCE_DIR DATABASE_URL|- STAFF_IDS
Prints "ready" once started, then one punch UUID per line, each only after ``confirm``
returned: every printed UUID is a punch the screen would have shown as recorded.
"""

import random
import sys
from pathlib import Path


def main() -> None:
    from app.attendance import Candidate, build_scheduler, open_attendance
    from app.config import load_config
    from app.instance import Instance
    from app.store import open_store

    instance = Instance(Path(sys.argv[1]))
    url = None if sys.argv[2] == "-" else sys.argv[2]
    staff = [int(s) for s in sys.argv[3].split(",")]
    config = load_config(instance)
    store = open_store(config, instance, url=url, upgrade=False)
    attendance = open_attendance(config, instance, store)
    attendance.recover()
    scheduler = build_scheduler(config, attendance)
    scheduler.start()
    out = sys.stdout
    out.write("ready\n")
    out.flush()
    rng = random.Random()
    while True:
        sid = rng.choice(staff)
        result = attendance.clockin.confirm(Candidate(sid, f"S{sid:04d}", f"员工{sid}", 0.95))
        out.write(f"{result.punch.uuid}\n")
        out.flush()
        if rng.random() < 0.3:
            attendance.flusher.flush()  # also flush from this thread, racing the scheduler's job


if __name__ == "__main__":
    from loguru import logger

    logger.remove()
    main()
