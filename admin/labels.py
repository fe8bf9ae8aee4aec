"""What the pages show for stored values: a label in the page's language for each code (punch
source, role, audit action, camera state), the terminal's configured name for its device id, and
every time in the terminal's zone. Registered as template filters; no page prints a raw code.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping

from flask import Flask

from app.i18n import has

from . import devices
from .context import services
from .i18n import gettext as _

SOURCES = {"face": "人脸识别", "makeup": "补卡", "manual": "手工录入"}
ROLES = {"admin": "管理员", "viewer": "只读", "hr": "人事"}
ACTIONS = {
    "login": "登录", "login_failed": "登录失败", "login_throttled": "登录尝试过多，已暂时锁定",
    "create_user": "新建账户", "set_password": "修改密码", "activate_user": "启用账户",
    "deactivate_user": "停用账户", "delete_user": "删除账户",
    "create_token": "创建 API 令牌", "revoke_token": "吊销 API 令牌",
    "setting": "修改设置", "setting_reset": "恢复配置文件的值",
    "makeup_create": "新建补卡", "makeup_approve": "批准补卡", "makeup_reject": "驳回补卡",
    "set_time": "设置系统时间", "set_time_failed": "设置系统时间失败",
    "restore_ntp": "恢复网络校时", "restore_ntp_failed": "恢复网络校时失败",
    "backup": "下载备份", "restore": "恢复备份", "restore_failed": "恢复备份失败",
    "create_staff": "新建人员", "edit_staff": "修改人员", "delete_staff": "删除人员",
    "activate_staff": "启用人员", "deactivate_staff": "停用人员",
    "upload_photos": "上传照片", "enroll": "登记照片", "enroll_doubtful": "登记质量存疑的照片",
    "remove_template": "删除照片", "reindex": "重算人脸模板",
    "retention": "按保留期限删除记录", "retention_refused": "暂停删除过期记录", "clear_range": "删除时间段内的考勤",
    "liveness_failed": "活体检测未通过",
    "device_setting": "修改终端的单独设置", "device_setting_reset": "删除终端的单独设置",   # issue 20
}
DETAILS = {
    "username": "用户名", "role": "角色", "first": "首个管理员", "tokens_revoked": "吊销的令牌数",
    "token": "令牌编号", "name": "名称", "key": "设置项", "old": "原值", "new": "新值",
    "request": "申请编号", "staff_no": "工号", "time": "时间", "date": "日期", "reason": "原因",
    "punch": "打卡记录", "output": "输出", "error": "错误", "file": "文件", "files": "文件数",
    "enrolled": "成功数", "template": "照片编号", "templates": "照片数", "updated": "已更新",
    "failed": "失败数", "model": "模型", "deleted": "删除条数", "start": "开始", "end": "结束",
    "days": "保留天数", "detail": "详情", "department": "部门", "address": "地址",
    "track_id": "跟踪编号", "doubt": "质量疑点", "refused": "未通过数", "doubtful": "质量存疑仍登记的照片",
    "device": "设备",
}
# who did it, when it was not a person's account: the terminal's own parts, an API token
ACTORS = {"library": "人脸库", "anonymous": "未登录用户", "setup": "首次设置", "terminal": "终端", "retention": "数据保留",
          "kiosk": "终端"}
# why retention paused (app/attendance/retention.py): the clock looks wrong
RETENTION_REASONS = {"future_punch": "最新的打卡记录晚于当前系统时间", "clock_jump": "系统时间刚被大幅调整",
                     "long_gap": "距上次清理的时间异常地长"}
TOKEN_ACTOR = "token:"   # the API's actor names (admin/api/routes.py)
CAMERA_STATES = ("starting", "streaming", "no_camera", "stopped")
# loguru's file lines begin with a local time and its UTC offset (app/logs.py FILE_FORMAT)
_LOG_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(\.\d+)?([+-]\d{2}:?\d{2})", re.M)


def _label(table: Mapping[str, str], code) -> str:
    key = table.get(code) if isinstance(code, str) else None
    return _(key) if key else ("—" if code in (None, "") else str(code))


def source_label(code) -> str:
    return _label(SOURCES, code)


def role_label(code) -> str:
    return _label(ROLES, code)


def action_label(code) -> str:
    return _label(ACTIONS, code)


def actor_label(actor) -> str:
    """An account's name as it is; the terminal's parts and API tokens named."""
    if isinstance(actor, str) and actor.startswith(TOKEN_ACTOR):
        return _("API 令牌 {name}", name=actor.removeprefix(TOKEN_ACTOR))
    return _label(ACTORS, actor) if actor in ACTORS else (actor or "—")


def retention_reason(code) -> str:
    return _label(RETENTION_REASONS, code)


def camera_label(state) -> str:
    return _(f"camera.{state}") if state in CAMERA_STATES and has(f"camera.{state}") else _label({}, state)


def device_label(device_id) -> str:
    """A device's name: the centre's name of a fleet terminal, this terminal's configured name
    (设置 → 设备名称) for its own id, another id as it is (admin/devices.py)."""
    return devices.label(device_id)


def zone_name() -> str:
    return services().setting("device.timezone")


def local_time(value, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """A stored time (naive UTC, an aware datetime or an ISO string) in the terminal's zone."""
    if value in (None, ""):
        return "—"
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(services().timezone()).strftime(fmt)


def log_in_zone(text: str) -> str:
    """Log lines with their leading times moved to the terminal's zone (the file keeps the
    process's own zone, which on a device is often UTC)."""
    tz = services().timezone()

    def moved(m: re.Match) -> str:
        offset = m.group(3).replace(":", "")
        try:
            at = dt.datetime.strptime(m.group(1) + offset, "%Y-%m-%d %H:%M:%S%z")
        except ValueError:
            return m.group(0)
        return at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") + (m.group(2) or "")
    return _LOG_TIME.sub(moved, text)


def _value(value) -> str:
    if isinstance(value, bool):
        return _("是") if value else _("否")
    if value is None or value == "":
        return "—"
    if isinstance(value, Mapping):
        return "，".join(f"{_label(DETAILS, k)}：{_value(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "、".join(_value(v) for v in value)
    return str(value)


def audit_details(detail: Mapping) -> list[tuple[str, str]]:
    """An audit row's detail as (label, value) pairs a person reads: roles and sources named,
    nested values (a staff edit's old and new) spelled out, never a Python dict."""
    out = []
    for key, value in detail.items():
        if key == "role":
            value = role_label(value)
        elif key == "source":
            value = source_label(value)
        elif key == "doubt":
            value = doubt_label(value)
        elif key == "reason" and value in RETENTION_REASONS:
            value = retention_reason(value)
        else:
            value = _value(value)
        out.append((_label(DETAILS, key), value))
    return out


def upload_message(result: Mapping) -> str:
    """Why a photo was or was not enrolled, for a person choosing photos (the kiosk's words, such
    as 请保持不动, are for someone standing at the camera); never the technical detail."""
    if result.get("ok"):
        return _("已登记，质量存疑（已由管理员确认）") if result.get("doubt") else _("已登记")
    reason = result.get("reason") or ""
    return _(f"upload.{reason}") if has(f"upload.{reason}") else _("无法登记这张照片，请换一张清晰的正面照")


def doubt_label(code) -> str:
    return _(f"doubt.{code}") if isinstance(code, str) and has(f"doubt.{code}") else _label({}, code)


# A refused staff number, name or department (app/library/names.py words it for logs and the
# CLI): the same rule as a sentence for the form, matched on the rule's own wording.
_NAME_PROBLEMS = (
    (re.compile(r"^staff no .* exists$"), "这个工号已存在，请换一个工号或编辑已有人员"),
    (re.compile(r"^staff no "), "工号应为 1 至 32 个字母、数字、“.”或“-”"),
    (re.compile(r"^the (name|department) contains an invisible.* (?P<char>U\+[0-9A-F]{4,6})"),
     "姓名或部门中有看不见的字符或控制字符（{char}），请删除后重新输入"),
    (re.compile(r"^the name is empty"), "请填写姓名"),
    (re.compile(r"^the (name|department) is \d+ characters long"), "姓名和部门最多 64 个字"),
    (re.compile(r"^the name has no letter"), "姓名中至少要有一个字"),
    (re.compile(r"^the name must not contain"), "姓名中不能有“/”或“\\”"),
)


def name_problem(exc: Exception) -> str:
    """Why a staff number, name or department was refused, as a sentence in the page's language."""
    text = str(exc)
    for pattern, sentence in _NAME_PROBLEMS:
        found = pattern.search(text)
        if found:
            return _(sentence, **found.groupdict())
    return _("工号、姓名或部门不符合要求，请检查后重试")


def init_labels(app: Flask) -> None:
    app.jinja_env.filters.update(source_label=source_label, role_label=role_label, action_label=action_label,
                                 camera_label=camera_label, actor_label=actor_label, device_label=device_label, local_time=local_time,
                                 log_in_zone=log_in_zone, audit_details=audit_details,
                                 upload_message=upload_message, doubt_label=doubt_label,
                                 retention_reason=retention_reason)
    app.jinja_env.globals.update(zone_name=zone_name)
