"""Tests for app.config and app.instance."""

import os
import re
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from app.config import (
    SCHEMA,
    Config,
    ConfigError,
    dump_config,
    env_var_name,
    load_config,
    load_config_file,
    render_default_config,
    render_markdown,
    resolve_database_url,
    resolve_device_id,
)
from app.instance import (
    ENV_INSTANCE,
    Instance,
    InstanceError,
    default_instance_dir,
    resolve_instance,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def inst(tmp_path: Path) -> Instance:
    return Instance(tmp_path / "inst").create_dirs()


def write_cfg(inst: Instance, text: str) -> None:
    inst.config_path.write_text(text, encoding="utf-8")


def problems_of(inst: Instance, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(inst, env or {})
    # The message carries every problem, one per line.
    for problem in info.value.problems:
        assert problem in str(info.value)
    return info.value.problems


# ---------------------------------------------------------------- defaults


def test_defaults_without_file(inst: Instance) -> None:
    assert not inst.config_path.exists()
    cfg = load_config(inst, {})
    assert cfg == Config()
    assert cfg.path is None
    assert cfg.admin.port == 8080
    assert cfg.device.name == "Daka-01"
    assert cfg.device.timezone == "Asia/Shanghai"
    assert cfg.vision.detect_downscale == 0.0  # auto: derived from min_face_px
    assert cfg.sensor.slave_id == 0x50
    assert cfg.log.level == "INFO"
    assert cfg.gpio.enabled is True


def test_config_is_read_only(inst: Instance) -> None:
    cfg = load_config(inst, {})
    with pytest.raises(FrozenInstanceError):
        cfg.admin.port = 1  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        cfg.admin = cfg.admin  # type: ignore[misc]


def test_schema_defaults_pass_their_own_validation(tmp_path: Path) -> None:
    # Write every default explicitly so each value goes through the checks.
    text = "\n".join(
        f"[{s.name}]\n" + "\n".join(f"{k.name} = {k.render_value(k.default)}" for k in s.keys)
        for s in SCHEMA
    )
    path = tmp_path / "all.toml"
    path.write_text(text, encoding="utf-8")
    assert load_config_file(path, {}) == Config()


def test_every_key_is_documented() -> None:
    for section in SCHEMA:
        assert section.doc, section.name
        for key in section.keys:
            assert key.doc.endswith("."), key.path
            assert key.type in (str, int, float, bool), key.path
            assert isinstance(key.default, key.type), key.path


# ------------------------------------------------------------ default file


def test_prepare_writes_default_file_once(tmp_path: Path) -> None:
    inst = Instance(tmp_path / "new").prepare()
    text = inst.config_path.read_text(encoding="utf-8")
    assert text == render_default_config()
    assert "[admin]" in text and "#port = 8080" in text
    for sub in ("photos", "journal", "logs", "snapshots"):
        assert (inst.root / sub).is_dir()
    assert inst.root.stat().st_mode & 0o777 == 0o700
    # An existing file is left alone.
    inst.config_path.write_text('[admin]\nport = 9000\n', encoding="utf-8")
    assert inst.write_default_config() is False
    assert load_config(inst, {}).admin.port == 9000


def test_default_file_round_trips(tmp_path: Path) -> None:
    inst = Instance(tmp_path / "i").prepare()
    cfg = load_config(inst, {})
    assert cfg == Config()
    assert cfg.path == inst.config_path


def test_default_file_uncommented_round_trips(inst: Instance) -> None:
    text = render_default_config()
    active = re.sub(r"(?m)^#([a-z_]+ = )", r"\1", text)
    # Every key of the schema became an active line.
    count = sum(len(s.keys) for s in SCHEMA)
    assert len(re.findall(r"(?m)^[a-z_]+ = ", active)) == count
    write_cfg(inst, active)
    assert load_config(inst, {}) == Config()


def test_every_key_documented_in_default_file() -> None:
    text = render_default_config()
    for section in SCHEMA:
        assert f"\n# {section.doc}\n[{section.name}]\n" in text
        for key in section.keys:
            assert f"# {key.doc}\n# Allowed: {key.allowed()}.\n#{key.name} = " in text


def test_docs_config_md_is_up_to_date() -> None:
    """The command the docs name, run for real, writes docs/config.md as committed."""
    import subprocess
    import sys

    doc = REPO / "docs" / "config.md"
    made = subprocess.run([sys.executable, "-m", "app.config", "markdown"], cwd=REPO, capture_output=True,
                          timeout=120, check=True)
    assert doc.read_text(encoding="utf-8") == made.stdout.decode("utf-8"), (
        "docs/config.md is stale: run `python -m app.config markdown > docs/config.md`"
    )


def test_the_config_package_does_not_import_the_instance() -> None:
    """config <- instance, one way: the instance writes the config's default file, the config
    only takes an instance's paths (a type hint), so importing the config loads no app.instance."""
    import subprocess
    import sys

    code = "import sys, app.config; print('app.instance' in sys.modules)"
    made = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, timeout=120, check=True)
    assert made.stdout.decode().strip() == "False"
    source = (REPO / "app" / "instance.py").read_text(encoding="utf-8")
    assert "\n        from app.config" not in source and "\n    from app.config" not in source


def test_markdown_lists_every_key() -> None:
    md = render_markdown()
    for section in SCHEMA:
        for key in section.keys:
            assert f"| `{key.name}` |" in md
            assert f"`{env_var_name(section.name, key.name)}`" in md


# ------------------------------------------------------------- file values


def test_file_values_are_typed(inst: Instance) -> None:
    write_cfg(
        inst,
        """
[admin]
port = 9090
host = "127.0.0.1"
[recognition]
threshold = 1          # an integer is accepted for a float key
[camera]
source = "csi://0?width=1280&height=720&fps=30"
flip = true
[sensor]
slave_id = 0x51
[log]
level = "debug"
""",
    )
    cfg = load_config(inst, {})
    assert cfg.admin.port == 9090
    assert cfg.admin.host == "127.0.0.1"
    assert cfg.recognition.threshold == 1.0 and isinstance(cfg.recognition.threshold, float)
    assert cfg.camera.flip is True
    assert cfg.camera.source.startswith("csi://0")
    assert cfg.sensor.slave_id == 0x51
    assert cfg.log.level == "DEBUG"
    # Untouched keys keep their defaults.
    assert cfg.admin.session_timeout_min == 30
    assert cfg.to_dict()["admin"]["port"] == 9090


def test_chinese_device_name_round_trips(inst: Instance) -> None:
    name = "前台打卡机 一号"
    write_cfg(inst, f'[device]\nname = "{name}"\n')
    cfg = load_config(inst, {})
    assert cfg.device.name == name
    # Through dump_config (e.g. `daka config show`) and back.
    path = inst.root / "dumped.toml"
    path.write_text(dump_config(cfg), encoding="utf-8")
    assert load_config_file(path, {}).device.name == name
    # And through the environment.
    assert load_config(inst, {"DAKA_DEVICE_NAME": "后门"}).device.name == "后门"


def test_utf8_bom_is_accepted(inst: Instance) -> None:
    inst.config_path.write_bytes("\ufeff[device]\nname = \"大门\"\n".encode())
    assert load_config(inst, {}).device.name == "大门"


# ------------------------------------------------------------ env overrides


def test_env_overrides_with_types(inst: Instance) -> None:
    write_cfg(inst, "[admin]\nport = 9000\n")
    env = {
        "DAKA_ADMIN_PORT": "9090",
        "DAKA_CAMERA_FLIP": "yes",
        "DAKA_GPIO_ENABLED": "off",
        "DAKA_VISION_DETECT_DOWNSCALE": "0.25",
        "DAKA_SENSOR_SLAVE_ID": "0x52",
        "DAKA_DEVICE_TIMEZONE": "Europe/Berlin",
        "DAKA_INSTANCE": "/somewhere",  # not a config key: ignored
        "DAKA_NATIVE_ARCH": "OFF",  # build setting: ignored
        "PATH": "/usr/bin",
    }
    cfg = load_config(inst, env)
    assert cfg.admin.port == 9090  # env beats the file
    assert cfg.camera.flip is True
    assert cfg.gpio.enabled is False
    assert cfg.vision.detect_downscale == 0.25
    assert cfg.sensor.slave_id == 0x52
    assert cfg.device.timezone == "Europe/Berlin"
    ignored = ("DAKA_INSTANCE", "DAKA_NATIVE_ARCH", "PATH")
    assert set(cfg.env_overrides) == {k for k in env if k not in ignored}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1", True), ("TRUE", True), ("On", True), ("yes", True),
     ("0", False), ("false", False), ("OFF", False), ("No", False)],
)
def test_env_bool_spellings(inst: Instance, text: str, expected: bool) -> None:
    assert load_config(inst, {"DAKA_UI_FULLSCREEN": text}).ui.fullscreen is expected


def test_database_url_env(inst: Instance) -> None:
    assert resolve_database_url(load_config(inst, {}), inst) == f"sqlite:///{inst.database_path}"
    cfg = load_config(inst, {"DATABASE_URL": "postgres://u@db/daka"})
    assert cfg.storage.database_url == "postgresql://u@db/daka"
    assert resolve_database_url(cfg, inst) == "postgresql://u@db/daka"
    both = {"DATABASE_URL": "postgresql://a/x", "DAKA_STORAGE_DATABASE_URL": "sqlite:////tmp/b.db"}
    assert load_config(inst, both).storage.database_url == "sqlite:////tmp/b.db"


def test_device_id_derivation(inst: Instance) -> None:
    cfg = load_config(inst, {})
    assert resolve_device_id(cfg, hostname="gate-3.example.com") == "gate-3"
    assert resolve_device_id(cfg, hostname="门口") == "daka"
    assert resolve_device_id(load_config(inst, {"DAKA_DEVICE_ID": "t-7"})) == "t-7"


# ------------------------------------------------------------------ errors


def test_env_type_errors_name_the_variable(inst: Instance) -> None:
    problems = problems_of(
        inst, {"DAKA_ADMIN_PORT": "eighty", "DAKA_CAMERA_FLIP": "maybe", "DAKA_RECOGNITION_MARGIN": "x"}
    )
    assert len(problems) == 3
    text = "\n".join(problems)
    assert "environment variable DAKA_ADMIN_PORT: admin.port: \"eighty\" is not an integer" in text
    assert "allowed: integer 1..65535" in text
    assert "DAKA_CAMERA_FLIP: camera.flip:" in text and "not a boolean" in text
    assert "DAKA_RECOGNITION_MARGIN: recognition.margin:" in text and "not a number" in text


def test_env_out_of_range_and_unknown(inst: Instance) -> None:
    problems = problems_of(inst, {"DAKA_ADMIN_PORT": "70000", "DAKA_ADMIN_PROT": "1"})
    assert len(problems) == 2
    assert any("admin.port: 70000 is out of range; allowed: integer 1..65535" in p for p in problems)
    assert any("DAKA_ADMIN_PROT" in p and "did you mean 'DAKA_ADMIN_PORT'" in p for p in problems)


def test_wrong_type_in_file(inst: Instance) -> None:
    write_cfg(inst, '[admin]\nport = "8080"\n[camera]\nflip = "yes"\n[device]\nname = 5\n')
    problems = problems_of(inst)
    assert len(problems) == 3
    src = str(inst.config_path)
    assert f"{src}: admin.port: expected an integer, got a string \"8080\" (remove the quotes)" in problems[0]
    assert "camera.flip: expected a boolean" in problems[1]
    assert "device.name: expected a string, got an integer 5" in problems[2]


def test_out_of_range_and_choices(inst: Instance) -> None:
    write_cfg(
        inst,
        """
[vision]
detect_downscale = 1.5
min_face_px = 10
descriptor_backend = "onxx"
[camera]
rotate = 45
[log]
level = "LOUD"
""",
    )
    problems = problems_of(inst)
    assert len(problems) == 5
    by_key = {p.split(": ")[1]: p for p in problems}
    assert "1.5 is out of range; allowed: number 0.0..1.0" in by_key["vision.detect_downscale"]
    assert "10 is out of range; allowed: integer 40..1000" in by_key["vision.min_face_px"]
    assert "did you mean 'onnx'" in by_key["vision.descriptor_backend"]
    assert 'allowed: one of "onnx", "dlib"' in by_key["vision.descriptor_backend"]
    assert "45 is not allowed; allowed: one of 0, 90, 180, 270" in by_key["camera.rotate"]
    assert "log.level" in by_key


def test_float_for_int_key(inst: Instance) -> None:
    write_cfg(inst, "[admin]\nport = 8080.0\n")
    (problem,) = problems_of(inst)
    assert "admin.port: 8080.0 must be a whole number (write 8080)" in problem


def test_nan_is_rejected(inst: Instance) -> None:
    write_cfg(inst, "[recognition]\nthreshold = nan\n")
    (problem,) = problems_of(inst)
    assert "recognition.threshold" in problem and "not a finite number" in problem


def test_custom_checks(inst: Instance) -> None:
    write_cfg(
        inst,
        """
[device]
timezone = "Asia/Shangai"
name = ""
[camera]
source = "/dev/video0"
[admin]
host = "not a host!"
[sensor]
port = "ttyUSB0"
""",
    )
    problems = problems_of(inst)
    by_key = {p.split(": ")[1]: p for p in problems}
    assert set(by_key) == {"device.timezone", "device.name", "camera.source", "admin.host", "sensor.port"}
    assert "did you mean 'Asia/Shanghai'" in by_key["device.timezone"]
    assert "must not be empty" in by_key["device.name"]
    assert 'v4l2:///dev/video0' in by_key["camera.source"]
    assert "not an IP address or host name" in by_key["admin.host"]


@pytest.mark.parametrize(
    "source",
    ["auto", "none", "test://", "csi://0?width=1280&height=720&fps=30", "v4l2:///dev/video0",
     "file:///tmp/clip.mp4", "rtsp://10.0.0.2/stream", "gst://videotestsrc ! appsink"],
)
def test_camera_sources_accepted(inst: Instance, source: str) -> None:
    assert load_config(inst, {"DAKA_CAMERA_SOURCE": source}).camera.source == source


@pytest.mark.parametrize("source", ["csi://", "usb://0", "csi://0?fps=fast", "rtsp:///x"])
def test_camera_sources_rejected(inst: Instance, source: str) -> None:
    (problem,) = problems_of(inst, {"DAKA_CAMERA_SOURCE": source})
    assert "camera.source" in problem


def test_unknown_section_and_key_suggestions(inst: Instance) -> None:
    write_cfg(
        inst,
        """
[admn]
port = 1
[admin]
prot = 9090
[camera]
port = 5
[gpio]
zzzz = 1
""",
    )
    problems = problems_of(inst)
    assert len(problems) == 4
    assert "[admn]: unknown section (did you mean 'admin'?)" in problems[0]
    assert "admin.prot: unknown key (did you mean 'port'?)" in problems[1]
    # A key that exists in another section points there.
    assert ("camera.port: unknown key (did you mean 'sensor.port' or 'admin.port' or 'zk_pull.port'?)"
            in problems[2])
    # Nothing close: list the known keys.
    assert "gpio.zzzz: unknown key; known keys: enabled, pin_factory" in problems[3]


def test_section_must_be_a_table(inst: Instance) -> None:
    write_cfg(inst, "admin = 5\n")
    (problem,) = problems_of(inst)
    assert "admin: must be a section ([admin]), got an integer" in problem


def test_toml_syntax_error_has_line_and_column(inst: Instance) -> None:
    write_cfg(inst, "[admin]\nport = 8080\nhost = 0.0.0.0\n")
    (problem,) = problems_of(inst)
    assert problem.startswith(f"{inst.config_path}: line 3, column ")
    assert "TOML syntax error" in problem
    assert "'host = 0.0.0.0'" in problem


def test_syntax_error_still_reports_env_problems(inst: Instance) -> None:
    write_cfg(inst, "[admin\n")
    problems = problems_of(inst, {"DAKA_ADMIN_PORT": "0"})
    assert len(problems) == 2
    assert "line 1" in problems[0]
    assert "DAKA_ADMIN_PORT" in problems[1]


def test_invalid_utf8(inst: Instance) -> None:
    inst.config_path.write_bytes(b'[device]\nname = "\xff"\n')
    (problem,) = problems_of(inst)
    assert "not valid UTF-8" in problem


def test_cross_key_far_must_exceed_near(inst: Instance) -> None:
    write_cfg(inst, "[sensor]\nnear_mm = 900\nfar_mm = 900\n")
    (problem,) = problems_of(inst)
    assert f"{inst.config_path}: sensor.far_mm: 900 must be greater than sensor.near_mm (900)" == problem
    # Changing near_mm alone through the environment can also break it.
    inst.config_path.unlink()
    (problem,) = problems_of(inst, {"DAKA_SENSOR_NEAR_MM": "2000"})
    assert "environment variable DAKA_SENSOR_NEAR_MM: sensor.far_mm:" in problem
    assert load_config(inst, {"DAKA_SENSOR_NEAR_MM": "1000"}).sensor.near_mm == 1000


def test_cross_key_skipped_when_key_already_invalid(inst: Instance) -> None:
    write_cfg(inst, "[sensor]\nnear_mm = 5\n")
    (problem,) = problems_of(inst)
    assert "sensor.near_mm: 5 is out of range" in problem


def test_gpio_pins_must_differ(inst: Instance) -> None:
    write_cfg(inst, "[gpio]\nrelay_pin = 17\nbuzzer_pin = 18\nled_red_pin = 17\n")
    (problem,) = problems_of(inst)
    assert "gpio.led_red_pin: pin 17 is already used by gpio.relay_pin" in problem


def test_many_errors_reported_together(inst: Instance) -> None:
    write_cfg(
        inst,
        """
[device]
language = "fr"
[admin]
port = 0
session_timeout_min = "30"
[storage]
retention_days = -1
[bogus]
x = 1
""",
    )
    with pytest.raises(ConfigError) as info:
        load_config(inst, {"DAKA_LOG_FILE_COUNT": "99"})
    message = str(info.value)
    assert message.startswith("invalid configuration (6 problems):\n")
    lines = message.splitlines()[1:]
    assert len(lines) == 6
    for key in ("device.language", "admin.port", "admin.session_timeout_min",
                "storage.retention_days", "[bogus]", "log.file_count"):
        assert sum(key in line for line in lines) == 1, key


# ------------------------------------------------------------------ instance


def test_resolve_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_INSTANCE, str(tmp_path / "from-env"))
    assert resolve_instance(str(tmp_path / "from-cli")) == tmp_path / "from-cli"
    assert resolve_instance(None) == tmp_path / "from-env"
    assert resolve_instance("") == tmp_path / "from-env"
    monkeypatch.delenv(ENV_INSTANCE)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    missing = tmp_path / "no-system-dir"
    assert resolve_instance(None, platform="linux", is_root=False, system_dir=missing) == (
        tmp_path / "xdg" / "daka"
    )
    monkeypatch.delenv("XDG_DATA_HOME")
    assert resolve_instance(None, platform="linux", is_root=False, system_dir=missing) == (
        tmp_path / "home" / ".local" / "share" / "daka"
    )
    # Root always gets the system folder.
    assert resolve_instance(None, platform="linux", is_root=True, system_dir=missing) == missing


def test_resolve_expands_home_and_makes_absolute(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_instance("~/daka") == tmp_path / "daka"
    monkeypatch.chdir(tmp_path)
    assert resolve_instance("rel") == tmp_path / "rel"
    assert Instance.resolve("rel").config_path == tmp_path / "rel" / "daka.toml"


def test_default_dir_uses_writable_system_dir(tmp_path: Path) -> None:
    system = tmp_path / "var-lib-daka"
    env = {"HOME": str(tmp_path / "home")}
    assert default_instance_dir(env=env, platform="linux", is_root=False, system_dir=system) == (
        tmp_path / "home" / ".local" / "share" / "daka"
    )
    system.mkdir()
    assert default_instance_dir(env=env, platform="linux", is_root=False, system_dir=system) == system


def test_default_dir_relative_xdg_is_ignored(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": "relative"}
    got = default_instance_dir(env=env, platform="linux", is_root=False, system_dir=tmp_path / "x")
    assert got == tmp_path / ".local" / "share" / "daka"


def test_default_dir_other_platforms(tmp_path: Path) -> None:
    assert default_instance_dir(env={"HOME": "/Users/a"}, platform="darwin") == Path(
        "/Users/a/Library/Application Support/Daka"
    )
    assert default_instance_dir(env={"LOCALAPPDATA": "C:/Users/a/AppData/Local"}, platform="win32") == (
        Path("C:/Users/a/AppData/Local") / "Daka"
    )


def test_instance_paths(tmp_path: Path) -> None:
    inst = Instance(tmp_path)
    assert inst.config_path == tmp_path / "daka.toml"
    assert inst.database_path == tmp_path / "daka.sqlite3"
    assert inst.photos_dir == tmp_path / "photos"
    assert inst.journal_dir == tmp_path / "journal"
    assert inst.logs_dir == tmp_path / "logs"
    assert inst.snapshots_dir == tmp_path / "snapshots"


def test_instance_under_a_file_fails_clearly(tmp_path: Path) -> None:
    blocker = tmp_path / "plain-file"
    blocker.write_text("x")
    with pytest.raises(InstanceError, match=r"cannot create instance folder .*plain-file/inst: "
                                            r"a parent of it is a file"):
        Instance(blocker / "inst").create_dirs()


def test_instance_that_is_a_file_fails_clearly(tmp_path: Path) -> None:
    path = tmp_path / "daka"
    path.write_text("x")
    with pytest.raises(InstanceError, match="exists but is not a folder"):
        Instance(path).prepare()


def test_subfolder_that_is_a_file_fails_clearly(tmp_path: Path) -> None:
    (tmp_path / "logs").write_text("x")
    with pytest.raises(InstanceError, match=r"logs in instance folder .* is not a folder"):
        Instance(tmp_path).create_dirs()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_disk_full_on_config_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import app.instance as instance_mod

    inst = Instance(tmp_path / "i").create_dirs()
    real_fdopen = os.fdopen

    def full_fdopen(fd: int, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        os.close(fd)
        return real_fdopen(os.open("/dev/full", os.O_WRONLY), *args, **kwargs)

    monkeypatch.setattr(instance_mod.os, "fdopen", full_fdopen)
    with pytest.raises(InstanceError, match="cannot write default config file .*no space left"):
        inst.write_default_config()
    monkeypatch.undo()
    assert not inst.config_path.exists()
    assert [p.name for p in inst.root.iterdir() if p.is_file()] == []  # no temp file left


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_folder_fails_clearly(tmp_path: Path) -> None:  # pragma: no cover - root CI
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    with pytest.raises(InstanceError, match="not writable: permission denied"):
        Instance(ro).create_dirs()


def test_read_only_filesystem_fails_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    import app.instance as instance_mod

    def refuse(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(instance_mod.tempfile, "mkstemp", refuse)
    with pytest.raises(InstanceError, match=r"instance folder .* is not writable: read-only file system"):
        Instance(tmp_path / "x").create_dirs()


def test_existing_root_permissions_are_tightened(tmp_path: Path) -> None:
    root = tmp_path / "open"
    root.mkdir()
    root.chmod(0o755)
    Instance(root).create_dirs()
    assert root.stat().st_mode & 0o777 == 0o700


def test_the_config_command_checks_an_instance_and_prints_the_default(tmp_path: Path) -> None:
    """`python -m app.config check DIR` reads DIR's daka.toml (exit 1 and the problems when it is
    wrong); `default` prints the commented default file."""
    import subprocess
    import sys

    def run(*args):
        env = {k: v for k, v in os.environ.items() if not k.startswith("DAKA_")}   # the file's values only
        return subprocess.run([sys.executable, "-m", "app.config", *args], cwd=REPO, capture_output=True,
                              timeout=120, env=env)

    (tmp_path / "daka.toml").write_text("[admin]\nport = 9191\n", encoding="utf-8")
    ok = run("check", str(tmp_path))
    assert ok.returncode == 0 and "port = 9191" in ok.stdout.decode()
    (tmp_path / "daka.toml").write_text("[admin]\nport = 99999\n", encoding="utf-8")
    bad = run("check", str(tmp_path))
    assert bad.returncode == 1 and "admin.port" in bad.stderr.decode() and "out of range" in bad.stderr.decode()
    assert run("default").stdout.decode() == render_default_config()
    assert run("nonsense").returncode == 2


def test_the_admins_public_address(inst: Instance) -> None:
    write_cfg(inst, '[admin]\npublic_url = " https://hr.example.com:8443/daka/ "\n')
    assert load_config(inst, {}).admin.public_url == "https://hr.example.com:8443/daka"
    for bad in ("hr.example.com", "ftp://hr.example.com", "https://user:pw@hr.example.com",
                "https://hr.example.com/?next=1", "https://hr.example.com:99999", "https://"):
        write_cfg(inst, f'[admin]\npublic_url = "{bad}"\n')
        (problem,) = problems_of(inst)
        assert "public_url" in problem and "http(s) address" in problem
