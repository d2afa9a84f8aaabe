"""Fixtures for the fronts: a holder with a formal card, money and a kiosk password."""

from __future__ import annotations

import pytest

from accounts import services
from tests.accounts.helpers import fast_password_hashing, formal_card, fund  # noqa: F401

KIOSK_PW = "246810"


@pytest.fixture
def kiosk_holder(staff):
    """(holder, formal card) with 123.45 yuan and the kiosk password KIOSK_PW."""
    card = formal_card(staff, number="2026000777")
    fund(card, 12345, staff)
    services.holder_set_kiosk_password(actor=staff, holder=card.holder, raw_password=KIOSK_PW)
    card.refresh_from_db()
    return card.holder, card


# --- merchants with records, for the portal and the API -------------------------------------

def make_record(terminal, merchant, seq: int, amount: int, at, *, status="posted", surcharge=0, problems=None):
    """A terminal record as intake and posting leave it (test data: the portal only reads)."""
    from types import SimpleNamespace

    from accounts.timeutil import business_day
    from terminals.ingest.posting import NO_SPLIT, _split
    from terminals.models import Batch, Record

    batch = Batch.objects.create(terminal=terminal, batch_no=seq, msg_seq=seq, raw=b"", count=1, stored=1,
                                 posted_at=at)
    # The split posting would store (posting's own function, so the fixture cannot disagree with it).
    split = (_split(SimpleNamespace(base_amount=amount, surcharge=surcharge), merchant.kind, held=status == "held")
             if status in ("posted", "held") else NO_SPLIT)
    return Record.objects.create(
        terminal=terminal, term_seq=seq, batch=batch, card_no=20000001 + seq % 7, card_type=1, kind=1,
        card_counter=seq, flags=0, base_amount=amount, surcharge=surcharge, balance_before=100000,
        balance_after=100000 - amount, time=at, operator_no=0, raw=b"", status=status,
        problems=problems or [], merchant=merchant, posted_at=at, business_day=business_day(at),
        merchant_amount=split[0], surcharge_amount=split[1], held_amount=split[2],
    )


@pytest.fixture
def two_merchants(make_user):
    """Merchants A (dining, 3 records this month, 1 last month, 1 three months ago) and B (retail),
    each with a terminal and a merchant user (users mer_a / mer_b, password pw-<username>)."""
    import datetime as dt

    from django.utils import timezone

    from merchants.models import MerchantKind
    from merchants.services import merchant_create, merchant_user_add
    from terminals.services import terminal_add

    root = make_user("root_m", "super_admin", is_superuser=True)
    out = {}
    now = timezone.now()
    for label, kind in (("A", MerchantKind.DINING), ("B", MerchantKind.RETAIL)):
        merchant = merchant_create(actor=root, code=f"M{label}", name=f"商户{label}", kind=kind)
        terminal, _ = terminal_add(actor=root, merchant=merchant)
        from django.contrib.auth import get_user_model

        user = get_user_model().objects.create_user(username=f"mer_{label.lower()}", password=f"pw-mer_{label.lower()}")
        merchant_user_add(actor=root, merchant=merchant, user=user, role="contact")
        base = 1000 if label == "A" else 7000
        records = [make_record(terminal, merchant, i + 1, base + i * 100, now - dt.timedelta(hours=i), surcharge=150)
                   for i in range(3)]
        records.append(make_record(terminal, merchant, 10, base, now.replace(day=1) - dt.timedelta(days=3)))
        records.append(make_record(terminal, merchant, 20, base, now.replace(day=1) - dt.timedelta(days=75)))
        out[label] = {"merchant": merchant, "terminal": terminal, "user": get_user_model().objects.get(pk=user.pk),
                      "records": records}
    return out
