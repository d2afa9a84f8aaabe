"""An online payment channel (WeChat Pay / Alipay style) for tests, the bench and `make run`: a
separate process speaking JSON over HTTP, every message signed (moneyin.paysign).

    python -m moneyin.channel_emulator --port 9400 --key <merchant key>

  POST /v2/pay/create  {out_trade_no, total_fee, notify_url, body}  -> {trade_no, code_url}
  POST /v2/pay/query   {out_trade_no}                               -> {trade_state, trade_no, total_fee}
  POST /v2/pay/refund  {out_trade_no, out_refund_no, refund_fee}    -> {refund_id}
  GET  /pay/<trade_no>                 the page the holder's phone opens from the QR code
  POST /ctl/pay        {out_trade_no, fault}  the holder pays; the notify is sent asynchronously,
       again until the host answers SUCCESS. Faults: duplicate (sent twice), bad_sign (a forged
       notify first), lost (never sent: the host must query).
  GET  /ctl/statement?day=YYYY-MM-DD   the day's statement file (CSV)
  POST /ctl/reset      forget every order (tests)
No Django here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

from moneyin import paysign

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Channel:
    def __init__(self, key: str, base: str = ""):
        self.key = key
        self.base = base
        self.lock = threading.Lock()
        self.orders: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self.seq = 0

    def reply(self, **params) -> dict:
        return paysign.signed({"return_code": "SUCCESS", **{k: str(v) for k, v in params.items()}}, self.key)

    def fail(self, msg: str) -> dict:
        return paysign.signed({"return_code": "FAIL", "return_msg": msg}, self.key)

    def create(self, p: dict) -> dict:
        try:
            fee = int(p["total_fee"])
        except (KeyError, ValueError):
            return self.fail("bad total_fee")
        with self.lock:
            o = self.orders.get(p["out_trade_no"])
            if o is None:  # the same order created twice is the same order
                self.seq += 1
                o = self.orders[p["out_trade_no"]] = {
                    "out_trade_no": p["out_trade_no"], "trade_no": f"42{self.seq:026d}", "total_fee": fee,
                    "notify_url": p.get("notify_url", ""), "state": "NOTPAY", "day": "", "refunded": 0}
            elif o["total_fee"] != fee:
                return self.fail("order exists with another amount")
        return self.reply(trade_no=o["trade_no"], code_url=f"{self.base}/pay/{o['trade_no']}")

    def query(self, p: dict) -> dict:
        o = self.orders.get(p.get("out_trade_no", ""))
        if o is None:
            return self.fail("ORDERNOTEXIST")
        return self.reply(out_trade_no=o["out_trade_no"], trade_no=o["trade_no"], trade_state=o["state"],
                          total_fee=o["total_fee"])

    def refund(self, p: dict) -> dict:
        with self.lock:
            o = self.orders.get(p.get("out_trade_no", ""))
            if o is None or o["state"] not in ("SUCCESS", "REFUND"):
                return self.fail("order not paid")
            r = self.refunds.get(p.get("out_refund_no", ""))
            if r is None:
                fee = int(p.get("refund_fee", 0))
                if fee <= 0 or o["refunded"] + fee > o["total_fee"]:
                    return self.fail("bad refund_fee")
                o["refunded"] += fee
                o["state"] = "REFUND"
                self.seq += 1
                r = self.refunds[p["out_refund_no"]] = {
                    "out_refund_no": p["out_refund_no"], "refund_id": f"50{self.seq:026d}", "fee": fee,
                    "out_trade_no": o["out_trade_no"], "trade_no": o["trade_no"],
                    "day": dt.datetime.now(SHANGHAI).date().isoformat()}
        return self.reply(refund_id=r["refund_id"], refund_fee=r["fee"])

    def pay(self, out_trade_no: str, fault: str = "") -> dict:
        with self.lock:
            o = self.orders.get(out_trade_no)
            if o is None:
                return {"error": "no such order"}
            if o["state"] == "NOTPAY":
                o["state"] = "SUCCESS"
                o["day"] = dt.datetime.now(SHANGHAI).date().isoformat()
                o["time_end"] = dt.datetime.now(SHANGHAI).strftime("%Y%m%d%H%M%S")
        if fault != "lost":
            threading.Thread(target=self._notify, args=(o, fault), daemon=True).start()
        return {"ok": True}

    def _notify(self, o: dict, fault: str) -> None:
        body = paysign.signed({"return_code": "SUCCESS", "result_code": "SUCCESS", "out_trade_no": o["out_trade_no"],
                               "trade_no": o["trade_no"], "total_fee": str(o["total_fee"]),
                               "time_end": o["time_end"]}, self.key)
        if fault == "bad_sign":  # a forged notify first: more money, the signature does not match
            self._post(o["notify_url"], {**body, "total_fee": str(o["total_fee"] * 100)})
        for _ in range(2 if fault == "duplicate" else 1):
            for attempt in range(6):  # again until the host says SUCCESS, as the channels do
                if self._post(o["notify_url"], body):
                    break
                time.sleep(0.2 * (attempt + 1))

    @staticmethod
    def _post(url: str, body: dict) -> bool:
        req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return json.loads(resp.read() or b"{}").get("return_code") == "SUCCESS"
        except (OSError, ValueError):
            return False

    def statement(self, day: str) -> str:
        lines = ["date,out_trade_no,trade_no,type,amount"]
        with self.lock:
            for o in sorted(self.orders.values(), key=lambda o: o["out_trade_no"]):
                if o["state"] in ("SUCCESS", "REFUND") and o["day"] == day:
                    lines.append(f"{day},{o['out_trade_no']},{o['trade_no']},pay,"
                                 f"{o['total_fee'] // 100}.{o['total_fee'] % 100:02d}")
            for r in sorted(self.refunds.values(), key=lambda r: r["out_refund_no"]):
                if r["day"] == day:
                    lines.append(f"{day},{r['out_trade_no']},{r['trade_no']},refund,"
                                 f"{r['fee'] // 100}.{r['fee'] % 100:02d}")
        return "\n".join(lines) + "\n"


class Handler(BaseHTTPRequestHandler):
    channel: Channel

    def log_message(self, *args):  # quiet
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/ctl/statement":
            day = parse_qs(url.query).get("day", [""])[0]
            return self._send(200, self.channel.statement(day).encode(), "text/csv; charset=utf-8")
        if url.path.startswith("/pay/"):
            trade_no = url.path.rsplit("/", 1)[1]
            o = next((o for o in self.channel.orders.values() if o["trade_no"] == trade_no), None)
            if o is None:
                return self._send(404, b"no such order", "text/plain")
            page = (f"<html><body><h1>{o['total_fee'] / 100:.2f}</h1><form method='post' action='/ctl/pay-form'>"
                    f"<input type='hidden' name='out_trade_no' value='{o['out_trade_no']}'>"
                    f"<button>PAY</button></form></body></html>")
            return self._send(200, page.encode(), "text/html; charset=utf-8")
        return self._send(404, b"{}")

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(min(n, 65536))
        if self.path == "/ctl/pay-form":
            out = parse_qs(raw.decode()).get("out_trade_no", [""])[0]
            self.channel.pay(out)
            return self._send(200, b"<html><body>OK</body></html>", "text/html")
        try:
            p = json.loads(raw or b"{}")
        except ValueError:
            return self._send(400, b"{}")
        if self.path == "/ctl/reset":
            with self.channel.lock:
                self.channel.orders.clear()
                self.channel.refunds.clear()
            return self._send(200, b'{"ok": true}')
        if self.path == "/ctl/pay":
            return self._send(200, json.dumps(self.channel.pay(p.get("out_trade_no", ""), p.get("fault", ""))).encode())
        handlers = {"/v2/pay/create": self.channel.create, "/v2/pay/query": self.channel.query,
                    "/v2/pay/refund": self.channel.refund}
        if self.path not in handlers:
            return self._send(404, b"{}")
        if not paysign.verify(p, self.channel.key):
            return self._send(200, json.dumps(self.channel.fail("SIGNERROR")).encode())
        return self._send(200, json.dumps(handlers[self.path](p)).encode())


def serve(host: str, port: int, key: str) -> ThreadingHTTPServer:
    channel = Channel(key)
    server = ThreadingHTTPServer((host, port), type("BoundHandler", (Handler,), {"channel": channel}))
    server.daemon_threads = True
    channel.base = f"http://{server.server_address[0]}:{server.server_address[1]}"
    return server


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9400)
    ap.add_argument("--key", default="dev-channel-key")
    args = ap.parse_args(argv)
    server = serve(args.host, args.port, args.key)
    print(f"LISTENING {server.server_address[0]}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
