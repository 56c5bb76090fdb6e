"""ClickHouse servers for the tests: Debian's clickhouse-server, unpacked by `make
clickhouse` into var/clickhouse (no system service), run as child processes on free ports
with temporary data folders."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

PROJECT = Path(__file__).resolve().parents[4]
UNPACKED = PROJECT / "var" / "clickhouse" / "root"
BINARY = Path(
    os.environ.get(
        "METERING_TEST_CLICKHOUSE_SERVER", UNPACKED / "usr" / "sbin" / "clickhouse-server"
    )
)
LIBRARIES = [UNPACKED / "usr" / "lib" / "x86_64-linux-gnu", UNPACKED / "lib" / "x86_64-linux-gnu"]
CLUSTER = "two_shards"

USERS = """<?xml version="1.0"?>
<yandex>
  <profiles><default></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks>
  <profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas>
</yandex>
"""


@dataclass(frozen=True)
class Server:
    http_port: int
    tcp_port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _config(folder: Path, server: Server, shards: Sequence[Server], compression: str | None) -> str:
    remote = "".join(
        f"<shard><replica><host>127.0.0.1</host><port>{shard.tcp_port}</port></replica></shard>"
        for shard in shards
    )
    return f"""<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><console>1</console></logger>
  <http_port>{server.http_port}</http_port>
  <tcp_port>{server.tcp_port}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>{folder}/data/</path>
  <tmp_path>{folder}/tmp/</tmp_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>5368709</mark_cache_size>
  {_compression(compression)}
  <remote_servers><{CLUSTER}>{remote}</{CLUSTER}></remote_servers>
</yandex>
"""


def _compression(method: str | None) -> str:
    """Every part compressed with `method` (None: the server's default, LZ4)."""
    if method is None:
        return ""
    return (
        "<compression><case><min_part_size>0</min_part_size>"
        f"<min_part_size_ratio>0</min_part_size_ratio><method>{method}</method>"
        "</case></compression>"
    )


def _wait(server: Server, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"clickhouse-server exited: {log.read_text()[-2000:]}", pytrace=False)
        try:
            if httpx.get(server.url + "/ping", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail("clickhouse-server did not answer within 60 s", pytrace=False)


@contextmanager
def run_servers(folder: Path, count: int, compression: str | None = None) -> Iterator[list[Server]]:
    """`count` servers that know each other as the shards of cluster `two_shards`
    (`compression`: of every part, e.g. "zstd"; LZ4 by default)."""
    ports = free_ports(2 * count)
    servers = [Server(ports[2 * i], ports[2 * i + 1]) for i in range(count)]
    with ExitStack() as stack:
        started = [
            stack.enter_context(ServerProcess(folder / f"server{i}", s, servers, compression))
            for i, s in enumerate(servers)
        ]
        for process in started:
            process.wait_ready()
        yield servers


class ServerProcess:
    """One server's process, on its own data folder; a test may `kill` it (SIGKILL, as a
    crash or the OOM killer would) and `start` it again on the same folder and ports."""

    def __init__(
        self,
        home: Path,
        server: Server,
        shards: Sequence[Server] | None = None,
        compression: str | None = None,
    ) -> None:
        if not BINARY.exists():
            pytest.fail(
                f"{BINARY} is missing: `make clickhouse` unpacks Debian's clickhouse-server there",
                pytrace=False,
            )
        self.home, self.server = home, server
        home.mkdir(parents=True)
        (home / "config.xml").write_text(_config(home, server, shards or [server], compression))
        (home / "users.xml").write_text(USERS)
        self.log = home / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServerProcess:
        self.start(wait=False)
        return self

    def __exit__(self, *_: object) -> None:
        if self.process is not None:
            _stop(self.process)

    def start(self, wait: bool = True) -> None:
        env = {**os.environ, "LD_LIBRARY_PATH": ":".join(str(p) for p in LIBRARIES)}
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [str(BINARY), f"--config-file={self.home / 'config.xml'}"],
                cwd=self.home,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        assert self.process is not None
        _wait(self.server, self.process, self.log)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()
        self.process = None


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
