"""thumbor as a baseline: installed into a virtualenv of its own, served on 127.0.0.1.

``bench/.thumbor-venv`` (git-ignored) is made on the first run with pinned versions and reused
after; thumbor runs with its file loader pointed at the benchmark's temporary folder, no
storage and no result storage (every request decodes and resizes), unsafe URLs allowed, and is
timed over one keep-alive HTTP connection, so its figures include a loopback HTTP round trip
(well under a millisecond here) on top of the resize and the WebP encode.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

VENV = Path(__file__).resolve().parent / ".thumbor-venv"
# thumbor 7.8.0 caps Pillow below 13, so it gets its own Pillow (12.x) beside pixvault's.
PINS = ("thumbor==7.8.0", "pillow-heif==1.8.1")
_STAMP = VENV / ".installed"
_INSTALL_TIMEOUT = 600.0


class Unavailable(Exception):
    """thumbor cannot be installed or started here; the message says why."""


def ensure_installed() -> Path:
    """The thumbor executable, installing the pinned versions first if needed."""
    exe = VENV / "bin" / "thumbor"
    wanted = "\n".join(PINS)
    if exe.exists() and _STAMP.exists() and _STAMP.read_text() == wanted:
        return exe
    try:
        if not (VENV / "bin" / "python").exists():
            subprocess.run(
                [sys.executable, "-m", "venv", str(VENV)],
                check=True,
                capture_output=True,
                timeout=_INSTALL_TIMEOUT,
            )
        # Ignored by git whatever the top-level .gitignore says (venv does this from 3.13 on).
        (VENV / ".gitignore").write_text("*\n")
        print(f"(installing {', '.join(PINS)} into {VENV.name} ...)", flush=True)
        subprocess.run(
            [
                str(VENV / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                *PINS,
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=_INSTALL_TIMEOUT,
        )
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or exc.stdout or "").strip().splitlines()[-1:] or ["no output"]
        raise Unavailable(f"pip could not install thumbor: {tail[0][:120]}") from None
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(f"thumbor could not be installed: {exc}") from None
    if not exe.exists():
        raise Unavailable("thumbor installed without its executable")
    _STAMP.write_text(wanted)
    return exe


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Thumbor:
    """A running thumbor; ``resize_ms`` times one fit-in resize to WebP of a served file."""

    def __init__(self, port: int, version: str) -> None:
        self.port = port
        self.version = version
        self._conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def fetch(self, name: str, side: int, quality: int = 82) -> bytes:
        path = f"/unsafe/fit-in/{side}x{side}/filters:format(webp):quality({quality})/{name}"
        self._conn.request("GET", path)
        response = self._conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise Unavailable(f"thumbor answered {response.status} for {name}")
        return body

    def close(self) -> None:
        self._conn.close()


@contextmanager
def running(root: Path, *, extra_config: str = "", processes: int = 1) -> Iterator[Thumbor]:
    """thumbor serving the files in ``root`` (its file loader) on a free loopback port.

    ``extra_config`` is appended to thumbor.conf (e.g. the upload endpoint's settings);
    ``processes`` is thumbor's ``--processes`` (forked workers sharing the port)."""
    exe = ensure_installed()
    version = subprocess.run(
        [str(VENV / "bin" / "python"), "-c", "import thumbor; print(thumbor.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    conf = root / "thumbor.conf"
    conf.write_text(
        "ALLOW_UNSAFE_URL = True\n"
        "LOADER = 'thumbor.loaders.file_loader'\n"
        f"FILE_LOADER_ROOT_PATH = {str(root)!r}\n"
        "STORAGE = 'thumbor.storages.no_storage'\n"
        "RESULT_STORAGE = None\n"
        "MAX_AGE = 0\n" + extra_config
    )
    port = _free_port()
    log = (root / "thumbor.log").open("wb")
    proc = subprocess.Popen(
        [
            *(str(exe), "-i", "127.0.0.1", "-p", str(port), "-c", str(conf), "-l", "error"),
            *(("--processes", str(processes)) if processes != 1 else ()),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        # Its own process group: with --processes the workers are forked children that
        # outlive a parent stopped alone.
        start_new_session=True,
    )
    server: Thumbor | None = None
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise Unavailable(f"thumbor exited with {proc.returncode} at start-up")
            try:
                probe = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                probe.request("GET", "/healthcheck")
                ok = probe.getresponse().status == 200
                probe.close()
                if ok:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise Unavailable("thumbor did not answer /healthcheck within 30 s")
            time.sleep(0.2)
        server = Thumbor(port, version)
        yield server
    finally:
        if server is not None:
            server.close()
        _stop_group(proc)
        log.close()


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to thumbor's process group (it and its forked workers), SIGKILL after 10 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # workers still there after the parent left
    proc.wait()
