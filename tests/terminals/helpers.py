"""Building records and batches the way a terminal would, for intake and posting tests."""

import time

from terminals import wire as P
from terminals.ingest.intake import batch_intake
from terminals.ingest.posting import batch_post


class Till:
    """A terminal's side of the bookkeeping: numbers records and tracks each card as it would be."""

    def __init__(self, terminal, rate=None):
        self.terminal = terminal
        self.seq = 0
        self.batch_no = 0
        self.cards = {}  # card_no -> [counter, balance]

    def card(self, card, balance=None, counter=0):
        self.cards[card.card_no] = [counter, card.purse.card_balance if balance is None else balance]
        return card

    def purchase(self, card, base, surcharge=0, *, flags=0, at=None, seq=None, **override):
        counter, bal = self.cards[card.card_no]
        rec = P.Record(term_seq=seq or self._next(), card_no=card.card_no, card_type=card.card_type, kind=1,
                       card_counter=counter, flags=flags, base_amount=base, surcharge=surcharge,
                       balance_before=bal, balance_after=bal - base - surcharge, time=int(at or time.time()))
        for k, v in override.items():
            setattr(rec, k, v)
        self.cards[card.card_no] = [counter + 1, bal - base - surcharge]
        return rec

    def deposit(self, card, amount, operator_no, *, at=None, **override):
        counter, bal = self.cards[card.card_no]
        rec = P.Record(term_seq=self._next(), card_no=card.card_no, card_type=card.card_type, kind=2,
                       card_counter=counter, base_amount=amount, balance_before=bal, balance_after=bal + amount,
                       time=int(at or time.time()), operator_no=operator_no)
        for k, v in override.items():
            setattr(rec, k, v)
        self.cards[card.card_no] = [counter + 1, bal + amount]
        return rec

    def _next(self):
        self.seq += 1
        return self.seq

    def send(self, records, post=True):
        self.batch_no += 1
        result = batch_intake(terminal_id=self.terminal.pk, batch_no=self.batch_no, msg_seq=self.batch_no,
                              raw_frame=b"", records=records, post=post)
        if post:  # what intake left for the Celery path (nothing, if it posted everything)
            batch_post(result.batch_id)
        return result
