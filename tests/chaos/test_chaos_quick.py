"""The chaos run, CI-sized (`bench/chaos/run.py --quick`): 60 simulated terminals with faults on
and some offline, while the run kills -9 the Celery worker, the gateway and Redis, restarts
PostgreSQL and cuts connections mid-frame, on private servers of its own (a PostgreSQL cluster and
a redis-server in a temporary directory, never the ones the other tests use). It exits non-zero
unless every acknowledged record is stored and posted once, the purses match the virtual cards,
the ledger balances and the day closes without exceptions (R-DUP-1, R-TERM-2, R-DAY-1)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.mark.slow
def test_r_dup_1_r_day_1_quick_chaos_run_loses_nothing_and_posts_nothing_twice(tmp_path):
    env = dict(os.environ, CHAOS_VAR_DIR=str(tmp_path / "chaos"))
    for k in ("DATABASE_URL", "REDIS_URL"):  # the run starts its own servers
        env.pop(k, None)
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "chaos" / "run.py"), "--quick"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert "RESULT: all checks passed" in out
    for fault in ("kill -9 Celery worker", "kill -9 gateway", "kill -9 Redis", "pg_ctl restart", "connections cut"):
        assert fault in out, out[-3000:]
