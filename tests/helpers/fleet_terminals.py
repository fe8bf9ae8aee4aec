"""Fleet terminals as processes for the fleet tests: an instance joined to a centre, the real
`daka run --headless` (tests/fleet/fleet_child.py prints what it does), and the central library.

``FleetTerminal`` reads the child's event lines (``<time> <event> <words>``) and waits for them;
``central_library(url, folder)`` is the face library over the central store, as the central
admin enrols and deletes people.
"""

from __future__ import annotations

import signal
import sys
import time
import urllib.parse
from pathlib import Path

import pytest
import tomli_w

from tests.helpers.children import REPO, Child, free_port
from tests.helpers.kiosk_window import MOCK_PINS

CHILD = REPO / "tests" / "fleet" / "fleet_child.py"


def write_instance(root: Path, fleet_url: str, *, scene: Path | None = None, **fleet) -> Path:
    """An instance folder whose daka.toml joins the centre (a test scene showing ``scene``, or no camera)."""
    root.mkdir(parents=True, exist_ok=True)
    source = (f"test://?image={urllib.parse.quote(str(scene))}&width=640&height=480&fps=8" if scene else "none")
    settings = {"camera": {"source": source}, "gpio": MOCK_PINS,
                # flat test pictures are what liveness refuses (tests/kiosk/test_kiosk_ui.py)
                "liveness": {"level": "off"}, "attendance": {"flush_seconds": 1},
                "admin": {"host": "127.0.0.1", "port": free_port()},
                "fleet": {"database_url": fleet_url, "retry_max_s": 2.0, **fleet}}
    (root / "daka.toml").write_text(tomli_w.dumps(settings), encoding="utf-8")
    return root


class FleetTerminal:
    """One `daka run --headless` fleet terminal process and the events it printed."""

    def __init__(self, root: Path):
        self.root = root
        self.child: Child | None = None

    def start(self) -> FleetTerminal:
        self.child = Child([sys.executable, str(CHILD), str(self.root)], cwd=CHILD.parent,
                           unset=("DISPLAY", "WAYLAND_DISPLAY"))
        return self

    @property
    def events(self) -> list[tuple[float, str, list[str]]]:
        out = []
        for line in list(self.child.out):
            parts = line.split()
            if len(parts) >= 2:
                try:
                    out.append((float(parts[0]), parts[1], parts[2:]))
                except ValueError:
                    continue
        return out

    def find(self, kind: str, match=lambda words: True, after: float = 0.0):
        """The first event of ``kind`` at or after ``after`` whose words ``match``, or None."""
        for at, event, words in self.events:
            if event == kind and at >= after and match(words):
                return at, words
        return None

    def wait(self, kind: str, match=lambda words: True, *, after: float = 0.0, timeout: float = 180):
        """Wait for an event (fails with the child's log when it does not come or the child exits)."""
        found: list = []

        def seen() -> bool:
            hit = self.find(kind, match, after)
            if hit is not None:
                found.append(hit)
            return hit is not None
        self.child.wait_for(seen, timeout, f"{kind} event")
        return found[0]

    def wait_count(self, kind: str, count: int, timeout: float = 180) -> None:
        """Wait until ``count`` events of ``kind`` were printed (by this run and earlier ones)."""
        self.child.wait_for(lambda: sum(1 for _a, e, _w in self.events if e == kind) >= count, timeout,
                            f"{count} {kind} events")

    def wait_log_count(self, text: str, count: int, timeout: float = 180) -> None:
        """Wait until the child's log holds ``text`` ``count`` times."""
        self.child.wait_for(lambda: self.child.log.count(text) >= count, timeout, f"{count} x {text!r} in the log")

    def last(self, kind: str):
        hits = [(at, words) for at, event, words in self.events if event == kind]
        return hits[-1] if hits else None

    def punch(self, staff_id: int, staff_no: str, name: str = "员工") -> None:
        with open(self.root / "commands.txt", "a", encoding="utf-8") as f:
            f.write(f"punch {staff_id} {staff_no} {name}\n")

    def punched(self) -> list[str]:
        return [words[0] for _at, event, words in self.events if event == "punched"]

    def stop(self) -> int:
        code = self.child.signal_and_wait(signal.SIGTERM)
        self.child.kill()
        return code

    def kill(self) -> None:
        if self.child is not None:
            self.child.kill()


def gallery_is(people: str):
    return lambda words: (words[0] if words else "") == people


def central_library(url: str, folder: Path):
    """The face library over the central store, as the central admin's (its own photos folder)."""
    from app.config import load_config
    from app.instance import Instance
    from app.services.compose import open_library
    from app.store import open_store

    instance = Instance(folder).prepare()
    config = load_config(instance)
    store = open_store(config, instance, url=url)
    return store, open_library(config, instance, store)


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout} s")
        time.sleep(0.1)
