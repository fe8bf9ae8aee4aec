"""`daka fleet init|add-terminal|remove-terminal|list` as a user runs them, against a real cluster."""

from __future__ import annotations

import json
import socket

import psycopg
import pytest

from app.fleet.central import libpq_url
from tests.helpers.daka_cli import daka
from tests.helpers.fleet import make_centre

pytestmark = pytest.mark.postgres


def _fleet(centre_url: str, *args, tmp_path, language: str = "zh_CN"):
    return daka("fleet", *args, "--database-url", centre_url, instance=tmp_path / "cli-instance",
                env={"DAKA_DEVICE_LANGUAGE": language})


def test_init_add_list_remove(postgres_server, tmp_path):
    centre = make_centre(postgres_server, tmp_path, init=False)
    first = _fleet(centre.owner_url, "init", tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {"schema_version": 1, "created": True}
    again = _fleet(centre.owner_url, "init", tmp_path=tmp_path)
    assert (again.returncode, json.loads(again.stdout)) == (0, {"schema_version": 1, "created": False})

    name = f"{centre.database}_gate"
    added = _fleet(centre.owner_url, "add-terminal", name, "--location", "东门", "--host", "127.0.0.1",
                   "--sslmode", "prefer", tmp_path=tmp_path)
    assert added.returncode == 0, added.stderr
    terminal = json.loads(added.stdout)
    assert terminal["device_id"] == name and terminal["role"] == f"daka_t_{name}" and terminal["location"] == "东门"
    assert len(terminal["password"]) >= 24 and terminal["password"] in terminal["url"]
    assert "sslmode=prefer" in terminal["url"]
    assert terminal["toml"] == f'[fleet]\ndatabase_url = "{terminal["url"]}"\n'
    with psycopg.connect(libpq_url(terminal["url"])) as c:   # the URL printed is the one that works
        assert c.execute("SELECT fleet_device_id()").fetchone() == (name,)

    listed = _fleet(centre.owner_url, "list", tmp_path=tmp_path)
    rows = json.loads(listed.stdout)["terminals"]
    assert [(r["device_id"], r["location"], r["enabled"], r["has_role"]) for r in rows] == [(name, "东门", True, True)]

    removed = _fleet(centre.owner_url, "remove-terminal", name, tmp_path=tmp_path)
    assert removed.returncode == 0 and json.loads(removed.stdout)["removed"] is True
    rows = json.loads(_fleet(centre.owner_url, "list", tmp_path=tmp_path).stdout)["terminals"]
    assert [(r["enabled"], r["has_role"]) for r in rows] == [(False, False)]

    # the same name again revives the device row (its punches name it) with a new role
    revived = _fleet(centre.owner_url, "add-terminal", name, tmp_path=tmp_path)
    assert revived.returncode == 0, revived.stderr
    assert json.loads(revived.stdout)["password"] != terminal["password"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_each_refusal_is_a_clear_message_in_the_configured_language(postgres_server, tmp_path):
    centre = make_centre(postgres_server, tmp_path, terminals=1)
    existing = centre.terminals[0].device_id

    def refused(url, *args, language="zh_CN"):
        done = _fleet(url, *args, tmp_path=tmp_path, language=language)
        assert done.stdout == ""
        return done.returncode, done.stderr.strip()

    code, message = refused(centre.owner_url, "add-terminal", existing)
    assert code == 1 and message == f"daka: 终端“{existing}”已存在"
    code, message = refused(centre.owner_url, "add-terminal", existing, language="en")
    assert code == 1 and message == f'daka: The terminal "{existing}" already exists'

    for bad in ("Gate1", "1gate", "gate-1", "a" * 41, "gate;drop"):
        code, message = refused(centre.owner_url, "add-terminal", bad, language="en")
        assert code == 2 and "cannot be used" in message and bad in message

    code, message = refused(f"sqlite:///{tmp_path}/daka.db", "init")
    assert code == 2 and "PostgreSQL" in message and "不是" in message
    code, message = refused("not a url", "add-terminal", "gate9", language="en")
    assert code == 2 and message == "daka: The central database must be PostgreSQL: not a url is not"

    intruder = centre.owner_url.replace("daka_fleet_owner:owner-secret", centre.terminals[0].role)
    code, message = refused(intruder, "add-terminal", "newcomer", language="en")
    assert code == 1 and "does not own" in message and centre.terminals[0].role in message
    code, message = refused(intruder, "init", language="en")
    assert code == 1 and "does not own" in message

    down = centre.owner_url.replace(f":{postgres_server.port}/", f":{_closed_port()}/")
    code, message = refused(down, "list")
    assert code == 1 and message.startswith("daka: 无法连接数据库") and "owner-secret" not in message

    code, message = refused(centre.owner_url, "remove-terminal", "nobody_here", language="en")
    assert code == 1 and message == 'daka: There is no terminal named "nobody_here"'

    plain = postgres_server.create_database("plain_for_fleet_cli")
    code, message = refused(plain, "list", language="en")
    assert code == 1 and "daka fleet init" in message
