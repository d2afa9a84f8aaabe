"""python manage.py run_serial_gateway --port <pyserial URL>   (loop://, socket://host:port, /dev/ttyS0)"""

import logging

from django.core.management.base import BaseCommand

from terminals.gateways.serial import SerialGateway


class Command(BaseCommand):
    help = "Run the POS protocol over a serial line (pyserial URL)."

    def add_arguments(self, parser):
        parser.add_argument("--port", required=True, help="pyserial URL, e.g. /dev/ttyUSB0 or socket://host:port")
        parser.add_argument("--baudrate", type=int, default=115200)

    def handle(self, *args, port, baudrate, **opts):
        logging.basicConfig(level=logging.INFO)
        gateway = SerialGateway.open(port, baudrate=baudrate)
        self.stdout.write(f"serial gateway on {port}")
        try:
            gateway.run_forever()
        except KeyboardInterrupt:
            gateway.stop()
