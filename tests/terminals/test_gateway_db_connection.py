"""A gateway database thread's connection (handler.db_ready): kept across requests, pinged only
after it has been idle, replaced once it is found broken. The thread is a real thread with its own
connection; the backend is ended for real with pg_terminate_backend."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import DatabaseError, connection, connections

from merchants.models import MerchantKind
from terminals.gateways import handler

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def db_thread():
    """One thread, as a gateway's database threads are: its own connection, closed at the end."""
    pool = ThreadPoolExecutor(max_workers=1)

    def call(fn, *args):
        return pool.submit(fn, *args).result(timeout=30)

    yield call
    pool.submit(connections.close_all).result(timeout=30)
    pool.shutdown()


def _info_and_pid(terminal_id):
    info = handler.terminal_info(terminal_id)
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        return info, cur.fetchone()[0]


def _terminate(pid):
    with connection.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(%s)", [pid])
        assert cur.fetchone()[0]
    for _ in range(50):  # the backend is gone once pg_stat_activity no longer lists it
        with connection.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid])
            if cur.fetchone() is None:
                return
        time.sleep(0.05)


def test_the_connection_is_kept_past_django_conn_max_age(make_terminal, db_thread):
    terminal, _ = make_terminal(MerchantKind.DINING)
    info, pid = db_thread(_info_and_pid, terminal.pk)
    assert info.terminal_id == terminal.pk
    # Django would close it at close_at (CONN_MAX_AGE after it opened); the gateway does not.
    assert db_thread(lambda: connection.close_at) is None
    assert db_thread(_info_and_pid, terminal.pk)[1] == pid


def test_an_idle_connection_is_pinged_and_replaced_when_broken(make_terminal, db_thread, monkeypatch):
    terminal, _ = make_terminal(MerchantKind.DINING)
    _, pid = db_thread(_info_and_pid, terminal.pk)
    _terminate(pid)
    monkeypatch.setattr(handler, "ALIVE_BYPASS", 0.0)  # every use counts as after a pause
    info, new_pid = db_thread(_info_and_pid, terminal.pk)  # no error: the ping found it broken
    assert info.terminal_id == terminal.pk and new_pid != pid


def test_a_busy_connection_is_not_pinged_and_a_broken_one_fails_once(make_terminal, db_thread):
    terminal, _ = make_terminal(MerchantKind.DINING)
    _, pid = db_thread(_info_and_pid, terminal.pk)
    _terminate(pid)
    # Used less than ALIVE_BYPASS ago: no ping, so the request meets the broken connection ...
    with pytest.raises(DatabaseError):
        db_thread(_info_and_pid, terminal.pk)
    # ... and the next one gets a new connection (Django marked the error; db_ready tested it).
    info, new_pid = db_thread(_info_and_pid, terminal.pk)
    assert info.terminal_id == terminal.pk and new_pid != pid
