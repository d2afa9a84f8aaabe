"""The gateways: terminals' lines into the host, and the one frame handler they share.

    handler.py  the frame pipeline, transport-neutral: terminal, CRC, MAC, status, body, then
                TXN_BATCH → ingest.intake → BATCH_ACK, any other request → terminals.host →
                its reply; the NACK rules; returns the frames to write (``Outcome``)
    tcp.py      asyncio TCP: header first, timeouts, connection caps, one connection per
                terminal, group commit of TXN_BATCHes, block-list pushes on LISTEN/NOTIFY
    serial.py   pyserial: StreamDecoder resync, no answer to a bad frame, several terminals on
                a line, block-list pushes by polling

Data flow: frame in (tcp / serial) → handler → terminals.ingest.intake (COMMIT) → BATCH_ACK
out → terminals.ingest.posting (Celery, after the reply) → the ledger.
"""
