"""Loading: daka.toml and ``DAKA_<SECTION>_<KEY>`` variables, typed and checked against the
schema, every problem collected (with the closest known name as a suggestion) into one
:class:`ConfigError`; :func:`check_setting` and :func:`with_values` serve the run-time settings.
"""

from __future__ import annotations

import math
import os
import re
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .checks import CROSS_CHECKS
from .schema import (
    _SECTIONS,
    ENV_PREFIX,
    SCHEMA,
    Config,
    ConfigError,
    KeySpec,
    _show,
    _suggest,
    env_var_name,
)

if TYPE_CHECKING:   # the instance folder depends on the config (its default file), not back
    from app.instance import Instance


def _from_toml(spec: KeySpec, value: Any) -> tuple[Any, str | None]:
    """Type-check a value read from TOML."""
    want = spec.type
    if want is bool:
        if isinstance(value, bool):
            return value, None
    elif want is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value, None
        if isinstance(value, float) and value.is_integer():
            return None, f"{_show(value)} must be a whole number (write {int(value)})"
    elif want is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value), None
    elif want is str:
        if isinstance(value, str):
            return value, None
    what = _toml_kind(value)
    hint = ""
    if isinstance(value, str) and want is not str:
        hint = " (remove the quotes)"
    elif want is str and not isinstance(value, (dict, list)):
        hint = " (put the text in double quotes)"
    return None, f"expected {_article(spec.type_name)}, got {what} {_show(value)}{hint}"


def _toml_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return "a date/time"


def _article(type_name: str) -> str:
    return f"an {type_name}" if type_name[0] in "aeiou" else f"a {type_name}"


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _from_env(spec: KeySpec, text: str) -> tuple[Any, str | None]:
    """Parse an environment variable value with the key's type."""
    if spec.type is str:
        return text, None
    stripped = text.strip()
    if spec.type is bool:
        low = stripped.lower()
        if low in _TRUE:
            return True, None
        if low in _FALSE:
            return False, None
        return None, f"{_show(text)} is not a boolean (use 1/0, true/false, yes/no, on/off)"
    if spec.type is int:
        try:
            return int(stripped, 10), None
        except ValueError:
            pass
        try:
            return int(stripped, 0), None  # 0x50, 0o17, 0b101
        except ValueError:
            return None, f"{_show(text)} is not an integer"
    try:
        number = float(stripped)
    except ValueError:
        return None, f"{_show(text)} is not a number"
    return number, None


def _check_value(spec: KeySpec, value: Any) -> tuple[Any, str | None]:
    """Normalise and check range/choices/custom rules of a typed value."""
    m = spec.meta
    if m.normalize is not None:
        value = m.normalize(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None, f"{_show(value)} is not a finite number"
    if m.choices is not None and value not in m.choices:
        hint = _suggest(value, m.choices) if isinstance(value, str) else ""
        return None, f"{_show(value)} is not allowed{hint}"
    lo, hi = m.min, m.max
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        return None, f"{_show(value)} is out of range"
    if m.check is not None:
        problem = m.check(value)
        if problem:
            return None, problem
    return value, None


def check_setting(path: str, value: Any) -> Any:
    """Type-check and validate one value for ``section.key``; the normalised value.

    Raises :class:`ConfigError` naming the key. Used for settings changed at run time.
    """
    section, _, name = path.partition(".")
    spec = _SECTIONS[section].key(name) if section in _SECTIONS else None
    if spec is None:
        raise ConfigError([f"{path}: unknown setting"])
    typed, problem = _from_toml(spec, value)
    if problem is None:
        typed, problem = _check_value(spec, typed)
    if problem is not None:
        raise ConfigError([f"{path}: {problem}; allowed: {spec.allowed()}"])
    return typed


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------

_TOML_POS_RE = re.compile(r"at line (\d+), column (\d+)")


class _Collector:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.bad_keys: set[str] = set()

    def add(self, source: str, where: str, problem: str, spec: KeySpec | None = None) -> None:
        self.bad_keys.add(where)
        text = f"{source}: {where}: {problem}"
        if spec is not None:
            text += f"; allowed: {spec.allowed()}"
        self.problems.append(text)


def _read_toml(path: Path, out: _Collector) -> dict[str, Any]:
    source = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        out.add(source, "file", f"cannot read: {exc.strerror or exc}")
        return {}
    try:
        text = raw.decode("utf-8-sig")  # tolerate a BOM from Windows editors
    except UnicodeDecodeError as exc:
        out.add(source, "file", f"not valid UTF-8 (byte {exc.start}); save the file as UTF-8")
        return {}
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        where = "TOML syntax error"
        pos = _TOML_POS_RE.search(msg)
        if pos:
            lineno = int(pos.group(1))
            lines = text.splitlines()
            if 1 <= lineno <= len(lines):
                msg += f": {lines[lineno - 1].strip()!r}"
            where = f"line {lineno}, column {pos.group(2)}"
            msg = msg.replace(f" ({pos.group(0)})", "")
        out.add(source, where, f"TOML syntax error: {msg}")
        return {}


def _apply_file(data: dict[str, Any], source: str, values: dict, origin: dict, out: _Collector) -> None:
    for sname, table in data.items():
        section = _SECTIONS.get(sname)
        if section is None:
            hint = _suggest(sname, _SECTIONS) or f"; known sections: {', '.join(_SECTIONS)}"
            out.add(source, f"[{sname}]", "unknown section" + hint)
            continue
        if not isinstance(table, dict):
            out.add(source, sname, f"must be a section ([{sname}]), got {_toml_kind(table)}")
            continue
        for kname, raw in table.items():
            spec = section.key(kname)
            if spec is None:
                out.add(source, f"{sname}.{kname}", "unknown key" + _suggest_key(sname, kname))
                continue
            value, problem = _from_toml(spec, raw)
            if problem is None:
                value, problem = _check_value(spec, value)
            if problem is not None:
                out.add(source, spec.path, problem, spec)
                continue
            values[sname][kname] = value
            origin[spec.path] = source


def _suggest_key(sname: str, kname: str) -> str:
    section = _SECTIONS[sname]
    hint = _suggest(kname, [k.name for k in section.keys])
    if hint:
        return hint
    elsewhere = [s.name + "." + kname for s in SCHEMA if s.key(kname) is not None]
    if elsewhere:
        return f" (did you mean {' or '.join(repr(e) for e in elsewhere)}?)"
    return f"; known keys: {', '.join(k.name for k in section.keys)}"


def _apply_env_value(spec: KeySpec, var: str, text: str, values: dict, origin: dict,
                     out: _Collector) -> bool:
    source = f"environment variable {var}"
    value, problem = _from_env(spec, text)
    if problem is None:
        value, problem = _check_value(spec, value)
    if problem is not None:
        out.add(source, spec.path, problem, spec)
        return False
    values[spec.section][spec.name] = value
    origin[spec.path] = source
    return True


def _apply_env(env: Mapping[str, str], values: dict, origin: dict, out: _Collector) -> list[str]:
    applied: list[str] = []
    db_spec = _SECTIONS["storage"].key("database_url")
    assert db_spec is not None
    if "DATABASE_URL" in env and env_var_name("storage", "database_url") not in env:
        if _apply_env_value(db_spec, "DATABASE_URL", env["DATABASE_URL"], values, origin, out):
            applied.append("DATABASE_URL")
    for var in sorted(env):
        if not var.startswith(ENV_PREFIX):
            continue
        rest = var[len(ENV_PREFIX) :]
        sname, _, kname = rest.partition("_")
        section = _SECTIONS.get(sname.lower())
        # Other DAKA_* variables (DAKA_INSTANCE, build settings) are not ours.
        if section is None or not kname:
            continue
        spec = section.key(kname.lower())
        if spec is None:
            known = [env_var_name(section.name, k.name) for k in section.keys]
            out.add(f"environment variable {var}", f"{section.name}.{kname.lower()}",
                    "unknown key" + _suggest(var, known))
            continue
        if _apply_env_value(spec, var, env[var], values, origin, out):
            applied.append(var)
    return applied


def _default_values() -> dict[str, dict[str, Any]]:
    return {s.name: {k.name: k.default for k in s.keys} for s in SCHEMA}


def load_config_file(path: Path | None, env: Mapping[str, str] | None = None) -> Config:
    """Load and validate a config file (missing file = defaults) plus env overrides.

    Raises :class:`ConfigError` listing every problem found.
    """
    env = os.environ if env is None else env
    out = _Collector()
    values = _default_values()
    origin: dict[str, str] = {}
    if path is not None:
        data = _read_toml(path, out)
        _apply_file(data, str(path), values, origin, out)
    applied = _apply_env(env, values, origin, out)

    for involved, _doc, check in CROSS_CHECKS:
        if any(k in out.bad_keys for k in involved):
            continue  # already reported; the comparison would be meaningless
        for key, problem in check(values):
            sources = [origin[k] for k in (key, *involved) if k in origin]
            source = sources[0] if sources else "defaults"
            out.add(source, key, problem)
    if out.problems:
        raise ConfigError(out.problems)

    sections = {s.name: s.cls(**values[s.name]) for s in SCHEMA}
    file_path = path if path is not None and path.is_file() else None
    return Config(**sections, path=file_path, env_overrides=tuple(applied))


def load_config(instance: Instance, env: Mapping[str, str] | None = None) -> Config:
    """Load ``daka.toml`` of an instance, apply env overrides and validate."""
    return load_config_file(instance.config_path, env)


def with_values(cfg: Config, values: Mapping[str, Any]) -> Config:
    """``cfg`` with ``{"section.key": value}`` laid over it (values already checked)."""
    changes: dict[str, dict[str, Any]] = {}
    for path, value in values.items():
        section, _, name = path.partition(".")
        if section not in _SECTIONS or _SECTIONS[section].key(name) is None:
            raise KeyError(path)
        changes.setdefault(section, {})[name] = value
    return replace(cfg, **{section: replace(getattr(cfg, section), **keys)
                           for section, keys in changes.items()})


# --------------------------------------------------------------------------
# Derived values
# --------------------------------------------------------------------------


def resolve_database_url(cfg: Config, instance: Instance) -> str:
    """The configured database URL, or the instance's SQLite file."""
    if cfg.storage.database_url:
        return cfg.storage.database_url
    return "sqlite:///" + instance.database_path.as_posix()


def resolve_device_id(cfg: Config, hostname: str | None = None) -> str:
    """``device.id``, or an id derived from the host name when empty."""
    if cfg.device.id:
        return cfg.device.id
    host = (hostname if hostname is not None else socket.gethostname()).split(".")[0]
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", host).strip("-._")[:64]
    return cleaned or "daka"
