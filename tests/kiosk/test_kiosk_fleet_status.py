"""A fleet terminal whose centre cannot be reached (issue 20): the status bar says 离线，N 条待上传,
N counting the punches confirmed since; the link is wired by `daka run`'s recipe (fleet_services)."""

from __future__ import annotations

from app.kiosk.texts import text
from tests.helpers.children import free_port
from tests.helpers.waiting import wait_for


def test_the_status_bar_says_offline_and_how_many_punches_wait(terminal_for, kiosk_for):
    from app.kiosk.runner import fleet_services
    from app.services.events import StaffCard

    nowhere = f"postgresql://daka_t_gate1:pw@127.0.0.1:{free_port()}/daka"   # nothing listens there
    terminal = terminal_for("none", fleet={"database_url": nowhere, "retry_max_s": 1.0})
    links = fleet_services(terminal, terminal.config, terminal.instance)
    assert len(links) == 1 and terminal.enrolment_listeners == [links[0].queue_enrolment]
    link = links[0].start()
    try:
        kiosk = kiosk_for(terminal)
        wait_for(lambda: terminal.status()["fleet"]["state"] == "offline", 60)
        kiosk.app._status_changed(terminal.status())   # what the housekeeper's status event hands the window
        assert kiosk.app.sync_text == "离线，0 条待上传" == text("fleet.offline", n=0)
        result = terminal.confirm(StaffCard(1, "E001", "奥巴马"), 0.9).result(timeout=60)
        assert result.recorded
        kiosk.app._status_changed(terminal.status())
        assert kiosk.app.sync_text == "离线，1 条待上传"
        assert text("fleet.offline", "en", n=1) == "Offline, 1 waiting to upload"
    finally:
        link.stop()
