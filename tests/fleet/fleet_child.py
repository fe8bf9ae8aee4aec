"""Child process of the fleet tests: the real `daka run --headless` of a fleet terminal, watched.

Usage: python tests/fleet/fleet_child.py INSTANCE_DIR
Runs `daka --instance INSTANCE_DIR run --headless` and prints, on stdout, one line per event,
each with the wall-clock time it happened at:
  ``<t> started``                       the terminal is up
  ``<t> gallery S1,S2``                 the live gallery was reloaded by the fleet mirror: who is in it
  ``<t> seen S1,S2``                    the people recognised now (cards shown), when that set changes
  ``<t> fleet <state> <pending> <failed>``  the fleet link's state, punches waiting and failed attempts
                                        to reach the centre, when they change
  ``<t> punched <uuid>``                a punch asked for on stdin was confirmed (durable in the journal)
Reads commands appended to INSTANCE_DIR/commands.txt: ``punch STAFF_ID STAFF_NO NAME`` confirms a
punch for that person (a restarted child carries on after the lines already there).
"""

import sys
import threading
import time
from pathlib import Path


_said = threading.Lock()


def say(*words) -> None:
    line = " ".join([f"{time.time():.3f}", *map(str, words)]) + "\n"
    with _said:   # one write per line: print() writes word by word, and threads would interleave
        sys.stdout.write(line)
        sys.stdout.flush()


def main() -> int:
    from app.cli.main import main as daka
    from app.kiosk import runner
    from app.services.events import StaffCard
    from app.services.terminal import Terminal

    links = []
    make_links = runner.fleet_services

    def fleet_services(terminal, config, instance):
        made = make_links(terminal, config, instance)
        links.extend(made)
        return made
    runner.fleet_services = fleet_services

    changed = runner._library_changed

    def library_changed(terminal, staff_ids):
        changed(terminal, staff_ids)
        people = sorted(c.staff_no for i in terminal.gallery.staff_ids() if (c := terminal.cards.card(i)))
        say("gallery", ",".join(people))
    runner._library_changed = library_changed

    original_start = Terminal.start

    def start(self):
        seen: list = [None]

        def on_update(update):
            now = ",".join(sorted(c.staff_no for c in update.cards.values()))
            if now != seen[0]:
                seen[0] = now
                say("seen", now)
        self.on_update(on_update)
        original_start(self)
        say("started")
        threading.Thread(target=commands, args=(self,), daemon=True).start()
        threading.Thread(target=watch_fleet, daemon=True).start()
        return self
    Terminal.start = start

    def commands(terminal):
        path = Path(sys.argv[1]) / "commands.txt"
        def complete_lines():   # a line still being written has no newline yet
            return path.read_text(encoding="utf-8").split("\n")[:-1] if path.exists() else []
        done = len(complete_lines())
        while True:
            lines = complete_lines()
            if len(lines) <= done:
                time.sleep(0.05)
                continue
            line, done = lines[done], done + 1
            words = line.split()
            if words[:1] == ["punch"]:
                card = StaffCard(int(words[1]), words[2], words[3])
                result = terminal.confirm(card, 0.95).result()
                say("punched", result.punch.uuid, "recorded" if result.recorded else "repeat")

    def watch_fleet():
        last = None
        while True:
            if links:
                try:
                    status = links[0].status()
                    now = (status["state"], status["pending"], status["failed_attempts"])
                except Exception as exc:   # the store closing at stop
                    now = ("error", str(exc).split()[0])
                if now != last:
                    last = now
                    say("fleet", *now)
            time.sleep(0.1)

    return daka(["--instance", sys.argv[1], "run", "--headless"])


if __name__ == "__main__":
    sys.exit(main())
