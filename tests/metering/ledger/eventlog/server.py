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
    if not BINARY.exists():
        pytest.fail(
            f"{BINARY} is missing: `make clickhouse` unpacks Debian's clickhouse-server there",
            pytrace=False,
        )
    ports = free_ports(2 * count)
    servers = [Server(ports[2 * i], ports[2 * i + 1]) for i in range(count)]
    env = {**os.environ, "LD_LIBRARY_PATH": ":".join(str(p) for p in LIBRARIES)}
    with ExitStack() as stack:
        started = []
        for index, server in enumerate(servers):
            home = folder / f"server{index}"
            home.mkdir(parents=True)
            (home / "config.xml").write_text(_config(home, server, servers, compression))
            (home / "users.xml").write_text(USERS)
            log = home / "server.log"
            output = stack.enter_context(log.open("wb"))
            process = subprocess.Popen(
                [str(BINARY), f"--config-file={home / 'config.xml'}"],
                cwd=home,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
            stack.callback(_stop, process)
            started.append((server, process, log))
        for server, process, log in started:
            _wait(server, process, log)
        yield servers


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
