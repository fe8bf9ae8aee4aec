"""`daka enroll`, `daka reindex` and the doctor's scheduler section, run as a user runs them."""

from __future__ import annotations

import json
import zipfile

from tests.helpers.daka_cli import daka


def test_enroll_folder_then_zip_then_reindex(tmp_path, photos):
    instance = tmp_path / "inst"
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "HR0878_奥巴马.jpg").write_bytes(photos["obama.jpg"].read_bytes())
    (folder / "notes.txt").write_text("这不是照片")
    # The name rule of every other path: no line separator, zero-width or reordering characters.
    (folder / "HR0879_拜\u2028登.jpg").write_bytes(photos["biden.jpg"].read_bytes())
    (folder / "HR0880_\u202e登拜.jpg").write_bytes(photos["biden.jpg"].read_bytes())
    proc = daka("enroll", str(folder), instance=instance)
    assert proc.returncode == 1, proc.stderr  # files were refused
    report = json.loads(proc.stdout)
    assert report["enrolled"] == 1 and report["refused"] == 3
    by_file = {f["file"]: f for f in report["files"]}
    assert by_file["notes.txt"]["reason"] == "bad_name" and by_file["notes.txt"]["message"]
    assert by_file["HR0879_拜\u2028登.jpg"]["reason"] == "bad_name" and "U+2028" in by_file["HR0879_拜\u2028登.jpg"]["detail"]
    assert by_file["HR0880_\u202e登拜.jpg"]["reason"] == "bad_name"
    assert "4/4" in proc.stderr  # the progress bar

    archive = tmp_path / "more.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("HR0900_拜登.jpg", photos["biden.jpg"].read_bytes())
    proc = daka("enroll", str(archive), instance=instance)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["files"][0]["staff_no"] == "HR0900"

    proc = daka("reindex", instance=instance)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["templates"] == report["updated"] == 2

    proc = daka("enroll", str(tmp_path / "missing"), instance=instance)
    assert proc.returncode == 2 and "neither a folder nor a zip" in proc.stderr


def test_doctor_lists_the_scheduled_jobs(tmp_path):
    proc = daka("doctor", "--json", "--no-verify", instance=tmp_path / "inst",
                env={"DAKA_PUSH_WEBHOOK_URL": "https://hr.example/punches"})
    jobs = {j["id"] for j in json.loads(proc.stdout)["scheduler"]["jobs"]}
    assert jobs == {"attendance.flush", "push.deliver", "attendance.retention"}


def test_enroll_a_folder_per_person_named_staff_no_and_name(tmp_path, photos):
    """HR0878_奥巴马/ holds that person's photos whatever their names; a folder not named 工号_姓名,
    or a file naming someone else than its folder, is refused with a message saying which layout works."""
    instance = tmp_path / "inst"
    root = tmp_path / "people"
    (root / "HR0878_奥巴马").mkdir(parents=True)
    (root / "HR0878_奥巴马" / "IMG_0001.jpg").write_bytes(photos["obama.jpg"].read_bytes())
    (root / "HR0878_奥巴马" / "正面.jpg").write_bytes(photos["obama2.jpg"].read_bytes())
    (root / "HR0878_奥巴马" / "HR0999_别人.jpg").write_bytes(photos["biden.jpg"].read_bytes())
    (root / "拜登").mkdir()
    (root / "拜登" / "IMG_0002.jpg").write_bytes(photos["biden.jpg"].read_bytes())
    proc = daka("enroll", str(root), instance=instance)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    by_file = {f["file"]: f for f in report["files"]}
    for name in ("HR0878_奥巴马/IMG_0001.jpg", "HR0878_奥巴马/正面.jpg"):
        assert by_file[name]["ok"] and (by_file[name]["staff_no"], by_file[name]["name"]) == ("HR0878", "奥巴马"), by_file
    conflict = by_file["HR0878_奥巴马/HR0999_别人.jpg"]
    assert not conflict["ok"] and conflict["reason"] == "bad_name" and "HR0999" in conflict["detail"]
    assert by_file["IMG_0002.jpg"]["reason"] == "bad_name"
    assert report["enrolled"] == 2 and report["refused"] == 2
    assert "2 file(s) say no one" in proc.stderr and "folder per person named 工号_姓名" in proc.stderr

    proc = daka("reindex", instance=instance)
    assert json.loads(proc.stdout)["templates"] == 2   # both photos are the one person's templates
