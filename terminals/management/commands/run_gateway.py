"""python manage.py run_gateway --listen 0.0.0.0:9100"""

import asyncio
import logging

from django.core.management.base import BaseCommand

from terminals.gateways.tcp import serve


class Command(BaseCommand):
    help = "Run the TCP gateway for POS terminals (POS-PROTOCOL.md)."

    def add_arguments(self, parser):
        parser.add_argument("--listen", default="0.0.0.0:9100", help="host:port")
        parser.add_argument("--threads", type=int, default=8, help="database worker threads")

    def handle(self, *args, listen, threads, **opts):
        logging.basicConfig(level=logging.INFO)
        host, _, port = listen.rpartition(":")
        self.stdout.write(f"gateway listening on {listen}")
        try:
            asyncio.run(serve(host or "0.0.0.0", int(port), threads=threads))
        except KeyboardInterrupt:
            pass
