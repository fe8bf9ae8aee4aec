"""Child process of the shutdown tests: the real `daka run` with a robot finger.

Usage: python tests/kiosk/kiosk_child.py INSTANCE_DIR [tap] [close]
With `tap`, taps 确认打卡 whenever the confirm card shows and prints "punched" once the
success screen is up; the parent then stops the process (SIGTERM) and checks the database.
With `close`, the window is closed (as its close button does) once the punch is shown.
Prints "ready" when the window runs.
"""

import sys


def robot(app) -> None:
    from kivy.clock import Clock
    from kivy.tests.common import UnitTestTouch

    tap = "tap" in sys.argv[2:]
    said = set()

    def say(word):
        if word not in said:
            said.add(word)
            print(word, flush=True)

    def look(_dt):
        say("ready")
        screen = app.manager.current
        if tap and screen == "confirm" and not app.flow.submitting:
            button = app.screens["confirm"].ids.confirm
            touch = UnitTestTouch(*button.to_window(*button.center))
            touch.touch_down()
            touch.touch_up()
        if screen == "result" and app.screens["result"].kind == "success":
            say("punched")
            if "close" in sys.argv[2:]:   # what SDL's window-close event does in Kivy's loop
                from kivy.base import EventLoop

                if not app.root_window.dispatch("on_request_close"):
                    EventLoop.quit = True
    Clock.schedule_interval(look, 0.1)


def main() -> int:
    from pathlib import Path

    from app.cli.main import main as daka
    from app.config import load_config
    from app.instance import Instance
    from app.kiosk.window import configure_kivy

    configure_kivy(load_config(Instance(Path(sys.argv[1]))))   # before Kivy's first import
    from app.kiosk import app as kiosk_app

    original = kiosk_app.KioskApp.on_start

    def on_start(self):
        original(self)
        robot(self)
    kiosk_app.KioskApp.on_start = on_start
    return daka(["--instance", sys.argv[1], "run"])


if __name__ == "__main__":
    sys.exit(main())
