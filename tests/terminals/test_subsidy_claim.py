"""Subsidies claimed at a top-up point over the real gateway socket (POS-PROTOCOL.md 0x40/0xC0):
the host moves the holder's open subsidies into pending credit when the card is presented, once
however often the terminal resends, and the terminal writes it onto the card as a DEPOSIT with
operator_no 0, which posting clears from pending credit without moving money twice."""

import asyncio
import datetime as dt

import pytest

from accounts import services as acc
from accounts import subsidies
from accounts.models import Journal, LedgerAccount, Purse, SubsidyLine
from accounts.timeutil import business_day
from merchants.models import MerchantKind
from terminals import wire as P
from terminals.ingest.posting import batch_post
from terminals.models import Batch
from tests.factories import HolderFactory

from .conftest import run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def subsidised_card(admin_user, make_user):
    """A formal card whose holder has an approved subsidy of 88.00 yuan, claimable at top-up points."""
    holder = HolderFactory(number="SUB0001")
    card = acc.card_issue_formal(actor=admin_user, holder=holder)
    maker, checker = make_user("sub-maker", "finance"), make_user("sub-checker", "finance")
    batch = subsidies.subsidy_batch_file(actor=maker, rows=[{"_row": 2, "number": "SUB0001", "amount": "88"}],
                                         reason="助学补助", expires_on=business_day() + dt.timedelta(days=10))
    subsidies.subsidy_batch_decide(actor=checker, batch=batch, approve=True)
    return card


async def pending_req(vt, card_no, resend=False):
    """0x40 on the wire; `resend` sends the identical frame again (same msg_seq), as a terminal
    does after 10 s without a reply."""
    if not resend:
        vt.msg_seq += 1
    frame = P.encode_frame(P.MsgType.PENDING_REQ, vt.terminal_id, vt.msg_seq, P.PendingReq(card_no=card_no).encode(),
                           vt.key)
    vt.writer.write(frame)
    await vt.writer.drain()
    reply_type, reply_seq, body = await asyncio.wait_for(vt._replies.get(), 10)
    assert (reply_type, reply_seq) == (P.MsgType.PENDING, vt.msg_seq)
    return P.decode_body(reply_type, body)


def test_subsidy_claimed_once_at_a_topup_point_and_written_to_the_card(gateway, vterm, subsidised_card, rates):
    card = subsidised_card
    dining, topup = vterm(MerchantKind.DINING), vterm(MerchantKind.TOPUP)

    async def go():
        await dining.connect("127.0.0.1", gateway.port)
        refused = await pending_req(dining, card.card_no)  # only top-up points may ask (result 5)
        await dining.close()
        await topup.connect("127.0.0.1", gateway.port)
        first = await pending_req(topup, card.card_no)
        again = await pending_req(topup, card.card_no, resend=True)
        later = await pending_req(topup, card.card_no)
        # The top-up point writes the pending credit onto the card (operator 0) and uploads it.
        topup.record(card_no=card.card_no, card_type=card.card_type, kind=2, card_counter=0, base_amount=first.pending,
                     balance_before=0, balance_after=first.pending, operator_no=0)
        [ack] = await topup.upload()
        await topup.close()
        return refused, first, again, later, ack

    refused, first, again, later, ack = run(go())
    assert (refused.result, refused.pending) == (5, 0)
    assert (first.result, first.pending) == (0, 8800)
    assert again.pending == 8800 and later.pending == 8800  # the same credit, not claimed twice
    assert Journal.objects.filter(kind="sub_claim").count() == 1
    line = SubsidyLine.objects.get()
    assert line.status == "claimed" and line.claim_terminal_id == topup.terminal_id
    assert (ack.stored, ack.exceptions) == (1, 0)
    batch_post(Batch.objects.get(terminal_id=topup.terminal_id).pk)
    purse = Purse.objects.select_related("account").get(pk=card.purse_id)
    assert (purse.account.balance, purse.pending, purse.card_balance) == (8800, 0, 8800)
    assert LedgerAccount.objects.get(kind="subsidy").balance == 0

    async def after():
        await topup.connect("127.0.0.1", gateway.port)
        reply = await pending_req(topup, card.card_no)
        await topup.close()
        return reply

    assert run(after()).pending == 0  # on the card now: nothing left to collect
