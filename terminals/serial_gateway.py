"""The POS protocol over a serial line (pyserial: a device, loop:// or socket://).

The same exchanges as TCP, with the serial rules: a bad frame (CRC, magic, version, length) is
not answered; the decoder drops its first byte and hunts for the next magic. Several terminals
may share a line, told apart by terminal_id. Pushes: the block-list version is polled twice a
second and changes are sent to every terminal signed in on the line.
"""

from __future__ import annotations

import logging
import threading
import time

import serial
from django.db import close_old_connections

from accounts.selectors import blocklist_version

from . import host, wire
from .tasks import batch_post_enqueue

P = wire
log = logging.getLogger("campuscard.serial")


class SerialGateway:
    def __init__(self, port):
        self.port = port
        self.decoder = P.StreamDecoder()
        self.sessions: dict[int, host.Session] = {}
        self.keys: dict[int, bytes] = {}
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
        """A frame whose CRC the decoder has checked."""
        close_old_connections()
        msg_type, terminal_id, msg_seq, body_len = P.parse_header(raw[: P.HEADER_LEN])
        info = host.terminal_info(terminal_id)
        if info is None:
            self._nack(P.Nack.UNKNOWN_TERMINAL, terminal_id, msg_seq, None)
            return
        if not P.check_mac(raw, info.key):
            self._nack(P.Nack.BAD_MAC, terminal_id, msg_seq, info.key)
            return
        if not info.active:
            self._nack(P.Nack.DISABLED, terminal_id, msg_seq, info.key)
            return
        try:
            body = P.decode_body(msg_type, raw[P.HEADER_LEN:P.HEADER_LEN + body_len],
                                 strict=msg_type != P.MsgType.TXN_BATCH)  # bad records become exceptions
        except P.ProtocolError as exc:
            self._nack(exc.code, terminal_id, msg_seq, info.key)
            return
        if msg_type == P.MsgType.TXN_BATCH:
            body.frame = raw
        session = self.sessions.setdefault(terminal_id, host.Session(terminal_id=terminal_id))
        self.keys[terminal_id] = info.key
        try:
            replies = host.handle_request(session, msg_type, msg_seq, body)
        except P.ProtocolError as exc:
            self._nack(exc.code, terminal_id, msg_seq, info.key)
            return
        except Exception:  # noqa: BLE001
            log.exception("terminal %s: request %#x failed", terminal_id, msg_type)
            self._nack(P.Nack.BUSY, terminal_id, msg_seq, info.key)
            return
        for reply_type, reply in replies:
            self._write(P.encode_frame(reply_type, terminal_id, msg_seq, reply.encode(), info.key))
        for action, arg in session.after_reply:
            if action == "post":
                threading.Thread(target=batch_post_enqueue, args=(arg,), daemon=True).start()
        session.after_reply.clear()

    def _nack(self, code: int, terminal_id: int, msg_seq: int, key: bytes | None):
        self.stats["nacks"] += 1
        self._write(P.encode_frame(P.MsgType.NACK, terminal_id, msg_seq, P.Nack_body(code), key))

    def push_blocklist(self):
        close_old_connections()
        current = blocklist_version()
        if current == self._pushed_version:
            return
        self._pushed_version = current
        for tid, session in list(self.sessions.items()):
            if session.signed_in and session.blocklist_version < current:
                delta = host.blocklist_delta(session.blocklist_version, 0)
                self._write(P.encode_frame(P.MsgType.BLOCKLIST_DELTA, tid, 0, delta.encode(), self.keys[tid]))
                self.stats["pushes"] += 1
