"""The Kivy app (import after `window.configure_kivy`): one ScreenManager, screens chosen by the clock-in flow, results through Clock.

Threads never touch widgets: vision results, presence changes, status readings, setting changes
and confirm results are handed over with Clock triggers; the UI thread only renders the newest
frame (a resize and a few boxes, about a millisecond) and runs the flow.

The screens read Kivy properties of this app (`device_name`, `language`, `confirm_seconds`,
`status`, `pending`, `camera_state`, ...), which the app sets from the terminal's events: the
housekeeper's status readings (`Terminal.on_status`, every 2 s) and run-time setting changes
(`terminal.settings.subscribe`). Nothing here polls the terminal; the one timer left ticks the
clock on the status bar and pings the service watchdog from the UI thread.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from zoneinfo import ZoneInfo

from kivy.app import App
from kivy.clock import Clock
from kivy.core.text import LabelBase
from kivy.properties import BooleanProperty, DictProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.screenmanager import NoTransition, ScreenManager
from loguru import logger

from app.services.selflink import SelfLinks, open_self_links

from . import flow as F
from .probe import FrameProbe
from .texts import text
from .window import SCREEN_SIZE


#: Font sizes used by the .kv files (opened at start, see `_warm_up_fonts`).
FONT_SIZES = (13, 14, 15, 18, 20, 22, 26, 30, 34, 40, 96)
ADMIN_IDLE_S = 90   # the admin screens close after this long without a touch
LANGUAGE_AWAY_S = 5.0   # the language switch is for one person: back to the terminal's once nobody was in view this long
TICK_S = 0.5        # the status bar's clock and the watchdog ping from the UI thread


class KioskApp(App):
    lang = StringProperty("zh_CN")        # the language shown now (one person may switch it)
    clock_text = StringProperty("")
    date_text = StringProperty("")
    network_text = StringProperty("")
    sync_text = StringProperty("")
    hint_text = StringProperty("")
    notice_text = StringProperty("")      # a short message that clears itself
    countdown = NumericProperty(0)
    punch_status = NumericProperty(0)     # the punch state chosen on the confirm card (PUNCH_STATES)
    terminal = ObjectProperty(None, allownone=True)
    frames = ObjectProperty(None, allownone=True)   # the camera's FrameSlot: screens peek its newest frame
    # from the run-time settings (set on a change, see _settings_changed)
    device_config = ObjectProperty(None, allownone=True)   # the terminal's effective config (App.config is Kivy's)
    device_name = StringProperty("")
    language = StringProperty("zh_CN")    # the terminal's language (device.language)
    timezone = StringProperty("UTC")      # device.timezone
    confirm_seconds = NumericProperty(0)
    admin_port = NumericProperty(0)
    sound = BooleanProperty(True)
    threshold = NumericProperty(0.0)      # the match threshold of the embedder in use
    # from the housekeeper's status readings (see _status_changed)
    status = DictProperty({})
    ip = StringProperty("")
    pending = NumericProperty(0)          # punches not yet in the database or not yet pushed to HR
    storage_low = BooleanProperty(False)
    camera_state = StringProperty("")
    camera_reason = StringProperty("")

    def __init__(self, terminal, font, *, flow: F.ClockInFlow | None = None, probe: FrameProbe | None = None,
                 self_links: SelfLinks | None = None, **kwargs):
        super().__init__(**kwargs)
        self.terminal = terminal
        self.frames = terminal.camera.slot
        self.font = font
        config = terminal.config
        self._settings_changed(config)   # before the flow: its times are the flow's own (tests pass theirs)
        self.lang = self.language
        ui = config.ui
        again = None if ui.once_per_visit else float(config.attendance.dedupe_seconds)
        self.flow = flow or F.ClockInFlow(F.FlowTimes(confirm_s=config.attendance.confirm_seconds,
                                                      result_s=ui.result_seconds, idle_s=ui.idle_seconds,
                                                      again_s=again),
                                          have_sensor=terminal.sensor is not None)
        if ui.auto_punch and self.flow.auto is None:
            # stricter than the recognition threshold of the embedder in use: nobody confirms
            self.flow.auto = F.AutoPunch(self.threshold + ui.auto_punch_stricter)
        self.probe = probe
        self.latest_update: F.VisionUpdate | None = None
        self._incoming: F.VisionUpdate | None = None
        self._detached = False              # detach() ran: late calls from other threads do nothing
        self._presence: list[bool | None] = []
        self._status_in: dict | None = None
        self._settings_in = None
        self._unsubscribe: list = []
        self._seen = None
        self.admin_screen: str | None = None   # an on-device admin screen, shown instead of the flow's
        self._last_touch = time.monotonic()
        self._face_seen_at = time.monotonic()
        self.screens: dict[str, object] = {}
        self.title = "Daka 打卡"
        # the QR code after a punch: the person's own page on this terminal's admin (issue 24)
        self.self_links = self_links or _self_links(terminal)

    # -- texts -------------------------------------------------------------------------------
    def t(self, key: str, lang: str | None = None, **values) -> str:
        return text(key, lang or self.lang, **values)

    def now(self) -> dt.datetime:
        """The terminal's local time (its time zone now, as punches use)."""
        return dt.datetime.now(ZoneInfo(self.timezone))

    def latest_frame(self):
        """The camera's newest frame (a SlotFrame: frame, ts, seq), or None before the first."""
        return self.frames.latest() if self.frames is not None else None

    def toggle_language(self) -> None:
        """For the person in front only: back to the terminal's language when they have gone (or on idle)."""
        self.lang = "en" if self.lang.startswith("zh") else "zh_CN"
        self._face_seen_at = time.monotonic()

    def _language_back(self, now: float) -> None:
        if self.lang == self.language or self.admin_screen is not None:
            return
        if self.flow.screen == F.IDLE or now - self._face_seen_at > LANGUAGE_AWAY_S:
            logger.info("language back to {} (the person who switched it has gone)", self.language)
            self.lang = self.language

    # -- what the screens show, from the terminal's events (UI thread) -------------------------------
    def on_language(self, _app, language: str) -> None:
        self.lang = language   # changed in the admin: shown at once, also to someone who switched

    def on_lang(self, *_args) -> None:
        self._status_texts()   # the status bar's texts now, not at the next reading
        self._clock_texts()

    def on_timezone(self, *_args) -> None:
        self._clock_texts()

    def on_confirm_seconds(self, _app, seconds) -> None:
        flow = getattr(self, "flow", None)   # None while __init__ reads the config
        if flow is not None and flow.times.confirm_s != seconds:   # changed in the admin: the next card takes it
            flow.times = dataclasses.replace(flow.times, confirm_s=seconds)

    def _settings_changed(self, config) -> None:
        """The effective config after a run-time setting changed (or at start): the properties follow."""
        from app.vision.decision import DecisionRule

        self.device_config = config
        self.device_name = config.device.name
        self.language = config.device.language
        self.timezone = config.device.timezone
        self.confirm_seconds = config.attendance.confirm_seconds
        self.admin_port = config.admin.port
        self.sound = config.ui.sound
        self.threshold = DecisionRule.from_config(config.recognition, config.vision.embedder).threshold

    def _status_changed(self, status: dict) -> None:
        """A status reading of the housekeeper: the status bar, the network screen, the camera state."""
        self.status = status
        if not status:
            return
        self.ip = status.get("ip") or ""
        self.pending = status.get("journal_pending", 0) + status.get("push_pending", 0)
        self.storage_low = bool(status.get("storage_low"))
        camera = status.get("camera") or {}
        self.camera_state, self.camera_reason = camera.get("state", ""), camera.get("reason", "")
        self._status_texts()
        self.flow.camera(self.camera_state != "no_camera", time.monotonic())
        self._sync_screen()

    def _status_texts(self) -> None:
        if not self.status:
            return
        self.network_text = self.ip or self.t("offline")
        waiting = self.pending
        self.sync_text = self.t("pending", n=waiting) if waiting else self.t("synced")
        if self.storage_low:   # punches still count (journal reserve): say why they wait
            self.sync_text = self.t("storage_low") + ("  " + self.t("pending", n=waiting) if waiting else "")
        fleet = self.status.get("fleet") or {}
        if fleet.get("enabled") and fleet.get("state") == "offline":   # a fleet terminal away from its centre
            self.sync_text = self.t("fleet.offline", n=fleet.get("pending", 0))

    def _clock_texts(self) -> None:
        local = self.now()
        self.clock_text = local.strftime("%H:%M")
        self.date_text = local.strftime("%Y-%m-%d") + " " + (
            "一二三四五六日"[local.weekday()] if self.lang.startswith("zh") else local.strftime("%a"))

    # -- build -------------------------------------------------------------------------------
    def build(self):
        from app import native

        from .overlay import LiveRenderer
        from .screens import SCREENS

        LabelBase.register("daka", str(self.font.path))
        self.renderer = LiveRenderer(native.TextRenderer(str(self.font.path), self.font.face_index), SCREEN_SIZE)
        self.manager = ScreenManager(transition=NoTransition())
        for name, cls in SCREENS.items():
            screen = cls(name=name)
            self.screens[name] = screen
            self.manager.add_widget(screen)
        self._warm_up_fonts()
        self._vision_trigger = Clock.create_trigger(self._apply_vision)
        self._presence_trigger = Clock.create_trigger(self._apply_presence)
        self._status_trigger = Clock.create_trigger(self._apply_status)
        self._settings_trigger = Clock.create_trigger(self._apply_settings)
        self._unsubscribe = [
            self.terminal.on_update(self._vision_from_worker),
            self.terminal.on_presence(self._presence_from_sensor),
            self.terminal.on_status(self._status_from_housekeeper),
            # (config, changed keys) for a change saved in any process (app/services/settings.py)
            self.terminal.settings.subscribe(lambda config, _keys: self._settings_from_store(config)),
        ]
        self._events = [Clock.schedule_interval(self._frame, 0), Clock.schedule_interval(self._tick, TICK_S)]
        self._status_changed(self.terminal.status_board.latest)   # the housekeeper's reading so far
        self._tick(0)
        self._sync_screen()
        return self.manager

    def _warm_up_fonts(self) -> None:
        """Open the CJK font at every size the screens use now, not at a staff member's first tap
        (SDL_ttf loads the font file once per size: ~0.1 s for a 5 MB collection)."""
        from kivy.core.text import Label as CoreLabel

        t0 = time.perf_counter()
        for size in FONT_SIZES:
            for bold in (False, True):
                CoreLabel(text="打卡成功 09:41", font_name="daka", font_size=size, bold=bold).refresh()
        logger.debug("fonts ready in {:.0f} ms", 1000 * (time.perf_counter() - t0))

    def on_start(self):
        self.root_window.bind(on_request_close=self.on_request_close, on_touch_down=self._on_any_touch)
        if self.probe is not None:
            self.root_window.bind(on_draw=self.probe.drawn)
        logger.info("kiosk window ready ({}x{})", *SCREEN_SIZE)

    def detach(self) -> None:
        """Stop this app's clock events and subscriptions (tests run several apps on one window).

        A result the vision thread was handing over at this moment may still arm a trigger after
        it is cancelled: the flag makes such a late call (and its trigger) do nothing, so nothing
        of this app runs on the next app's frames against a terminal that has stopped.
        """
        self._detached = True
        for event in self._events:
            event.cancel()
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        self._vision_trigger.cancel()
        self._presence_trigger.cancel()
        self._status_trigger.cancel()
        self._settings_trigger.cancel()
        if self.root_window is not None:
            self.root_window.unbind(on_request_close=self.on_request_close, on_touch_down=self._on_any_touch)
            if self.probe is not None:
                self.root_window.unbind(on_draw=self.probe.drawn)

    def on_request_close(self, *args):
        logger.info("window closed: stopping")
        return False   # let it close; daka run stops the terminal after the loop ends

    # -- from other threads (never touch widgets there) -----------------------------------------
    def _vision_from_worker(self, update: F.VisionUpdate) -> None:
        self._incoming = update
        if not self._detached:
            self._vision_trigger()

    def _presence_from_sensor(self, present: bool | None) -> None:
        self._presence.append(present)
        if not self._detached:
            self._presence_trigger()

    def _status_from_housekeeper(self, status: dict) -> None:
        self._status_in = status
        if not self._detached:
            self._status_trigger()

    def _settings_from_store(self, config) -> None:
        """A run-time setting changed (`config`: the new effective config, None: read the terminal's)."""
        self._settings_in = config
        if not self._detached:
            self._settings_trigger()

    # -- UI thread -------------------------------------------------------------------------------
    def _apply_vision(self, _dt) -> None:
        update, self._incoming = self._incoming, None
        if update is None or self._detached:
            return
        self.latest_update = update
        if update.result.tracks:
            self._face_seen_at = time.monotonic()
        if self.admin_screen is not None:
            return
        self.flow.vision(update, time.monotonic())
        self.hint_text = self.flow.prompt.text(self.lang)
        self._sync_screen()
        if self.flow.auto_ready:   # auto punch: the card's checks held; clock in without a tap
            self._confirm_now()

    def _apply_presence(self, _dt) -> None:
        events, self._presence = self._presence, []
        if self._detached:
            return
        for present in events:
            self.flow.presence(present, time.monotonic())
        self._sync_screen()

    def _frame(self, _dt) -> None:
        if self.probe is not None:
            self.probe.frame()
        now = time.monotonic()
        if self.admin_screen is None:
            self.flow.tick(now)
            self._language_back(now)
        elif now - self._last_touch > ADMIN_IDLE_S:
            logger.info("on-device admin: no touch for {} s, leaving", ADMIN_IDLE_S)
            self.leave_admin()
        self._sync_screen()
        deadline = self.flow.deadline
        self.countdown = max(0, int(deadline - now + 0.999)) if deadline is not None else 0
        screen = self.manager.current_screen
        if hasattr(screen, "on_frame"):
            screen.on_frame(self)

    def _apply_status(self, _dt) -> None:
        status, self._status_in = self._status_in, None
        if status is not None and not self._detached:
            self._status_changed(status)

    def _apply_settings(self, _dt) -> None:
        config, self._settings_in = self._settings_in, None
        if self._detached:
            return
        self._settings_changed(config if config is not None else self.terminal.config)

    def _tick(self, _dt) -> None:
        self.terminal.notifier.watchdog()   # from the UI thread: proves the window is alive
        self._clock_texts()

    def _sync_screen(self) -> None:
        key = (self.flow.changes, self.admin_screen)
        if key == self._seen:
            return
        self._seen = key
        name = self.admin_screen or self.flow.screen
        screen = self.screens[name]
        if hasattr(screen, "show"):
            screen.show(self)
        if self.manager.current != name:
            self.manager.current = name
        if self.admin_screen is None and self.flow.screen == F.RESULT and self.flow.outcome is not None \
                and self.flow.outcome.kind in (F.UNKNOWN, F.LIVENESS):
            self.terminal.run_job(self.terminal.feedback, self.flow.outcome.kind)

    # -- on-device admin ---------------------------------------------------------------------------
    def open_admin(self) -> None:
        """A long press on the status bar: the PIN screen (when a PIN is configured)."""
        if not self.device_config.ui.admin_pin:
            logger.info("long press: on-device admin is off ([ui] admin_pin is empty)")
            self.notice(self.t("admin_off"))
            return
        self.go_admin("admin_pin")

    def notice(self, message: str, seconds: float = 3.0) -> None:
        self.notice_text = message
        Clock.schedule_once(lambda _dt: setattr(self, "notice_text", ""), seconds)

    def check_pin(self, pin: str) -> bool:
        import hmac

        ok = hmac.compare_digest(pin.encode(), self.device_config.ui.admin_pin.encode())
        logger.info("on-device admin: {}", "PIN accepted" if ok else "wrong PIN")
        return ok

    def go_admin(self, name: str) -> None:
        self._last_touch = time.monotonic()
        self.admin_screen = name
        self._sync_screen()

    def leave_admin(self) -> None:
        self.admin_screen = None
        self.flow.forget()
        self.flow.resume(time.monotonic())
        self._sync_screen()

    def _on_any_touch(self, *_args) -> None:
        self._last_touch = time.monotonic()

    # -- taps ----------------------------------------------------------------------------------------
    def confirm(self) -> None:
        # a vision result not applied yet may show another face under the card: apply it first
        self._apply_vision(0)
        self._confirm_now()

    def _confirm_now(self) -> None:
        pending = self.flow.tap_confirm(time.monotonic())
        if pending is None:
            return
        future = self.terminal.confirm(pending.card, pending.score, pending.box, status=int(self.punch_status))
        future.add_done_callback(lambda f: Clock.schedule_once(lambda _dt: self._confirm_done(f)))

    def _confirm_done(self, future) -> None:
        if self._detached:
            return
        now = time.monotonic()
        try:
            result = future.result()
        except Exception as exc:
            logger.exception("confirm failed")
            self.flow.confirm_failed(str(exc), now)
            self.terminal.feedback("error")
        else:
            self.flow.confirmed(result, now)
        self._sync_screen()

    #: The catalogue key of each punch state (0 上班 .. 5 加班下班), in ZKTeco's order.
    PUNCH_STATE_KEYS = tuple(f"kiosk.state_{n}" for n in range(6))

    def next_punch_status(self) -> None:
        """The confirm card's state key: 上班, 下班, 外出, 外出返回, 加班上班, 加班下班, round again."""
        self.punch_status = (int(self.punch_status) + 1) % 6

    def not_me(self) -> None:
        self.flow.tap_not_me(time.monotonic())
        self._sync_screen()

    def wake(self) -> None:
        self.flow.wake(time.monotonic())
        self._sync_screen()

    def dismiss(self) -> None:
        self.flow.dismiss(time.monotonic())
        self._sync_screen()

    def photo_texture(self, bgr):
        """A Kivy texture of a BGR image (the enrolled photo on the confirm card)."""
        return bgr_texture(bgr)


def _self_links(terminal) -> SelfLinks | None:
    try:
        return open_self_links(lambda: terminal.config, terminal.instance)  # the admin port in force
    except OSError:  # the key cannot be made (a read-only instance): punches go on without the QR code
        logger.exception("self-service links are off: their key could not be read or made")
        return None


def bgr_texture(bgr, texture=None):
    from kivy.graphics.texture import Texture

    h, w = bgr.shape[:2]
    if texture is None or tuple(texture.size) != (w, h):
        texture = Texture.create(size=(w, h), colorfmt="bgr")
        texture.flip_vertical()
    texture.blit_buffer(bgr.tobytes(), colorfmt="bgr", bufferfmt="ubyte")
    return texture


def run_kiosk(terminal, font, probe: FrameProbe | None = None) -> KioskApp:
    """Run the window until it is closed or `app.stop()`; returns the app."""
    app = KioskApp(terminal, font, probe=probe)
    app.run()
    return app

