"""The one text catalogue (app/i18n): both languages complete, and every key the code asks for exists.

The key walk reads the sources as the code calls them: ``_("…")`` / ``gettext("…")`` in the admin's
Python and templates (the Chinese text is the key), ``app.t("…")`` / ``text("…")`` in the kiosk (a
short key is ``kiosk.<key>``), ``text("area.name")`` elsewhere, and the admin's ``UserError("…")``
texts, which its routes pass through ``gettext``. Keys made from a code (quality.<reason>, …) are
checked against the codes each module declares.
"""

from __future__ import annotations

import ast
import io
import re
import string
from pathlib import Path

import jinja2
import pytest

from app import i18n

REPO = Path(__file__).resolve().parents[2]
CJK = re.compile(r"[\u4e00-\u9fff]")
KV_CALL = re.compile(r"""(?<![A-Za-z0-9_])t\(\s*(['"])(.+?)\1""")
TRANSLATED_ERRORS = {"UserError", "SetupDone", "MakeupError"}   # admin errors whose text its routes pass through gettext


def _fields(message: str) -> set[str]:
    return {name for _lit, name, _spec, _conv in string.Formatter().parse(message) if name is not None}


def _strings(node) -> list[str]:
    """The literal texts an argument can be: "a", or "a" if … else "b"."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _strings(node.body) + _strings(node.orelse)
    return []


def _catalogue_names(tree) -> set[str]:
    """The names a module calls the catalogue's lookup by (not, say, SQLAlchemy's ``text``)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[-1] in ("i18n", "texts"):
            names |= {alias.asname or alias.name for alias in node.names if alias.name in ("text", "gettext")}
        if isinstance(node, ast.ImportFrom) and node.module == "app" and any(a.name == "i18n" for a in node.names):
            names.add("i18n.text")
    return names


def _literal_calls(path: Path):
    """(function name, first argument) for each call in a Python file whose first argument is a literal."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    lookups = _catalogue_names(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            if isinstance(func, ast.Name):
                name = func.id
            elif isinstance(func, ast.Attribute):
                owner = func.value.id if isinstance(func.value, ast.Name) else ""
                name = f"{owner}.{func.attr}" if f"{owner}.{func.attr}" in lookups else func.attr
            else:
                continue
            for value in _strings(node.args[0]):
                yield name, value, name in lookups


def used_keys() -> dict[str, set[str]]:
    """Every catalogue key the sources and templates name literally, by where it was found."""
    found: dict[str, set[str]] = {}
    add = lambda key, where: found.setdefault(key, set()).add(where)  # noqa: E731
    for path in sorted((REPO / "admin").rglob("*.py")):
        for name, value, lookup in _literal_calls(path):
            if lookup or name in TRANSLATED_ERRORS:
                add(value, str(path.relative_to(REPO)))
    env = jinja2.Environment(extensions=["jinja2.ext.i18n"])
    for path in sorted((REPO / "admin").rglob("*.html")):
        for _line, function, message in env.extract_translations(path.read_text(encoding="utf-8")):
            if function in ("_", "gettext") and isinstance(message, str):
                add(message, str(path.relative_to(REPO)))
    kiosk = REPO / "app" / "kiosk"
    for path in sorted((REPO / "app").rglob("*.py")):
        in_kiosk = kiosk in path.parents
        for name, value, lookup in _literal_calls(path):
            if lookup or (in_kiosk and name == "t"):
                add(value if "." in value or not in_kiosk else f"kiosk.{value}", str(path.relative_to(REPO)))
    for path in sorted(kiosk.rglob("*.kv")):
        for _q, value in KV_CALL.findall(path.read_text(encoding="utf-8")):
            add(value if "." in value else f"kiosk.{value}", str(path.relative_to(REPO)))
    return found


def test_both_languages_have_the_same_keys_each_with_a_text():
    zh, en = i18n.catalogue("zh_CN"), i18n.catalogue("en")
    assert set(zh) == set(en)
    assert len(zh) > 250
    empty = sorted(k for k in zh if not zh[k].strip() or not en[k].strip())
    assert empty == []


def _written_keys(path: Path) -> list[str]:
    """The msgids as written in a .po file (a msgid may go on over quoted lines)."""
    keys, current = [], None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("msgid "):
            current = [ast.literal_eval(line[len("msgid "):])]
        elif current is not None and line.startswith('"'):
            current.append(ast.literal_eval(line))
        elif current is not None:
            keys.append("".join(current))
            current = None
    return [k for k in keys if k]


def test_no_key_is_written_twice():
    # Babel's reader keeps one of two entries with the same msgid without a word: refuse them here
    for language in i18n.LANGUAGES:
        path = REPO / "app" / "i18n" / "locale" / language / "LC_MESSAGES" / "messages.po"
        written = _written_keys(path)
        assert len(written) == len(i18n.catalogue(language))
        assert sorted(k for k in set(written) if written.count(k) > 1) == []


def test_a_fuzzy_or_empty_text_counts_as_missing():
    po = "\n".join(['msgid ""', 'msgstr "Content-Type: text/plain; charset=utf-8\\n"', "",
                    'msgid "a"', 'msgstr "A {n}"', "", "#, fuzzy", 'msgid "b"', 'msgstr "B"', "",
                    'msgid "c"', 'msgstr ""', "", '#~ msgid "d"', '#~ msgstr "D"', ""])
    assert i18n.read_catalogue(io.BytesIO(po.encode()), "en") == {"a": "A {n}"}


def test_both_languages_have_the_same_placeholders_and_fill_them():
    zh, en = i18n.catalogue("zh_CN"), i18n.catalogue("en")
    differ = sorted(k for k in zh if _fields(zh[k]) != _fields(en[k]))
    assert differ == []
    with_fields = [k for k in zh if _fields(zh[k])]
    assert "kiosk.pending" in with_fields and "clockin.recorded" in with_fields
    for key in with_fields:
        for language in i18n.LANGUAGES:
            filled = i18n.text(key, language, **{f: "7" for f in _fields(zh[key])})
            assert "{" not in filled and "7" in filled, (key, language, filled)


def test_english_texts_are_english():
    # the language switch names Chinese in Chinese on the English pages: the only Chinese allowed there
    chinese = sorted(k for k, v in i18n.catalogue("en").items() if CJK.search(v) and v != "中文")
    assert chinese == []


def test_every_key_the_code_uses_is_in_the_catalogue():
    found = used_keys()
    # the walk reaches each part that speaks: the admin's pages and code, the kiosk's screens, the rest of app/
    assert sum(1 for k in found if CJK.search(k)) > 150
    assert sum(1 for k in found if k.startswith("kiosk.")) > 50
    assert {"clockin.recorded", "clockin.already", "library.enrolled"} <= set(found)
    missing = sorted(f"{k} ({', '.join(sorted(w))})" for k, w in found.items() if not i18n.has(k))
    assert missing == []


def test_admin_errors_passed_through_the_catalogue_name_a_key():
    # the routes look up UserError's key: a text made up with an f-string would be a missing key
    made_up = []
    for path in sorted((REPO / "admin").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name in TRANSLATED_ERRORS and not (node.args and _strings(node.args[0])):
                    made_up.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert made_up == []


def test_keys_made_from_codes_are_in_the_catalogue():
    from app.hardware import camera
    from app.library.service import REASONS as LIBRARY_REASONS
    from app.vision.liveness.decision import HINTS
    from app.vision.quality import REASONS as QUALITY_REASONS

    keys = [f"quality.{c}" for c in QUALITY_REASONS] + [f"liveness.{h}" for h in HINTS]
    keys += [f"library.{c}" for c in LIBRARY_REASONS if c not in QUALITY_REASONS]
    keys += [f"camera.{s}" for s in (camera.STARTING, camera.STREAMING, camera.NO_CAMERA, camera.STOPPED)]
    assert [k for k in keys if not i18n.has(k)] == []
    assert len(keys) == 6 + 4 + 11 + 4


def test_language_tags_choose_the_catalogue():
    assert i18n.text("quality.blurry", "en") == "Please hold still"
    assert i18n.text("quality.blurry", "en_US") == i18n.text("quality.blurry", "en-GB") == "Please hold still"
    # any other language, or none, is Chinese: the product's default
    for language in ("zh_CN", "zh", "zh_TW", "fr", "", None):
        assert i18n.text("quality.blurry", language) == "请保持不动", language
    assert i18n.text("quality.blurry") == "请保持不动"


def test_a_missing_key_or_value_is_an_error_not_a_blank():
    with pytest.raises(KeyError):
        i18n.text("quality.no_such_reason", "en")
    with pytest.raises(KeyError):
        i18n.text("kiosk.pending", "zh_CN")          # {n} not given
    assert not i18n.has("quality.no_such_reason") and i18n.has("quality.blurry")
    assert i18n.text("kiosk.pending", "en", n=3) == "3 waiting"


def test_the_kiosk_short_keys_are_kiosk_keys():
    from app.kiosk.texts import has, text

    assert text("confirm") == "确认打卡" and text("confirm", "en") == "Clock in"
    assert text("quality.too_dark") == "光线不足"     # a full key passes through
    assert has("check_camera") and not has("check_no_such_part")


@pytest.mark.parametrize(("state", "reason", "zh", "en"), [
    ("checking", "too_close", "请稍微后退", "Please step back a little"),
    ("checking", "off_centre", "请正对屏幕中央", "Please centre your face"),
    ("challenge", "challenge", "请缓慢转头", "Please turn your head slowly"),
    ("challenge", "waiting", "请缓慢转头", "Please turn your head slowly"),
])
def test_the_kiosk_hint_bar_says_the_liveness_hint(state, reason, zh, en):
    from types import SimpleNamespace

    from app.kiosk.flow import ClockInFlow, SteadyPrompt
    from app.vision.liveness.decision import LivenessResult

    liveness = LivenessResult(state=state, reason=reason, frames=5)
    nearest = SimpleNamespace(liveness=liveness, live=False, quality=SimpleNamespace(ok=True))
    prompt = SteadyPrompt(settle_s=0.0, hold_s=0.0)
    prompt.update(ClockInFlow._advice(nearest), now=0.0)
    assert (prompt.text("zh_CN"), prompt.text("en")) == (zh, en) == (liveness.message(), liveness.message("en"))
    # a checking face with no hint to give says nothing
    assert LivenessResult(state="checking", reason="waiting", frames=5).message() == ""
