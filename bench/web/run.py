"""bench/web: the merchant revenue page and the card-status API under 200 concurrent clients,
over 10,000,000 terminal records (issue 6; target p95 < 100 ms on 2 cores).

    .venv/bin/python bench/web/run.py [--quick] [--records N] [--duration S] [--clients C]
                                      [--think 0,1] [--workers 4] [--threads 4]

The data (2,000 merchants, 5,000 terminals, 100,000 cards, N records over the 60 business days
up to the day the fixture was built) is written with set-based SQL straight into the tables
(INSERT … SELECT generate_series), NOT through the gateway or posting: the bench measures
reads. It is built once into a template database (cc_bench_web_tpl_web<N>; rebuilt when older
than 14 days, as the pages read "the last 30 days" and "this month") and cloned for every run
(CREATE DATABASE … TEMPLATE … STRATEGY FILE_COPY); the clone is dropped at the end.

The site runs under gunicorn (the production server, docs/operations.md), DEBUG off, on
127.0.0.1. An asyncio HTTP/1.1 keep-alive client (no dependency) drives C concurrent clients
for a fixed time per endpoint: merchant users with a session cookie GET /merchant/ (their
own merchant's revenue page: last 30 days by day, 12 months, this month by terminal), and API
clients with a token GET /api/v1/cards/<card_no>/ for random cards. Each endpoint runs once
with no think time (every client sends its next request as soon as the answer arrives: the
saturation point, latency is mostly queueing) and once per --think value > 0 (each client waits
an exponential think time of that mean between requests: users at a screen).

The yardstick, in the same run: the same SQL the endpoints issue, sent by plain psycopg2 from
as many threads as gunicorn has (workers × threads), closed loop.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))

URL = os.environ.get("BENCH_WEB_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cc_bench_web")
REDIS = os.environ.get("BENCH_WEB_REDIS_URL", "redis://127.0.0.1:6379/6")
BASE, _, NAME = URL.rpartition("/")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
ACCESS_LOG = "/tmp/bench-web-access.log"

MERCHANTS, CANTEENS, TERMINALS, CANTEEN_TERMINALS, CARDS, FORMAL_CARDS, DAYS = 2000, 20, 5000, 1000, 100_000, 80_000, 60
API_CLIENTS = 10
CARD0 = 10_000_000
MAX_AGE_DAYS = 14


def env() -> dict:
    e = dict(os.environ)
    e.update(DATABASE_URL=URL, REDIS_URL=REDIS, CAMPUSCARD_DEV="1", DEBUG="0", DJANGO_SETTINGS_MODULE="campuscard.settings",
             PYTHONUNBUFFERED="1")
    return e


def _admin():
    import psycopg2

    conn = psycopg2.connect(BASE + "/postgres")
    conn.autocommit = True
    return conn


# --- the fixture ------------------------------------------------------------------------------

def build(records: int) -> None:
    """Everything the two endpoints read, written set-based. Canteens: merchants 1–20 (dining),
    50 terminals each, half of all records; the other 1,980 merchants share 4,000 terminals
    and the other half (a third of them dining too). Cards 1–80,000 are formal (real-name)
    cards with a holder, the rest anonymous consumption cards; a few are lost or frozen."""
    from django.contrib.auth.models import Group
    from django.db import connection, transaction

    from accounts.setup import reference_data_ensure
    from accounts.timeutil import business_day
    from merchants.setup import MERCHANT_GROUP

    reference_data_ensure()
    end = business_day()
    first = end - dt.timedelta(days=DAYS - 1)
    group = Group.objects.get(name=MERCHANT_GROUP).pk
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL session_replication_role = replica")  # bulk load: no per-row FK triggers
        cur.execute("SET LOCAL maintenance_work_mem = '512MB'")
        cur.execute("SET LOCAL work_mem = '256MB'")
        # Merchants, their payable accounts, one portal user each.
        cur.execute("""INSERT INTO accounts_ledgeraccount (kind, code, name, normal, balance, created_at)
                       SELECT 'merchant', 'MER-W' || i, '商户' || i, -1, 0, now() FROM generate_series(1, %s) i""",
                    [MERCHANTS])
        cur.execute("""INSERT INTO merchants_merchant (code, name, kind, internal, status, created_at, payable_account_id,
                           bank_account_name, bank_account_no, bank_name, location, settlement_months)
                       SELECT 'W' || lpad(i::text, 4, '0'), CASE WHEN i <= %s THEN '第' || i || '食堂' ELSE '商户' || i END,
                              CASE WHEN i <= %s OR i %% 3 = 0 THEN 1 ELSE 3 END, true, 'active', now(), a.id,
                              '', '', '', '', 1
                       FROM generate_series(1, %s) i JOIN accounts_ledgeraccount a ON a.code = 'MER-W' || i""",
                    [CANTEENS, CANTEENS, MERCHANTS])
        cur.execute("""CREATE TEMP TABLE mm ON COMMIT DROP AS
                       SELECT substr(code, 2)::int AS idx, id, kind FROM merchants_merchant WHERE code ~ '^W[0-9]{4}$'""")
        cur.execute("""INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                           is_active, date_joined)
                       SELECT '!bench-no-password', false, 'wm' || lpad(idx::text, 4, '0'), '', '', '', false, true, now()
                       FROM mm""")
        cur.execute("""INSERT INTO merchants_merchantuser (role, phone, active, created_at, merchant_id, user_id)
                       SELECT 'contact', '', true, now(), mm.id, u.id FROM mm
                       JOIN auth_user u ON u.username = 'wm' || lpad(mm.idx::text, 4, '0')""")
        cur.execute("""INSERT INTO auth_user_groups (user_id, group_id)
                       SELECT id, %s FROM auth_user WHERE username ~ '^wm[0-9]{4}$'""", [group])
        # Terminals 1..5000 and where they stand.
        cur.execute("""CREATE TEMP TABLE tm ON COMMIT DROP AS
                       SELECT t, CASE WHEN t <= %s THEN 1 + (t - 1) / 50 ELSE %s + 1 + (t - %s - 1) %% %s END AS idx
                       FROM generate_series(1, %s) t""",
                    [CANTEEN_TERMINALS, CANTEENS, CANTEEN_TERMINALS, MERCHANTS - CANTEENS, TERMINALS])
        cur.execute("""ALTER TABLE tm ADD COLUMN merchant_id bigint, ADD COLUMN mkind int""")
        cur.execute("UPDATE tm SET merchant_id = mm.id, mkind = mm.kind FROM mm WHERE mm.idx = tm.idx")
        cur.execute("""INSERT INTO terminals_terminal (id, kind, key, key_rotated_at, status, owner, asset_no, requisition_ref,
                           location, max_single, max_offline_daily, min_interval_s, params_rev, ack_upto, last_seq, unsent,
                           firmware_version, blocklist_version, params_version, created_at)
                       SELECT t, mkind, decode(md5(t::text) || md5(t::text), 'hex'), now(), 'active', 'school', '', '',
                              '窗口 ' || t, 50000, 10000, 10, 1, 0, 0, 0, 0, 0, 0, now() FROM tm""")
        cur.execute("SELECT setval(pg_get_serial_sequence('terminals_terminal', 'id'), %s)", [TERMINALS])
        cur.execute("""INSERT INTO terminals_assignment (valid_from, merchant_id, terminal_id)
                       SELECT %s::timestamptz, merchant_id, t FROM tm""", [dt.datetime(2025, 1, 1, tzinfo=dt.UTC)])
        # Cards: holders for the formal ones, a purse (and its ledger account) each.
        cur.execute("""INSERT INTO accounts_cardholder (number, name, id_number, category, entry, bank_card_no,
                           kiosk_password, kiosk_failures, status, created_at)
                       SELECT 'S' || lpad(i::text, 8, '0'), '学生' || i, '', 'undergraduate', '', '', '', 0, 'active', now()
                       FROM generate_series(1, %s) i""", [FORMAL_CARDS])
        cur.execute("""INSERT INTO accounts_ledgeraccount (kind, code, name, normal, balance, created_at)
                       SELECT 'purse', 'WP' || i, '钱包' || i, -1, 0, now() FROM generate_series(1, %s) i""", [CARDS])
        cur.execute("""INSERT INTO accounts_purse (card_counter, card_balance, pending, account_id, holder_id)
                       SELECT 0, 0, 0, a.id, h.id FROM accounts_ledgeraccount a
                       LEFT JOIN accounts_cardholder h ON h.number = 'S' || lpad(substr(a.code, 3), 8, '0')
                       WHERE a.code ~ '^WP[0-9]+$'""")
        cur.execute("""INSERT INTO accounts_card (card_no, card_type, status, issued_on, valid_until, label, functions,
                           status_changed_at, holder_id, purse_id)
                       SELECT %s + i, CASE WHEN p.holder_id IS NULL THEN 3 ELSE 1 END,
                              CASE WHEN i %% 50 = 7 THEN 'lost' WHEN i %% 100 = 13 THEN 'frozen' ELSE 'active' END,
                              DATE '2024-09-01', DATE '2028-07-31', '',
                              CASE WHEN i %% 4 = 0 AND p.holder_id IS NOT NULL THEN '["library"]'::jsonb ELSE '[]'::jsonb END,
                              now(), p.holder_id, p.id
                       FROM accounts_purse p JOIN accounts_ledgeraccount a ON a.id = p.account_id,
                            LATERAL (SELECT substr(a.code, 3)::int AS i) n
                       WHERE a.code ~ '^WP[0-9]+$'""", [CARD0 - 1])
        # One batch and one journal per terminal and day (ids day * 5000 + terminal), then the records.
        cur.execute("""CREATE TEMP TABLE dd ON COMMIT DROP AS
                       SELECT d, %s::date + d AS day FROM generate_series(0, %s) d""", [first, DAYS - 1])
        cur.execute("""INSERT INTO terminals_batch (id, batch_no, msg_seq, raw, received_at, count, stored, duplicates,
                           exceptions, posted_at, terminal_id)
                       SELECT dd.d * %s + tm.t, dd.d + 1, dd.d + 1, '\\x00'::bytea, dd.day + time '23:00', 0, 0, 0, 0,
                              dd.day + time '23:00', tm.t FROM dd, tm""", [TERMINALS])
        cur.execute("""INSERT INTO accounts_journal (id, kind, business_day, created_at, reason, source)
                       SELECT dd.d * %s + tm.t, 'purchase', dd.day, dd.day + time '23:00', '', 'batch:' || (dd.d * %s + tm.t)
                       FROM dd, tm""", [TERMINALS, TERMINALS])
        for table in ("terminals_batch", "accounts_journal"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
        # Plain indexes are rebuilt after the load (much faster than row by row).
        cur.execute("""SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
                       WHERE x.indrelid = 'terminals_record'::regclass
                         AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)""")
        indexes = cur.fetchall()
        for name, _ in indexes:
            cur.execute(f'DROP INDEX "{name}"')
        # Record i: spread evenly over the 60 days (times in order), every other one at a canteen.
        # Times are Beijing business hours 07:00–21:00 of its day.
        cur.execute(
            """INSERT INTO terminals_record (term_seq, card_no, card_type, kind, card_counter, flags, base_amount, surcharge,
                   balance_before, balance_after, time, operator_no, raw, status, problems, posted_at, business_day,
                   batch_id, journal_id, merchant_id, terminal_id, merchant_amount, surcharge_amount, held_amount)
               SELECT g.i, %(card0)s + s.k, CASE WHEN s.k < %(formal)s THEN 1 ELSE 3 END, 1, g.i / %(cards)s, 0,
                      s.base, v.sur, 100000, 100000 - s.base, x.ts, 0, decode(lpad(to_hex(g.i), 80, '0'), 'hex'),
                      v.status, CASE WHEN v.status = 'exception' THEN '["counter_gap"]'::jsonb ELSE '[]'::jsonb END,
                      x.ts + interval '2 seconds', x.day, x.d * %(terms)s + tm.t, x.d * %(terms)s + tm.t, tm.merchant_id, tm.t,
                      -- the split posting stores (terminals.ingest.posting._split)
                      CASE WHEN v.status <> 'posted' THEN 0 WHEN tm.mkind = 1 THEN s.base ELSE s.base + v.sur END,
                      CASE WHEN v.status = 'posted' AND tm.mkind = 1 THEN v.sur ELSE 0 END,
                      CASE WHEN v.status = 'held' THEN s.base + v.sur ELSE 0 END
               FROM generate_series(0::bigint, %(n)s - 1) g(i)
               CROSS JOIN LATERAL (SELECT (g.i::bigint * %(days)s) / %(n)s AS d,
                                          CASE WHEN g.i %% 2 = 0 THEN 1 + (g.i / 2 * 7919) %% %(ct)s
                                               ELSE %(ct)s + 1 + (g.i / 2 * 7919) %% (%(terms)s - %(ct)s) END AS t,
                                          100 + (g.i::bigint * 104729) %% 1900 AS base,
                                          (g.i::bigint * 48271) %% %(cards)s AS k) s
               CROSS JOIN LATERAL (SELECT s.d, %(first)s::date + s.d::int AS day,
                                          (%(first)s::date + s.d::int + time '07:00') AT TIME ZONE 'Asia/Shanghai'
                                          + ((g.i::bigint * %(days)s) %% %(n)s) * interval '14 hours' / %(n)s AS ts) x
               JOIN tm ON tm.t = s.t
               CROSS JOIN LATERAL (SELECT CASE WHEN tm.mkind = 1 THEN (s.base * 1500 + 5000) / 10000 ELSE 0 END AS sur,
                                          CASE WHEN g.i %% 250 = 3 THEN 'exception' WHEN g.i %% 160 = 5 THEN 'held'
                                               ELSE 'posted' END AS status) v""",
            {"card0": CARD0, "formal": FORMAL_CARDS, "cards": CARDS, "terms": TERMINALS, "ct": CANTEEN_TERMINALS,
             "days": DAYS, "n": records, "first": first},
        )
        for _, ddl in indexes:
            cur.execute(ddl)
        # API clients: tokens known to the bench only (it stores them in the fixture table).
        cur.execute("CREATE TABLE bench_web_token (token text PRIMARY KEY)")
    from campuscard.api.models import ApiClient, Scope

    for n in range(API_CLIENTS):
        client = ApiClient(name=f"bench-web-{n}", scopes=[Scope.CARDS_READ])
        token = client.new_token()
        client.save()
        with connection.cursor() as cur:
            cur.execute("INSERT INTO bench_web_token VALUES (%s)", [token])
    old = connection.connection.autocommit
    connection.connection.autocommit = True
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")  # what autovacuum does to a table that stopped changing
    connection.connection.autocommit = old


def close_days() -> None:
    """The daily close (settlement.services.day_close, the real one) of every generated day that has
    ended and is not closed yet: all of them once, then the day that ended since the last run. The
    revenue page reads closed days from its totals. The bench data has journals without postings,
    so every close lists merchant differences (payable 0, records say …): the page does not read them."""
    from django.db import connection

    from accounts.timeutil import business_day
    from settlement.models import DayClose
    from settlement.services import day_close

    with connection.cursor() as cur:
        cur.execute("SELECT MIN(business_day) FROM terminals_record")
        day = cur.fetchone()[0]
    today = business_day()
    if day is None:
        return
    closed = set(DayClose.objects.values_list("day", flat=True))
    todo = [day + dt.timedelta(days=i) for i in range((today - day).days) if day + dt.timedelta(days=i) not in closed]
    if not todo:
        return
    t = time.perf_counter()
    print(f"daily close of {len(todo)} day(s) {todo[0]} … {todo[-1]} (once, on the template) …", flush=True)
    for d in todo:
        day_close(day=d)
    print(f"  closed in {time.perf_counter() - t:.1f} s ({(time.perf_counter() - t) / len(todo):.1f} s a day)", flush=True)


def database(records: int) -> dt.date:
    """Django on a fresh clone of the template for this size (built once); the build day."""
    key = f"web{records}"
    template = f"{NAME}_tpl_{key}"
    os.environ.update({k: v for k, v in env().items() if k in ("DATABASE_URL", "REDIS_URL", "CAMPUSCARD_DEV",
                                                            "DJANGO_SETTINGS_MODULE")})
    import psycopg2

    admin = _admin()
    with admin.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [template])
        exists = cur.fetchone() is not None
    if exists:
        conn = psycopg2.connect(f"{BASE}/{template}")
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('bench_fixture') IS NOT NULL")
            built_at = None
            if cur.fetchone()[0]:
                cur.execute("SELECT built_at FROM bench_fixture WHERE key = %s", [key])
                row = cur.fetchone()
                built_at = row[0] if row else None
        conn.close()
        if built_at is None or (dt.datetime.now(dt.UTC) - built_at).days > MAX_AGE_DAYS:
            with admin.cursor() as cur:  # half-built, or its "last 30 days" are long past
                cur.execute(f'DROP DATABASE "{template}" WITH (FORCE)')
            exists = False
    if not exists:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{template}"')
    import django
    from django.conf import settings

    os.environ["DATABASE_URL"] = f"{BASE}/{template}"
    django.setup()
    settings.DATABASES["default"]["NAME"] = template
    from django.core.management import call_command
    from django.db import connection, connections

    call_command("migrate", verbosity=0)  # a new index migration is built here, once, on the template
    with connection.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS bench_fixture (key text PRIMARY KEY, built_at timestamptz)")
        cur.execute("SELECT built_at FROM bench_fixture WHERE key = %s", [key])
        row = cur.fetchone()
    if row is None:
        t = time.perf_counter()
        print(f"building the fixture: {records:,} records into {template} (once) …", flush=True)
        build(records)
        with connection.cursor() as cur:
            cur.execute("INSERT INTO bench_fixture VALUES (%s, now()) RETURNING built_at", [key])
            row = cur.fetchone()
        print(f"  built in {time.perf_counter() - t:.1f} s", flush=True)
    close_days()
    connections.close_all()
    t = time.perf_counter()
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{NAME}" TEMPLATE "{template}" STRATEGY FILE_COPY')
        cur.execute("SELECT pg_size_pretty(pg_database_size(%s))", [NAME])
        size = cur.fetchone()[0]
    admin.close()
    print(f"cloned {template} → {NAME} ({size}) in {time.perf_counter() - t:.1f} s", flush=True)
    settings.DATABASES["default"]["NAME"] = NAME
    os.environ["DATABASE_URL"] = URL
    import redis

    redis.Redis.from_url(REDIS).flushdb()
    return row[0].astimezone(dt.UTC).date()


def drop_clone() -> None:
    from django.db import connections

    connections.close_all()
    admin = _admin()
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')  # the template stays; disk is shared
    admin.close()


# --- callers ----------------------------------------------------------------------------------

def merchant_sessions(n: int, seed: int) -> list[tuple[str, str]]:
    """n logged-in merchant users, each of a random merchant: (session cookie value, merchant code).
    Sessions are made the way login() makes them, without n password hashes."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from merchants.models import MerchantUser

    links = list(MerchantUser.objects.select_related("user", "merchant").filter(merchant__code__regex=r"^W[0-9]{4}$"))
    rng = random.Random(seed)
    out = []
    for link in rng.sample(links, n) if n <= len(links) else [rng.choice(links) for _ in range(n)]:
        s = SessionStore()
        s[SESSION_KEY] = str(link.user.pk)
        s[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[-1]
        s[HASH_SESSION_KEY] = link.user.get_session_auth_hash()
        s.create()
        out.append((s.session_key, link.merchant.code))
    return out


def api_tokens() -> list[str]:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT token FROM bench_web_token ORDER BY token")
        return [r[0] for r in cur.fetchall()]


# --- the load generator -----------------------------------------------------------------------

async def _read_response(reader) -> tuple[int, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    close = headers.get("connection", "").lower() == "close"
    return status, close


async def drive(port: int, requests: list, clients: int, warmup: float, duration: float, think: float, seed: int) -> dict:
    """clients coroutines, client k sends requests[k]() (a (path, headers) pair) in a loop."""
    lat: list[float] = []
    errors: dict[str, int] = {}
    state = {"measure": False, "stop": False, "sent": 0}

    async def one(k: int):
        rng = random.Random(seed * 1000 + k)
        reader = writer = None
        while not state["stop"]:
            if think:
                await asyncio.sleep(rng.expovariate(1 / think))
                if state["stop"]:
                    break
            path, headers = requests[k](rng)
            req = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}Connection: keep-alive\r\n\r\n").encode()
            measuring = state["measure"]
            t0 = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(req)
                status, close = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
                if measuring and state["measure"]:
                    errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
                if writer is not None:
                    writer.close()
                reader = writer = None
                continue
            elapsed = time.perf_counter() - t0
            if measuring and state["measure"]:
                lat.append(elapsed)
                if status != 200:
                    errors[f"HTTP {status}"] = errors.get(f"HTTP {status}", 0) + 1
            if close:
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    tasks = [asyncio.create_task(one(k)) for k in range(clients)]
    await asyncio.sleep(warmup)
    state["measure"] = True
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    await asyncio.sleep(duration)
    state["measure"] = False
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    state["stop"] = True
    await asyncio.wait(tasks, timeout=30)
    return {"lat": lat, "errors": errors, "elapsed": elapsed, "client_cpu": cpu}


def pct(values, q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


class Server:
    """gunicorn on 127.0.0.1, DEBUG off, stopped by its own pid."""

    def __init__(self, port: int, workers: int, threads: int):
        Path(ACCESS_LOG).write_text("")
        self.log = open("/tmp/bench-web-gunicorn.log", "w")  # noqa: SIM115 - closed in stop()
        self.p = subprocess.Popen(
            [GUNICORN, "campuscard.wsgi", "-w", str(workers), "--threads", str(threads), "-b", f"127.0.0.1:{port}",
             "--keep-alive", "75", "--backlog", "2048", "--access-logfile", ACCESS_LOG,
             "--access-logformat", "%(U)s %(s)s %(D)s"],
            cwd=ROOT, env=env(), stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        import socket

        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                return
            except OSError:
                if self.p.poll() is not None:
                    raise RuntimeError("gunicorn exited: see /tmp/bench-web-gunicorn.log") from None
                time.sleep(0.2)
        raise RuntimeError("gunicorn does not listen")

    def cpu_s(self) -> float:
        """CPU seconds of the master and its workers so far."""
        total = 0.0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            pid, ppid = int(stat.parent.name), int(fields[1])
            if pid == self.p.pid or ppid == self.p.pid:
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def stop(self):
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait()
        self.log.close()


def server_times(start: int, end: int, prefix: str) -> list[float]:
    """Server-side request times (s) from the access log between two offsets."""
    with open(ACCESS_LOG, "rb") as f:
        f.seek(start)
        chunk = f.read(end - start).decode(errors="replace")
    out = []
    for line in chunk.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(prefix):
            out.append(int(parts[2]) / 1e6)
    return out


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# --- the yardstick: the endpoints' SQL without Django -----------------------------------------

CARD_SQL = """SELECT c.*, h.*, p.*, a.* FROM accounts_card c LEFT JOIN accounts_cardholder h ON h.id = c.holder_id
              JOIN accounts_purse p ON p.id = c.purse_id JOIN accounts_ledgeraccount a ON a.id = p.account_id
              WHERE c.card_no = %s LIMIT 1"""
TOKEN_SQL = """SELECT * FROM campuscard_apiclient c LEFT JOIN merchants_merchant m ON m.id = c.merchant_id
               WHERE c.token_hash = %s AND c.active LIMIT 1"""
# The revenue page before the daily close was read (terminals.selectors.revenue over records only;
# also what the page does with --without-close, plus the tiny read of the closed days).
REVENUE_SQL_RECORDS = [
    # last 30 days by day, 12 months by month, this month by terminal (terminals.selectors.revenue)
    """SELECT business_day, COUNT(*), SUM(merchant_amount) FROM terminals_record
       WHERE merchant_id = %(m)s AND kind = 1 AND status = 'posted' AND business_day BETWEEN %(d30)s AND %(today)s
       GROUP BY 1""",
    """SELECT date_trunc('month', business_day), COUNT(*), SUM(merchant_amount) FROM terminals_record
       WHERE merchant_id = %(m)s AND kind = 1 AND status = 'posted' AND business_day BETWEEN %(y1)s AND %(today)s
       GROUP BY 1 ORDER BY 1""",
    """SELECT r.terminal_id, t.location, COUNT(*), SUM(r.merchant_amount) FROM terminals_record r
       JOIN terminals_terminal t ON t.id = r.terminal_id
       WHERE r.merchant_id = %(m)s AND r.kind = 1 AND r.status = 'posted' AND r.business_day BETWEEN %(m1)s AND %(today)s
       GROUP BY 1, 2 ORDER BY 1""",
    "SELECT terminal_id FROM terminals_assignment WHERE merchant_id = %(m)s",
]
# The page now (settlement.revenue.merchant_revenue_overview): the closed days with the merchant's
# day totals in one read, this month's terminal totals, the open days' (%(open)s … today) records
# by day and terminal, the locations of terminals seen only in the totals.
REVENUE_SQL_CLOSE = [
    """SELECT c.day, COALESCE(t.purchases - t.held_count, 0), COALESCE(t.settled, 0) FROM settlement_dayclose c
       LEFT JOIN settlement_daymerchanttotal t ON t.day = c.day AND t.merchant_id = %(m)s
       WHERE c.day BETWEEN %(y1)s AND %(today)s""",
    """SELECT terminal_id, SUM(purchases - held_count), SUM(settled) FROM settlement_dayterminaltotal
       WHERE merchant_id = %(m)s AND day BETWEEN %(m1)s AND %(today)s GROUP BY 1""",
    """SELECT r.business_day, r.terminal_id, t.location, COUNT(*), SUM(r.merchant_amount)
       FROM terminals_record r JOIN terminals_terminal t ON t.id = r.terminal_id
       WHERE r.merchant_id = %(m)s AND r.kind = 1 AND r.status = 'posted' AND r.business_day BETWEEN %(open)s AND %(today)s
       GROUP BY 1, 2, 3""",
    """SELECT id, location FROM terminals_terminal
       WHERE id IN (SELECT terminal_id FROM terminals_assignment WHERE merchant_id = %(m)s)""",
    REVENUE_SQL_RECORDS[3],
]
REVENUE_SQL = REVENUE_SQL_CLOSE
OPEN_FROM: dt.date | None = None  # the first day not closed (set in main)


def revenue_params(merchant_id: int, today: dt.date) -> dict:
    this = today.replace(day=1)
    y1 = (this.replace(year=this.year - 1) + dt.timedelta(days=32)).replace(day=1)
    return {"m": merchant_id, "d30": today - dt.timedelta(days=29), "today": today, "y1": y1, "m1": this,
            "open": OPEN_FROM or y1}


def yardstick(kind: str, threads: int, seconds: float, merchant_ids: list[int], card_nos: list[int], token: str,
              today: dt.date) -> dict:
    """Closed loop from `threads` psycopg2 connections: one 'request' is the endpoint's SQL."""
    import hashlib

    import psycopg2

    lat: list[float] = []
    stop = time.perf_counter() + seconds
    digest = hashlib.sha256(token.encode()).hexdigest()

    def run(k: int):
        rng = random.Random(k)
        conn = psycopg2.connect(URL)
        conn.autocommit = True
        cur = conn.cursor()
        mine = []
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            if kind == "card":
                cur.execute(TOKEN_SQL, [digest])
                cur.fetchall()
                cur.execute(CARD_SQL, [rng.choice(card_nos)])
                cur.fetchall()
            else:
                p = revenue_params(rng.choice(merchant_ids), today)
                for sql in REVENUE_SQL:
                    cur.execute(sql, p)
                    cur.fetchall()
            mine.append(time.perf_counter() - t0)
        conn.close()
        lat.extend(mine)

    ts = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return {"lat": lat, "elapsed": time.perf_counter() - t0}


def explain(merchant_id: int, today: dt.date) -> list[str]:
    """EXPLAIN ANALYZE of the 12-month read (the largest) for one merchant: plan and time; now two
    queries, the closed days with their totals and the open days' records."""
    from django.db import connection

    sqls = [REVENUE_SQL_RECORDS[1]] if REVENUE_SQL is REVENUE_SQL_RECORDS else [REVENUE_SQL_CLOSE[0], REVENUE_SQL_CLOSE[2]]
    out = []
    with connection.cursor() as cur:
        for sql in sqls:
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, revenue_params(merchant_id, today))
            out += [r[0] for r in cur.fetchall()]
    return out


def overview_ab(merchants: dict, today: dt.date, rounds: int = 30) -> list[str]:
    """The page's three revenue tables in-process, the two ways alternately on the same data and
    connection (so the machine's load hits both alike): records only (terminals.selectors.revenue,
    as before) and closed days from the daily close + the rest from records (settlement.revenue)."""
    from settlement.portal.selectors import next_month, revenue_overview
    from terminals import selectors as terminal_selectors

    def records_only(m):
        this = today.replace(day=1)
        terminal_selectors.merchant_revenue_by_day(merchant=m, start=today - dt.timedelta(days=29), end=today)
        terminal_selectors.merchant_revenue_by_month(merchant=m, start=next_month(this.replace(year=this.year - 1)), end=today)
        terminal_selectors.merchant_revenue_by_terminal(merchant=m, start=this, end=today)

    out = []
    for label, m in merchants.items():
        lat = {"records only": [], "close + open days": []}
        for _ in range(rounds):
            for way, fn in (("records only", records_only), ("close + open days", lambda m: revenue_overview(
                    merchant=m, today=today))):
                t0 = time.perf_counter()
                fn(m)
                lat[way].append(time.perf_counter() - t0)
        out.append(f"revenue tables in-process, {label:<14} " + ";  ".join(
            f"{way} p50 {pct(v, 50) * 1e3:.1f} p95 {pct(v, 95) * 1e3:.1f} ms" for way, v in lat.items()))
    return out


# --- main -------------------------------------------------------------------------------------

def fmt(label: str, r: dict, server: list[float], cpu: float) -> str:
    lat, n = r["lat"], len(r["lat"])
    errs = sum(r["errors"].values())
    line = (f"{label:<34} {n:>6} req  {n / r['elapsed']:>6.0f} req/s  p50 {pct(lat, 50) * 1e3:>6.0f}  p95 "
            f"{pct(lat, 95) * 1e3:>6.0f}  p99 {pct(lat, 99) * 1e3:>6.0f} ms  errors {errs}")
    if r["errors"]:
        line += " " + ", ".join(f"{k}×{v}" for k, v in sorted(r["errors"].items()))
    if server:
        line += (f"\n{'':<34} server time p50 {pct(server, 50) * 1e3:.0f}  p95 {pct(server, 95) * 1e3:.0f}  "
                 f"p99 {pct(server, 99) * 1e3:.0f} ms; gunicorn CPU {cpu / r['elapsed']:.2f} cores, "
                 f"client CPU {r['client_cpu'] / r['elapsed']:.2f} cores")
    return line


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="200,000 records, 10 s per run")
    ap.add_argument("--records", type=int)
    ap.add_argument("--duration", type=float)
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--think", default="0,2", help="mean think times (s) to run, comma-separated; 0 = none")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--keep", action="store_true", help="keep the cloned database after the run")
    ap.add_argument("--without-index", action="store_true",
                    help="drop record_merchant on the clone first (the figures without a merchant index)")
    ap.add_argument("--without-close", action="store_true",
                    help="empty the daily-close tables on the clone first: the page reads every day from records "
                         "(the figures before it read the close)")
    args = ap.parse_args()
    records = args.records or (200_000 if args.quick else 10_000_000)
    duration = args.duration or (10.0 if args.quick else 40.0)
    warmup = 2.0 if args.quick else 5.0
    thinks = [float(x) for x in args.think.split(",")]
    load0 = loadavg()
    t_all = time.perf_counter()
    built_on = database(records)
    from accounts.timeutil import business_day
    from merchants.models import Merchant

    today = business_day()
    from django.db import connection

    if args.without_index:
        with connection.cursor() as cur:
            cur.execute("DROP INDEX IF EXISTS record_merchant")
    global REVENUE_SQL, OPEN_FROM
    if args.without_close:
        with connection.cursor() as cur:
            cur.execute("TRUNCATE settlement_dayclose CASCADE")  # totals and exceptions go with it
        REVENUE_SQL = REVENUE_SQL_RECORDS
    with connection.cursor() as cur:
        cur.execute("SELECT MAX(day), COUNT(*) FROM settlement_dayclose")
        last_closed, n_closed = cur.fetchone()
        cur.execute("SELECT COUNT(*) FROM settlement_daymerchanttotal")
        n_mtotals = cur.fetchone()[0]
        cur.execute("SELECT COUNT(*) FROM settlement_dayterminaltotal")
        n_ttotals = cur.fetchone()[0]
    OPEN_FROM = last_closed + dt.timedelta(days=1) if last_closed else None
    sessions = merchant_sessions(args.clients, seed=1)
    tokens = api_tokens()
    codes = {s[1] for s in sessions}
    mids = dict(Merchant.objects.filter(code__regex=r"^W[0-9]{4}$").values_list("code", "id"))
    canteen, small = mids["W0001"], mids["W0100"]
    with connection.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM terminals_record")
        n_records = cur.fetchone()[0]
        cur.execute("""SELECT COUNT(*) FILTER (WHERE merchant_id = %s), COUNT(*) FILTER (WHERE merchant_id = %s)
                       FROM terminals_record WHERE merchant_id IN (%s, %s)""", [canteen, small, canteen, small])
        n_canteen, n_small = cur.fetchone()
    card_nos = list(range(CARD0, CARD0 + CARDS))
    plans = {"canteen W0001": explain(canteen, today), "merchant W0100": explain(small, today)}
    ab = overview_ab({"canteen W0001": Merchant.objects.get(pk=canteen), "merchant W0100": Merchant.objects.get(pk=small)},
                     today)
    print("\n".join(ab), flush=True)
    from django.db import connections

    connections.close_all()

    def page(k):
        cookie = f"Cookie: sessionid={sessions[k][0]}\r\n"
        return lambda rng: ("/merchant/", cookie)

    def card(k):
        auth = f"Authorization: Token {tokens[k % len(tokens)]}\r\n"
        return lambda rng: (f"/api/v1/cards/{rng.choice(card_nos)}/", auth)

    port = __import__("socket").socket()
    port.bind(("127.0.0.1", 0))
    port_no = port.getsockname()[1]
    port.close()
    srv = Server(port_no, args.workers, args.threads)
    results = []
    try:
        for label, prefix, maker in (("revenue page /merchant/", "/merchant/", page),
                                     ("card API /api/v1/cards/<no>/", "/api/v1/cards/", card)):
            for think in thinks:
                off0 = os.path.getsize(ACCESS_LOG)
                cpu0 = srv.cpu_s()
                r = asyncio.run(drive(port_no, [maker(k) for k in range(args.clients)], args.clients, warmup, duration,
                                      think, seed=len(results) + 1))
                cpu = srv.cpu_s() - cpu0
                time.sleep(0.5)
                off1 = os.path.getsize(ACCESS_LOG)
                srv_t = server_times(off0, off1, prefix)
                # the access log also holds the warm-up and drain: keep the middle, as many as measured
                if len(srv_t) > len(r["lat"]):
                    cut = (len(srv_t) - len(r["lat"])) // 2
                    srv_t = srv_t[cut:cut + len(r["lat"])]
                mode = "no think time" if not think else f"think {think:g} s"
                results.append(fmt(f"{label} {mode}", r, srv_t, cpu * r["elapsed"] / (r["elapsed"] + warmup)))
                print(results[-1], flush=True)
    finally:
        srv.stop()
    threads = args.workers * args.threads
    ys_seconds = 5.0 if args.quick else 10.0
    y_card = yardstick("card", threads, ys_seconds, list(mids.values()), card_nos, tokens[0], today)
    y_rev = yardstick("revenue", threads, ys_seconds, [mids[c] for c in codes], card_nos, tokens[0], today)
    y1_card = yardstick("card", 1, 3.0, list(mids.values()), card_nos, tokens[0], today)
    y1_rev = yardstick("revenue", 1, 3.0, [mids[c] for c in codes], card_nos, tokens[0], today)
    if not args.keep:
        drop_clone()

    def yline(label, y):
        lat = y["lat"]
        return (f"yardstick {label:<46} {len(lat) / y['elapsed']:>6.0f} /s  p50 {pct(lat, 50) * 1e3:.1f}  "
                f"p95 {pct(lat, 95) * 1e3:.1f}  p99 {pct(lat, 99) * 1e3:.1f} ms")

    lines = [
        f"{n_records:,} terminal records (set-based SQL, not through the gateway) over {DAYS} business days up to "
        f"{built_on}; {MERCHANTS:,} merchants ({CANTEENS} canteens with {n_canteen:,} records each, others ~{n_small:,}), "
        f"{TERMINALS:,} terminals, {CARDS:,} cards"
        + ("; index record_merchant DROPPED" if args.without_index else ""),
        (f"daily close: {n_closed} days closed up to {last_closed} ({n_mtotals:,} merchant and {n_ttotals:,} terminal day "
         f"totals); the page reads those from the close and {OPEN_FROM} … {today} from records"
         if n_closed else "daily close: no day closed (--without-close): the page reads every day from records"),
        f"gunicorn campuscard.wsgi -w {args.workers} --threads {args.threads} (gthread), DEBUG off, 127.0.0.1; "
        f"{args.clients} concurrent keep-alive clients, {warmup:g} s warm-up + {duration:g} s measured per line; "
        f"revenue page: {len(codes)} merchant users of random merchants with a session; card API: "
        f"{len(tokens)} tokens, random cards",
        "latency is measured at the client (asyncio, same machine) and includes queueing; server time is gunicorn's "
        "own request time (from its access log)",
        "",
        *results,
        "",
        yline(f"card SQL (token + card), {threads} connections", y_card),
        yline(f"revenue SQL ({len(REVENUE_SQL)} queries), {threads} connections", y_rev),
        yline("card SQL (token + card), 1 connection", y1_card),
        yline(f"revenue SQL ({len(REVENUE_SQL)} queries), 1 connection", y1_rev),
        "",
        *ab,
        "",
        f"load average at the start {load0}, at the end {loadavg()}; total run {time.perf_counter() - t_all:.0f} s",
    ]
    for who, plan in plans.items():
        lines += ["", f"EXPLAIN ANALYZE, 12 months by month, {who}"
                  + (":" if args.without_close else " (closed days with their totals, then the open days' records):"),
                  *[f"  {p}" for p in plan]]
    write_results(lines, sys.argv[1:])


def write_results(lines: list[str], argv: list[str]) -> None:
    import platform

    text = "\n".join(lines)
    print(text)
    if "--quick" in argv:
        return  # a smoke run: RESULTS.md keeps the figures of a full-size run
    head = [
        "# bench/web: the merchant revenue page and the card-status API under load",
        "",
        f"Run `.venv/bin/python bench/web/run.py {' '.join(argv)}` on {dt.datetime.now().strftime('%Y-%m-%d %H:%M')}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, PostgreSQL and Redis on 127.0.0.1, shared with "
        f"other work on the machine.",
        "",
        "```",
    ]
    path = ROOT / "bench" / "web" / "RESULTS.md"
    old = path.read_text() if path.exists() else ""
    notes = old[old.index("<!-- notes -->"):] if "<!-- notes -->" in old else ""
    path.write_text("\n".join(head) + "\n" + text + "\n```\n" + ("\n" + notes if notes else ""))


if __name__ == "__main__":
    main()
