"""Issue 11: the intake posts records that arrive out of the card's order (a card used at two
terminals, the later terminal uploading first) itself, with the flags batch_post would raise
(R-FREEZE-1's card-vs-account rules), instead of leaving the purse to the Celery path."""

import datetime as dt
import random
import time

import pytest
from django.utils import timezone

from accounts.ledger import ledger_check
from accounts.models import Card, LedgerAccount, Purse
from accounts.services import cash_account_for
from merchants.models import MerchantKind
from terminals import wire as P
from terminals.ingest.intake import BatchIn, batch_intake, batches_intake
from terminals.ingest.posting import batch_post
from terminals.models import CardFlag, PostingSettings, Record
from terminals.services import offline_authorise

from .helpers import Till

pytestmark = pytest.mark.django_db


def _tills(*terminals):
    """Tills sharing what each card itself holds (counter, balance): it travels with the card."""
    tills = [Till(t) for t in terminals]
    for till in tills[1:]:
        till.cards = tills[0].cards
    return tills


def _flags(card):
    return sorted((f.record.term_seq, f.record.terminal_id, f.kind, f.expected, f.actual, f.resolved_at is not None)
                  for f in CardFlag.objects.filter(card_no=card.card_no).select_related("record"))


def test_r_freeze_1_a_card_used_at_two_terminals_uploaded_out_of_order_is_posted_at_intake(
        make_terminal, funded_card, rates):
    """Bought at A, then at B; B uploads first: a counter gap (and the balance it explains) is
    flagged, A's record arrives late and closes both flags. The intake posts both, nothing is
    left to the worker, and the card is not frozen (R-FREEZE-1: the gap explains the difference)."""
    PostingSettings.objects.create(mismatch_fen=0, mismatch_days=3)
    ta, tb = _tills(make_terminal(MerchantKind.RETAIL)[0], make_terminal(MerchantKind.RETAIL)[0])
    a, b = ta.terminal, tb.terminal
    card = ta.card(funded_card(10_000))
    now = int(time.time())
    at_a = ta.purchase(card, 300, at=now)
    at_b = tb.purchase(card, 200, at=now + 60)
    first = batch_intake(terminal_id=b.pk, batch_no=1, msg_seq=1, raw_frame=b"", records=[at_b])
    assert first.to_post == 0
    assert _flags(card) == [(1, b.pk, "balance", 10_000, 9_700, False), (1, b.pk, "counter_gap", 0, 1, False)]
    purse = Purse.objects.get(pk=card.purse_id)
    assert (purse.card_counter, purse.card_balance, purse.account.balance) == (2, 9_500, 9_800)
    late = batch_intake(terminal_id=a.pk, batch_no=1, msg_seq=1, raw_frame=b"", records=[at_a])
    assert late.to_post == 0
    rec = Record.objects.get(terminal=a)
    assert rec.status == "posted" and rec.problems == ["late_record"] and rec.merchant_amount == 300
    assert [f[-1] for f in _flags(card)] == [True, True]
    purse.refresh_from_db()
    assert (purse.card_counter, purse.card_balance, purse.account.balance) == (2, 9_500, 9_500)
    assert Card.objects.get(pk=card.pk).status == "active"
    assert ledger_check() == []


def test_r_freeze_1_a_balance_difference_without_a_gap_is_left_to_batch_post_which_freezes(
        make_terminal, funded_card, rates):
    PostingSettings.objects.create(mismatch_fen=0, mismatch_days=3)
    till = Till(make_terminal(MerchantKind.RETAIL)[0])
    card = till.card(funded_card(10_000), balance=10_050)  # the card says 5 jiao more than the host
    res = batch_intake(terminal_id=till.terminal.pk, batch_no=1, msg_seq=1, raw_frame=b"",
                       records=[till.purchase(card, 100)])
    assert res.to_post == 1
    batch_post(res.batch_id)
    assert Card.objects.get(pk=card.pk).status == "frozen"


def _scenario(seed):
    """A random lunch: purchases by a few cards at a few terminals (sometimes the same amount
    twice within a minute, R-DUP-1; sometimes offline, R-TERM-2; sometimes a card whose balance
    disagrees), top-ups at terminal 0 (cash, pending credit, an unknown cashier), uploaded as
    groups of batches of distinct terminals in a random order of terminals."""
    rng = random.Random(seed)
    n_terms, n_cards = rng.randint(2, 5), rng.randint(1, 3)
    events, t = [], 0
    for _ in range(rng.randint(4, 16)):
        t += rng.choice([1, 5, 30, 90])
        roll = rng.random()
        if roll < 0.06:
            events.append(("tamper", rng.randrange(n_cards), 0, t))
        elif roll < 0.2:
            events.append((rng.choice(["cash", "cash", "pending", "stranger"]), rng.randrange(n_cards),
                           rng.choice([2_000, 6_000]), t))
        else:
            events.append(("offline" if rng.random() < 0.1 else "buy", rng.randrange(n_cards),
                           rng.choice([150, 150, 400, 650, 9_000]), t))
        # now and then some terminals upload what they hold
        if rng.random() < 0.35:
            events.append(("upload", rng.sample(range(n_terms), rng.randint(1, n_terms)), 0, t))
    events.append(("upload", list(range(n_terms)), 0, t))
    # top-ups at terminal 0 (the top-up point), purchases elsewhere (now and then at terminal 0 too)
    where = [0 if e[0] in ("cash", "pending", "stranger") else rng.randrange(n_terms) for e in events]
    return n_terms, n_cards, events, where


KINDS = [MerchantKind.TOPUP, MerchantKind.RETAIL, MerchantKind.DINING, MerchantKind.DINING, MerchantKind.WATER]


def _run(seed, *, at_intake, make_terminal, funded_card, cashier):
    n_terms, n_cards, events, where = _scenario(seed)
    terms = [make_terminal(KINDS[i])[0] for i in range(n_terms)]
    now = timezone.now()
    for t in terms[2::2]:  # these may trade offline (R-TERM-2); terminal 1 may not
        offline_authorise(actor=cashier, terminal=t, valid_from=now - dt.timedelta(minutes=1),
                          valid_to=now + dt.timedelta(hours=2), reason="test")
    tills = _tills(*terms)
    on_card = tills[0].cards
    card_objs = [tills[0].card(funded_card(8_000, card_type=(1, 3)[i % 2])) for i in range(n_cards)]
    Purse.objects.filter(pk=card_objs[0].purse_id).update(pending=5_000)  # a bank transfer waiting
    cash0, suspense0 = _cash_and_suspense(cashier)
    held = {i: [] for i in range(n_terms)}
    start = int(time.time()) + 1  # after the terminals were assigned
    for (what, arg, amount, t), ti in zip(events, where):
        if what == "tamper":
            on_card[card_objs[arg].card_no][1] += 20
        elif what in ("buy", "offline"):
            card = card_objs[arg]
            surcharge = amount * 15 // 100 if card.card_type == 3 and KINDS[ti] == MerchantKind.DINING else 0
            if on_card[card.card_no][1] < amount + surcharge:
                continue  # the terminal refuses: the card does not hold enough
            held[ti].append(tills[ti].purchase(card, amount, surcharge, at=start + t,
                                               flags=P.FLAG_OFFLINE if what == "offline" else 0))
        elif what in ("cash", "pending", "stranger"):
            operator = {"cash": cashier.pk, "pending": 0, "stranger": 987_654}[what]
            held[ti].append(tills[ti].deposit(card_objs[arg], amount, operator, at=start + t))
        else:
            items = []
            for i in arg:
                if held[i]:
                    n = tills[i].batch_no = tills[i].batch_no + 1
                    body = P.TxnBatch(batch_no=n, records=held[i]).encode()
                    items.append(BatchIn(terms[i].pk, n, n, b"", body))
                    held[i] = []
            if not items:
                continue
            if at_intake:
                for res in batches_intake(items):
                    if res.to_post:
                        batch_post(res.batch_id)
            else:
                for item in items:  # one by one, each posted by batch_post before the next arrives
                    batch_post(batches_intake([item], post=False)[0].batch_id)
    index = {t.pk: i for i, t in enumerate(terms)}
    records = sorted((index[r.terminal_id], r.term_seq, r.status, sorted(r.problems), r.merchant_amount,
                      r.surcharge_amount, r.held_amount) for r in Record.objects.filter(terminal__in=terms))
    flags = sorted((index[f.record.terminal_id], f.record.term_seq, f.kind, f.expected, f.actual,
                    f.resolved_at is not None)
                   for f in CardFlag.objects.filter(record__terminal__in=terms).select_related("record"))
    purses = [(p.card_counter, p.card_balance, p.pending, p.account.balance, c.status)
              for c in Card.objects.filter(pk__in=[c.pk for c in card_objs]).order_by("pk")
              for p in [Purse.objects.select_related("account").get(pk=c.purse_id)]]
    cash, suspense = _cash_and_suspense(cashier)
    return records, flags, purses, cash - cash0, suspense - suspense0


def _cash_and_suspense(cashier):
    return (LedgerAccount.objects.get(kind="cash", operator=cashier).balance,
            LedgerAccount.objects.get(kind="suspense").balance)


@pytest.mark.parametrize("seed", range(24))
def test_intake_posts_out_of_order_cards_exactly_as_batch_post_would(seed, make_terminal, funded_card, rates,
                                                                      admin_user):
    """Random interleavings of cards over terminals, once through the intake's posting (groups
    of batches) and once with every batch left to batch_post as it arrives: the same statuses,
    problems (late_record, R-DUP-1, R-TERM-2's held offline records), splits (R-SUR-1), flags
    (open or closed), card states, pending credit and balances (purses, cash on hand, suspense)."""
    PostingSettings.objects.create(mismatch_fen=30, mismatch_days=3)
    cashier = admin_user
    cash_account_for(cashier)
    at_intake = _run(seed, at_intake=True, make_terminal=make_terminal, funded_card=funded_card, cashier=cashier)
    by_worker = _run(seed, at_intake=False, make_terminal=make_terminal, funded_card=funded_card, cashier=cashier)
    assert at_intake == by_worker
    assert ledger_check() == []
