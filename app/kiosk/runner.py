"""`daka run`: build the terminal, plug in the extra services, show the window, stop cleanly.

SIGTERM, SIGINT and closing the window all end in `Terminal.stop()`: threads joined, the
journal flushed into the database.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from urllib.parse import quote

from loguru import logger

# light (no Kivy): at the top, so the 4370 block's optional import fits the function-level ceiling
from app.fleet.link import FleetLink
from app.fonts import find_cjk_font
from app.hardware.camera_url import parse_camera_source
from app.services.terminal import Terminal
from app.systemd_notify import SystemdNotifier   # light (socket, os): no reason to import it late
from app.zk.adms import AdmsLink
from app.zk.pull import PullService

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def source_url(source: str | None) -> str | None:
    """A camera URL; a plain path to a picture or a video becomes a looping file:// source."""
    if not source or "://" in source or source in ("auto", "none"):
        return source
    path = Path(source).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"camera source {source!r} is neither a camera URL nor a file")
    return "file://" + quote(str(path.resolve()))


def extra_services(terminal: Terminal, config, instance) -> list:
    """Services that run with the terminal: the admin web server (issue 5) when it is installed.

    The admin takes the terminal's store, library and attendance (one database, one live
    gallery) and `terminal.status` for its status page; it runs on its own thread(s).
    """
    try:
        from admin import create_app, server as admin_server   # one line: the function-level import ceiling
    except ImportError:
        logger.warning("admin server not available in this build: the kiosk runs without it")
        return []
    try:
        app = create_app(config, instance, store=terminal.store, library=terminal.library,
                         attendance=terminal.attendance, status_provider=terminal.status)
        return [admin_server.AdminServer(app, config.admin.host, config.admin.port, threads=config.admin.threads)]
    except Exception:   # the clock-in screen must come up even when the admin cannot
        logger.exception("the admin server could not be built: the kiosk runs without it")
        return []


def adms_services(terminal: Terminal, config) -> list:
    """The ZKTeco PUSH (ADMS) link (issue 18): always on the list, idle while `[push] adms_url`
    is empty, so setting the URL in the admin starts it (no restart). It reads the stored
    punches (its own cursor), enrols through the terminal's library and live gallery, and
    reports in `terminal.status()["adms"]`."""
    link = AdmsLink(terminal.store, terminal.config, library=terminal.library,
                    journal=terminal.attendance.journal, wake_flush=terminal.scheduler.wake_flush,
                    retention=terminal.attendance.retention, restart=restart_service,
                    timezone=lambda: terminal.config.device.timezone,
                    on_staff_changed=lambda staff_no: _forget_card(terminal, staff_no))
    terminal.status_board.add_section("adms", link.status)
    return [link]


def _forget_card(terminal: Terminal, staff_no: str) -> None:
    card = terminal.cards.find(staff_no)
    if card is not None:
        terminal.cards.forget(card.staff_id)


def restart_service() -> None:
    """The ADMS REBOOT command: stop cleanly, as on SIGTERM (the journal flushed); systemd's
    `Restart=always` (scripts/setup/daka.service) starts the terminal again."""
    logger.warning("restart asked by the ADMS server: stopping; the service manager starts Daka again")
    os.kill(os.getpid(), signal.SIGTERM)
def zk_pull_service(terminal: Terminal) -> PullService:
    """The ZKTeco pull protocol's server (issue 19): serves when [zk_pull] enabled, follows its
    settings, reports on the admin's system page; the clock is set by the admin's narrow path."""
    try:
        from admin.system.clock import set_system_time   # optional: the admin may not be installed
    except ImportError:
        set_system_time = None
    set_clock = None if set_system_time is None else (
        lambda date, time: set_system_time(terminal.config.admin.set_time_command, date, time))
    service = PullService(terminal.config, terminal.store, timezone=lambda: terminal.attendance.clockin.tz,
                          library=terminal.library, set_clock=set_clock)
    terminal.status_board.add_section("zk_pull", service.status)
    return service


def fleet_services(terminal: Terminal, config, instance) -> list:
    """The fleet link (issue 20) when `[fleet] database_url` is set: the library mirrored down from
    the central database, punches and on-device enrolments up, the heartbeat; reported in
    `terminal.status()["fleet"]`. A standalone terminal (no URL) runs none."""
    if not config.fleet.database_url:
        return []
    link = FleetLink(terminal.store, config, instance.photos_dir, journal=terminal.attendance.journal,
                     wake_flush=terminal.scheduler.wake_flush,
                     on_library_changed=lambda staff_ids: _library_changed(terminal, staff_ids),
                     status_source=lambda: terminal.status_board.latest)
    terminal.status_board.add_section("fleet", link.status)
    terminal.enrolment_listeners.append(link.queue_enrolment)
    return [link]


def _library_changed(terminal: Terminal, staff_ids: set[int]) -> None:
    # the changed people's templates read again, the rest of the gallery (and its cohort) kept
    synced = terminal.library.sync_gallery(staff_ids)
    for staff_id in staff_ids:
        terminal.cards.forget(staff_id)
    logger.info("fleet: gallery {}: +{} / -{} photos", "reloaded" if synced["reloaded"] else "updated",
                synced["added"], synced["removed"])


def service_notifier():
    """The link to the service manager (systemd sd_notify: READY, WATCHDOG, STOPPING).

    The terminal calls ready() once started, watchdog() from the UI thread every 0.5 s (from
    the housekeeper every 2 s when headless) and stopping() at the start of a stop. Outside
    systemd (no NOTIFY_SOCKET) the calls do nothing.
    """
    return SystemdNotifier(log=lambda message: logger.error("systemd notify: {}", message))


def run_terminal(config, instance, *, source: str | None = None, headless: bool = False) -> int:
    font = find_cjk_font(config.ui.font or None)
    source = source_url(source)
    parse_camera_source(source or config.camera.source)   # a bad URL is a usage error before anything starts
    # One terminal per instance: a second one's flush would delete the first one's journal
    # segments. InstanceLocked (an InstanceError) names the running PID; `daka` exits 2.
    lock = instance.lock("the terminal (daka run) on instance " + str(instance.root))
    try:
        return _run_locked(config, instance, font, source, headless)
    finally:
        lock.release()


def _run_locked(config, instance, font, source, headless: bool) -> int:
    terminal = Terminal(config, instance, source=source)
    for service in extra_services(terminal, config, instance):
        terminal.add_service(service)
    for service in adms_services(terminal, config):
        terminal.add_service(service)
    terminal.add_service(zk_pull_service(terminal))   # issue 19: ZKTeco pull protocol, TCP/UDP 4370
    for service in fleet_services(terminal, config, instance):   # issue 20: the central database
        terminal.add_service(service)
    terminal.notifier = service_notifier()
    stop_requested = threading.Event()
    app_box: list = []

    def request_stop(signum, _frame):
        logger.info("signal {}: stopping", signal.Signals(signum).name)
        stop_requested.set()
        if app_box:
            from kivy.clock import Clock

            Clock.schedule_once(lambda _dt: app_box[0].stop())

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        terminal.ui_attached = not headless
        terminal.start()
        if headless:
            logger.info("headless: no window; stop with SIGTERM or Ctrl-C")
            while not stop_requested.wait(0.5):
                pass
        else:
            from .window import configure_kivy

            if configure_kivy(config):
                logger.info("no display (DISPLAY and WAYLAND_DISPLAY unset): SDL renders the window offscreen")
            from .app import KioskApp

            app = KioskApp(terminal, font)
            app_box.append(app)
            if not stop_requested.is_set():
                app.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        terminal.stop()
    return 0

