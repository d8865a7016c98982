"""Real Redis and PostgreSQL servers from Debian's packages, started by the tests themselves.

No Docker: `redis-server` daemonized on a free port with nothing saved, and a throwaway
PostgreSQL cluster (`initdb` + `pg_ctl`) in a temporary folder, both on 127.0.0.1 only. A test
that needs one is skipped when the package is missing, unless OPENSPACE_REQUIRE_BACKENDS is set
(CI installs them, so there a missing server is a failure).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.server import free_port

READY_SECONDS = 20.0


def need(program: str, where: tuple[str, ...] = ()) -> str:
    """The program's path, or skip (fail under OPENSPACE_REQUIRE_BACKENDS)."""
    found = shutil.which(program) or next((p for d in where if Path(p := f"{d}/{program}").exists()), None)
    if found is None:
        message = f"{program} is not installed (apt-get install redis-server postgresql)"
        if os.environ.get("OPENSPACE_REQUIRE_BACKENDS"):
            pytest.fail(message)
        pytest.skip(message)
    return found


@dataclass
class RedisServer:
    port: int
    folder: Path
    program: str
    bind: tuple[str, ...] = ("127.0.0.1",)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        subprocess.run(
            [
                self.program,
                "--bind", *self.bind,
                "--protected-mode", "no",
                "--port", str(self.port),
                "--daemonize", "yes",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.folder),
                "--pidfile", str(self.folder / "redis.pid"),
                "--logfile", str(self.folder / "redis.log"),
            ],
            check=True,
        )  # fmt: skip
        self.cli("ping", attempts=int(READY_SECONDS / 0.05))

    def stop(self) -> None:
        with suppress(subprocess.CalledProcessError):
            self.cli("shutdown", "nosave", attempts=1)
        pidfile = self.folder / "redis.pid"
        for _ in range(int(READY_SECONDS / 0.05)):
            if not pidfile.exists():
                return
            time.sleep(0.05)

    def cli(self, *args: str, attempts: int = 1) -> str:
        for attempt in range(attempts):
            done = subprocess.run(
                ["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), *args], capture_output=True, text=True
            )
            if done.returncode == 0 and "Could not connect" not in done.stdout + done.stderr:
                return done.stdout
            if attempt + 1 < attempts:
                time.sleep(0.05)
        raise subprocess.CalledProcessError(done.returncode, args, done.stdout, done.stderr)


@contextmanager
def redis_server(folder: Path, also_on: tuple[str, ...] = ()) -> Iterator[RedisServer]:
    folder.mkdir(parents=True, exist_ok=True)
    server = RedisServer(free_port(), folder, need("redis-server"), ("127.0.0.1", *also_on))
    need("redis-cli")
    server.start()
    try:
        yield server
    finally:
        server.stop()


PG_BIN = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")


@dataclass
class PostgresServer:
    port: int
    folder: Path
    bin: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://openspace@127.0.0.1:{self.port}/{database}"

    def run(self, *command: str) -> None:
        """As the cluster's owner: PostgreSQL refuses to run as root."""
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, text=True)

    listen: str = "127.0.0.1"

    def start(self) -> None:
        options = f"-h {self.listen} -p {self.port} -k {self.folder}"
        self.run(str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-o", options, "-l",
                 str(self.folder / "log"), "-w", "-t", str(int(READY_SECONDS)), "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        with suppress(subprocess.CalledProcessError):
            self.run(str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m", mode, "-w", "stop")

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"'.encode())
        return self.url(name)


@contextmanager
def postgres_server(also_on: tuple[str, ...] = (), clients: str = "") -> Iterator[PostgresServer]:
    """A throwaway cluster: initdb into a fresh folder (owned by postgres when we are root).
    `also_on`: addresses to listen on besides 127.0.0.1; `clients`: a network they may log in from."""
    initdb = Path(need("initdb", PG_BIN))
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="openspace-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    server = PostgresServer(free_port(), folder, initdb.parent, ",".join(("127.0.0.1", *also_on)))
    server.run(str(initdb), "-D", str(folder / "data"), "-U", "openspace", "--auth=trust", "-E", "UTF8",
               "--no-sync", "--locale=C.UTF-8")  # fmt: skip
    if clients:
        with open(folder / "data" / "pg_hba.conf", "a") as hba:
            hba.write(f"host all all {clients} trust\n")
    server.start()
    try:
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)
