"""The `daka` command line, run as a user runs it (a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers.daka_cli import daka


def test_doctor_json_reports_everything(tmp_path):
    # this machine has no camera: a terminal configured without one on purpose is fine
    proc = daka("doctor", "--json", instance=tmp_path / "inst", env={"DAKA_CAMERA_SOURCE": "none"})
    assert proc.returncode == 0, proc.stderr + proc.stdout
    report = json.loads(proc.stdout)
    assert {"ok", "native", "models", "font", "camera", "database"} <= set(report)
    assert report["ok"] is True
    assert report["native"]["dlib_version"].startswith("19.")
    assert report["native"]["openblas"] is True, report["native"]["blas_loaded"]
    assert report["models"]["onnx"].endswith(".onnx")
    assert report["font"]["measured_打卡_24px"][0] > 20
    assert "CPUExecutionProvider" in report["native"]["onnxruntime_providers"]
    assert not (tmp_path / "inst").exists()  # the doctor looks, it does not create


def test_doctor_is_not_ok_without_a_camera_and_says_what_to_do(tmp_path):
    """`auto` finding no camera is a problem (the terminal would clock nobody in), and every
    check that is not right says what to do; library paths nobody can act on are left out."""
    proc = daka("doctor", instance=tmp_path / "inst", env={"DAKA_CAMERA_SOURCE": "auto"})
    assert proc.returncode == 1, proc.stdout
    out = proc.stdout
    assert "PROBLEMS FOUND" in out and "!! camera: no camera found" in out
    assert "cannot run until these are fixed: camera" in out
    sections = out.split("\n!! ")[1:]
    assert {s.split(":")[0].split("\n")[0] for s in sections} >= {"camera", "admin_account", "set_time"}
    for section in sections:
        assert "what to do: " in section, section
    assert "blas_loaded" not in out and "libblas.so" not in out and "simd" not in out
    assert "dlib 19." in out and "OpenBLAS" in out
    report = json.loads(daka("doctor", "--json", instance=tmp_path / "inst",
                             env={"DAKA_CAMERA_SOURCE": "auto"}).stdout)
    assert report["ok"] is False and report["camera"]["ok"] is False and report["camera"]["todo"]
    assert report["native"]["blas_loaded"]   # the JSON keeps every fact


def test_doctor_fails_when_models_are_missing(tmp_path):
    proc = daka("doctor", "--json", instance=tmp_path, env={"DAKA_MODELS_DIR": str(tmp_path / "empty")})
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert report["ok"] is False and report["models"]["ok"] is False
    assert "model folder not found" in report["models"]["error"] or "missing" in report["models"]["error"]
    human = daka("doctor", instance=tmp_path, env={"DAKA_MODELS_DIR": str(tmp_path / "empty")})
    assert human.returncode == 1 and "PROBLEMS FOUND" in human.stdout and "!! models" in human.stdout


def test_bad_config_is_a_clear_usage_error(tmp_path):
    (tmp_path / "daka.toml").write_text("[admin]\nport = 99999\n[vison]\n", encoding="utf-8")
    proc = daka("doctor", instance=tmp_path)
    assert proc.returncode == 2
    assert "admin.port" in proc.stderr and "vision" in proc.stderr


def test_run_refuses_a_source_that_is_neither_a_url_nor_a_file(tmp_path):
    proc = daka("run", "--source", str(tmp_path / "照片 (1).jpg"), instance=tmp_path / "inst", timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "neither a camera URL nor a file" in proc.stderr
    proc = daka("run", "--source", "ftp://camera/1", instance=tmp_path / "inst", timeout=120)
    assert proc.returncode == 2 and "unknown camera scheme" in proc.stderr, proc.stderr


@pytest.mark.slow
def test_bench_native_prints_json_with_baselines(tmp_path):
    proc = daka("bench", "native", "--json", "--repeat", "3", instance=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    for section in ("descriptor", "hog", "gallery", "text"):
        assert result[section], section
    single = result["descriptor"]["onnx_single_1thread"]
    assert single["baseline"].startswith("dlib-bin") and single["speedup"] > 1
    assert set(result["gallery"]) == {"top1_1000", "top1_10000", "top1_100000"}
    assert result["hog"]["faces_found_terminal"] == 1


def test_help_loads_no_heavy_library():
    """`daka --help` stays quick: the command modules keep numpy, OpenCV, ONNX Runtime, SQLAlchemy,
    Flask and Kivy behind the commands that use them (app/cli/commands/__init__.py)."""
    probe = ("import sys\n"
             "from app.cli.main import main\n"
             "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
             "heavy = ('numpy', 'cv2', 'onnxruntime', 'sqlalchemy', 'flask', 'kivy', 'waitress')\n"
             "print(sorted(m for m in heavy if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert "usage: daka" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_every_command_is_bound_to_a_function():
    """Each `daka ...` path ends at a parser that names the function running it (main() dispatches
    on it): a command registered without set_defaults(handler=...) would crash instead of running."""
    import argparse

    from app.cli.main import _parser

    def leaves(parser, path, handler):
        handler = parser.get_default("handler") or handler
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            yield " ".join(path), handler
        for action in subs:
            for name, child in action.choices.items():
                yield from leaves(child, [*path, name], handler)

    found = dict(leaves(_parser(), [], None))
    assert len(found) == 33 and "fleet join" in found and "admin create-token" in found and "bench admin" in found \
        and "bench zkpull" in found and "bench adms" in found and "bench rules" in found and "fleet add-terminal" in found \
        and "bench fleet" in found
    unbound = [path for path, handler in found.items() if not callable(handler)]
    assert unbound == []


def test_help_says_how_to_get_started_and_run_help_names_the_admin(tmp_path):
    top = daka("--help", instance=tmp_path)
    assert top.returncode == 0 and "Getting started:" in top.stdout
    assert "daka doctor" in top.stdout and "daka run" in top.stdout
    run = daka("run", "--help", instance=tmp_path)
    text = " ".join(run.stdout.split())
    assert run.returncode == 0 and "admin" in text
    assert "8080/setup" in text and "setup code" in text and "create-user" in text
