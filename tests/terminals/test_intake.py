"""Intake of TXN_BATCH: stored before the ACK, duplicates, conflicts, ack_upto, recollect, lost."""

import pytest

from terminals.ingest.intake import records_lost
from terminals.models import Batch, LostRange, Record, RecordConflict
from terminals.selectors import recollect_for

from .helpers import Till

pytestmark = pytest.mark.django_db


@pytest.fixture
def till(make_terminal, rates):
    terminal, _ = make_terminal()
    return Till(terminal)


@pytest.fixture
def card(funded_card, till):
    return till.card(funded_card(10000))


def test_records_are_stored_with_their_raw_bytes(till, card):
    recs = [till.purchase(card, 100) for _ in range(3)]
    res = till.send(recs, post=False)
    assert (res.stored, res.duplicates, res.exceptions, res.ack_upto) == (3, 0, 0, 3)
    stored = Record.objects.get(terminal=till.terminal, term_seq=2)
    assert bytes(stored.raw) == recs[1].encode() and stored.status == "received"
    assert Batch.objects.get(pk=res.batch_id).posted_at is None


def test_same_seq_twice_in_one_batch_is_a_duplicate(till, card):
    rec = till.purchase(card, 100)
    res = till.send([rec, rec], post=False)
    assert (res.stored, res.duplicates, res.exceptions) == (1, 1, 0)


def test_same_seq_different_content_is_kept_as_a_conflict_exception(till, card):
    rec = till.purchase(card, 100)
    till.send([rec], post=False)
    changed = till.purchase(card, 300, seq=1)
    res = till.send([changed], post=False)
    assert (res.stored, res.duplicates, res.exceptions) == (0, 1, 1)
    conflict = RecordConflict.objects.get()
    assert bytes(conflict.raw) == changed.encode()
    assert Record.objects.get(term_seq=1).base_amount == 100  # the first version stands


def test_batch_of_only_duplicates_needs_no_posting(till, card):
    rec = till.purchase(card, 100)
    till.send([rec])
    res = till.send([rec], post=False)
    assert Batch.objects.get(pk=res.batch_id).posted_at is not None


def test_ack_upto_counts_only_a_contiguous_run_and_recollect_names_the_gap(till, card):
    recs = [till.purchase(card, 10) for _ in range(6)]
    res = till.send([recs[0], recs[1], recs[4], recs[5]], post=False)
    assert res.ack_upto == 2
    assert recollect_for(till.terminal.pk, 2, 6) == (3, 4)
    res = till.send([recs[3]], post=False)
    assert res.ack_upto == 2 and recollect_for(till.terminal.pk, 2, 6) == (3, 3)
    res = till.send([recs[2]], post=False)
    assert res.ack_upto == 6 and recollect_for(till.terminal.pk, 6, 6) == (0, 0)


def test_recollect_up_to_last_seq_when_nothing_higher_is_stored(till, card):
    assert recollect_for(till.terminal.pk, 0, 4) == (1, 4)


def test_records_lost_moves_ack_past_the_range_and_leaves_an_exception(till, card):
    recs = [till.purchase(card, 10) for _ in range(5)]
    till.send([recs[0], recs[3], recs[4]], post=False)
    ack = records_lost(terminal_id=till.terminal.pk, from_seq=2, to_seq=3)
    assert ack == 5
    lost = LostRange.objects.get()
    assert (lost.from_seq, lost.to_seq, lost.resolved_at) == (2, 3, None)
    assert lost.merchant_id is not None


def test_intake_checks_become_exceptions_and_are_acknowledged(till, card, funded_card):
    """Contract, last table: unknown card, wrong type, bad arithmetic are exceptions, still ACKed."""
    unknown = till.purchase(card, 10)
    unknown.card_no = 1
    wrong_type = till.purchase(card, 10)
    wrong_type.card_type = 3
    bad_sum = till.purchase(card, 10)
    bad_sum.balance_after += 1
    res = till.send([unknown, wrong_type, bad_sum], post=False)
    assert (res.stored, res.exceptions, res.ack_upto) == (3, 3, 3)
    problems = dict(Record.objects.values_list("term_seq", "problems"))
    assert "unknown_card" in problems[1] and "card_type_mismatch" in problems[2] and "arithmetic" in problems[3]
    assert set(Record.objects.values_list("status", flat=True)) == {"exception"}


def test_record_outside_the_terminals_assignment_is_an_exception(till, card):
    """R-TERM-1: a record is settled to the merchant the terminal served at the record's time."""
    early = till.purchase(card, 10, at=till.terminal.created_at.timestamp() - 3600)
    res = till.send([early], post=False)
    assert res.exceptions == 1 and "not_assigned" in Record.objects.get().problems


def test_deposit_at_a_non_topup_terminal_is_an_exception(till, card, admin_user):
    rec = till.deposit(card, 100, admin_user.pk)
    till.send([rec], post=False)
    assert "deposit_not_topup" in Record.objects.get().problems
