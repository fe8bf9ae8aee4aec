"""Logging setup on top of loguru.

* Console sink on stderr: ``time | level | module | message``, coloured only
  on a terminal (``NO_COLOR`` turns colour off). Under systemd (``JOURNAL_STREAM`` or ``INVOCATION_ID`` set)
  the timestamp is dropped and every line gets a ``<N>`` syslog priority
  prefix, which journald turns into the record's level.
* File sink ``logs/daka.log`` in the instance folder, rotated by size and
  capped to ``log.file_count`` files in total (SD cards wear out).
* Both sinks are enqueued: a slow disk or a stalled journald never blocks the
  caller (e.g. the camera thread). ``LoggingHandle.complete()`` waits until
  everything queued so far has been written.
* Records of the standard ``logging`` module (Flask, werkzeug, APScheduler)
  are routed into loguru; the libraries' routine chatter (APScheduler's two lines per job run,
  alembic's plugin and context lines on every command, waitress's "Client disconnected" when a
  browser leaves a live page) is demoted to DEBUG (:class:`ThirdPartyChatter`): a 5-second job
  would otherwise write ~34,500 lines a day and push real events out of the rotated files.

:func:`setup_logging` is idempotent: calling it again replaces the sinks it
added before instead of adding more.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from loguru import logger

if TYPE_CHECKING:
    from app.config import LogConfig
    from app.instance import Instance

__all__ = [
    "LOG_FILE_NAME",
    "InterceptHandler",
    "ThirdPartyChatter",
    "LoggingHandle",
    "running_under_systemd",
    "setup_logging",
    "syslog_priority",
]

LOG_FILE_NAME = "daka.log"
#: Bytes per "MB" of ``log.file_max_mb`` (tests shrink it).
MB = 1024 * 1024

CONSOLE_FORMAT = (
    "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> | <level>{level: <8}</level> | "
    "<cyan>{name}</cyan> | <level>{message}</level>"
)
FILE_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSSZZ} | {level: <8} | {name}:{function}:{line} | {message}"
JOURNAL_FORMAT = "{level: <8} {name}: {message}"


def running_under_systemd(env: Mapping[str, str] | None = None) -> bool:
    """True when started by systemd (stderr most likely goes to journald)."""
    env = os.environ if env is None else env
    return bool(env.get("JOURNAL_STREAM") or env.get("INVOCATION_ID"))


def syslog_priority(level_no: int) -> int:
    """Map a loguru/stdlib level number to a syslog priority (0-7)."""
    if level_no >= 50:  # CRITICAL
        return 2
    if level_no >= 40:  # ERROR
        return 3
    if level_no >= 30:  # WARNING
        return 4
    if level_no >= 25:  # SUCCESS -> notice
        return 5
    if level_no >= 20:  # INFO
        return 6
    return 7  # DEBUG, TRACE


class _JournalSink:
    """Write each line of a formatted record with a ``<N>`` priority prefix."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, message: Any) -> None:
        prefix = f"<{syslog_priority(message.record['level'].no)}>"
        text = "".join(prefix + line + "\n" for line in str(message).splitlines())
        self._stream.write(text)
        self._stream.flush()


#: (logger name or its prefix, message prefix or None for any) of INFO records that say nothing
#: an operator acts on; they stay visible at ``log.level = "DEBUG"``.
CHATTER: tuple[tuple[str, str | None], ...] = (
    ("apscheduler", None),                                   # Running job ... / executed successfully
    ("alembic.runtime.plugins", None),                       # setup plugin alembic.autogenerate...
    ("alembic.runtime.migration", "Context impl"),           # kept: "Running upgrade ..."
    ("alembic.runtime.migration", "Will assume"),
    ("waitress", "Client disconnected while serving"),       # a tab closed during a live feed
)


class ThirdPartyChatter(logging.Filter):
    """Demote the libraries' routine INFO records (:data:`CHATTER`) to DEBUG, dropping nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO:
            for name, prefix in CHATTER:
                if (record.name == name or record.name.startswith(name + ".")) and (
                        prefix is None or str(record.msg).startswith(prefix)):
                    record.levelno, record.levelname = logging.DEBUG, "DEBUG"
                    return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


class InterceptHandler(logging.Handler):
    """A stdlib ``logging`` handler that forwards records to loguru."""

    def __init__(self) -> None:
        super().__init__()
        self.addFilter(ThirdPartyChatter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        # Find the frame that called the logging module so that loguru
        # reports the real origin (module, function, line).
        frame = sys._getframe(1)
        depth = 1
        logging_file = logging.__file__
        while frame is not None and frame.f_code.co_filename == logging_file:
            frame = frame.f_back  # type: ignore[assignment]
            depth += 1
        logger.opt(depth=depth, exception=record.exc_info).log(level, record.getMessage())


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


@dataclass
class LoggingHandle:
    """What :func:`setup_logging` installed; lets callers flush and close."""

    sink_ids: tuple[int, ...]
    file_path: Path | None
    systemd: bool
    handler: InterceptHandler
    _closed: bool = False

    def complete(self) -> None:
        """Wait until every enqueued message has been written."""
        if not self._closed:
            logger.complete()

    def close(self) -> None:
        """Flush, remove the sinks and the stdlib handler (safe to repeat)."""
        global _current
        with _lock:
            if self._closed:
                return
            self._closed = True
            for sink_id in self.sink_ids:
                try:
                    logger.remove(sink_id)  # also flushes enqueued messages
                except ValueError:
                    pass
            root = logging.getLogger()
            if self.handler in root.handlers:
                root.removeHandler(self.handler)
            if _current is self:
                _current = None


_lock = threading.RLock()
_current: LoggingHandle | None = None
_default_removed = False


def close_logging() -> None:
    """Flush and remove what setup_logging installed (the end of a command: nothing queued is
    lost, and a caller of ``main()`` in the same process keeps no sink on a stream it closes)."""
    with _lock:
        if _current is not None:
            _current.close()


def setup_logging(
    cfg_log: LogConfig,
    instance: Instance | None,
    *,
    stderr: TextIO | None = None,
    env: Mapping[str, str] | None = None,
) -> LoggingHandle:
    """Configure loguru from the ``[log]`` section.

    ``instance`` None means no file sink (e.g. before an instance exists).
    ``stderr`` defaults to ``sys.stderr`` at call time. Calling again replaces
    what the previous call installed. Returns a :class:`LoggingHandle`.
    """
    global _current, _default_removed
    env = os.environ if env is None else env
    stream = sys.stderr if stderr is None else stderr
    level = cfg_log.level
    with _lock:
        if _current is not None:
            _current.close()
        if not _default_removed:
            try:
                logger.remove(0)  # loguru's default stderr sink
            except ValueError:
                pass
            _default_removed = True

        ids: list[int] = []
        systemd = running_under_systemd(env)
        file_path: Path | None = None
        try:
            if cfg_log.console:
                if systemd:
                    ids.append(
                        logger.add(
                            _JournalSink(stream).write,
                            level=level,
                            format=JOURNAL_FORMAT,
                            colorize=False,
                            backtrace=False,
                            diagnose=False,
                            enqueue=True,
                        )
                    )
                else:
                    colour = _isatty(stream) and not env.get("NO_COLOR")
                    ids.append(
                        logger.add(
                            stream,
                            level=level,
                            format=CONSOLE_FORMAT,
                            colorize=colour,
                            backtrace=False,
                            diagnose=False,
                            enqueue=True,
                        )
                    )
            if instance is not None:
                logs_dir = instance.logs_dir
                logs_dir.mkdir(parents=True, exist_ok=True)
                file_path = logs_dir / LOG_FILE_NAME
                ids.append(
                    logger.add(
                        file_path,
                        level=level,
                        format=FILE_FORMAT,
                        rotation=cfg_log.file_max_mb * MB,
                        # loguru keeps N rotated files besides the current one.
                        retention=cfg_log.file_count - 1,
                        encoding="utf-8",
                        enqueue=True,
                        backtrace=False,
                        diagnose=False,
                    )
                )
        except BaseException:
            for sink_id in ids:
                logger.remove(sink_id)
            raise

        handler = InterceptHandler()
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logger.level(level).no)
        _current = LoggingHandle(tuple(ids), file_path, systemd, handler)
        return _current
