"""Child process of the ADMS crash test: Daka's attendance and ADMS link, confirming punches.

Usage: python tests/zk/adms_child.py INSTANCE_DIR FIRST COUNT
Composes the store, attendance, the scheduler and the ADMS link as `daka run` does (no camera,
no models), confirms COUNT punches for staff FIRST.. (staff no S0001...), printing each UUID
once ``confirm`` returned, then "done"; then keeps the link running until it is killed.
"""

import sys
import time
from pathlib import Path


def main() -> None:
    from app.attendance import Candidate, build_scheduler, open_attendance
    from app.config import load_config
    from app.instance import Instance
    from app.store import open_store
    from app.zk.adms import AdmsLink

    instance = Instance(Path(sys.argv[1]))
    first, count = int(sys.argv[2]), int(sys.argv[3])
    config = load_config(instance)
    store = open_store(config, instance, upgrade=False)
    attendance = open_attendance(config, instance, store)
    attendance.recover()
    scheduler = build_scheduler(config, attendance)
    scheduler.start()
    link = AdmsLink(store, config, journal=attendance.journal, wake_flush=scheduler.wake_flush,
                    retention=attendance.retention).start()
    out = sys.stdout
    out.write("ready\n")
    out.flush()
    for sid in range(first, first + count):
        result = attendance.clockin.confirm(Candidate(sid, f"S{sid:04d}", f"员工{sid}", 0.95))
        out.write(f"{result.punch.uuid}\n")
        out.flush()
    out.write("done\n")
    out.flush()
    while link is not None:
        time.sleep(1)


if __name__ == "__main__":
    main()
