"""Import and reconcile one day's statement of the bank or the payment channel: from a file, or
fetched from the emulators (make run, tests). Thin: it reads the file and calls one service."""

import datetime as dt
import urllib.request

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.errors import BusinessError
from moneyin.reconcile import statement_import


class Command(BaseCommand):
    help = "Import and reconcile the bank's or the payment channel's statement of one day."

    def add_arguments(self, parser):
        parser.add_argument("--source", choices=["bank", "channel"], default="bank")
        parser.add_argument("--day", required=True, help="YYYY-MM-DD")
        parser.add_argument("--actor", required=True, help="username of the finance user who imports")
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--file")
        group.add_argument("--fetch", action="store_true", help="ask the emulator for its statement file")

    def handle(self, *args, source, day, actor, file, fetch, **_):
        try:
            day = dt.date.fromisoformat(day)
        except ValueError:
            raise CommandError("--day must be YYYY-MM-DD") from None
        user = get_user_model().objects.filter(username=actor).first()
        if user is None:
            raise CommandError(f"no user {actor!r}")
        if fetch and source == "bank":
            from moneyin.bank_emulator import control

            host, _, port = settings.BANK_FRONT.rpartition(":")
            content = control((host, int(port)), {"cmd": "statement", "day": str(day)})["csv"]
        elif fetch:
            with urllib.request.urlopen(f"{settings.PAY_CHANNEL_URL}/ctl/statement?day={day}", timeout=10) as resp:
                content = resp.read()
        else:
            with open(file, "rb") as f:
                content = f.read()
        try:
            st = statement_import(actor=user, day=day, content=content, filename=file or f"{source}-{day}.csv",
                                  source=source)
        except BusinessError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{st}: {st.rows} rows, {st.matched} matched, {st.differences.count()} differences")
