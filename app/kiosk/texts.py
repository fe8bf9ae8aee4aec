"""Screen texts, Simplified Chinese first with English: one table, looked up by key."""

from __future__ import annotations

from app.vision.quality import REASONS as QUALITY_REASONS

TEXTS: dict[str, tuple[str, str]] = {
    "confirm": ("确认打卡", "Clock in"),
    "not_me": ("不是我", "Not me"),
    "staff_no": ("工号", "Staff no"),
    "success": ("打卡成功", "Clocked in"),
    "already": ("已于 {hhmm} 打卡", "Already clocked in at {hhmm}"),
    "today": ("今日打卡", "Today"),
    "unknown": ("未识别", "Not recognised"),
    "unknown_hint": ("请联系管理员登记人脸", "Ask an administrator to enrol your face"),
    "liveness": ("活体检测未通过", "Liveness check failed"),
    "error": ("打卡失败，请重试", "Clock-in failed, please try again"),
    "no_camera": ("未检测到摄像头", "No camera"),
    "no_camera_hint": ("请检查摄像头连接；管理后台仍可使用", "Check the camera cable; the admin still works"),
    "idle_hint": ("请走近打卡", "Walk up to clock in"),
    "look": ("请看摄像头", "Please look at the camera"),
    "pending": ("待上传 {n}", "{n} waiting"),
    "synced": ("已同步", "Synced"),
    "offline": ("无网络", "Offline"),
    "seconds_left": ("{n} 秒", "{n} s"),
    "admin": ("设备管理", "Device admin"),
    "pin_prompt": ("请输入管理密码", "Enter the admin PIN"),
    "pin_wrong": ("密码错误", "Wrong PIN"),
    "back": ("返回", "Back"),
    "network": ("网络", "Network"),
    "admin_url": ("管理地址", "Admin URL"),
    "language": ("English", "中文"),
    "admin_off": ("未设置管理密码", "No admin PIN set"),
    "enrol": ("登记人脸", "Enrol a face"),
    "settings": ("设置", "Settings"),
    "self_test": ("自检", "Self-test"),
    "run_test": ("开始自检", "Run the self-test"),
    "exit_admin": ("退出", "Exit"),
    "staff_no_prompt": ("请输入工号", "Enter the staff no"),
    "staff_unknown": ("工号 {no} 未登记：请先在管理后台添加", "Staff no {no} unknown: add it in the admin first"),
    "capture": ("拍照 {n}/3", "Capture {n}/3"),
    "enrol_done": ("{name} 已登记 3 张照片", "{name}: 3 photos enrolled"),
    "enrolled_one": ("第 {n} 张已登记", "Photo {n} enrolled"),
    "threshold": ("识别阈值", "Match threshold"),
    "sound": ("提示音", "Sound"),
    "on": ("开", "On"),
    "off": ("关", "Off"),
    "saved": ("已保存", "Saved"),
    "working": ("请稍候…", "Please wait…"),
    "device": ("设备", "Device"),
    "ready_capture": ("可以拍照", "Ready"),
    "liveness_next": ("请正对摄像头缓慢转头\n仍未通过请联系管理员",
                      "Face the camera and turn your head slowly.\nIf it still fails, ask an administrator."),
    "liveness_retry": ("请离开后重试，或联系管理员", "Step away and try again, or ask an administrator"),
    "check_ok": ("正常", "OK"),
    "check_failed": ("异常", "Failed"),
    "check_camera": ("摄像头", "Camera"),
    "check_sensor": ("测距传感器", "Distance sensor"),
    "check_database": ("数据库", "Database"),
    "check_disk": ("存储空间", "Disk"),
    "check_gpio": ("蜂鸣器 / 指示灯 / 门锁", "Buzzer / LEDs / door relay"),
    "not_configured": ("未配置", "not configured"),
    "outputs_pulsed": ("已鸣响、闪灯、开门一次", "beep, LEDs, relay pulsed"),
    "journal_pending": ("待入库 {n} 条", "journal {n} pending"),
    "disk_free": ("可用 {gb} GB", "{gb} GB free"),
    "camera_state": ("摄像头", "Camera"),
    "streaming": ("采集中", "streaming"),
}
TEXTS.update({f"quality_{k}": v for k, v in QUALITY_REASONS.items()})


def text(key: str, language: str = "zh_CN", **values) -> str:
    zh, en = TEXTS[key]
    return (zh if language.startswith("zh") else en).format(**values)
