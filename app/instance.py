"""Instance folder: where one Daka installation keeps its state.

Every ``daka`` command works on an *instance folder* holding the config file,
the database, enrolment photos, the clock-in journal, logs and snapshots.
The folder is chosen, in order of precedence, by

1. the ``--instance DIR`` command-line option,
2. the ``DAKA_INSTANCE`` environment variable,
3. a per-platform default (see :func:`default_instance_dir`).
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# One way: the instance writes the config's default file; the config only reads paths from an
# instance (a type hint there), so it never imports this module.
from app.config import CONFIG_FILE_NAME, render_default_config

__all__ = [
    "ENV_INSTANCE",
    "SYSTEM_INSTANCE_DIR",
    "Instance",
    "InstanceError",
    "InstanceLock",
    "InstanceLocked",
    "default_instance_dir",
    "resolve_instance",
]

#: Environment variable naming the instance folder.
ENV_INSTANCE = "DAKA_INSTANCE"

#: System-wide instance folder used on Linux by root or when it is writable.
SYSTEM_INSTANCE_DIR = Path("/var/lib/daka")

DATABASE_FILE_NAME = "daka.sqlite3"
LOCK_FILE_NAME = "daka.lock"
RESERVE_FILE_NAME = "space.reserve"

#: Free space kept back in the instance folder (a file of this size). When a start finds the
#: disk full it deletes the file, so the database can open (SQLite needs room for its WAL index)
#: and the terminal comes up; it is made again once there is room for it twice over.
SPACE_RESERVE_BYTES = 512 << 10
_RESERVE_WARNED: set[Path] = set()

# Permissions of the instance root: it holds biometric data, so owner only.
ROOT_MODE = 0o700


class InstanceError(Exception):
    """The instance folder cannot be used (not creatable, not writable, ...)."""


class InstanceLocked(InstanceError):
    """Another process holds the lock (a second ``daka run`` on one instance)."""

    def __init__(self, what: str, pid: int | None):
        self.pid = pid
        holder = f"PID {pid}" if pid else "a process whose PID is unknown"
        super().__init__(f"{what} is in use by another process ({holder}): stop it first "
                         f"(e.g. systemctl stop daka) or use another --instance")


def hold_lock(path: Path, what: str) -> int:
    """Take an exclusive lock on ``path`` (created if missing) for as long as the fd is open.

    The lock is ``flock``: the kernel drops it when the process ends however it ends (kill -9,
    power loss), so a stale lock file never blocks a start. The holder's PID is written into the
    file for the error message of the next one that tries.
    """
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        finally:
            os.close(fd)
        raise InstanceLocked(what, int(text) if text.isdigit() else None) from None
    except BaseException:
        os.close(fd)
        raise
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError:
        pass  # a full disk: the lock holds all the same, only the message lacks the PID
    return fd


def release_lock(fd: int) -> None:
    """Drop a lock taken by :func:`hold_lock` (closing the fd releases the flock)."""
    os.close(fd)


class InstanceLock:
    """The instance's lock held by this process (see :meth:`Instance.lock`)."""

    def __init__(self, path: Path, what: str):
        self.path = path
        self._fd: int | None = hold_lock(path, what)

    def release(self) -> None:
        if self._fd is not None:
            release_lock(self._fd)
            self._fd = None

    def __enter__(self) -> InstanceLock:
        return self

    def __exit__(self, *_exc) -> None:
        self.release()


def _is_root() -> bool:
    geteuid = getattr(os, "geteuid", None)
    return geteuid is not None and geteuid() == 0


def _home(env: Mapping[str, str], platform: str) -> Path:
    var = "USERPROFILE" if platform == "win32" else "HOME"
    value = env.get(var)
    return Path(value) if value else Path.home()


def default_instance_dir(
    *,
    env: Mapping[str, str] | None = None,
    platform: str | None = None,
    is_root: bool | None = None,
    system_dir: Path = SYSTEM_INSTANCE_DIR,
) -> Path:
    """Return the per-platform default instance folder.

    * Linux/other POSIX: ``/var/lib/daka`` when running as root or when that
      folder already exists and is writable; otherwise
      ``$XDG_DATA_HOME/daka`` (if set to an absolute path) or
      ``~/.local/share/daka``.
    * macOS: ``~/Library/Application Support/Daka``.
    * Windows: ``%LOCALAPPDATA%\\Daka`` (or ``~/AppData/Local/Daka``).

    The keyword arguments exist for tests; they default to the real system.
    """
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if platform == "win32":
        local = env.get("LOCALAPPDATA")
        base = Path(local) if local else _home(env, platform) / "AppData" / "Local"
        return base / "Daka"
    if platform == "darwin":
        return _home(env, platform) / "Library" / "Application Support" / "Daka"

    root = _is_root() if is_root is None else is_root
    if root or (system_dir.is_dir() and os.access(system_dir, os.W_OK | os.X_OK)):
        return system_dir
    xdg = env.get("XDG_DATA_HOME", "")
    # The XDG spec says relative values must be ignored.
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "daka"
    return _home(env, platform) / ".local" / "share" / "daka"


def resolve_instance(
    cli_value: str | os.PathLike[str] | None,
    *,
    env: Mapping[str, str] | None = None,
    **default_kwargs: object,
) -> Path:
    """Pick the instance folder: CLI value, then ``DAKA_INSTANCE``, then default.

    Empty strings count as "not given". ``~`` is expanded and the result is
    made absolute (symlinks are kept as they are). Extra keyword arguments are
    passed to :func:`default_instance_dir` (for tests).
    """
    env = os.environ if env is None else env
    chosen: str | os.PathLike[str] | None = None
    if cli_value is not None and os.fspath(cli_value) != "":
        chosen = cli_value
    elif env.get(ENV_INSTANCE):
        chosen = env[ENV_INSTANCE]
    if chosen is None:
        path = default_instance_dir(env=env, **default_kwargs)  # type: ignore[arg-type]
    else:
        path = Path(chosen).expanduser()
    return Path(os.path.abspath(path))


def _describe_os_error(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on device"
    if exc.errno == errno.EROFS:
        return "read-only file system"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.ENOTDIR:
        return "a parent of it is a file, not a folder"
    return exc.strerror or str(exc)


@dataclass(frozen=True)
class Instance:
    """An instance folder and the paths derived from it."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @classmethod
    def resolve(
        cls, cli_value: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None
    ) -> Instance:
        """Build an :class:`Instance` from ``--instance`` / ``DAKA_INSTANCE`` / default."""
        return cls(resolve_instance(cli_value, env=env))

    def __str__(self) -> str:
        return str(self.root)

    # Derived paths -----------------------------------------------------
    @property
    def config_path(self) -> Path:
        """The TOML config file, ``daka.toml``."""
        return self.root / CONFIG_FILE_NAME

    @property
    def database_path(self) -> Path:
        """The default SQLite database file, ``daka.sqlite3``."""
        return self.root / DATABASE_FILE_NAME

    @property
    def photos_dir(self) -> Path:
        """Enrolment photos."""
        return self.root / "photos"

    @property
    def journal_dir(self) -> Path:
        """Clock-in journal (append-only records)."""
        return self.root / "journal"

    @property
    def logs_dir(self) -> Path:
        """Rotated log files."""
        return self.root / "logs"

    @property
    def snapshots_dir(self) -> Path:
        """Camera snapshots taken at clock-in."""
        return self.root / "snapshots"

    @property
    def lock_path(self) -> Path:
        """The lock file held by the process that runs the terminal on this instance."""
        return self.root / LOCK_FILE_NAME

    @property
    def reserve_path(self) -> Path:
        """The free-space reserve (see :data:`SPACE_RESERVE_BYTES`)."""
        return self.root / RESERVE_FILE_NAME

    @property
    def subdirs(self) -> tuple[Path, ...]:
        return (self.photos_dir, self.journal_dir, self.logs_dir, self.snapshots_dir)

    # Creation ----------------------------------------------------------
    def create_dirs(self) -> Instance:
        """Create the folder tree (root mode 0o700) and check it is writable.

        Raises :class:`InstanceError` with a one-line explanation when the
        folder cannot be created or written to.
        """
        root = self.root
        if root.exists() and not root.is_dir():
            raise InstanceError(f"instance folder {root} exists but is not a folder")
        try:
            created = not root.exists()
            root.mkdir(mode=ROOT_MODE, parents=True, exist_ok=True)
            if created or (root.stat().st_mode & 0o077):
                self._tighten(root)
        except OSError as exc:
            raise InstanceError(
                f"cannot create instance folder {root}: {_describe_os_error(exc)}"
            ) from exc
        self.keep_space_reserve(create=False)  # on a full disk: room for the probe and the database
        self._check_writable()
        for sub in self.subdirs:
            if sub.exists() and not sub.is_dir():
                raise InstanceError(f"{sub} in instance folder {root} is not a folder")
            try:
                sub.mkdir(mode=ROOT_MODE, exist_ok=True)
            except OSError as exc:
                raise InstanceError(
                    f"cannot create {sub} in instance folder {root}: {_describe_os_error(exc)}"
                ) from exc
        return self

    @staticmethod
    def _tighten(root: Path) -> None:
        # Only the owner may change the mode; do not fail on a shared folder
        # owned by someone else as long as it is writable (checked later).
        try:
            os.chmod(root, ROOT_MODE)
        except PermissionError:
            pass

    def lock(self, what: str | None = None) -> InstanceLock:
        """Hold the instance exclusively (``daka run``); :class:`InstanceLocked` names the holder."""
        return InstanceLock(self.lock_path, what or f"instance {self.root}")

    def keep_space_reserve(self, reserve_bytes: int = SPACE_RESERVE_BYTES, *, create: bool = True) -> bool:
        """Release the reserve on a full disk, make it (unless told not to) when there is room.

        True when the reserve is held.
        """
        from loguru import logger

        path = self.reserve_path
        try:
            free = shutil.disk_usage(self.root).free
        except OSError:
            return path.exists()
        if path.exists():
            if free >= reserve_bytes:
                return True
            path.unlink(missing_ok=True)
            logger.warning("disk full ({} bytes free in {}): released the {} byte space reserve (the "
                           "database can open and write a while longer); free some space",
                           free, self.root, reserve_bytes)
            return False
        if not create or free < 2 * reserve_bytes:  # after it, at least its size stays free: no flapping
            return False
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.posix_fallocate(fd, 0, reserve_bytes)  # blocks allocated, nothing to write
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            path.unlink(missing_ok=True)
            if path not in _RESERVE_WARNED:  # the status asks every few seconds: say it once
                _RESERVE_WARNED.add(path)
                logger.warning("cannot make the space reserve {}: {}", path, _describe_os_error(exc))
            return False
        _RESERVE_WARNED.discard(path)
        return True

    def _check_writable(self) -> None:
        """Write, sync and delete a small probe file in the root (a full disk counts as writable)."""
        root = self.root
        try:
            fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=root)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                return  # writable, only full: the terminal starts and says so
            raise InstanceError(
                f"instance folder {root} is not writable: {_describe_os_error(exc)}"
            ) from exc
        try:
            try:
                os.write(fd, b"daka")
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                return
            raise InstanceError(
                f"cannot write to instance folder {root}: {_describe_os_error(exc)}"
            ) from exc
        finally:
            try:
                os.unlink(probe)
            except OSError:
                pass

    def write_default_config(self, *, overwrite: bool = False) -> bool:
        """Write the commented default ``daka.toml`` if it does not exist.

        Returns True when a file was written. The write is atomic (temporary
        file + rename) so a full disk never leaves a truncated config behind.
        """
        path = self.config_path
        if path.exists() and not overwrite:
            return False
        text = render_default_config()
        tmp: str | None = None
        try:
            fd, tmp = tempfile.mkstemp(prefix=".daka.toml-", dir=self.root)
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
            tmp = None
        except OSError as exc:
            raise InstanceError(
                f"cannot write default config file {path}: {_describe_os_error(exc)}"
            ) from exc
        finally:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
        return True

    def prepare(self) -> Instance:
        """Create the folder tree, a default config file when missing, and the space reserve."""
        self.create_dirs()
        self.write_default_config()
        self.keep_space_reserve()
        return self


def instance_secret(root: Path, name: str) -> bytes:
    """A per-instance random key in the instance folder (0600), made on first use: the admin's
    session key and the self-service links' signing key, each in its own file."""
    path = Path(root) / name
    try:
        data = path.read_bytes()
        if len(data) >= 32:
            return data
    except FileNotFoundError:
        pass
    data = secrets.token_bytes(48)
    path.touch(mode=0o600)
    path.write_bytes(data)
    return data
