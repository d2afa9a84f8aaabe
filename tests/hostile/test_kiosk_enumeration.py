"""The kiosk cannot be used to list holders (R-LOSS-1 self-service, issue 6): an unknown number,
a wrong password, a holder without a kiosk password, a closed account and a locked number all get
the same page, and take the same time, because each runs one password hash."""

from __future__ import annotations

import statistics
import time

import pytest
from django.utils import timezone

from accounts import services
from accounts.models import Cardholder

from .conftest import KIOSK_PW, csrf_free, login, snapshot
from .hashers import CountingPBKDF2

pytestmark = pytest.mark.django_db
UNKNOWN = "1999999999"


@pytest.fixture
def counting_hasher(settings, world):
    """A real (counting) PBKDF2 for the rest of the test; the holder's password hashed with it."""
    settings.PASSWORD_HASHERS = ["tests.hostile.hashers.CountingPBKDF2"]
    services.holder_set_kiosk_password(actor=world["staff"], holder=world["holder"], raw_password=KIOSK_PW)
    CountingPBKDF2.calls = 0
    return CountingPBKDF2


def sign_in(number, password):
    response = login().post("/kiosk/", {"number": number, "password": password})
    return response.status_code, csrf_free(response.content.decode()), sorted(response.headers)


def test_unknown_number_and_wrong_password_get_the_same_answer(world):
    holder = world["holder"]
    wrong = sign_in(holder.number, "000000")
    Cardholder.objects.filter(pk=holder.pk).update(kiosk_failures=0)
    assert sign_in(UNKNOWN, "000000") == wrong
    assert wrong[0] == 200 and "id=\"error\"" in wrong[1]
    assert holder.number not in wrong[1] and holder.name not in wrong[1]  # the form is not echoed back


def test_no_password_closed_and_locked_holders_answer_like_an_unknown_number(world, make_user):
    from tests.accounts.helpers import formal_card

    unknown = sign_in(UNKNOWN, KIOSK_PW)
    no_password = formal_card(world["staff"], number="2026000555").holder
    assert sign_in(no_password.number, "") == sign_in(UNKNOWN, "")
    assert sign_in(no_password.number, KIOSK_PW) == unknown
    holder = world["holder"]
    Cardholder.objects.filter(pk=holder.pk).update(kiosk_locked_until=timezone.now() + timezone.timedelta(minutes=5))
    assert sign_in(holder.number, KIOSK_PW) == unknown  # even the right password while locked
    Cardholder.objects.filter(pk=holder.pk).update(kiosk_locked_until=None, status=Cardholder.Status.CLOSED)
    assert sign_in(holder.number, KIOSK_PW) == unknown


@pytest.mark.parametrize("number,password", [
    ("9" * 33, KIOSK_PW), ("", ""), ("2026000999", "1" * 13), ("2026\x00000999", KIOSK_PW), ("国", "国"),
    ("' OR '1'='1", "' OR '1'='1"),
])
def test_malformed_sign_ins_get_the_same_refusal_and_change_nothing(world, number, password):
    before = snapshot()
    status, page, _headers = sign_in(number, password)
    assert status == 200 and "id=\"error\"" in page
    assert snapshot() == before


def test_every_refused_path_runs_exactly_one_password_hash(world, counting_hasher):
    """The dummy hash for an unknown number is really there: one PBKDF2 per attempt, as for a
    wrong password, a holder without a password, a locked and a closed one."""
    holder = world["holder"]

    def hashes(number, password):
        counting_hasher.calls = 0
        sign_in(number, password)
        return counting_hasher.calls

    assert hashes(holder.number, "000000") == 1
    assert hashes(UNKNOWN, "000000") == 1
    # A blank or over-long number is refused by the form before any lookup: no hash, but that
    # answer cannot depend on who exists, so it is no oracle.
    assert hashes("   ", "000000") == 0 and hashes(holder.number + "9" * 30, "000000") == 0
    Cardholder.objects.filter(pk=holder.pk).update(kiosk_locked_until=timezone.now() + timezone.timedelta(minutes=5))
    assert hashes(holder.number, KIOSK_PW) == 1
    Cardholder.objects.filter(pk=holder.pk).update(kiosk_locked_until=None, kiosk_failures=0)
    assert hashes(holder.number, KIOSK_PW) == 1  # the right password: one check, no more


def test_unknown_number_and_wrong_password_take_the_same_time(world, counting_hasher):
    """Medians of 20 sign-ins each, interleaved, through the whole request: within 30% or 50 ms."""
    holder = world["holder"]
    times = {"wrong": [], "unknown": []}
    for _ in range(20):
        for kind, number in (("wrong", holder.number), ("unknown", UNKNOWN)):
            Cardholder.objects.filter(pk=holder.pk).update(kiosk_failures=0)  # never lock: measure the check
            client = login()
            t = time.perf_counter()
            response = client.post("/kiosk/", {"number": number, "password": "135790"})
            times[kind].append(time.perf_counter() - t)
            assert response.status_code == 200
    wrong, unknown = statistics.median(times["wrong"]), statistics.median(times["unknown"])
    hash_time = min(times["wrong"])
    assert hash_time > 0.005, "the hasher did no real work; the comparison would mean nothing"
    assert abs(wrong - unknown) < max(0.3 * max(wrong, unknown), 0.05), (wrong, unknown)
    print(f"kiosk sign-in medians: wrong password {wrong * 1000:.1f} ms, unknown number {unknown * 1000:.1f} ms")
