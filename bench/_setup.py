"""Shared set-up of the settlement benches: Django against a throw-away database named by
BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/cc_bench), migrated from empty."""

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def django_on_bench_db():
    url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cc_bench")
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("CAMPUSCARD_DEV", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "campuscard.settings")
    import psycopg2

    base, _, name = url.rpartition("/")
    admin = psycopg2.connect(base + "/postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


class Clock:
    def __init__(self):
        self.t = time.perf_counter()

    def lap(self) -> float:
        now = time.perf_counter()
        d, self.t = now - self.t, now
        return d
