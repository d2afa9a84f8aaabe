"""The POS protocol over a serial line (pyserial: a device, loop:// or socket://).

The same exchanges as TCP, through the same frame handler (``handler.serve``); what is the
line's own: a bad frame (CRC, magic, version, length) is not answered, the decoder drops its
first byte and hunts for the next magic; a NACK never ends anything (there is no connection to
close); several terminals may share a line, told apart by terminal_id, each with its session.
Pushes: the block-list version is polled twice a second and changes are sent to every terminal
signed in on the line.
"""

from __future__ import annotations

import logging
import threading
import time

import serial

from accounts.selectors import blocklist_version

from .. import host
from .. import wire as P
from ..tasks import batch_post_enqueue
from . import handler

log = logging.getLogger("campuscard.serial")


class SerialGateway:
    def __init__(self, port):
        self.port = port
        self.decoder = P.StreamDecoder()
        self.sessions: dict[int, host.Session] = {}
        self._stop = threading.Event()
        self._write_lock = threading.Lock()
        self._pushed_version = None
        self.stats = {"frames": 0, "garbage": 0, "nacks": 0, "pushes": 0}

    @classmethod
    def open(cls, url: str, baudrate: int = 115200) -> SerialGateway:
        return cls(serial.serial_for_url(url, baudrate=baudrate, timeout=0.1))

    def stop(self):
        self._stop.set()

    def _write(self, frame: bytes):
        with self._write_lock:
            self.port.write(frame)
            self.port.flush()

    def run_forever(self):
        last_poll = 0.0
        while not self._stop.is_set():
            data = self.port.read(4096)
            # After a quiet read timeout, a half frame left in the buffer is garbage: let the
            # decoder resynchronise on what follows it rather than wait for bytes that never come.
            frames = self.decoder.feed(data) if data else [e for e in self.decoder.idle() if isinstance(e, bytes)]
            if frames:
                for raw in frames:
                    self.stats["frames"] += 1
                    try:
                        self.serve_frame(raw)
                    except Exception:  # noqa: BLE001 - one bad request must not stop the line
                        log.exception("serial frame failed")
            if time.monotonic() - last_poll > 0.5:
                last_poll = time.monotonic()
                self.push_blocklist()

    def serve_frame(self, raw: bytes) -> None:
        """A frame whose header, length and CRC the decoder has checked."""
        info = handler.terminal_info(P.header_ids(raw)[0])
        outcome = handler.serve(self._session, raw, info)
        if outcome.nack is not None:
            self.stats["nacks"] += 1
        for frame in outcome.frames:
            self._write(frame)
        for batch_id in outcome.post:
            threading.Thread(target=batch_post_enqueue, args=(batch_id,), daemon=True).start()

    def _session(self, terminal_id: int) -> host.Session:
        return self.sessions.setdefault(terminal_id, host.Session(terminal_id=terminal_id))

    def push_blocklist(self):
        handler.db_ready()
        current = blocklist_version()
        if current == self._pushed_version:
            return
        self._pushed_version = current
        for tid, session in list(self.sessions.items()):
            if session.signed_in and session.blocklist_version < current:
                delta = host.blocklist_delta(session.blocklist_version, 0)
                self._write(P.encode_frame(P.MsgType.BLOCKLIST_DELTA, tid, 0, delta.encode(), session.key))
                self.stats["pushes"] += 1
