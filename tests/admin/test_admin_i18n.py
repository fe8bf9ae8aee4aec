"""Every text the admin shows through the catalogue (app/i18n) has its English form."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from tests.helpers.admin_app import post

ADMIN = Path(__file__).resolve().parents[2] / "admin"
CALL = re.compile(r"""(?<![A-Za-z0-9])_\(\s*(['"])(.+?)\1\s*\)""")


def test_every_catalogue_text_has_an_english_form():
    from app.i18n import catalogue

    english = catalogue("en")

    found = set()
    for path in list(ADMIN.rglob("*.html")) + list(ADMIN.rglob("*.py")):
        for _q, text in CALL.findall(path.read_text(encoding="utf-8")):
            found.add(text)
    import admin.auth.routes  # noqa: F401  (texts raised as UserError are catalogue keys)

    found |= {"用户名或密码错误", "密码至少 8 位", "两次输入的密码不一致", "已设置过管理员", "不能停用或删除最后一个管理员",
              "未找到"}
    chinese = {t for t in found if re.search(r"[\u4e00-\u9fff]", t)}
    assert len(chinese) > 80
    missing = sorted(t for t in chinese if t != "中文" and (not english.get(t) or english[t] == t))
    assert missing == []


def test_every_setting_of_the_registry_has_both_languages():
    """The settings page's labels, groups, help and choices come from the registry as (zh, en)."""
    from app.services.settings import REGISTRY

    cjk = re.compile(r"[\u4e00-\u9fff]")
    for s in REGISTRY.values():
        for lang in ("zh_CN", "en"):
            assert s.text(lang) and s.group_text(lang) and s.help(lang), (s.key, lang)
        assert cjk.search(s.text("zh_CN")) and cjk.search(s.help("zh_CN")), s.key
        english = [s.text("en"), s.group_text("en"), s.help("en")] + [t for _v, t in s.choice_texts("en")]
        assert not any(cjk.search(t) for t in english if t != "中文"), s.key


@pytest.mark.parametrize(("lang", "role", "username", "shown"), [
    ("zh_CN", "viewer", "hr", "用户 hr 已存在"),
    ("en", "viewer", "hr", "user hr exists"),
    ("zh_CN", "owner", "boss", "角色必须是 admin, hr, viewer 之一"),
    ("en", "owner", "boss", "role must be one of admin, hr, viewer"),
])
def test_a_refused_new_account_is_told_in_the_page_language(admin_client, lang, role, username, shown):
    # the account errors that carry a value go through the catalogue like the others (not a 500)
    post(admin_client, "/language", {"lang": lang, "next": "/system/"})
    form = {"username": username, "password": "long enough pw", "confirm": "long enough pw", "role": role}
    r = post(admin_client, "/system/users", form, page="/system/")
    assert r.status_code == 303
    page = admin_client.get("/system/").get_data(as_text=True)
    assert html.escape(shown) in page
