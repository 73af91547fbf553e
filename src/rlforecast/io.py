"""Atomic file writes and content hashes: every output is written to a temporary name and renamed; a set of
outputs is swapped into its folder as a unit."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path

from rlforecast.errors import check_interrupt


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open(path, "w") would give; mkstemp alone would leave 0600


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds.

    The temporary name is hidden and marked, ``.NAME.XXXXXX.part``: a process killed mid-write (SIGKILL, power
    loss) leaves ``path`` as it was and at most such a hidden ``.part`` file beside it, never a partial ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.fchmod(fd, _FILE_MODE)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        check_interrupt()
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_bytes(path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path) -> str:
    return sha256_bytes(Path(path).read_bytes())


def json_default(x):
    """``json.dumps`` fallback: numpy scalars and arrays as plain numbers and lists, anything else as text."""
    return x.tolist() if hasattr(x, "tolist") else str(x)


@contextlib.contextmanager
def deferred_interrupts():
    """Hold SIGINT and SIGTERM until the block ends, then deliver them: a step that must not be cut in half,
    such as swapping a set of files into place, finishes first. (Python handlers are swapped rather than the
    signals masked: a process-directed signal would reach another thread.) Outside the main thread, a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {}
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda s, frame: held.append(s))
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if held:
            signal.raise_signal(held[0])


@contextlib.contextmanager
def file_lock(path, on_wait=None):
    """Exclusive lock across processes on the (hidden, kept) lock file ``path``; waits for the holder, calling
    ``on_wait()`` first if it has to wait."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, _FILE_MODE)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def write_set(out_dir, files: dict[str, bytes | str], command: str) -> None:
    """Write one command's set of output files into ``out_dir`` as a unit.

    The files are written into a hidden staging folder first, then, under the folder's lock and with
    interrupts held, renamed into place; files the command's previous set had and this one lacks are removed
    (the set is listed in ``.COMMAND.files``). A failure or interrupt before the swap leaves the previous set as
    it was; two runs into one folder leave one run's complete set, never a mix. Other files are not touched.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{command}.", suffix=".part", dir=out))
    try:
        for name, data in files.items():
            with open(stage / name, "wb") as fh:
                fh.write(data.encode("utf-8") if isinstance(data, str) else data)
                os.fsync(fh.fileno())
            os.chmod(stage / name, _FILE_MODE)
        manifest = f".{command}.files"
        (stage / manifest).write_text(json.dumps(sorted(files)) + "\n", encoding="utf-8")
        os.chmod(stage / manifest, _FILE_MODE)
        check_interrupt()
        with file_lock(out / ".rlforecast.lock"), deferred_interrupts():
            try:
                previous = set(json.loads((out / manifest).read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError):
                previous = set()
            for name in [*files, manifest]:
                os.replace(stage / name, out / name)
            for name in sorted(previous - set(files)):
                if isinstance(name, str) and Path(name).name == name:  # only plain names this function wrote
                    with contextlib.suppress(OSError):
                        os.unlink(out / name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
