"""Shared helpers of the terminal benches (ingest, block, connections).

Each bench runs against its own throw-away database (default cc_bench_term, from
BENCH_TERM_DATABASE_URL), cloned from a template that keeps the bench's fixture (terminals,
cards, a block list) between runs: `migrate` runs on the template each time, the fixture is
built once per fixture key, and `CREATE DATABASE … TEMPLATE` gives every run the same start.
Redis is BENCH_REDIS_URL (default db 14). Everything listens on 127.0.0.1 only.

The yardstick: every bench also measures the machine's raw PostgreSQL speed in the same run
(COPY of the same number of 40-byte rows into a plain table), and prints both and the ratio.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PY = str(ROOT / ".venv" / "bin" / "python")
CELERY = str(ROOT / ".venv" / "bin" / "celery")

URL = os.environ.get("BENCH_TERM_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cc_bench_term")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
BASE, _, NAME = URL.rpartition("/")


def _admin():
    import psycopg2

    conn = psycopg2.connect(BASE + "/postgres")
    conn.autocommit = True
    return conn


def env() -> dict:
    e = dict(os.environ)
    e.update(DATABASE_URL=URL, REDIS_URL=REDIS, CAMPUSCARD_DEV="1", DJANGO_SETTINGS_MODULE="campuscard.settings",
             PYTHONUNBUFFERED="1", CELERY_SKIP_CHECKS="1")  # system checks are the test suite's job
    return e


def database(fixture_key: str, build) -> None:
    """Django on a fresh copy of the bench database; build() makes the fixture on the template."""
    os.environ.update({k: v for k, v in env().items() if k in ("DATABASE_URL", "REDIS_URL", "CAMPUSCARD_DEV",
                                                            "DJANGO_SETTINGS_MODULE")})
    template = f"{NAME}_tpl_{fixture_key}"
    admin = _admin()
    with admin.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [template])
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{template}"')
    import django
    from django.conf import settings

    os.environ["DATABASE_URL"] = f"{BASE}/{template}"
    django.setup()
    settings.DATABASES["default"]["NAME"] = template
    from django.core.management import call_command
    from django.db import connection, connections

    call_command("migrate", verbosity=0)
    with connection.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS bench_fixture (key text PRIMARY KEY, built_at timestamptz)")
        cur.execute("SELECT 1 FROM bench_fixture WHERE key = %s", [fixture_key])
        built = cur.fetchone() is not None
    if not built:
        t = time.perf_counter()
        print(f"building the {fixture_key} fixture in {template} (once) …", flush=True)
        build()
        with connection.cursor() as cur:
            cur.execute("INSERT INTO bench_fixture VALUES (%s, now())", [fixture_key])
        print(f"  built in {time.perf_counter() - t:.1f} s", flush=True)
    connections.close_all()
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{NAME}" TEMPLATE "{template}"')
    admin.close()
    settings.DATABASES["default"]["NAME"] = NAME
    os.environ["DATABASE_URL"] = URL
    import redis

    redis.Redis.from_url(REDIS).flushdb()  # no stale posting tasks from another database


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


class Proc:
    """A subprocess of the bench (gateway, worker), stopped by its own pid."""

    def __init__(self, args: list[str], log: str):
        self.log = open(log, "w")  # noqa: SIM115 - closed in stop()
        self.p = subprocess.Popen(args, cwd=ROOT, env=env(), stdout=self.log, stderr=subprocess.STDOUT,
                                  start_new_session=True)

    def alive(self) -> bool:
        return self.p.poll() is None

    @property
    def pid(self) -> int:
        return self.p.pid

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait()
        self.log.close()


def gateway(port: int, threads: int = 8) -> Proc:
    proc = Proc([PY, "manage.py", "run_gateway", "--skip-checks", "--listen", f"127.0.0.1:{port}",
                 "--threads", str(threads)], "/tmp/bench-term-gateway.log")
    wait_port(port)
    return proc


def worker(concurrency: int = 2) -> Proc:
    return Proc([CELERY, "-A", "campuscard", "worker", "-l", "warning", "--concurrency", str(concurrency),
                 "-Q", "celery"], "/tmp/bench-term-worker.log")


def server_settings() -> str:
    """The PostgreSQL settings the figures depend on, as the server reports them: the machine's
    server is not the card centre's (docs/operations.md, PostgreSQL settings)."""
    from django.db import connection

    names = ("shared_buffers", "max_wal_size", "autovacuum", "synchronous_commit")
    with connection.cursor() as cur:
        cur.execute("SELECT current_setting('server_version')")
        version = cur.fetchone()[0].split()[0]
        values = []
        for name in names:
            cur.execute("SELECT current_setting(%s)", [name])
            values.append(f"{name} {cur.fetchone()[0]}")
    return f"PostgreSQL {version}: " + ", ".join(values)


def copy_yardstick(rows: int, *, tries: int = 3) -> float:
    """Seconds for a raw COPY of `rows` 40-byte records (the record's twelve fields) into a plain
    table, on this machine now: the yardstick the benches print beside their figures. The median
    of `tries` COPYs: one lasts a fifth of a second, and on a shared machine a single one swung
    from 0.16 to 0.32 s between runs minutes apart (the median, not the fastest: the figures it
    is set beside last seconds and meet the slow moments too)."""
    return sorted(_copy_once(rows) for _ in range(tries))[tries // 2]


def _copy_once(rows: int) -> float:
    from django.db import connection

    buf = io.StringIO()
    for i in range(1, rows + 1):
        buf.write(f"{i}\t{100000 + i % 5000}\t3\t1\t{i // 5000}\t0\t650\t98\t{500000 - i}\t{499252 - i}\t"
                  f"{1700000000 + i}\t0\n")
    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_raw_copy")
        cur.execute("""CREATE TABLE bench_raw_copy (term_seq int, card_no int, card_type smallint, kind smallint,
                       card_counter int, flags smallint, base_amount int, surcharge int, balance_before int,
                       balance_after int, time int, operator_no int)""")
    from django.db import transaction

    buf.seek(0)
    t = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cur:
        cur.cursor.copy_expert("COPY bench_raw_copy FROM STDIN", buf)
    elapsed = time.perf_counter() - t
    with connection.cursor() as cur:
        cur.execute("DROP TABLE bench_raw_copy")
    return elapsed


def percentile(values, q):
    from devtools.simulator import percentile as p

    return p(list(values), q)


def write_results(bench: str, title: str, lines: list[str], argv: list[str]) -> None:
    import datetime as dt
    import platform

    text = "\n".join(lines)
    print(text)
    if "--quick" in argv:
        return  # a smoke run: RESULTS.md keeps the figures of a full-size run
    head = [
        f"# {title}",
        "",
        f"Run `{' '.join(['.venv/bin/python', f'bench/{bench}/run.py', *argv])}` on "
        f"{dt.datetime.now().strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"PostgreSQL and Redis on 127.0.0.1, shared with other work on the machine (load average at the end "
        f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])}).",
        "",
        "```",
    ]
    path = ROOT / "bench" / bench / "RESULTS.md"
    old = path.read_text() if path.exists() else ""
    path.write_text("\n".join(head) + "\n" + text + "\n```\n" + after_figures(old))


def after_figures(section: str) -> str:
    """What follows a RESULTS.md section's figures block (the way here, notes written by hand):
    a run replaces the figures and keeps this."""
    parts = section.split("\n```\n", 2)
    return parts[2] if len(parts) == 3 else ""
