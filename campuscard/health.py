"""GET /health/: what an operator or a load balancer asks. PostgreSQL and Redis answer, the Celery
workers answer a ping, posting keeps up, terminals hold the block list. 200 when all is well,
503 otherwise; the body says which part is not.

Unauthenticated on purpose (probes have no session), so it shows counts and ages, nothing else.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from terminals import selectors as terminal_selectors

POSTING_LAG_LIMIT_S = 120  # batches waiting longer than this mean the workers do not keep up


def _postgres() -> dict:
    t0 = time.monotonic()
    with connection.cursor() as cur:
        cur.execute("SELECT 1")
        cur.fetchone()
    return {"ok": True, "ms": round((time.monotonic() - t0) * 1000, 1)}


def _redis() -> dict:
    import redis

    t0 = time.monotonic()
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
    client.ping()
    return {"ok": True, "ms": round((time.monotonic() - t0) * 1000, 1)}


def _workers() -> dict:
    from campuscard.celery import app

    replies = app.control.ping(timeout=1.0) or []
    return {"ok": bool(replies), "responding": len(replies)}


def _check(fn) -> dict:
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - a probe reports any failure, it does not raise
        return {"ok": False, "error": type(exc).__name__}


def health_report(*, workers: bool = True) -> dict:
    report = {"postgres": _check(_postgres), "redis": _check(_redis)}
    if workers:
        report["workers"] = _check(_workers)
    if report["postgres"]["ok"]:
        lag = terminal_selectors.posting_lag()
        report["posting"] = {"ok": lag["oldest_seconds"] < POSTING_LAG_LIMIT_S, "unposted_batches": lag["unposted"],
                             "oldest_seconds": round(lag["oldest_seconds"], 1)}
        attention = terminal_selectors.terminals_needing_attention()
        # A lagging terminal is for staff to chase, not a reason to take this node out of service.
        report["terminals"] = {"ok": True, "offline": attention["offline_count"],
                               "behind_on_block_list": attention["behind_count"]}
    report["ok"] = all(part["ok"] for part in report.values() if isinstance(part, dict))
    return report


@never_cache
@require_GET
def health(request):
    report = health_report(workers=request.GET.get("workers") != "0")
    return JsonResponse(report, status=200 if report["ok"] else 503)
