"""A named position kept in the terminal's local store (``fleet_cursors``): the mirror's last
applied change number, the uploader's last uploaded punch id. Read once and cached; a write that
fails leaves the cache empty, so the next read sees what the store really holds."""

from __future__ import annotations

from app.store import FleetCursor, Store


class StoredCursor:
    def __init__(self, store: Store, name: str):
        self.store, self.name = store, name
        self._position: int | None = None

    @property
    def position(self) -> int:
        if self._position is None:
            with self.store.session() as s:
                row = s.get(FleetCursor, self.name)
                self._position = row.position if row is not None else 0
        return self._position

    def move(self, position: int) -> None:
        if position == self.position:
            return
        self._position = None   # re-read if the write fails
        with self.store.session() as s:
            row = s.get(FleetCursor, self.name)
            if row is None:
                s.add(FleetCursor(name=self.name, position=position))
            else:
                row.position = position
        self._position = position
