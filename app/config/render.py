"""Rendering: the commented default daka.toml, a config dumped as TOML, and docs/config.md."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import tomli_w

from .checks import CROSS_CHECKS
from .load import load_config_file
from .schema import CONFIG_FILE_NAME, SCHEMA, Config, ConfigError



def render_default_config() -> str:
    """The default ``daka.toml``: every key documented and commented out."""
    lines = [
        "# Daka (打卡) configuration: settings of this device and installation.",
        "#",
        "# Every key is listed with its default value, commented out. To change a",
        "# setting, remove the leading '#' and edit the value. The file is UTF-8.",
        "# Environment variables DAKA_<SECTION>_<KEY> (e.g. DAKA_ADMIN_PORT=9090)",
        "# override this file. Reference: docs/config.md.",
    ]
    for section in SCHEMA:
        lines += ["", "", f"# {section.doc}", f"[{section.name}]"]
        for key in section.keys:
            lines += [
                "",
                f"# {key.doc}",
                f"# Allowed: {key.allowed()}.",
                f"#{key.name} = {key.render_value(key.default)}",
            ]
    return "\n".join(lines) + "\n"


def dump_config(cfg: Config) -> str:
    """The effective values of a :class:`Config` as TOML."""
    return tomli_w.dumps(cfg.to_dict())


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(runtime: Sequence[tuple[str, bool]] = ()) -> str:
    """The reference page ``docs/config.md``.

    ``runtime``: the keys an admin may change at run time, each with whether it applies at once
    (True) or at the next start; the registry (``app.services.settings.runtime_docs``) gives
    them, so the config package needs no knowledge of the services above it.
    """
    out = [
        "# Configuration reference",
        "",
        "<!-- Generated from app/config/ and app/services/settings.py by"
        " `python -m app.config markdown`. Do not edit by hand. -->",
        "",
        "Device and installation settings live in `daka.toml` in the instance folder.",
        "",
        "## Instance folder",
        "",
        "Every `daka` command works on an instance folder holding `daka.toml`, the",
        "database `daka.sqlite3` and the folders `photos/`, `journal/`, `logs/` and",
        "`snapshots/`. It is chosen by, in order:",
        "",
        "1. the `--instance DIR` option;",
        "2. the `DAKA_INSTANCE` environment variable;",
        "3. the platform default: on Linux `/var/lib/daka` when running as root or when",
        "   that folder exists and is writable, otherwise `$XDG_DATA_HOME/daka` or",
        "   `~/.local/share/daka`; on macOS `~/Library/Application Support/Daka`; on",
        "   Windows `%LOCALAPPDATA%\\Daka`.",
        "",
        "The folder is created with mode 0700 (owner only), and a default `daka.toml`",
        "with every key commented out is written when none exists.",
        "",
        "## Precedence and validation",
        "",
        "Values come from, lowest to highest precedence: the defaults below, `daka.toml`,",
        "`DATABASE_URL` (for `storage.database_url` only), and environment variables",
        "`DAKA_<SECTION>_<KEY>`, e.g. `DAKA_ADMIN_PORT=9090`. Environment values are",
        "parsed with the key's type; booleans accept 1/0, true/false, yes/no, on/off.",
        "Highest of all, for the keys an admin may change at run time: the values saved",
        "in the admin (see \"Settings changed in the admin\" below).",
        "",
        "At start all problems are collected and reported together, one line each:",
        "unknown sections and keys (with the closest known name), wrong types,",
        "values out of range, TOML syntax errors (with line and column), and these",
        "rules involving several keys:",
        "",
    ]
    out += [f"- {doc}" for _keys, doc, _fn in CROSS_CHECKS]
    out += [
        "",
        "## Settings changed in the admin",
        "",
        "Some keys can also be changed while the terminal runs, on the admin's settings",
        "page (设置, admins only; of the match threshold and margin, those of the face",
        "model in use) or the device's settings screen. They are declared in one file,",
        "`app/services/settings.py`, the run-time settings registry. To add one: declare",
        "the key in the schema (`app/config/schema.py`: type, default, allowed values,",
        "description), then register it in the registry with its Chinese and English",
        "label, its Chinese help (the English one is the description below), its choices",
        "if it has any, and its applier: a function that makes the running terminal follow",
        "the new value, or `RESTART` when it can only take effect at the next start. The",
        "admin page, the validation, the terminal's update and this page follow; a key",
        "without an applier cannot be registered.",
        "",
        "A value saved there is stored in the database (and audited) and **overrides**",
        "`daka.toml` and the environment, now and after every restart. The page shows the",
        "file's value beside a changed one, and 恢复配置文件的值 (use the file's value)",
        "forgets the stored value so that `daka.toml` applies again. `daka doctor` and",
        "`python -m app.config check` show the file's values only.",
        "",
    ]
    live = [key for key, at_once in runtime if at_once]
    later = [key for key, at_once in runtime if not at_once]
    if live:
        out += [
            "These take effect at once, without a restart: "
            + ", ".join(f"`{k}`" for k in live) + ".",
            "",
        ]
    if later:
        out += [
            "These are stored at once but take effect at the terminal's next start (the page",
            "says so beside them): " + ", ".join(f"`{k}`" for k in later) + ".",
            "",
        ]
    out += [
        "A change saved by the admin inside `daka run` is applied before the page answers;",
        "a separate `daka admin serve` on the same database bumps a change number that the",
        "terminal's one settings watcher reads every second, so the terminal applies it",
        "within about a second. In",
        "particular `attendance.flush_seconds` reschedules the flush job,",
        "`storage.retention_days` above 0 schedules the daily retention job (0 removes",
        "it), `push.webhook_url` switches delivery to HR on or off (punches stored while",
        "it is off are not queued for HR; make-up punches follow the same rule, and",
        "punches already queued wait while it is off and are sent once it is on again),",
        "`device.timezone` applies to punches confirmed from then on, HR deliveries, the",
        "retention time and the kiosk's clock (earlier punches keep their local date),",
        "and `device.language` switches the kiosk's screen (a staff member's tap on the",
        "language button still switches it for the moment).",
    ]
    for section in SCHEMA:
        out += [
            "",
            f"## [{section.name}]",
            "",
            section.doc,
            "",
            "| Key | Type | Default | Allowed | Environment variable | Description |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for key in section.keys:
            cells = [
                f"`{key.name}`",
                key.type_name,
                f"`{_md(key.render_value(key.default))}`",
                _md(key.allowed()),
                f"`{key.env_var}`",
                _md(key.doc),
            ]
            out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def _main(argv: list[str], runtime: Sequence[tuple[str, bool]] = ()) -> int:
    """The ``python -m app.config`` command; ``runtime`` as for :func:`render_markdown`."""
    usage = "usage: python -m app.config {markdown|default|check DIR}"
    if argv == ["markdown"]:
        sys.stdout.write(render_markdown(runtime))
    elif argv == ["default"]:
        sys.stdout.write(render_default_config())
    elif len(argv) == 2 and argv[0] == "check":
        try:
            cfg = load_config_file(Path(argv[1]) / CONFIG_FILE_NAME)
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            return 1
        sys.stdout.write(dump_config(cfg))
    else:
        print(usage, file=sys.stderr)
        return 2
    return 0

