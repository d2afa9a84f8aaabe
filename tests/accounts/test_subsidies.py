"""Subsidies (补助): a list filed by one person and approved by another (R-ADJ-1, four eyes, in the
service and in the database), issued through the ledger, claimed once as pending credit, and
reversed at expiry. The claim over the real gateway socket: tests/terminals/test_subsidy_claim.py."""

from __future__ import annotations

import datetime as dt
import io

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import subsidies, tasks
from accounts.errors import BusinessError, NotAllowed
from accounts.imports import BatchRejected
from accounts.ledger import ledger_check
from accounts.models import AuditLog, Journal, LedgerAccount, Purse, SubsidyBatch, SubsidyLine
from accounts.subsidy_models import SUBSIDY_MERCHANT_KINDS
from accounts.timeutil import business_day
from tests.factories import HolderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def maker(make_user):
    return make_user("fin-maker", "finance")


@pytest.fixture
def checker(make_user):
    return make_user("fin-checker", "finance")


@pytest.fixture
def holders():
    return [HolderFactory(number=f"S{i:04d}") for i in range(1, 4)]


def today():
    return business_day()


def rows(*items):
    return [{"_row": n, **item} for n, item in enumerate(items, start=2)]


def sys_balance(kind):
    return LedgerAccount.objects.get(kind=kind).balance


def file_batch(maker, holders, *, kinds=(), expires=None, amounts=("50.00", "12.5")):
    items = [{"number": h.number, "amount": a, "reason": "冬季补助"} for h, a in zip(holders, amounts)]
    return subsidies.subsidy_batch_file(actor=maker, rows=rows(*items), reason="2026年冬季伙食补助",
                                        expires_on=expires or today() + dt.timedelta(days=30), merchant_kinds=kinds,
                                        filename="winter.csv")


# --- import and preview --------------------------------------------------------------------

def test_csv_and_xlsx_lists_read_the_same(holders):
    csv_bytes = "学号/工号,金额,事由\nS0001,50.00,冬季补助\nS0002,12.5,\n".encode("utf-8-sig")
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["number", "amount", "reason", "expires_on"])
    ws.append(["S0001", 50, "冬季补助", None])
    ws.append(["S0002", 12.5, None, dt.datetime(2999, 1, 31)])
    buf = io.BytesIO()
    wb.save(buf)
    from_csv = subsidies.subsidy_file_read(content=csv_bytes, filename="a.csv")
    from_xlsx = subsidies.subsidy_file_read(content=buf.getvalue(), filename="a.xlsx")
    assert from_xlsx[1]["expires_on"] == "2999-01-31"
    for read in (from_csv, from_xlsx):
        preview = subsidies.subsidy_rows_check(rows=read, expires_on=today())
        assert preview.problems == []
        assert [(line["holder"].number, line["amount"]) for line in preview.lines] == [("S0001", 5000), ("S0002", 1250)]


def test_preview_names_every_bad_row_and_filing_writes_nothing(maker, holders):
    """Bad holder, bad amount, negative, zero, three decimals, duplicate row, bad and past dates:
    a clear error per row, and a file with any of them is refused whole."""
    bad = rows(
        {"number": "S0001", "amount": "10"},
        {"number": "NOBODY", "amount": "10"},
        {"number": "S0002", "amount": "ten"},
        {"number": "S0003", "amount": "-5"},
        {"number": "S0001", "amount": "3"},  # the holder again
        {"number": "S0002", "amount": "0"},
        {"number": "S0003", "amount": "1.234"},
        {"number": "S0002", "amount": "1", "expires_on": "2026-02-30"},
        {"number": "S0003", "amount": "1", "expires_on": "2000-01-01"},
        {"number": "S0003", "amount": "1e999999"},
    )
    preview = subsidies.subsidy_rows_check(rows=bad, expires_on=today())
    problems = dict(preview.problems)
    assert sorted(problems) == [3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert "not a known cardholder" in problems[3][0]
    assert "not an amount in yuan" in problems[4][0]
    assert "greater than zero" in problems[5][0]
    assert "appears twice" in problems[6][0] and "row 2" in problems[6][0]
    assert "more than two decimals" in " ".join(problems[8])
    assert "not a date" in " ".join(problems[9])
    assert "already past" in " ".join(problems[10])
    with pytest.raises(BatchRejected) as exc:
        subsidies.subsidy_batch_file(actor=maker, rows=bad, reason="x", expires_on=today())
    assert "row 3" in str(exc.value)
    assert not SubsidyBatch.objects.exists() and not SubsidyLine.objects.exists()
    assert not AuditLog.objects.filter(action__startswith="subsidy").exists()


def test_batch_terms_are_checked(maker, holders):
    for kw, words in (({"expires_on": today() - dt.timedelta(days=1)}, "past"),
                      ({"merchant_kinds": ["9"]}, "Unknown merchant kind"),
                      ({"merchant_kinds": ["1"]}, "top-up points"),
                      ({"reason": " "}, "reason is required")):
        args = {"actor": maker, "rows": rows({"number": "S0001", "amount": "1"}), "reason": "r",
                "expires_on": today(), **kw}
        with pytest.raises(BusinessError, match=words):
            subsidies.subsidy_batch_file(**args)
    assert not SubsidyBatch.objects.exists()


def test_merchant_kinds_mirror_the_merchant_app():
    from merchants.models import MerchantKind

    assert [(str(k.value), str(k.label)) for k in MerchantKind] == [(c, str(label)) for c, label in SUBSIDY_MERCHANT_KINDS]


# --- four eyes (R-ADJ-1) ------------------------------------------------------------------------

def test_r_adj_1_filer_cannot_approve_even_as_superuser(make_user, holders):
    root = make_user("root-sub", "super_admin", is_superuser=True)
    batch = file_batch(root, holders)
    with pytest.raises(BusinessError, match="someone other than who filed"):
        subsidies.subsidy_batch_decide(actor=root, batch=batch, approve=True)
    assert SubsidyBatch.objects.get().status == "pending" and sys_balance("subsidy") == 0


def test_r_adj_1_database_refuses_self_approval(maker, holders):
    batch = file_batch(maker, holders)
    with pytest.raises(IntegrityError), transaction.atomic():
        SubsidyBatch.objects.filter(pk=batch.pk).update(status="rejected", decided_by=maker, decided_at=timezone.now())


def test_r_adj_1_permissions(make_user, maker, holders):
    clerk = make_user("clerk-sub", "card_centre")
    with pytest.raises(NotAllowed):
        file_batch(clerk, holders)
    batch = file_batch(maker, holders)
    with pytest.raises(NotAllowed):
        subsidies.subsidy_batch_decide(actor=clerk, batch=batch, approve=True)


def test_approval_issues_through_the_ledger(maker, checker, holders):
    batch = file_batch(maker, holders)
    assert sys_balance("subsidy") == 0 and batch.total == 6250 and batch.rows == 2
    batch = subsidies.subsidy_batch_decide(actor=checker, batch=batch, approve=True)
    assert batch.status == "approved" and batch.journal.kind == Journal.Kind.SUBSIDY
    assert sys_balance("subsidy") == 6250 and sys_balance("sub_fund") == 6250
    assert set(SubsidyLine.objects.values_list("status", flat=True)) == {"open"}
    # The holder's purse is untouched until the card claims it at a top-up point.
    assert Purse.objects.get(holder=holders[0]).account.balance == 0
    assert AuditLog.objects.filter(action="subsidy_decide", actor=checker).exists()
    with pytest.raises(BusinessError, match="Approved"):
        subsidies.subsidy_batch_decide(actor=checker, batch=batch, approve=True)
    assert ledger_check() == []


def test_rejection_needs_a_note_and_moves_nothing(maker, checker, holders):
    batch = file_batch(maker, holders)
    with pytest.raises(BusinessError):
        subsidies.subsidy_batch_decide(actor=checker, batch=batch, approve=False)
    subsidies.subsidy_batch_decide(actor=checker, batch=batch, approve=False, note="名单有误")
    assert SubsidyBatch.objects.get().status == "rejected"
    assert set(SubsidyLine.objects.values_list("status", flat=True)) == {"rejected"}
    assert sys_balance("subsidy") == 0 and not Journal.objects.filter(kind__startswith="sub").exists()


def test_approval_rechecks_lines_a_closed_holder_stops_the_batch(maker, checker, holders):
    batch = file_batch(maker, holders)
    holders[1].__class__.objects.filter(pk=holders[1].pk).update(status="closed")
    with pytest.raises(BatchRejected, match="closed account"):
        subsidies.subsidy_batch_decide(actor=checker, batch=batch, approve=True)
    assert SubsidyBatch.objects.get().status == "pending" and sys_balance("subsidy") == 0


# --- claim (the pending-credit path) ---------------------------------------------------------

class _Card:
    """What pending_for hands over: a card with its holder and purse."""

    def __init__(self, holder):
        self.holder_id, self.card_no = holder.pk, 123
        self.purse = Purse.objects.get(holder=holder)


def test_claim_moves_to_pending_credit_exactly_once(maker, checker, holders):
    subsidies.subsidy_batch_decide(actor=checker, batch=file_batch(maker, holders), approve=True)
    card = _Card(holders[0])
    assert subsidies.subsidies_claim(card=card, merchant_kind=4, terminal_id=7) == 5000
    assert card.purse.pending == 5000
    assert subsidies.subsidies_claim(card=card, merchant_kind=4, terminal_id=7) == 0  # a resent request
    purse = Purse.objects.select_related("account").get(holder=holders[0])
    assert purse.pending == 5000 and purse.account.balance == 5000
    assert sys_balance("subsidy") == 1250
    line = SubsidyLine.objects.get(holder=holders[0])
    assert line.status == "claimed" and line.claim_terminal_id == 7 and line.claim_journal.kind == "sub_claim"
    assert AuditLog.objects.filter(action="subsidy_claim", holder=holders[0], channel="terminal").count() == 1


def test_claim_honours_merchant_kinds_and_expiry(maker, checker, holders):
    limited = file_batch(maker, holders[:1], kinds=["4", "1"], amounts=("7",))
    anywhere = file_batch(maker, holders[:1], amounts=("3",), expires=today())
    for b in (limited, anywhere):
        subsidies.subsidy_batch_decide(actor=checker, batch=b, approve=True)
    card = _Card(holders[0])
    assert subsidies.subsidies_claim(card=card, merchant_kind=3) == 300  # retail: only the unlimited one
    assert subsidies.subsidies_claim(card=card, merchant_kind=4) == 700
    third = file_batch(maker, holders[:1], amounts=("1",), expires=today())
    subsidies.subsidy_batch_decide(actor=checker, batch=third, approve=True)
    with time_machine.travel(timezone.now() + dt.timedelta(days=1), tick=False):
        assert subsidies.subsidies_claim(card=card, merchant_kind=4) == 0  # past its last day


# --- expiry: task, sweeper, time-machine -------------------------------------------------------

def test_unclaimed_subsidies_are_reversed_at_expiry_once(maker, checker, holders, django_capture_on_commit_callbacks):
    last_day = today() + dt.timedelta(days=3)
    batch = subsidies.subsidy_batch_decide(actor=checker, batch=file_batch(maker, holders, expires=last_day),
                                           approve=True)
    subsidies.subsidies_claim(card=_Card(holders[0]), merchant_kind=4)
    assert subsidies.subsidy_batches_expiring() == []
    with time_machine.travel(timezone.now() + dt.timedelta(days=3), tick=False):
        assert tasks.subsidies_expire_sweep() == 0  # the last day still counts
    with time_machine.travel(timezone.now() + dt.timedelta(days=4), tick=False):
        from campuscard.celery import app

        app.control.purge()  # the real broker: count what the sweeper put there after commit
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            assert tasks.subsidies_expire_sweep() == 1
        assert len(callbacks) == 1 and app.control.purge() == 1
        assert tasks.subsidy_batch_expire(batch.pk) == {"lines": 1, "amount": 1250}  # what the worker runs
        assert tasks.subsidy_batch_expire(batch.pk) == {"lines": 0, "amount": 0}  # a redelivered task
    assert sys_balance("subsidy") == 0 and sys_balance("sub_fund") == 5000
    assert dict(SubsidyLine.objects.values_list("holder__number", "status")) == {"S0001": "claimed", "S0002": "expired"}
    assert Journal.objects.filter(kind="sub_expire").count() == 1
    assert AuditLog.objects.filter(action="subsidy_expire", holder=holders[1]).exists()
    assert ledger_check() == []


# --- concurrency: real threads, real row locks -------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_four_top_up_points_at_once_claim_once_and_expiry_cannot_take_it_back(make_user):
    """The same card presented at four top-up points at the same moment, while the expiry sweep
    runs for a batch past its day: one claim gets the money, the others nothing; the ledger balances."""
    import threading

    from django.db import connection

    holder = HolderFactory(number="C0001")
    maker, checker = make_user("cm", "finance"), make_user("cc", "finance")
    batch = subsidies.subsidy_batch_decide(actor=checker, approve=True, batch=subsidies.subsidy_batch_file(
        actor=maker, rows=rows({"number": "C0001", "amount": "40"}), reason="r", expires_on=today()))
    barrier, results, errors = threading.Barrier(5), [], []

    def claim():
        try:
            barrier.wait(10)
            results.append(subsidies.subsidies_claim(card=_Card(holder), merchant_kind=4))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    def expire():
        try:
            barrier.wait(10)
            # As if the day were over: the sweep and the claims race for the same line.
            results.append(subsidies.subsidies_expire(batch_id=batch.pk, today=today() + dt.timedelta(days=1))["amount"])
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim) for _ in range(4)] + [threading.Thread(target=expire)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert sorted(results) == [0, 0, 0, 0, 4000]  # exactly one of the five moved the 40.00
    line = SubsidyLine.objects.get()
    purse = Purse.objects.select_related("account").get(holder=holder)
    if line.status == "claimed":
        assert (purse.pending, purse.account.balance, sys_balance("sub_fund")) == (4000, 4000, 4000)
    else:
        assert line.status == "expired" and (purse.pending, sys_balance("sub_fund")) == (0, 0)
    assert sys_balance("subsidy") == 0 and ledger_check() == []


def test_a_closed_account_s_open_subsidy_is_reversed_by_the_next_sweep(maker, checker, holders):
    """R-CLOSE-1: a holder who leaves claims nothing more; the sweep gives the school its money back
    without waiting for the last day."""
    batch = subsidies.subsidy_batch_decide(actor=checker, batch=file_batch(maker, holders), approve=True)
    holders[1].__class__.objects.filter(pk=holders[1].pk).update(status="closed")
    assert subsidies.subsidies_claim(card=_Card(holders[1]), merchant_kind=4) == 0
    assert subsidies.subsidy_batches_expiring() == [batch.pk]
    assert subsidies.subsidies_expire(batch_id=batch.pk) == {"lines": 1, "amount": 1250}
    assert dict(SubsidyLine.objects.values_list("holder__number", "status")) == {"S0001": "open", "S0002": "expired"}
    assert AuditLog.objects.get(action="subsidy_expire").reason == "持卡人已销户，补助冲回"
