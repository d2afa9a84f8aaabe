"""A bank front processor (银行前置机) for tests, the bench and `make run`: a separate process that
answers the host's ISO 8583 transfer requests the way a bank's front does, keeps its own book of
debits to bank cards, and writes the day's statement file.

    python -m moneyin.bank_emulator --port 9300 [--fault-rate 0.1]

Faults, for the next transfer (or reversal) after a control frame (b"CTL " + JSON, on the same
port; tests send them) or at random with --fault-rate:
  timeout    the bank debits the card and never answers
  late       the bank debits and answers after `delay` seconds (after the host gave up)
  decline    39=51, nothing debited
  duplicate  the answer is sent twice
  noack      the next reversal is not answered (the host must send it again)
No Django here: it shares only the codec (moneyin.iso) with the host.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import socket
import socketserver
import struct
import sys
import threading
import time
from zoneinfo import ZoneInfo

from moneyin import iso

SHANGHAI = ZoneInfo("Asia/Shanghai")
FAULTS = ("timeout", "late", "decline", "duplicate", "noack")


class Bank:
    def __init__(self, fault_rate: float = 0.0, late_delay: float = 3.0, seed: int | None = None):
        self.lock = threading.Lock()
        self.book: dict[str, dict] = {}  # by RRN
        self.faults: list[dict] = []
        self.fault_rate = fault_rate
        self.late_delay = late_delay
        self.random = random.Random(seed)
        self.auth = 0

    def next_fault(self, for_mti: str) -> dict | None:
        with self.lock:
            for i, f in enumerate(self.faults):
                if (f["fault"] == "noack") == (for_mti == iso.REVERSAL_REQUEST):
                    return self.faults.pop(i)
        if self.fault_rate and self.random.random() < self.fault_rate:
            kinds = ["noack"] if for_mti == iso.REVERSAL_REQUEST else ["timeout", "late", "decline", "duplicate"]
            return {"fault": self.random.choice(kinds), "delay": self.late_delay}
        return None

    def transfer(self, req: dict, fault: dict | None) -> dict:
        rrn = req["37"]
        answer = {k: req[k] for k in ("2", "3", "4", "7", "11", "32", "37", "41", "42", "49", "102", "103") if k in req}
        answer["t"] = iso.TRANSFER_ANSWER
        with self.lock:
            entry = self.book.get(rrn)
            if entry is None:  # a retransmission of the same RRN is answered again, debited once
                declined = fault is not None and fault["fault"] == "decline"
                self.auth += 1
                entry = self.book[rrn] = {
                    "rrn": rrn, "stan": req["11"], "pan": req.get("2", ""), "account": req.get("102", ""),
                    "card": req.get("103", ""), "amount": int(req["4"]),
                    "day": dt.datetime.now(SHANGHAI).date().isoformat(),
                    "status": "declined" if declined else "debited",
                    "code": "51" if declined else iso.APPROVED, "auth": f"{self.auth % 1000000:06d}",
                }
        answer["39"] = entry["code"]
        if entry["code"] == iso.APPROVED:
            answer["38"] = entry["auth"]
        return answer

    def reverse(self, req: dict) -> dict:
        rrn = req.get("37", "")
        with self.lock:
            entry = self.book.get(rrn)
            if entry is not None and entry["status"] == "debited" and entry["stan"] == req["90"][4:10]:
                entry["status"] = "reversed"
            elif entry is None:  # the request never arrived: nothing to undo, remember the reversal
                self.book[rrn] = {"rrn": rrn, "stan": req.get("11", ""), "status": "reversed", "amount": 0,
                                  "code": "", "day": "", "pan": "", "account": "", "card": "", "auth": ""}
        answer = {k: req[k] for k in ("2", "3", "4", "7", "11", "32", "37", "41", "42", "49", "90") if k in req}
        answer.update({"t": iso.REVERSAL_ANSWER, "39": iso.APPROVED})
        return answer

    def statement(self, day: str) -> str:
        """The day's statement file (CSV, amounts in yuan): the debits that stand."""
        lines = ["date,rrn,stan,bank_card,campus_account,campus_card,amount"]
        with self.lock:
            for e in sorted(self.book.values(), key=lambda e: e["rrn"]):
                if e["status"] == "debited" and e["day"] == day:
                    lines.append(f"{e['day']},{e['rrn']},{e['stan']},{e['pan']},{e['account']},{e['card']},"
                                 f"{e['amount'] // 100}.{e['amount'] % 100:02d}")
        return "\n".join(lines) + "\n"

    def control(self, cmd: dict) -> dict:
        if cmd.get("cmd") == "fault":
            if cmd.get("fault") not in FAULTS:
                return {"error": "unknown fault"}
            with self.lock:
                self.faults.append({"fault": cmd["fault"], "delay": float(cmd.get("delay", self.late_delay))})
            return {"ok": True}
        if cmd.get("cmd") == "fault_rate":
            self.fault_rate = float(cmd.get("rate", 0.0))
            return {"ok": True}
        if cmd.get("cmd") == "statement":
            return {"csv": self.statement(cmd["day"])}
        if cmd.get("cmd") == "state":
            with self.lock:
                return {"entry": self.book.get(cmd.get("rrn", ""))}
        if cmd.get("cmd") == "reset":
            with self.lock:
                self.book.clear()
                self.faults.clear()
            return {"ok": True}
        return {"error": "unknown command"}


class Handler(socketserver.BaseRequestHandler):
    bank: Bank

    def handle(self):
        reader = iso.FrameReader(self.request)
        send_lock = threading.Lock()
        while True:
            try:
                payload = reader.read()
            except (EOFError, OSError, iso.FrameError):
                return
            if payload.startswith(b"CTL "):
                reply = json.dumps(self.bank.control(json.loads(payload[4:]))).encode()
                # A 4-byte length: a statement file is larger than any ISO 8583 frame.
                self.request.sendall(struct.pack(">I", len(reply)) + reply)
                continue
            try:
                req = iso.decode(payload)
            except iso.FrameError:
                continue  # a real front drops what it cannot read; the host times out and reverses
            mti = req.get("t")
            fault = self.bank.next_fault(mti)
            if mti == iso.TRANSFER_REQUEST:
                answer = self.bank.transfer(req, fault)
                kind = fault["fault"] if fault else None
                if kind == "timeout":
                    continue
                if kind == "late":
                    threading.Thread(target=self._late, args=(answer, fault["delay"], send_lock), daemon=True).start()
                    continue
                raw = iso.frame(iso.encode(answer))
                with send_lock:
                    self.request.sendall(raw + raw if kind == "duplicate" else raw)
            elif mti == iso.REVERSAL_REQUEST:
                answer = self.bank.reverse(req)
                if fault and fault["fault"] == "noack":
                    continue
                with send_lock:
                    iso.send(self.request, answer)

    def _late(self, answer, delay, send_lock):
        time.sleep(delay)
        try:
            with send_lock:
                iso.send(self.request, answer)
        except OSError:
            pass


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def serve(host: str, port: int, bank: Bank) -> Server:
    handler = type("BoundHandler", (Handler,), {"bank": bank})
    return Server((host, port), handler)


def control(addr: tuple[str, int], cmd: dict, timeout: float = 5.0) -> dict:
    """Send one control command to a running emulator (tests, `make run`, the statement fetch)."""
    with socket.create_connection(addr, timeout=timeout) as sock:
        sock.sendall(iso.frame(b"CTL " + json.dumps(cmd).encode()))
        data = b""
        while len(data) < 4 or len(data) < 4 + struct.unpack(">I", data[:4])[0]:
            chunk = sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            data += chunk
        return json.loads(data[4:4 + struct.unpack(">I", data[:4])[0]])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9300)
    ap.add_argument("--fault-rate", type=float, default=0.0)
    ap.add_argument("--late-delay", type=float, default=3.0)
    ap.add_argument("--seed", type=int)
    args = ap.parse_args(argv)
    server = serve(args.host, args.port, Bank(args.fault_rate, args.late_delay, args.seed))
    # The first line says where it listens (a test binds port 0 and reads it).
    print(f"LISTENING {server.server_address[0]}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
