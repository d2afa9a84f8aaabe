"""Signals for the layers above accounts, so accounts never imports them (docs: ARCHITECTURE).

Sent with plain ``send``: a receiver's exception propagates and rolls back the caller's
transaction, which is what a refusal needs.
"""

from django.dispatch import Signal

# Sent inside card_unfreeze, with the card row locked, before anything changes; a receiver refuses
# the unfreeze by raising BusinessError (R-FREEZE-1: terminals, while the card's card-vs-account
# flags are open). Why a signal and not a per-card "open difference" fact kept in accounts: the
# flags are raised by posting (the hot path, set-based SQL) and closed by cardflag_resolve, both in
# terminals; a counter in accounts would be a second copy of the flags that each of them must keep
# in step, and could drift. The receiver reads the flags themselves, at the moment it matters.
card_unfreeze_validate = Signal()  # kwargs: card
