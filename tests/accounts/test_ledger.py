"""The double-entry ledger: balanced journals, append-only postings, purses never negative,
balances equal to their postings, one journal per source. Checked in Python and in PostgreSQL."""

from __future__ import annotations

import itertools

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from accounts import services
from accounts.errors import BusinessError, InsufficientFunds
from accounts.ledger import journal_post, ledger_check
from accounts.models import Journal, LedgerAccount, Posting
from accounts.timeutil import business_day
from tests.factories import HolderFactory

_codes = itertools.count(1)


def _account(kind: str) -> LedgerAccount:
    n = next(_codes)
    return services.ledger_account_create(kind=kind, code=f"T-{kind}-{n}", name=f"test {kind} {n}")


def _purse_account() -> LedgerAccount:
    return HolderFactory().purse.account


def _raw_posting(journal_id: int, account_id: int, amount: int) -> None:
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO accounts_posting (journal_id, account_id, amount) VALUES (%s, %s, %s)",
            [journal_id, account_id, amount],
        )


# --- balanced journals ------------------------------------------------------------------------

@pytest.mark.django_db
def test_journal_post_moves_balances_by_normal_side():
    cash, purse = _account("cash"), _purse_account()
    journal = journal_post(kind="deposit", lines=[(cash, 1000), (purse, -1000)], reason="top-up")
    cash.refresh_from_db()
    purse.refresh_from_db()
    assert cash.balance == 1000  # an asset: debit-normal
    assert purse.balance == 1000  # what the holder owns: credit-normal, shown positive
    assert sorted(journal.postings.values_list("amount", flat=True)) == [-1000, 1000]
    assert journal.business_day == business_day()
    assert ledger_check() == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "amounts, message",
    [
        ([1000, -999], "must be equal"),
        ([1000], "at least two"),
        ([1000, 0, -1000], "cannot be zero"),
    ],
)
def test_unbalanced_journal_is_refused_in_python(amounts, message):
    accounts = [_account("cash"), _account("cash"), _account("cash")]
    before = (Journal.objects.count(), Posting.objects.count())
    with pytest.raises(BusinessError, match=message):
        journal_post(kind="transfer", lines=list(zip(accounts, amounts)))
    assert (Journal.objects.count(), Posting.objects.count()) == before


@pytest.mark.django_db
def test_unknown_kind_and_unknown_account_are_refused():
    a, b = _account("cash"), _account("cash")
    with pytest.raises(BusinessError, match="Unknown journal kind"):
        journal_post(kind="gift", lines=[(a, 1), (b, -1)])
    with pytest.raises(BusinessError, match="does not exist"):
        journal_post(kind="transfer", lines=[(a, 1), (10**12, -1)])
    assert Journal.objects.count() == 0


@pytest.mark.django_db
def test_unbalanced_postings_are_refused_by_the_deferred_trigger():
    """The constraint trigger checks each journal when constraints are checked (at commit; here
    forced inside a savepoint with SET CONSTRAINTS ... IMMEDIATE)."""
    a, b = _account("cash"), _account("cash")
    with pytest.raises(IntegrityError, match="unbalanced"):
        with transaction.atomic():
            journal = Journal.objects.create(kind="transfer", business_day=business_day())
            _raw_posting(journal.pk, a.pk, 500)
            _raw_posting(journal.pk, b.pk, -400)
            with connection.cursor() as cur:
                cur.execute("SET CONSTRAINTS accounts_posting_balanced IMMEDIATE")
    assert Journal.objects.count() == 0 and Posting.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_unbalanced_postings_fail_at_commit():
    """A real COMMIT: the deferred trigger raises, the whole transaction is rolled back. A single
    posting (a journal with one leg) is refused the same way."""
    a, b = _account("cash"), _account("cash")
    for legs in ([(a, 700), (b, -100)], [(a, 700)]):
        with pytest.raises(IntegrityError, match="unbalanced"):
            with transaction.atomic():
                journal = Journal.objects.create(kind="transfer", business_day=business_day())
                for account, amount in legs:
                    _raw_posting(journal.pk, account.pk, amount)
                # No error yet: the check is deferred to commit.
                assert Posting.objects.filter(journal=journal).count() == len(legs)
    assert Journal.objects.count() == 0 and Posting.objects.count() == 0

    # A balanced journal inserted the same way commits.
    with transaction.atomic():
        journal_post(kind="transfer", lines=[(a, 700), (b, -700)])
    assert Posting.objects.count() == 2
    assert ledger_check() == []


@pytest.mark.django_db
def test_postings_and_journals_are_append_only():
    a, b = _account("cash"), _account("cash")
    journal = journal_post(kind="transfer", lines=[(a, 300), (b, -300)], reason="original")
    posting = journal.postings.first()

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Posting.objects.filter(pk=posting.pk).update(amount=999)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("DELETE FROM accounts_posting WHERE id = %s", [posting.pk])
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Journal.objects.filter(pk=journal.pk).update(reason="rewritten")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("DELETE FROM accounts_journal WHERE id = %s", [journal.pk])

    journal.refresh_from_db()
    assert journal.reason == "original"
    assert sorted(journal.postings.values_list("amount", flat=True)) == [-300, 300]


@pytest.mark.django_db
def test_purse_cannot_go_negative_in_python_or_in_the_database():
    cash, purse = _account("cash"), _purse_account()
    journal_post(kind="deposit", lines=[(cash, 500), (purse, -500)])
    with pytest.raises(InsufficientFunds, match="500 fen available"):
        journal_post(kind="purchase", lines=[(purse, 501), (cash, -501)])
    purse.refresh_from_db()
    assert purse.balance == 500
    # Exactly the balance is fine.
    journal_post(kind="purchase", lines=[(purse, 500), (cash, -500)])
    purse.refresh_from_db()
    assert purse.balance == 0
    # The CHECK constraint, whatever code runs against the database.
    with pytest.raises(IntegrityError, match="purse_not_negative"), transaction.atomic():
        LedgerAccount.objects.filter(pk=purse.pk).update(balance=-1)
    # Other accounts may go below zero (cash paid out, bank clearing).
    cash.refresh_from_db()
    assert cash.balance == 0
    journal_post(kind="transfer", lines=[(_account("cash"), 100), (cash, -100)])
    cash.refresh_from_db()
    assert cash.balance == -100


@pytest.mark.django_db
def test_a_purse_can_be_debited_and_credited_in_one_journal_if_the_net_is_covered():
    cash, purse = _account("cash"), _purse_account()
    journal_post(kind="deposit", lines=[(cash, 100), (purse, -100)])
    # The check is on the net change: +300 -> -250 in one journal leaves 150.
    journal_post(kind="transfer", lines=[(purse, 250), (cash, -250), (purse, -300), (cash, 300)])
    purse.refresh_from_db()
    assert purse.balance == 150


@pytest.mark.django_db
def test_balances_equal_the_sum_of_postings_and_drift_is_reported():
    cash, purse = _account("cash"), _purse_account()
    journal_post(kind="deposit", lines=[(cash, 1200), (purse, -1200)])
    assert ledger_check() == []
    with transaction.atomic():
        LedgerAccount.objects.filter(pk=cash.pk).update(balance=1300)
        problems = ledger_check()
        assert problems == [f"account {cash.code} balance 1300 but postings say 1200"]
        transaction.set_rollback(True)
    assert ledger_check() == []


@pytest.mark.django_db
def test_source_is_an_idempotency_key():
    a, b = _account("cash"), _account("cash")
    journal_post(kind="transfer", lines=[(a, 100), (b, -100)], source="upload:42")
    with pytest.raises(BusinessError, match="already posted"):
        journal_post(kind="transfer", lines=[(a, 100), (b, -100)], source="upload:42")
    assert Journal.objects.filter(source="upload:42").count() == 1
    a.refresh_from_db()
    assert a.balance == 100
    # The database refuses it too.
    with pytest.raises(IntegrityError), transaction.atomic():
        Journal.objects.create(kind="transfer", business_day=business_day(), source="upload:42")
    # No source: any number of journals.
    journal_post(kind="transfer", lines=[(a, 1), (b, -1)])
    journal_post(kind="transfer", lines=[(a, 1), (b, -1)])
    assert Journal.objects.filter(source__isnull=True).count() == 2


# --- property: any sequence of balanced journals keeps the invariants ---------------------------

_line = st.tuples(st.integers(0, 4), st.one_of(st.integers(-5000, -1), st.integers(1, 5000)))
_journal = st.lists(_line, min_size=1, max_size=4)


@pytest.mark.django_db
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(journals=st.lists(_journal, min_size=1, max_size=12), balancer=st.integers(0, 4))
def test_random_balanced_journals_keep_the_ledger_consistent(journals, balancer):
    """Random balanced journals among two purses, a cash and a suspense-like account: the ledger
    stays consistent (ledger_check() == []), purses never go below zero, and every balance is
    exactly what a model of the accepted journals predicts. Refused journals change nothing."""
    accounts = [_purse_account(), _purse_account(), _account("cash"), _account("cash"), _account("merchant")]
    normal = [a.normal for a in accounts]
    model = [0] * len(accounts)
    for lines in journals:
        total = sum(amount for _, amount in lines)
        if total:
            lines = [*lines, (balancer, -total)]
        if len(lines) < 2:
            continue
        delta = [0] * len(accounts)
        for i, amount in lines:
            delta[i] += normal[i] * amount
        would_go_negative = any(model[i] + delta[i] < 0 for i in (0, 1))
        try:
            journal_post(kind="transfer", lines=[(accounts[i], amount) for i, amount in lines])
        except InsufficientFunds:
            assert would_go_negative
            event("refused: a purse would go negative")
            continue
        assert not would_go_negative
        model = [m + d for m, d in zip(model, delta)]
    assert ledger_check() == []
    balances = [LedgerAccount.objects.get(pk=a.pk).balance for a in accounts]
    assert balances == model
    assert balances[0] >= 0 and balances[1] >= 0
