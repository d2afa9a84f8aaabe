"""The bank link (银校通 圈存转帐, M§11, R-CARD-5) end to end over real sockets against the bank
emulator in its own process: every fault, and after each, the bank's book and the campus ledger
agree: nothing credited twice, nothing lost."""

from __future__ import annotations

import socket
import time

import pytest

from accounts.errors import BusinessError
from accounts.models import AuditLog, Journal, Purse
from moneyin import iso
from moneyin.banklink import bank_answer_apply, bank_reversals_retry, bank_transfer
from moneyin.models import BankTransfer
from tests.accounts.helpers import formal_card, ordinary_card

pytestmark = pytest.mark.django_db
S = BankTransfer.Status


@pytest.fixture
def holder(staff):
    return formal_card(staff).holder


def purse(holder):
    return Purse.objects.select_related("account").get(holder=holder)


def credited(t) -> int:
    return Journal.objects.filter(source=f"bank-in:{t.rrn}").count()


def test_r_card_5_transfer_approved_credits_pending_once(bank, holder):
    t = bank_transfer(holder=holder, amount=5000, terminal_id="QC000001")
    assert t.status == S.APPROVED and t.response_code == "00" and t.auth_code
    p = purse(holder)
    assert (p.account.balance, p.pending) == (5000, 5000)
    assert credited(t) == 1 and t.journal.kind == "bank_in"
    assert bank.entry(t.rrn)["status"] == "debited" and bank.entry(t.rrn)["amount"] == 5000
    # The same answer again (a retransmission reaching the host twice) changes nothing.
    assert bank_answer_apply(doc={"t": "0210", "11": t.stan, "37": t.rrn, "4": f"{5000:012d}", "39": "00"}) == "ignored"
    assert purse(holder).account.balance == 5000 and credited(t) == 1


def test_r_card_5_decline_credits_nothing(bank, holder):
    bank.fault("decline")
    t = bank_transfer(holder=holder, amount=5000)
    assert t.status == S.DECLINED and t.response_code == "51" and t.journal is None
    assert purse(holder).account.balance == 0
    assert bank.entry(t.rrn)["status"] == "declined"


def test_r_card_5_duplicate_answer_credits_once(bank, holder):
    bank.fault("duplicate")
    t = bank_transfer(holder=holder, amount=1234)
    assert t.status == S.APPROVED and t.ignored_answers == 1
    assert purse(holder).account.balance == 1234 and credited(t) == 1
    assert AuditLog.objects.filter(action="bank_answer_ignored").count() == 1


def test_r_card_5_timeout_is_reversed_and_nothing_credited(bank, holder):
    bank.fault("timeout")
    t = bank_transfer(holder=holder, amount=2000)
    assert t.status == S.REVERSED and t.reversal_tries == 1 and t.journal is None
    assert purse(holder).account.balance == 0
    assert bank.entry(t.rrn)["status"] == "reversed"  # the bank undid its debit


def test_r_card_5_late_answer_after_reversal_changes_nothing(bank, holder):
    bank.fault("late", delay=0.6)  # after the host's 0.4 s
    t = bank_transfer(holder=holder, amount=3000)
    assert t.status == S.REVERSED and t.journal is None
    assert purse(holder).account.balance == 0
    assert bank.entry(t.rrn)["status"] == "reversed"
    time.sleep(0.3)  # the late answer is sent to a link the host has left: nothing happens
    assert purse(holder).account.balance == 0 and credited(t) == 0


def test_r_card_5_late_answer_while_reversing_is_ignored(bank, holder):
    bank.fault("late", delay=0.6)  # arrives while the host waits for its first reversal's answer
    bank.fault("noack")
    t = bank_transfer(holder=holder, amount=3000)
    assert t.status == S.REVERSED and t.reversal_tries == 2 and t.journal is None
    # The late approving 0210 reached the host after it had given up, and was ignored.
    assert t.ignored_answers == 1 and credited(t) == 0
    assert purse(holder).account.balance == 0 and bank.entry(t.rrn)["status"] == "reversed"


def test_r_card_5_unacknowledged_reversal_is_sent_until_acknowledged(bank, holder, settings):
    bank.fault("timeout")
    bank.fault("noack")
    t = bank_transfer(holder=holder, amount=700)
    assert t.status == S.REVERSED and t.reversal_tries == 2
    assert bank.entry(t.rrn)["status"] == "reversed" and purse(holder).account.balance == 0


def test_r_card_5_bank_unreachable_then_sweeper_reverses(bank, holder, settings):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    settings.BANK_FRONT = f"127.0.0.1:{dead}"
    t = bank_transfer(holder=holder, amount=900)
    assert t.status == S.REVERSING and t.journal is None
    settings.BANK_FRONT = f"{bank.addr[0]}:{bank.addr[1]}"
    assert bank_reversals_retry() == 1
    t.refresh_from_db()
    assert t.status == S.REVERSED and purse(holder).account.balance == 0
    assert bank_reversals_retry() == 0  # nothing left to do, nothing done twice


def test_r_card_5_host_died_mid_exchange_sweeper_reverses(bank, holder):
    """A row left `sent` (the host stopped after sending) is reversed by the sweeper; the bank's
    debit of it is undone, and its answer, if it ever comes, is ignored."""
    bank.fault("timeout")
    from moneyin import banklink

    t = banklink._transfer_create(holder=holder, amount=1500, channel="terminal", terminal_id="", actor=None,
                                  bank_card_no="")
    with socket.create_connection(bank.addr) as sock:  # the 0200 went out; the host then "died"
        iso.send(sock, banklink._request_doc(t))
        time.sleep(0.1)
    assert bank.entry(t.rrn)["status"] == "debited"
    assert bank_reversals_retry(older_than=0) == 1
    t.refresh_from_db()
    assert t.status == S.REVERSED and bank.entry(t.rrn)["status"] == "reversed"
    assert purse(holder).account.balance == 0
    assert bank_answer_apply(doc={"t": "0210", "11": t.stan, "37": t.rrn, "4": f"{1500:012d}", "39": "00"}) == "ignored"
    assert credited(t) == 0


def test_r_card_5_every_fault_in_a_row_books_agree(bank, holder):
    """Many transfers through every fault: what the bank's book says stands is exactly what the
    campus credited, transfer by transfer."""
    faults = [None, "decline", "duplicate", "timeout", None, "duplicate", "decline", None]
    transfers = []
    for i, f in enumerate(faults):
        if f:
            bank.fault(f)
        transfers.append(bank_transfer(holder=holder, amount=100 + i))
    for t in transfers:
        stands = bank.entry(t.rrn)["status"] == "debited"
        assert stands == (t.status == S.APPROVED) and credited(t) == int(stands)
    assert purse(holder).account.balance == sum(t.amount for t in transfers if t.status == S.APPROVED)


def test_r_card_5_only_a_formal_card_and_bad_input_change_nothing(bank, staff):
    ordinary = ordinary_card(staff)
    before = BankTransfer.objects.count()
    with pytest.raises(BusinessError, match="formal card"):
        bank_transfer(holder=ordinary.holder, amount=100)
    holder = formal_card(staff, number="X1").holder
    for bad in (0, -5, 1.5, "100", True, 10**9):
        with pytest.raises(BusinessError):
            bank_transfer(holder=holder, amount=bad)
    holder.bank_card_no = ""
    holder.save()
    with pytest.raises(BusinessError, match="bank card"):
        bank_transfer(holder=holder, amount=100)
    assert BankTransfer.objects.count() == before


def test_r_card_5_messages_carry_the_documented_fields(bank, holder):
    from moneyin import banklink

    t = banklink._transfer_create(holder=holder, amount=4200, channel="terminal", terminal_id="QC000009",
                                  actor=None, bank_card_no="")
    doc = iso.decode(iso.encode(banklink._request_doc(t)))
    assert doc["t"] == "0200" and doc["3"] == "400000" and doc["4"] == "000000004200" and doc["49"] == "156"
    assert doc["37"] == t.rrn and doc["11"] == t.stan and doc["102"] == holder.number and doc["41"] == "QC000009"
    rev = iso.decode(iso.encode(banklink._reversal_doc(t)))
    assert rev["t"] == "0400" and rev["90"][:4] == "0200" and rev["90"][4:10] == t.stan
    assert set(doc) - {"t"} <= set(iso.FIELDS) and set(rev) - {"t"} <= set(iso.FIELDS)
