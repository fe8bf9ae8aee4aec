"""Self-service links (issue 24): signed, bound to one person, ten minutes, read back exactly."""

from __future__ import annotations

import stat

import pytest

from app.config.schema import AdminConfig
from app.services.selflink import PATH, BadLink, SelfLinks, admin_base_url, instance_key


def test_a_link_reads_back_its_person_until_it_expires(tmp_path):
    now = [1_800_000_000.0]
    links = SelfLinks(instance_key(tmp_path), "http://10.0.0.5:8080/", clock=lambda: now[0])
    url = links.url(7, "E007")
    assert url.startswith("http://10.0.0.5:8080" + PATH)
    token = url.split(PATH, 1)[1]
    held = links.read(token)
    assert (held.staff_id, held.staff_no, held.issued_at) == (7, "E007", now[0])
    assert links.read(links.token(7, "E007")).nonce != held.nonce  # each link its own nonce
    now[0] += 600
    assert links.read(token).staff_id == 7
    now[0] += 1
    with pytest.raises(BadLink) as exc:
        links.read(token)
    assert exc.value.reason == "expired"


def test_another_key_or_an_edit_is_refused(tmp_path):
    mine = SelfLinks(instance_key(tmp_path), "")
    theirs = SelfLinks(b"x" * 48, "")
    token = mine.token(1, "E1")
    for bad in (theirs.token(1, "E1"), token[:-1] + ("A" if token[-1] != "A" else "B"), "", "a.b.c"):
        with pytest.raises(BadLink) as exc:
            mine.read(bad)
        assert exc.value.reason == "forged"


def test_the_key_is_made_once_and_private(tmp_path):
    key = instance_key(tmp_path)
    assert len(key) >= 32 and instance_key(tmp_path) == key
    assert stat.S_IMODE((tmp_path / "selfservice.key").stat().st_mode) == 0o600


def test_the_address_phones_use(monkeypatch):
    assert admin_base_url(AdminConfig(host="192.168.1.20", port=8080)) == "http://192.168.1.20:8080"
    monkeypatch.setattr("app.services.selflink.lan_address", lambda: "10.1.2.3")
    assert admin_base_url(AdminConfig(host="0.0.0.0", port=80)) == "http://10.1.2.3:80"
    # Behind a proxy, or a fleet's central admin: the configured public address wins.
    public = AdminConfig(host="0.0.0.0", port=80, public_url="https://hr.example.com/daka")
    assert admin_base_url(public) == "https://hr.example.com/daka"
    assert SelfLinks(b"k" * 32, lambda: admin_base_url(public)).url(7, "E7").startswith(
        "https://hr.example.com/daka" + PATH)
