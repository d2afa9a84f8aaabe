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


def _ack_reference(ack: int, stored: set[int], lost: list[tuple[int, int]]) -> int:
    """ack_upto as the protocol defines it: step over every number held or declared lost."""
    held = set(stored)
    for a, b in lost:
        held.update(range(a, b + 1))
    while ack + 1 in held:
        ack += 1
    return ack


@pytest.mark.parametrize("stored, lost", [
    ({1, 2, 3}, []),
    ({1, 2, 5, 6}, []),
    ({2, 3}, []),
    ({1, 2, 7, 8}, [(3, 6)]),
    ({1, 9}, [(2, 4), (3, 8)]),        # overlapping ranges
    ({1, 9}, [(2, 8), (3, 4)]),        # a range inside another
    ({1, 2}, [(4, 6)]),                # a range beyond a gap
    ({4, 5, 6}, [(1, 2)]),             # a gap at 3 after a range
    ({3, 4}, [(1, 2), (5, 5)]),
    (set(), [(1, 10)]),
])
def test_ack_upto_steps_over_held_and_lost_numbers_as_the_reference_does(till, card, stored, lost):
    from terminals.ingest.intake import acks_advance

    recs = {s: till.purchase(card, 10, seq=s) for s in sorted(stored)}
    if recs:
        till.send(list(recs.values()), post=False)
    for a, b in lost:
        LostRange.objects.create(terminal=till.terminal, from_seq=a, to_seq=b)
    for start in (0, 1, 2):
        assert acks_advance({till.terminal.pk: start})[till.terminal.pk] == _ack_reference(start, stored, lost)


def test_a_batch_is_never_deleted_so_its_records_always_lead_to_it(till, card):
    """The record → batch link has no FK constraint (its check cost more than the rest of the
    commit); a trigger refusing DELETE keeps a record from outliving its batch."""
    from django.db import DatabaseError, transaction

    res = till.send([till.purchase(card, 10)], post=False)
    with pytest.raises(DatabaseError, match="never deleted"), transaction.atomic():
        Batch.objects.filter(pk=res.batch_id)._raw_delete(Batch.objects.db)
    assert Record.objects.get().batch_id == res.batch_id


def test_a_record_older_than_the_move_or_the_rate_is_read_at_its_own_time_R_TERM_1_R_SUR_1(
        till, funded_card, admin_user):
    """The intake reads each terminal's open assignment and the latest rate once per group; a
    record from before either still goes to the merchant and the rate of its own time."""
    import datetime as dt

    from django.utils import timezone

    from accounts.models import CardType
    from merchants.models import MerchantKind
    from merchants.services import merchant_create
    from terminals import wire as P
    from terminals.services import surcharge_rate_add, terminal_assign

    now = timezone.now()
    till.terminal.assignments.update(valid_from=now - dt.timedelta(hours=1))
    moved, new_rate = now - dt.timedelta(minutes=10), now - dt.timedelta(minutes=5)
    second = merchant_create(actor=admin_user, code="M-2ND", name="二食堂", kind=MerchantKind.DINING)
    terminal_assign(actor=admin_user, terminal=till.terminal, merchant=second, at=moved)
    surcharge_rate_add(actor=admin_user, effective_from=new_rate, board_fee_bp=2000, energy_fee_bp=0,
                       water_multiplier_pct=200)
    card = till.card(funded_card(100000, card_type=CardType.CONSUMPTION))

    def buy(at, board_bp, energy_bp):
        return till.purchase(card, 1000, P.surcharge_expected(1000, 3, 1, board_bp, energy_bp, 200),
                             at=at.timestamp())

    recs = [buy(moved - dt.timedelta(minutes=1), 1000, 500), buy(new_rate - dt.timedelta(minutes=1), 1000, 500),
            buy(now, 2000, 0)]
    res = till.send(recs, post=False)
    assert res.exceptions == 0, list(Record.objects.values_list("term_seq", "problems"))
    got = dict(Record.objects.values_list("term_seq", "merchant__code"))
    first = till.terminal.assignments.order_by("valid_from").first().merchant.code
    assert got == {1: first, 2: "M-2ND", 3: "M-2ND"}
    assert [r.surcharge for r in recs] == [150, 150, 200]
