"""Tests for app.logs."""

import io
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from loguru import logger

import app.logs as logs
from app.config import LogConfig
from app.instance import Instance
from app.logs import InterceptHandler, LoggingHandle, setup_logging, syslog_priority

Setup = Callable[..., LoggingHandle]


@pytest.fixture
def inst(tmp_path: Path) -> Instance:
    return Instance(tmp_path / "inst").create_dirs()


@pytest.fixture
def setup(monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    """Call setup_logging with a clean env; close whatever it installed."""
    handles: list[LoggingHandle] = []
    root_level = logging.getLogger().level

    def run(cfg: LogConfig, instance: Instance | None, **kwargs: object) -> LoggingHandle:
        kwargs.setdefault("env", {})
        handle = setup_logging(cfg, instance, **kwargs)  # type: ignore[arg-type]
        handles.append(handle)
        return handle

    yield run
    for handle in handles:
        handle.close()
    logging.getLogger().setLevel(root_level)


def console_text(handle: LoggingHandle, stream: io.StringIO) -> str:
    handle.complete()  # the console sink is enqueued too
    return stream.getvalue()


def file_text(handle: LoggingHandle) -> str:
    handle.complete()
    assert handle.file_path is not None
    return handle.file_path.read_text(encoding="utf-8")


def test_lines_reach_the_file(setup: Setup, inst: Instance) -> None:
    handle = setup(LogConfig(console=False), inst)
    assert handle.file_path == inst.logs_dir / "daka.log"
    logger.info("door opened for 张三")
    logger.debug("below the level")
    text = file_text(handle)
    assert re.search(
        r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}[+-]\d{4} \| INFO     \| \S*test_logs:"
        r"test_lines_reach_the_file:\d+ \| door opened for 张三$",
        text,
        re.M,
    ), text
    assert "below the level" not in text


def test_level_is_applied(setup: Setup, inst: Instance) -> None:
    handle = setup(LogConfig(level="DEBUG", console=False), inst)
    logger.debug("debug now visible")
    logger.trace("trace still hidden")
    text = file_text(handle)
    assert "debug now visible" in text
    assert "trace still hidden" not in text


def test_no_instance_means_no_file(setup: Setup) -> None:
    stream = io.StringIO()
    handle = setup(LogConfig(), None, stderr=stream)
    assert handle.file_path is None
    logger.info("console only")
    assert "console only" in console_text(handle, stream)


def test_console_format_plain_when_not_a_tty(setup: Setup) -> None:
    stream = io.StringIO()
    handle = setup(LogConfig(), None, stderr=stream)
    logger.warning("camera lost")
    line = console_text(handle, stream).rstrip("\n")
    assert "\x1b[" not in line
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \| WARNING  \| \S*test_logs \| camera lost", line
    ), line


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_console_colour_on_a_tty(setup: Setup) -> None:
    stream = FakeTty()
    handle = setup(LogConfig(), None, stderr=stream)
    logger.info("coloured")
    assert "\x1b[" in console_text(handle, stream)
    # NO_COLOR turns it off.
    stream2 = FakeTty()
    handle = setup(LogConfig(), None, stderr=stream2, env={"NO_COLOR": "1"})
    logger.info("plain")
    text = console_text(handle, stream2)
    assert "plain" in text and "\x1b[" not in text


def test_console_can_be_disabled(setup: Setup, inst: Instance) -> None:
    stream = io.StringIO()
    handle = setup(LogConfig(console=False), inst, stderr=stream)
    logger.info("file only")
    assert "file only" in file_text(handle)
    assert console_text(handle, stream) == ""


@pytest.mark.parametrize("var", ["INVOCATION_ID", "JOURNAL_STREAM"])
def test_systemd_priority_prefix(setup: Setup, var: str) -> None:
    stream = io.StringIO()
    handle = setup(LogConfig(level="DEBUG"), None, stderr=stream, env={var: "8:12345"})
    assert handle.systemd
    logger.debug("dbg")
    logger.info("inf")
    logger.success("ok")
    logger.warning("warn")
    logger.error("first line\nsecond line")
    logger.critical("crit")
    text = console_text(handle, stream)
    lines = text.splitlines()
    name = r"\S*test_logs"
    expected = [
        ("7", "DEBUG   ", "dbg"),
        ("6", "INFO    ", "inf"),
        ("5", "SUCCESS ", "ok"),
        ("4", "WARNING ", "warn"),
        ("3", "ERROR   ", "first line"),
        ("3", "", "second line"),
        ("2", "CRITICAL", "crit"),
    ]
    assert len(lines) == len(expected), lines
    for line, (prio, level, msg) in zip(lines, expected):
        if level:
            assert re.fullmatch(rf"<{prio}>{level} {name}: {msg}", line), line
        else:  # continuation lines keep the record's priority
            assert line == f"<{prio}>{msg}"
    # No timestamp under journald (it adds its own).
    assert not re.search(r"\d\d:\d\d:\d\d", text)


def test_systemd_traceback_lines_are_prefixed(setup: Setup) -> None:
    stream = io.StringIO()
    handle = setup(LogConfig(), None, stderr=stream, env={"INVOCATION_ID": "abc"})
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logger.exception("failed")
    lines = console_text(handle, stream).splitlines()
    assert len(lines) > 3
    assert all(line.startswith("<3>") for line in lines), lines
    assert lines[-1] == "<3>RuntimeError: boom"


def test_syslog_priority_mapping() -> None:
    assert [syslog_priority(n) for n in (5, 10, 20, 25, 30, 40, 50)] == [7, 7, 6, 5, 4, 3, 2]


def test_stdlib_logging_is_intercepted(setup: Setup, inst: Instance) -> None:
    stream = io.StringIO()
    handle = setup(LogConfig(), inst, stderr=stream)
    logging.getLogger("werkzeug").warning("GET /admin %s", 404)
    logging.getLogger("apscheduler").debug("hidden at INFO")
    line = console_text(handle, stream).strip()
    assert re.fullmatch(r".* \| WARNING  \| \S*test_logs \| GET /admin 404", line), line
    assert "GET /admin 404" in file_text(handle)
    # The origin is the caller, not the logging module.
    assert ":test_stdlib_logging_is_intercepted:" in file_text(handle)


def test_stdlib_exception_keeps_traceback(setup: Setup) -> None:
    stream = io.StringIO()
    handle = setup(LogConfig(), None, stderr=stream)
    try:
        1 / 0
    except ZeroDivisionError:
        logging.getLogger("flask.app").exception("request failed")
    text = console_text(handle, stream)
    assert "request failed" in text
    assert "ZeroDivisionError" in text


def test_setup_is_idempotent(setup: Setup, inst: Instance) -> None:
    stream = io.StringIO()
    setup(LogConfig(), inst, stderr=stream)
    handle = setup(LogConfig(), inst, stderr=stream)
    logger.info("only once")
    logging.getLogger("x").info("stdlib once")
    text = console_text(handle, stream)
    assert text.count("only once") == 1
    assert text.count("stdlib once") == 1
    assert file_text(handle).count("only once") == 1
    root_handlers = [h for h in logging.getLogger().handlers if isinstance(h, InterceptHandler)]
    assert len(root_handlers) == 1


def test_reconfigure_replaces_previous_sinks(setup: Setup) -> None:
    first, second = io.StringIO(), io.StringIO()
    setup(LogConfig(), None, stderr=first)
    handle = setup(LogConfig(level="ERROR"), None, stderr=second)
    logger.warning("not at error level")
    logger.error("error line")
    text = console_text(handle, second)
    assert first.getvalue() == ""
    assert "not at error level" not in text
    assert "error line" in text


def test_close_removes_everything(setup: Setup, inst: Instance) -> None:
    stream = io.StringIO()
    handle = setup(LogConfig(), inst, stderr=stream)
    logger.info("before close")
    handle.close()  # flushes what was queued
    handle.close()  # harmless twice
    logger.info("after close")
    logging.getLogger("y").warning("after close too")
    assert "before close" in stream.getvalue()
    assert "after close" not in stream.getvalue()
    assert handle.file_path is not None
    text = handle.file_path.read_text(encoding="utf-8")
    assert "before close" in text and "after close" not in text
    assert not any(isinstance(h, InterceptHandler) for h in logging.getLogger().handlers)


@pytest.mark.parametrize("count", [1, 3])
def test_rotation_caps_number_of_files(
    setup: Setup, inst: Instance, monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    monkeypatch.setattr(logs, "MB", 2000)  # "1 MB" becomes 2000 bytes
    cfg = replace(LogConfig(), file_max_mb=1, file_count=count, console=False)
    handle = setup(cfg, inst)
    for i in range(200):
        logger.info("line {} {}", i, "x" * 100)
    handle.complete()
    files = sorted(inst.logs_dir.iterdir())
    assert len(files) == count, [f.name for f in files]
    assert (inst.logs_dir / "daka.log") in files
    for f in files:
        assert f.stat().st_size <= 2000
    # The newest lines survive in the current file.
    assert "line 199 " in (inst.logs_dir / "daka.log").read_text(encoding="utf-8")


def test_a_command_run_in_process_leaves_no_sink_behind(tmp_path, monkeypatch):
    """main() flushes and removes its sinks when the command ends: a later message (another test's,
    or the process's last) never goes to the stream the command was given, which may be closed."""
    import io

    from loguru import logger

    from app.cli.main import main

    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["--instance", str(tmp_path / "inst"), "admin", "create-token", "考勤系统"]) == 0
    logger.warning("a message after the command ended")
    logger.complete()
    assert "after the command ended" not in stream.getvalue()


def test_third_party_chatter_is_debug_not_info(setup: Setup, inst: Instance) -> None:
    """Issue 25: APScheduler's two lines per job run, alembic's plugin and context lines and
    waitress's "Client disconnected" are DEBUG; the same libraries' warnings and other lines stay."""
    handle = setup(LogConfig(console=False), inst)
    logging.getLogger("apscheduler.executors.default").info('Running job "flush" (scheduled at x)')
    logging.getLogger("apscheduler.executors.default").info('Job "flush" executed successfully')
    logging.getLogger("apscheduler.executors.default").error('Job "flush" raised an exception')
    logging.getLogger("alembic.runtime.plugins").info("setup plugin %s", "alembic.autogenerate.schemas")
    logging.getLogger("alembic.runtime.migration").info("Context impl SQLiteImpl.")
    logging.getLogger("alembic.runtime.migration").info("Running upgrade a -> b, new table")
    logging.getLogger("waitress").info("Client disconnected while serving /dashboard/events")
    logging.getLogger("waitress").warning("Task queue depth is 3")
    text = file_text(handle)
    assert "Running job" not in text and "executed successfully" not in text
    assert "setup plugin" not in text and "Context impl" not in text and "Client disconnected" not in text
    assert 'Job "flush" raised an exception' in text and "Running upgrade a -> b" in text
    assert "Task queue depth is 3" in text

    debug = setup(LogConfig(console=False, level="DEBUG"), inst)
    logging.getLogger("waitress").info("Client disconnected while serving /dashboard/events")
    lines = [line for line in file_text(debug).splitlines() if "Client disconnected" in line]
    assert len(lines) == 1 and "| DEBUG    |" in lines[0]   # kept for whoever asks for DEBUG
