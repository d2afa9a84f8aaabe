"""Ingest: what happens to a terminal's records once a gateway has a verified TXN_BATCH.

    intake.py     store the batch and its records in one transaction (a group of batches from
                  many terminals at once on TCP), post them unless a purse needs batch_post's
                  rules, return what the BATCH_ACK reports; the gateway answers after the commit
    posting.py    post the rest exactly once, in order (Celery: terminals.tasks.batch_post), and
                  the repost, retry and card-vs-account (卡库不平) rules (freezing a card)
    cardflags.py  the card-vs-account flags late records explain, closed by both paths

Data flow: frame in → gateways (the frame handler) → ingest.intake (COMMIT) → BATCH_ACK to the
terminal → ingest.posting (on_commit, Celery) → accounts.ledger journals and balances.
"""
