"""Run-time settings: the ONE place that says what an admin may change while the terminal runs.

To add a run-time setting: add its key to the config schema (``app/config/schema.py``: type,
default, allowed values, English doc), then :func:`register` it below with its zh/en label, the
Chinese help text (the English one is the schema's doc), choices when the schema has them, and
its applier: a function ``(terminal, config) -> None`` that makes the running terminal follow
the effective config, or :data:`RESTART` when the key can only take effect at the next start.
Nothing else is needed: the admin's settings page, the device's settings screen, docs/config.md,
the validation and the terminal's live update all come from this registry. A key without an
applier cannot be registered (:class:`RegistryError` at import), so a key cannot be offered and
then silently do nothing.

:class:`SettingsService` reads, validates, stores (audited) and announces the values: a stored
value overrides daka.toml and the environment. Subscribers (``subscribe(callback)``) are called
with ``(effective config, changed keys)`` on whatever thread made or noticed the change: at once
for a change made through any SettingsService on the same store object in this process, and,
for a change another process made (a separate ``daka admin serve`` on the same database), by
the one watcher thread the owner of the service starts (:meth:`SettingsService.watch`; the
terminal does) which reads the table's change number every :data:`WATCH_S` seconds.
"""

from __future__ import annotations

import dataclasses

import datetime as dt
import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from loguru import logger

from app.config import Config, ConfigError, KeySpec, check_setting, key_spec, with_values
from app.store.settings import delete_setting, read_setting, read_settings, settings_version, write_setting
from app.vision.decision import DecisionRule

if TYPE_CHECKING:
    from app.services.terminal import Terminal
    from app.store import Store

__all__ = ["REGISTRY", "RESTART", "RUNTIME_KEYS", "RegistryError", "RuntimeSetting", "SettingsService",
           "apply_changes", "describe_changes", "register", "runtime_docs", "threshold_key"]

#: The applier of a key that takes effect at the terminal's next start.
RESTART = "restart"
#: How often the watcher reads the change number (one short indexed read).
WATCH_S = 1.0

Applier = Callable[["Terminal", Config], None]
Text = tuple[str, str]   # (Simplified Chinese, English)
LANGUAGES = ("zh_CN", "en")


class RegistryError(ValueError):
    """A run-time setting declared wrongly (raised at import, so it never ships)."""


@dataclass(frozen=True)
class RuntimeSetting:
    """One run-time setting. Type, default and validation are the config schema's (``spec``)."""

    key: str
    group: Text
    label: Text
    help_zh: str
    apply: Applier | str                 # a live applier, or RESTART
    choices: tuple[tuple[Any, Text], ...] = ()
    secret: bool = False                 # never shown back (the page keeps it when left empty)
    embedder: tuple[str, str] | None = None   # (embedder kind, "threshold" | "margin") of the decision rule

    @property
    def spec(self) -> KeySpec:
        return key_spec(self.key)

    @property
    def live(self) -> bool:
        """True when a change applies at once; False when at the next start."""
        return self.apply != RESTART

    @property
    def input(self) -> str:
        """The kind of input a form shows: choice, secret, bool, number or text."""
        if self.choices:
            return "choice"
        if self.secret:
            return "secret"
        kind = self.spec.type
        if kind is bool:
            return "bool"
        return "number" if kind in (int, float) else "text"

    def text(self, lang: str) -> str:
        return _pick(self.label, lang)

    def help(self, lang: str) -> str:
        return self.spec.doc if lang == "en" else self.help_zh

    def group_text(self, lang: str) -> str:
        return _pick(self.group, lang)

    def choice_texts(self, lang: str) -> tuple[tuple[Any, str], ...]:
        return tuple((value, _pick(text, lang)) for value, text in self.choices)


def _pick(text: Text, lang: str) -> str:
    return text[1] if lang == "en" else text[0]


#: Every run-time setting, by key, in the order pages show them.
REGISTRY: dict[str, RuntimeSetting] = {}


def register(key: str, *, group: Text, label: Text, help_zh: str, apply: Applier | str,
             choices: Iterable[tuple[Any, Text]] = (), secret: bool = False,
             embedder: tuple[str, str] | None = None) -> RuntimeSetting:
    """Declare a run-time setting; :class:`RegistryError` when it is declared wrongly."""
    try:
        spec = key_spec(key)
    except KeyError as exc:
        raise RegistryError(f"{key}: not a key of the config schema (add it there first)") from exc
    if key in REGISTRY:
        raise RegistryError(f"{key}: registered twice")
    if not (apply == RESTART or callable(apply)):
        raise RegistryError(f"{key}: no applier: give a function (terminal, config) -> None, "
                            f"or RESTART when it applies at the next start")
    for text, what in ((group, "group"), (label, "label")):
        if not (isinstance(text, tuple) and len(text) == 2 and all(isinstance(t, str) and t for t in text)):
            raise RegistryError(f"{key}: {what} must be a (Chinese, English) pair")
    if not help_zh:
        raise RegistryError(f"{key}: help text missing")
    choices = tuple(choices)
    if spec.meta.choices is not None and {v for v, _t in choices} != set(spec.meta.choices):
        raise RegistryError(f"{key}: label every allowed value {spec.meta.choices} (and no other)")
    if choices and spec.meta.choices is None:
        raise RegistryError(f"{key}: choices given but the schema allows any value")
    if embedder is not None and embedder[1] not in ("threshold", "margin"):
        raise RegistryError(f"{key}: embedder part must be 'threshold' or 'margin'")
    setting = RuntimeSetting(key, group, label, help_zh, apply, choices, secret, embedder)
    REGISTRY[key] = setting
    return setting


def threshold_key(embedder: str) -> str:
    """The run-time key holding the match threshold of an embedder kind (each has its own scale)."""
    for setting in REGISTRY.values():
        if setting.embedder == (embedder, "threshold"):
            return setting.key
    raise KeyError(f"no threshold registered for embedder {embedder!r}")


def runtime_docs() -> list[tuple[str, bool]]:
    """``(key, applies at once)`` for every run-time setting (for ``docs/config.md``)."""
    return [(s.key, s.live) for s in REGISTRY.values()]


def apply_changes(terminal: Terminal, config: Config, changed: Iterable[str]) -> None:
    """Run the live appliers of the changed keys, each applier once, in registry order."""
    changed = set(changed)
    appliers = [s.apply for s in REGISTRY.values() if s.key in changed and s.live]
    for applier in dict.fromkeys(appliers):
        applier(terminal, config)   # type: ignore[operator]


def describe_changes(config: Config, changed: Iterable[str]) -> str:
    """``key=value`` of changed keys for the log (a secret as ***; a restart key says so)."""
    parts = []
    for key in changed:
        section, _, name = key.partition(".")
        value = getattr(getattr(config, section), name)
        setting = REGISTRY.get(key)
        shown = "***" if setting is not None and setting.secret and value else value
        later = "" if setting is None or setting.live else " (at the next start)"
        parts.append(f"{key}={shown}{later}")
    return ", ".join(parts)


# -- appliers: what each key changes in the running terminal -----------------------------------
# Each takes the terminal and the effective config (daka.toml + stored settings) and makes the
# running services follow it; appliers are idempotent.

def _apply_device_name(t: Terminal, cfg: Config) -> None:
    t.device_name = cfg.device.name   # the kiosk's status bar and status() read it


def _apply_sound(t: Terminal, cfg: Config) -> None:
    t.sound = cfg.ui.sound


def _apply_confirm_seconds(t: Terminal, cfg: Config) -> None:
    t.confirm_seconds = cfg.attendance.confirm_seconds   # the kiosk's flow follows it


def _apply_relay_mode(t: Terminal, cfg: Config) -> None:
    t.relay_mode = cfg.gpio.relay_mode


def _apply_language(t: Terminal, cfg: Config) -> None:
    t.language = cfg.device.language   # the kiosk follows it


def _apply_decision_rule(t: Terminal, cfg: Config) -> None:
    rule = DecisionRule.from_config(cfg.recognition, cfg.vision.embedder)
    t.pipeline.rule = dataclasses.replace(rule, min_observations=t.pipeline.rule.min_observations)


def _apply_dedupe(t: Terminal, cfg: Config) -> None:
    t.attendance.clockin.dedupe = dt.timedelta(seconds=cfg.attendance.dedupe_seconds)


def _apply_jobs(t: Terminal, cfg: Config) -> None:
    """Flush interval, retention days, push on/off and the zone of the jobs' triggers."""
    t.attendance.retention.days = cfg.storage.retention_days
    t.scheduler.sync(cfg)


def _apply_push(t: Terminal, cfg: Config) -> None:
    t.attendance.pusher.configure(cfg.push, cfg.device.timezone)
    t.scheduler.sync(cfg)   # the delivery job and the outbox follow push on/off


def _apply_timezone(t: Terminal, cfg: Config) -> None:
    # punches confirmed from now on take their local date and time in the new zone
    t.attendance.clockin.tz = ZoneInfo(cfg.device.timezone)
    _apply_push(t, cfg)   # HR gets local times in the new zone; the retention time moves with it


# -- the registry ------------------------------------------------------------------------------
DEVICE = ("设备", "Device")
RECOGNITION = ("识别", "Recognition")
ATTENDANCE = ("考勤", "Attendance")
PUSH = ("推送到人事系统", "Push to HR")
DOOR = ("门禁与提示音", "Door and sound")
STORAGE = ("存储", "Storage")

register("device.name", group=DEVICE, label=("设备名称", "Device name"),
         help_zh="显示在屏幕和报表中的名称。", apply=_apply_device_name)
register("device.timezone", group=DEVICE, label=("时区", "Time zone"),
         help_zh="打卡时间和计划任务使用的时区（如 Asia/Shanghai）；此后确认的打卡、推送和保留任务按新时区。",
         apply=_apply_timezone)
register("device.language", group=DEVICE, label=("语言", "Language"),
         help_zh="终端屏幕的语言（员工点语言按钮仍可临时切换）。", apply=_apply_language,
         choices=(("zh_CN", ("中文", "中文")), ("en", ("English", "English"))))

register("recognition.threshold", group=RECOGNITION, label=("识别阈值（dlib 模型）", "Match threshold (dlib model)"),
         help_zh="接受匹配所需的最低相似度；越高越严格。", apply=_apply_decision_rule,
         embedder=("dlib", "threshold"))
register("recognition.margin", group=RECOGNITION, label=("识别差距（dlib 模型）", "Match margin (dlib model)"),
         help_zh="最佳匹配须比第二个人的相似度至少高出这么多。", apply=_apply_decision_rule,
         embedder=("dlib", "margin"))
register("recognition.faceres_threshold", group=RECOGNITION,
         label=("识别阈值（faceres 模型）", "Match threshold (faceres model)"),
         help_zh="[vision] embedder = faceres 时的识别阈值。", apply=_apply_decision_rule,
         embedder=("faceres", "threshold"))
register("recognition.faceres_margin", group=RECOGNITION,
         label=("识别差距（faceres 模型）", "Match margin (faceres model)"),
         help_zh="[vision] embedder = faceres 时的识别差距。", apply=_apply_decision_rule,
         embedder=("faceres", "margin"))
register("recognition.fused_threshold", group=RECOGNITION,
         label=("识别阈值（融合模型）", "Match threshold (fused models)"),
         help_zh="[vision] embedder = fused 时的识别阈值（两个模型相似度的加权平均）。", apply=_apply_decision_rule,
         embedder=("fused", "threshold"))
register("recognition.fused_margin", group=RECOGNITION,
         label=("识别差距（融合模型）", "Match margin (fused models)"),
         help_zh="[vision] embedder = fused 时的识别差距。", apply=_apply_decision_rule,
         embedder=("fused", "margin"))

register("attendance.confirm_seconds", group=ATTENDANCE, label=("确认超时（秒）", "Confirm timeout (s)"),
         help_zh="确认卡片等待点击的时间，超时后消失。", apply=_apply_confirm_seconds)
register("attendance.dedupe_seconds", group=ATTENDANCE, label=("重复打卡间隔（秒）", "Dedupe window (s)"),
         help_zh="同一人在这么多秒内再次打卡不记录。", apply=_apply_dedupe)
register("attendance.flush_seconds", group=ATTENDANCE, label=("写入间隔（秒）", "Flush interval (s)"),
         help_zh="打卡记录从日志写入数据库的最长间隔。", apply=_apply_jobs)

register("push.webhook_url", group=PUSH, label=("推送地址", "Webhook URL"),
         help_zh="接收打卡记录的地址；留空则不推送（关闭期间的打卡不排队推送）。", apply=_apply_push)
register("push.secret", group=PUSH, label=("推送密钥", "Webhook secret"),
         help_zh="X-Daka-Signature（HMAC-SHA256）签名的共享密钥；留空保存则保留原密钥。", apply=_apply_push,
         secret=True)

register("gpio.relay_mode", group=DOOR, label=("门禁继电器", "Door relay"),
         help_zh="每次打卡开门，或从不开门。", apply=_apply_relay_mode,
         choices=(("pulse", ("每次打卡开门", "Pulse on each clock-in")), ("off", ("关闭", "Off"))))
register("ui.sound", group=DOOR, label=("提示音", "Sound"),
         help_zh="打卡结果时蜂鸣器提示。", apply=_apply_sound)

register("storage.retention_days", group=STORAGE, label=("保留天数", "Retention (days)"),
         help_zh="删除早于这么多天的打卡记录及其抓拍；0 为永久保留。", apply=_apply_jobs)

# -- ZKTeco PUSH (ADMS), issue 18 ----------------------------------------------------------------
ADMS = ("ZKTeco 考勤协议（ADMS 推送）", "ZKTeco PUSH (ADMS)")


def _apply_adms(t: Terminal, cfg: Config) -> None:
    """The ADMS link (app/zk/adms, a service `daka run` adds) follows its settings at once."""
    for service in t.services:
        follow = getattr(service, "follow_adms_settings", None)
        if follow is not None:
            follow(cfg)


# -- issue 19: ZKTeco's pull protocol (TCP/UDP 4370) ---------------------------------------------
def _apply_zk_pull(t: Terminal, cfg: Config) -> None:
    # The 4370 server is a front end (app.zk.pull) that `daka run` adds to the terminal's services;
    # it restarts itself with the new values (this floor cannot import it).
    for service in t.services:
        follow = getattr(service, "follow_zk_pull", None)
        if follow is not None:
            follow(cfg)


register("push.adms_url", group=ADMS, label=("ADMS 服务器地址", "ADMS server URL"),
         help_zh="ZKBioTime/BioTime、WDMS 等 ADMS 服务器的地址（如 http://10.0.0.5:8081）；"
                 "Daka 像中控考勤机一样访问 /iclock/...；留空则关闭。", apply=_apply_adms)
register("push.adms_serial", group=ADMS, label=("设备序列号（SN）", "Serial number (SN)"),
         help_zh="向 ADMS 服务器报告的序列号；留空则由本机 machine-id 生成（见系统页）。", apply=_apply_adms)
register("push.adms_tables", group=ADMS, label=("上传的表", "Tables to upload"),
         help_zh="逗号分隔：ATTLOG（打卡记录）、OPERLOG（人员增改、管理操作）；服务器的 TransFlag 可再收窄。",
         apply=_apply_adms)
register("push.adms_commands", group=ADMS, label=("允许的服务器命令", "Server commands allowed"),
         help_zh="逗号分隔：USERINFO、BIOPHOTO、QUERY、CHECK、INFO、LOG、OPTION、REBOOT、CLEAR；"
                 "未列出的命令一律拒绝（CLEAR 会删除全部打卡记录，默认不允许）。", apply=_apply_adms)
register("push.adms_encoding", group=ADMS, label=("文本编码", "Text encoding"),
         help_zh="发送给服务器的文本编码：GB18030（与国内中控考勤机相同，服务器按 GBK/GB2312 读取）或 UTF-8。",
         apply=_apply_adms,
         choices=(("gb18030", ("GB18030", "GB18030")), ("utf-8", ("UTF-8", "UTF-8"))))
ZK_PULL = ("ZKTeco 拉取协议（4370）", "ZKTeco pull protocol (4370)")
register("zk_pull.enabled", group=ZK_PULL, label=("启用 4370 拉取协议", "Serve the pull protocol"),
         help_zh="让按中控（ZKTeco）考勤机编写的人事软件（ZKTime、pyzk、node-zklib 等）通过 TCP/UDP 4370 端口"
                 "读取员工和打卡记录。", apply=_apply_zk_pull)
register("zk_pull.port", group=ZK_PULL, label=("端口", "Port"),
         help_zh="拉取协议的端口（TCP 和 UDP），默认 4370。", apply=_apply_zk_pull)
register("zk_pull.comm_key", group=ZK_PULL, label=("通讯密码", "Comm key"),
         help_zh="客户端须用 CMD_AUTH 证明的通讯密码；0 为不设。node-zklib 和 zkteco-js 不支持通讯密码，只能用 0。"
                 "留空保存则保留原密码。", apply=_apply_zk_pull, secret=True)
register("zk_pull.tcp", group=ZK_PULL, label=("经 TCP 提供", "Serve over TCP"),
         help_zh="通过 TCP 提供拉取协议。", apply=_apply_zk_pull)
register("zk_pull.udp", group=ZK_PULL, label=("经 UDP 提供", "Serve over UDP"),
         help_zh="通过 UDP 提供拉取协议。", apply=_apply_zk_pull)
register("zk_pull.allow_writes", group=ZK_PULL, label=("允许写入人员", "Allow user writes"),
         help_zh="允许客户端新增、改名和删除人员（set_user、delete_user），每次写入都记入审计日志。"
                 "清除打卡记录始终不允许。", apply=_apply_zk_pull)
register("zk_pull.allow_set_time", group=ZK_PULL, label=("允许校时", "Allow setting the clock"),
         help_zh="允许客户端设置终端时间（set_time），经由与管理后台相同的、记入审计日志的校时命令。",
         apply=_apply_zk_pull)
# issue 21: the decision as a false-accept rate (the raw thresholds above stay, as the expert way)
register("recognition.false_accept", group=RECOGNITION, label=("误识率（陌生人被认成员工）",
                                                               "False-accept rate (stranger taken for staff)"),
         help_zh="未登记的人被认成某位员工的比例；阈值随已登记的人脸（人数以及彼此相像的程度）自动调整，使该比例保持不变。"
                 "0.1% 为严格门禁模式（员工偶尔需多看一眼镜头）。",
         apply=_apply_decision_rule,
         choices=((0.01, ("1%（标准）", "1% (standard)")), (0.001, ("0.1%（严格门禁）", "0.1% (strict door)"))))
register("recognition.decide_by_threshold", group=RECOGNITION,
         label=("按原始阈值判定（专家）", "Decide by raw threshold (expert)"),
         help_zh="开启后按上面的识别阈值和差距判定，不按误识率；员工越多，陌生人被误认的比例越高。",
         apply=_apply_decision_rule)
# -- issue 24: attendance reports (read by the admin per request: nothing to apply in the terminal)
REPORTS = ("考勤报表", "Attendance reports")


def _apply_nothing(t: Terminal, cfg: Config) -> None:
    pass


register("reports.company", group=REPORTS, label=("公司名称", "Company name"),
         help_zh="打印的考勤报表标题中的公司名称；留空则用设备名称。", apply=_apply_nothing)

# -- issue 25: stranger and spoof records -----------------------------------------------------------
RECORDS = ("陌生人与活体记录", "Stranger and spoof records")


def _apply_face_events(t: Terminal, cfg: Config) -> None:
    t.face_events.enabled = cfg.records.face_events


def _apply_face_event_days(t: Terminal, cfg: Config) -> None:
    t.attendance.retention.event_days = cfg.records.face_event_days
    t.scheduler.sync(cfg)   # the retention job runs while punches or records have a limit


register("records.face_events", group=RECORDS, label=("保存陌生人与活体拒绝记录", "Keep stranger and spoof records"),
         help_zh="未识别的人脸和未通过活体检测的人脸各保存一条记录和一张人脸抓拍（每人一次），在“陌生人记录”页查看；"
                 "关闭则不再保存（隐私）。", apply=_apply_face_events)
register("records.face_event_days", group=RECORDS, label=("记录保留天数", "Records kept (days)"),
         help_zh="删除早于这么多天的陌生人与活体拒绝记录及其抓拍；0 为永久保留。", apply=_apply_face_event_days)

# -- issue 20: central admin ------------------------------------------------------------------------
FLEET = ("终端集群", "Terminal fleet")
register("fleet.silent_after_min", group=FLEET, label=("终端离线判定（分钟）", "Terminal silent after (min)"),
         help_zh="终端设备页把超过这么多分钟没有心跳的终端标为离线（红色）。", apply=_apply_nothing)

#: The keys an admin may change at run time (derived: register a key to add one).
RUNTIME_KEYS: tuple[str, ...] = tuple(REGISTRY)


# -- the service -------------------------------------------------------------------------------

# The services with subscribers, per store object (weak: a disposed store takes them along), so
# that a change saved through any service on a store reaches them all at once.
_listening: weakref.WeakKeyDictionary[Store, list[SettingsService]] = weakref.WeakKeyDictionary()
_listening_lock = threading.Lock()


class SettingsService:
    """Run-time settings on a store: defaults from ``config`` (daka.toml + environment)."""

    def __init__(self, store: Store, config: Config, registry: dict[str, RuntimeSetting] | None = None):
        self.store, self.config = store, config
        self.registry = REGISTRY if registry is None else registry
        self._callbacks: list[Callable[[Config, tuple[str, ...]], None]] = []
        self._seen: dict[str, Any] | None = None   # the values last handed out
        self._refresh_lock = threading.RLock()      # a callback may save a setting itself
        self._watcher: threading.Thread | None = None
        self._halt = threading.Event()

    # -- values ---------------------------------------------------------------------------------
    def default(self, key: str) -> Any:
        """The config's (file + environment) value of a run-time key."""
        section, name = self._split(key)
        return getattr(getattr(self.config, section), name)

    def get(self, key: str) -> Any:
        self._split(key)
        found, value = read_setting(self.store, key)
        return value if found else self.default(key)

    def stored(self) -> dict[str, Any]:
        """The values an admin changed (the others come from the config)."""
        return {k: v for k, v in read_settings(self.store).items() if k in self.registry}

    def all(self) -> dict[str, Any]:
        stored = self.stored()
        return {k: stored.get(k, self.default(k)) for k in self.registry}

    def effective(self) -> tuple[Config, dict[str, Any]]:
        """The config with the stored values laid over it, and those values (every run-time key).

        A stored value the schema no longer accepts (an older version's range, a time zone
        the system lost) is skipped with a warning: it must not keep the terminal from starting.
        The first call's values are what the first announcement is compared with (a change
        stored between a terminal's start and its subscription is announced, not lost); later
        calls leave the subscribers' reckoning alone, so a reader cannot swallow a change.
        """
        with self._refresh_lock:
            config, values = self._compute()
            if self._seen is None:
                self._seen = values
            return config, values

    def _compute(self) -> tuple[Config, dict[str, Any]]:
        values = {}
        for key, value in self.all().items():
            try:
                values[key] = check_setting(key, value)
            except ConfigError as exc:
                logger.warning("stored setting ignored, the config's value applies: {}", exc)
                values[key] = self.default(key)
        return with_values(self.config, values), values

    def set(self, key: str, value: Any, actor: str) -> Any:
        """Validate and store a value (ConfigError when refused, KeyError for a key not
        registered); the stored value. Subscribers hear of it before this returns."""
        setting = self.registry.get(key)
        self._split(key)
        value = check_setting(key, value)
        write_setting(self.store, key, value, actor, old_default=self.default(key),
                      secret=bool(setting and setting.secret))
        _announce(self.store)
        return value

    def reset(self, key: str, actor: str) -> None:
        """Forget the stored value: the config file's applies again."""
        self._split(key)
        if delete_setting(self.store, key, actor):
            _announce(self.store)

    # -- announcements --------------------------------------------------------------------------
    def subscribe(self, callback: Callable[[Config, tuple[str, ...]], None]) -> Callable[[], None]:
        """Call ``callback(effective config, changed keys)`` after each change; returns the
        unsubscribe. Called on the thread that made the change (or the watcher's), callbacks in
        the order they subscribed. Subscribe first, then read the current values: a change in
        between is then announced rather than missed."""
        with self._refresh_lock:
            if self._seen is None:
                self.effective()   # changes are counted from now
            self._callbacks.append(callback)
        with _listening_lock:
            services = _listening.setdefault(self.store, [])
            if self not in services:
                services.append(self)

        def unsubscribe() -> None:
            with self._refresh_lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)
                empty = not self._callbacks
            if empty:
                with _listening_lock:
                    services = _listening.get(self.store, [])
                    if self in services:
                        services.remove(self)
        return unsubscribe

    def refresh(self) -> tuple[str, ...]:
        """Read the values again; tell the subscribers what changed since they last heard."""
        with self._refresh_lock:
            before = self._seen
            config, values = self._compute()
            self._seen = values
            changed = tuple(k for k in values if before is None or before.get(k) != values[k])
            if not changed:
                return ()
            for callback in list(self._callbacks):
                try:
                    callback(config, changed)
                except Exception:   # the change is stored: one subscriber's failure must not stop the rest
                    logger.exception("applying the settings {} failed", ", ".join(changed))
            return changed

    # -- the watcher: changes made by another process -------------------------------------------
    def watch(self, interval: float = WATCH_S) -> None:
        """Start the one thread that notices changes other processes store (stop_watching ends it)."""
        if self._watcher is not None:
            return
        self._halt.clear()
        version = self._version()
        self.refresh()   # anything changed between effective() and now
        self._watcher = threading.Thread(target=self._watch, args=(version, interval),
                                         name="settings-watcher", daemon=True)
        self._watcher.start()

    def stop_watching(self) -> None:
        self._halt.set()
        if self._watcher is not None:
            self._watcher.join(timeout=10)
            self._watcher = None

    def _version(self) -> int | None:
        try:
            return settings_version(self.store)
        except Exception:   # the database away for a moment: try again at the next tick
            logger.opt(exception=True).debug("reading the settings' change number failed")
            return None

    def _watch(self, version: int | None, interval: float) -> None:
        while not self._halt.wait(interval):
            now = self._version()
            if now is None or now == version:
                continue
            version = now
            try:
                _announce(self.store)
            except Exception:
                logger.exception("applying settings changed by another process failed")

    def _split(self, key: str) -> tuple[str, str]:
        if key not in self.registry:
            raise KeyError(f"{key} cannot be changed at run time")
        section, _, name = key.partition(".")
        return section, name


def _announce(store: Store) -> None:
    with _listening_lock:
        services = list(_listening.get(store, ()))
    for service in services:
        service.refresh()
