"""A small message catalogue: texts are written in Simplified Chinese, English looked up here.

The language is the session's choice (the 中文 / English switch), else the device setting.
"""

from __future__ import annotations

from flask import Flask, g, session

LANGUAGES = ("zh_CN", "en")

EN = {
    "打卡管理": "Daka admin",
    "概览": "Dashboard", "人员与人脸库": "Staff & faces", "考勤记录": "Attendance", "补卡": "Make-up",
    "设置": "Settings", "系统": "System", "审计日志": "Audit log", "退出": "Sign out", "登录": "Sign in",
    "用户名": "User name", "密码": "Password", "确认密码": "Confirm password",
    "首次使用：请设置管理员密码": "First run: set the administrator password",
    "保存": "Save", "搜索": "Search", "上一页": "Previous", "下一页": "Next", "共": "Total",
    "工号": "Staff no", "姓名": "Name", "部门": "Department", "状态": "State", "在职": "Active",
    "停用": "Inactive", "照片": "Photos", "操作": "Actions", "编辑": "Edit", "删除": "Delete",
    "启用": "Activate", "下载": "Download", "上传照片": "Upload photos",
    "可多选图片或一个 zip 压缩包，文件名为 工号_姓名.jpg": "Choose images or a zip archive; files are named staffno_name.jpg",
    "上传": "Upload", "上传结果": "Upload results", "文件": "File", "结果": "Result", "原因": "Reason",
    "成功": "OK", "失败": "Failed", "返回": "Back", "今日打卡": "Punches today",
    "今日已打卡人数": "People clocked in today", "在职人数": "Active staff", "待审补卡": "Make-ups waiting",
    "实时打卡": "Live punches", "终端状态": "Terminal status", "摄像头": "Camera", "帧率": "FPS",
    "最近识别": "Last recognition", "待写入": "Journal backlog", "待推送": "Push backlog",
    "磁盘剩余": "Disk free", "开始日期": "From", "结束日期": "To", "查询": "Query",
    "导出 CSV": "Export CSV", "导出 Excel": "Export XLSX", "每日汇总": "Daily summary", "明细": "Punches",
    "时间": "Time", "日期": "Date", "来源": "Source", "设备": "Device", "首次打卡": "First in",
    "末次打卡": "Last out", "次数": "Count", "缺卡": "Missing", "正常": "OK", "单次": "Single punch",
    "新建补卡": "New make-up request", "补卡时间": "Punch time", "事由": "Reason",
    "待审核": "Pending", "已批准": "Approved", "已驳回": "Rejected", "批准": "Approve", "驳回": "Reject",
    "申请人": "Requested by", "审核人": "Decided by", "提交": "Submit", "已保存": "Saved", "设置系统时间": "Set the system time",
    "系统时间": "System time", "日志": "Logs", "下载日志": "Download logs", "数据库备份": "Database backup",
    "下载备份": "Download backup", "恢复备份": "Restore a backup", "恢复": "Restore",
    "API 令牌": "API tokens", "名称": "Name", "角色": "Role", "创建": "Create", "吊销": "Revoke",
    "已吊销": "Revoked", "新令牌（只显示一次）": "New token (shown only once)", "接口文档": "API docs",
    "用户": "Users", "新建用户": "New user", "管理员": "Administrator", "只读": "Viewer (read-only)",
    "用户名或密码错误": "Wrong user name or password",
    "尝试次数过多，请稍后再试": "Too many attempts, try again later",
    "两次输入的密码不一致": "The passwords differ", "密码至少 8 位": "Passwords need at least 8 characters",
    "权限不足": "Not allowed", "未找到": "Not found", "操作人": "Actor", "动作": "Action", "详情": "Detail",
    "人员已删除": "Staff member deleted", "已更新": "Updated", "时间已设置": "Time set",
    "设置时间失败": "Setting the time failed", "备份已恢复": "Backup restored",
    "不是有效的备份文件": "Not a valid backup file", "无记录": "Nothing found", "关闭": "Off",
    "开": "On", "全部": "All", "修改": "Change",
    "请求过大": "Request too large", "已登记照片": "Enrolled photos", "缩略图": "Thumbnail",
    "确定删除？照片和人脸模板将一并删除。": "Delete? Photos and face templates are removed too.",
    "补卡已创建": "Make-up request created", "已处理": "Done", "人员": "Staff",
    "终端进程未提供": "not reported by the terminal", "健康": "Health", "新建人员": "New staff member",
    "存储": "Storage", "存储空间不足": "Storage full", "数据保留": "Retention",
    "已暂停：系统时间可疑": "paused: the system clock looks wrong",
    "页码超出范围": "Page number out of range", "无效的事件编号": "Invalid event id",
    "日期格式应为 2026-01-31": "Dates look like 2026-01-31",
    "日期超出范围（1900 至 9998 年）": "Date out of range (years 1900 to 9998)",
    "结束日期早于开始日期": "The end date is before the start date", "一次最多查询一年": "At most one year at a time",
    # settings: precedence over daka.toml, applied at once (labels and help: app/services/settings.py)
    "保存后立即在终端生效（标明“重启后生效”的除外），无需重启；这里保存的值优先于配置文件 daka.toml。":
        "Saved values take effect on the terminal at once, no restart needed (except where marked "
        "“applies at restart”); they override the config file daka.toml.",
    "重启后生效": "Applies at the next restart",
    "配置文件": "Config file", "（空）": "(empty)", "恢复配置文件的值": "Use the config file's value",
    "已恢复配置文件的值": "The config file's value applies again",
    "设置码": "Setup code", "设置码错误": "Wrong setup code",
    "设置码显示在终端的待机屏幕上，也写在终端的日志和实例目录的 setup_code.txt 中。":
        "The setup code is shown on the terminal's idle screen, and written in its log and in setup_code.txt "
        "in the instance folder.",
    "已设置过管理员": "The administrator is already set up",
    "不能停用或删除最后一个管理员": "The last active administrator cannot be deactivated or deleted",
    "停用账户": "Deactivate",
    "停用后该账户不能登录，其会话结束，其创建的 API 令牌被吊销。":
        "Deactivate? The account can no longer sign in, its sessions end and the API tokens it made are revoked.",
    "确定删除该账户？其创建的 API 令牌被吊销。": "Delete this account? The API tokens it made are revoked.",
    # the clock and NTP, staff names, backups (installer-lib)
    "网络校时": "Network time (NTP)", "未知": "unknown",
    "手动设置时间会关闭网络校时。": "Setting the time by hand turns network time off.",
    "恢复网络校时": "Restore network time", "网络校时已恢复": "Network time restored",
    "恢复网络校时失败": "Restoring network time failed",
    "网络校时已关闭，可点“恢复网络校时”重新开启": "Network time is off; “Restore network time” turns it on again.",
    "当前数据未改动": "The current data is unchanged.",
}


def language() -> str:
    lang = g.get("language")
    if lang is None:
        lang = session.get("lang")
        if lang not in LANGUAGES:
            from .context import services

            lang = services().setting("device.language")
        g.language = lang if lang in LANGUAGES else "zh_CN"
    return g.language


def gettext(text: str) -> str:
    return EN.get(text, text) if language() == "en" else text


def init_i18n(app: Flask) -> None:
    app.jinja_env.globals.update(_=gettext, language=language)
