"""Signals for the layers above merchants (terminals), so merchants never imports them.

Both are sent with plain ``send``: a receiver's exception propagates and rolls back the
caller's transaction, which is what we want for a refusal.
"""

from django.dispatch import Signal

# Sent before an application is saved; a receiver refuses it by raising BusinessError
# (e.g. terminals: the terminal named in a fault report belongs to another merchant).
application_validate = Signal()  # kwargs: application (unsaved), merchant

# Sent inside the transaction of the final approval; a receiver's return value is handed back
# to the caller as application.outcome (e.g. new terminal keys, shown once).
application_approved = Signal()  # kwargs: application
