"""The centre's schema on a real cluster: `init_centre` makes every object once, and is versioned."""

from __future__ import annotations

import socket

import pytest

from app.fleet.central import SCHEMA_VERSION, SECRET_SETTINGS, FleetError, init_centre, is_centre
from app.store import open_store
from app.services.settings import REGISTRY
from tests.helpers.fleet import make_centre

pytestmark = pytest.mark.postgres

TABLES = ("fleet_meta", "fleet_devices", "fleet_changes", "face_photos", "fleet_device_settings",
          "fleet_enrolments", "fleet_settings_view")
TRIGGERS = {("staff", "fleet_changes_staff"), ("face_templates", "fleet_changes_face_templates"),
            ("face_photos", "fleet_changes_face_photos"), ("departments", "fleet_changes_departments"),
            ("settings", "fleet_changes_settings"), ("fleet_device_settings", "fleet_changes_device_settings"),
            ("punches", "fleet_punch_staff"), ("punches", "fleet_punch_outbox"),
            ("fleet_enrolments", "fleet_apply_enrolment"), ("face_templates", "fleet_forget_photo")}


def _snapshot(c) -> dict:
    """What a re-run could change: objects, policies, grants, the log, the version."""
    return {
        "tables": sorted(r[0] for r in c.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v')")),
        "triggers": sorted(c.execute("SELECT tgrelid::regclass::text, tgname, oid FROM pg_trigger "
                                     "WHERE NOT tgisinternal").fetchall()),
        "policies": sorted(c.execute("SELECT tablename, policyname, cmd, qual, with_check FROM pg_policies")),
        "grants": sorted(c.execute("SELECT table_name, privilege_type FROM information_schema.role_table_grants "
                                   "WHERE grantee = 'daka_terminal'")),
        "functions": sorted(c.execute("SELECT p.proname, p.oid FROM pg_proc p JOIN pg_namespace n "
                                      "ON n.oid = p.pronamespace WHERE n.nspname = 'public'")),
        "changes": c.execute("SELECT count(*) FROM fleet_changes").fetchone()[0],
        "meta": c.execute("SELECT key, value FROM fleet_meta ORDER BY key").fetchall(),
    }


def test_init_makes_every_object_and_a_second_run_changes_nothing(postgres_server, tmp_path):
    centre = make_centre(postgres_server, tmp_path, init=False)
    with centre.connect() as c:
        assert c.execute("SELECT to_regclass('public.fleet_changes')").fetchone()[0] is None

    assert init_centre(centre.owner_url) == {"schema_version": SCHEMA_VERSION,
                                                                        "created": True}
    with centre.connect() as c:
        first = _snapshot(c)
        assert set(TABLES) <= set(first["tables"])
        assert TRIGGERS <= {(t, name) for t, name, _oid in first["triggers"]}
        assert first["meta"] == [("schema_version", str(SCHEMA_VERSION))]
        assert c.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'daka_terminal'").fetchone() == (False,)
        assert {r[0] for r in c.execute("SELECT relname FROM pg_class WHERE relrowsecurity")} >= {
            "punches", "fleet_enrolments", "fleet_devices", "fleet_device_settings"}

    assert init_centre(centre.owner_url) == {"schema_version": SCHEMA_VERSION,
                                                                        "created": False}
    with centre.connect() as c:
        assert _snapshot(c) == first   # the same objects (same oids): nothing dropped and made again


def test_is_centre_tells_a_centre_from_a_plain_store(postgres_server, tmp_path, make_config, instance):
    centre = make_centre(postgres_server, tmp_path, terminals=0)
    plain = postgres_server.create_database("plain_store_for_is_centre")
    stores = [open_store(make_config(), instance, url=u) for u in (centre.owner_url, plain)]
    try:
        assert [is_centre(s) for s in stores] == [True, False]
    finally:
        for s in stores:
            s.dispose()


def test_init_refuses_what_it_cannot_make_a_centre_of(postgres_server, tmp_path):
    with pytest.raises(FleetError) as refused:
        init_centre("sqlite:///" + str(tmp_path / "x.db"))
    assert refused.value.key == "not_postgresql"
    assert "PostgreSQL" in refused.value.message("en") and "PostgreSQL" in refused.value.message("zh_CN")

    empty = postgres_server.create_database("empty_for_fleet_init")
    with pytest.raises(FleetError) as refused:
        init_centre(empty)
    assert refused.value.key == "no_store"

    centre = make_centre(postgres_server, tmp_path, init=False)
    intruder = centre.owner_url.replace("daka_fleet_owner:owner-secret", "daka_t_nobody")
    with centre.connect() as c:
        c.execute("CREATE ROLE daka_t_nobody LOGIN")
        c.commit()
    with pytest.raises(FleetError) as refused:
        init_centre(intruder)
    assert refused.value.key == "not_owner" and "daka_t_nobody" in refused.value.message("en")

    port = postgres_server.port
    with pytest.raises(FleetError) as refused:
        init_centre(centre.owner_url.replace(f":{port}/", f":{_closed_port()}/"))
    assert refused.value.key == "unreachable"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_secret_settings_are_the_registrys_secrets():
    """init_centre hides these from terminals; the registry (a layer above) is where they are declared."""
    assert sorted(SECRET_SETTINGS) == sorted(key for key, setting in REGISTRY.items() if setting.secret)
