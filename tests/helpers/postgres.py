"""A throwaway PostgreSQL server for tests: ``initdb`` + ``pg_ctl`` on a temporary data
directory, listening only on a unix socket inside it (no TCP port, nothing on the network).

PostgreSQL refuses to run as root, so under root the server runs as the ``postgres`` user
(``runuser``), which owns the directory. Binaries: ``pg_config --bindir``, else the newest
``/usr/lib/postgresql/*/bin`` (where Debian's ``postgresql`` package puts them; ``.ci/run``
installs it).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

USER = "postgres"


def bindir() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``, or None when PostgreSQL is absent."""
    candidates = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                             check=False)
        candidates.append(out.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                         key=lambda p: int(Path(p).parent.name), reverse=True)
    for candidate in candidates:
        if candidate and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    return None


def _as_server_user(command: list[str]) -> list[str]:
    """The command as a non-root user when we are root (postgres refuses root)."""
    return ["runuser", "-u", USER, "--", *command] if os.getuid() == 0 else command


@contextmanager
def server(binaries: Path) -> Iterator[str]:
    """Start a server, yield its SQLAlchemy URL (database ``postgres``), stop and remove it."""
    root = Path(tempfile.mkdtemp(prefix="icpg-"))  # short: a socket path has ~100 bytes
    data, socket = root / "data", root / "socket"
    socket.mkdir()
    if os.getuid() == 0:
        shutil.chown(root, USER)
        shutil.chown(socket, USER)
    try:
        _run([str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
             "--no-sync"])
        options = f"-c listen_addresses='' -c unix_socket_directories={socket} -c fsync=off"
        _run([str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-l",
             str(root / "server.log"), "start"])
        yield f"postgresql://postgres@/postgres?host={socket}"
    finally:
        subprocess.run(_as_server_user([str(binaries / "pg_ctl"), "-D", str(data), "-m",
                                        "immediate", "-w", "stop"]),
                       capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


def create_database(server_url: str, name: str) -> str:
    """Create database ``name`` on the server and return its URL (same socket, same user)."""
    import sqlalchemy as sa  # only the callers that create databases need SQLAlchemy

    admin = sa.create_engine(server_url.replace("postgresql://", "postgresql+psycopg://"),
                             isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    return server_url.replace("/postgres?", f"/{name}?")


def _run(command: list[str]) -> None:
    done = subprocess.run(_as_server_user(command), capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {done.stdout}{done.stderr}")
