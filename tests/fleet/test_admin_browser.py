"""The central admin's devices page in a real headless Chromium, on a real fleet centre: the
navigation leads to it, a silent terminal reads red, a terminal's own setting is saved through the
form; the page fits a phone. Screenshots in test-artifacts/admin-browser/ (not committed)."""

from __future__ import annotations

import pytest

from app.store import open_store
from tests.helpers.admin_app import ADMIN_PW, build_app
from tests.helpers.browser import admin_server, chromium, shot, wait_for
from tests.helpers.fleet import make_centre
from tests.helpers.fleet_admin import heartbeat

pytestmark = [pytest.mark.browser, pytest.mark.postgres]
RED = "rgba(192, 57, 43, 1)"   # --bad in admin/static/app.css, as Chromium reports it


@pytest.fixture
def browser():
    with chromium() as driver:
        yield driver


@pytest.fixture
def central_server(postgres_server, tmp_path, make_config, instance):
    from admin.auth.users import create_user

    centre = make_centre(postgres_server, tmp_path, terminals=2)
    store = open_store(make_config(), instance, url=centre.owner_url)
    try:
        create_user(store, "admin", ADMIN_PW, "admin", actor="test")
        with admin_server(build_app(make_config(), instance, store)) as srv:
            yield centre, srv
    finally:
        store.dispose()


def test_the_devices_page_in_a_browser(browser, central_server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    centre, server = central_server
    t1, t2 = centre.terminals
    heartbeat(centre, t1, pending=2)
    heartbeat(centre, t2, minutes_ago=42)
    d = browser
    d.get(server.url + "/login")
    d.find_element(By.ID, "username").send_keys("admin")
    d.find_element(By.ID, "password").send_keys(ADMIN_PW)
    d.find_element(By.ID, "login-submit").click()
    wait_for(lambda: "/login" not in d.current_url)

    d.find_element(By.ID, "nav-fleet").click()
    wait_for(lambda: d.current_url.rstrip("/").endswith("/fleet"))
    silent = d.find_element(By.CSS_SELECTOR, f'tr[data-device="{t2.device_id}"] .offline')
    assert silent.text == "离线 42 分钟" and silent.value_of_css_property("color") == RED
    fine = d.find_element(By.CSS_SELECTOR, f'tr[data-device="{t1.device_id}"] .state').text
    assert fine == "在线"
    shot(d, "30-fleet-devices-desk")

    d.find_element(By.CSS_SELECTOR, f'tr[data-device="{t1.device_id}"] a').click()
    wait_for(lambda: d.current_url.endswith("/fleet/" + t1.device_id))
    Select(d.find_element(By.ID, "override-key")).select_by_value("attendance.confirm_seconds")
    d.find_element(By.ID, "override-value").send_keys("abc")
    d.find_element(By.ID, "override-save").click()
    assert "请输入" in d.find_element(By.ID, "override-error").text
    value = d.find_element(By.ID, "override-value")
    value.clear()
    value.send_keys("12")
    d.find_element(By.ID, "override-save").click()
    cell = wait_for(lambda: d.find_elements(By.CSS_SELECTOR, '#overrides tr[data-key="attendance.confirm_seconds"] .value'))
    assert cell[0].text == "12"
    shot(d, "31-fleet-device-desk")

    d.set_window_size(390, 844)
    for page in ("/fleet/", f"/fleet/{t1.device_id}"):
        d.get(server.url + page)
        assert d.execute_script("return document.documentElement.scrollWidth - window.innerWidth") <= 0, page
    shot(d, "32-fleet-device-phone")
