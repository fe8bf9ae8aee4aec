"""PunchUploader: the terminal's stored punches into the central database, exactly once, in order.

A cursor over local punch ids (``fleet_cursors`` row ``punches``, like the ADMS link's
``adms_cursors``): the punches after it are sent in id order, in batches, each batch one central
transaction of ``INSERT ... ON CONFLICT DO NOTHING`` (the uuid is the one unique key a terminal's
row can clash on; naming it would need SELECT on punches, which a terminal role lacks); the cursor moves only after that
transaction committed. A crash between the commit and the cursor's write sends the batch again,
which the centre's unique uuid turns into no-ops: exactly once, whatever crashes. Local ids come
from SQLite under its write lock, in commit order, so no gap in them ever fills later.

The central row carries ``device_id = fleet_device_id()`` (the role's device, which row security
checks) and no ``staff_id``: the centre's trigger links it by staff number.

After a reconnection the last ``RESEND`` punches are sent again (no-ops when present): a commit
the old primary acknowledged but had not streamed to its standby before a failover is then
stored on the new primary too.

A library class (a store, a central URL, a clock): the fleet link runs it on its thread, the
fleet benchmark drives many at once.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy import func, select

from app.store import Punch, Store

from .connect import CentreUnreachable, connect, is_connection_error
from .cursors import StoredCursor

CURSOR = "punches"
BATCH = 200
RESEND = 500

INSERT = ("INSERT INTO punches (uuid, staff_no, name, punched_at, local_date, device_id, score, source, "
          "snapshot_file, status, created_at) VALUES (%s, %s, %s, %s, %s, fleet_device_id(), %s, %s, NULL, %s, "
          "timezone('UTC', now())) ON CONFLICT DO NOTHING")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class PunchUploader:
    """Upload local punches after the cursor; ``upload()`` raises CentreUnreachable when the centre is away."""

    def __init__(self, store: Store, central_url: str, clock: Callable[[], dt.datetime] = _utcnow, *,
                 batch: int = BATCH, resend: int = RESEND):
        self.store, self.central_url, self.clock = store, central_url, clock
        self.batch, self.resend = batch, resend
        self.conn: psycopg.Connection | None = None
        self.sent = 0                 # rows sent (duplicates included)
        self.inserted = 0             # rows the centre stored new
        self.last_upload: dt.datetime | None = None
        self.last_punch_at: dt.datetime | None = None
        self._stored = StoredCursor(store, CURSOR)
        self._resend_from: int | None = None
        self._lock = threading.Lock()   # one upload at a time (the link's thread, a join, a bench)

    # -- the cursor ---------------------------------------------------------------------------
    @property
    def cursor(self) -> int:
        return self._stored.position

    def pending(self) -> int:
        """Local punches the centre has not committed yet (after the cursor)."""
        with self.store.session() as s:
            return s.scalar(select(func.count()).select_from(Punch).where(Punch.id > self.cursor)) or 0

    # -- the connection -----------------------------------------------------------------------
    def connection(self) -> psycopg.Connection:
        if self.conn is None or self.conn.closed:
            self.conn = connect(self.central_url, autocommit=True, application_name="daka-fleet-upload")
            # after a reconnection: send the last punches again (see the module's docstring)
            self._resend_from = max(0, self.cursor - self.resend)
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _lost(self, exc: BaseException) -> CentreUnreachable:
        self.close()
        return CentreUnreachable(" ".join(str(exc).split())[:300])

    # -- uploading ----------------------------------------------------------------------------
    def upload(self, limit: int | None = None) -> int:
        """Send every punch after the cursor (at most ``limit`` batches); the number sent."""
        with self._lock:
            total = batches = 0
            try:
                conn = self.connection()
                if self._resend_from is not None:
                    total += self._send_again(conn)
                while limit is None or batches < limit:
                    rows = self._rows_after(self.cursor)
                    if not rows:
                        break
                    self._send(conn, rows)
                    self._stored.move(rows[-1][0])    # only after the central commit
                    total += len(rows)
                    batches += 1
            except psycopg.Error as exc:
                if is_connection_error(exc):
                    raise self._lost(exc) from exc
                raise
            return total

    def _send_again(self, conn) -> int:
        start, self._resend_from = self._resend_from, None
        sent, position = 0, start
        while position < self.cursor:
            rows = [r for r in self._rows_after(position) if r[0] <= self.cursor]
            if not rows:
                break
            self._send(conn, rows)
            sent += len(rows)
            position = rows[-1][0]
        return sent

    def _rows_after(self, position: int) -> list[tuple]:
        with self.store.session() as s:
            rows = s.execute(select(Punch.id, Punch.uuid, Punch.staff_no, Punch.name, Punch.punched_at,
                                    Punch.local_date, Punch.score, Punch.source, Punch.status)
                             .where(Punch.id > position).order_by(Punch.id).limit(self.batch)).all()
        return [tuple(r) for r in rows]

    def _send(self, conn, rows: list[tuple]) -> None:
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(INSERT, [r[1:] for r in rows])
            inserted = cur.rowcount
        self.sent += len(rows)
        self.inserted += max(0, inserted)
        self.last_upload = self.clock()
        self.last_punch_at = rows[-1][4].replace(tzinfo=dt.UTC)
