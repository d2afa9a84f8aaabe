"""Print where `make run` serves things and the demo logins."""

from django.conf import settings
from django.core.management.base import BaseCommand

from .seed_demo import DEMO_API_TOKEN_FILE, DEMO_KIOSK_PASSWORD, DEMO_USERS


class Command(BaseCommand):
    help = "Print the URLs and demo logins of a local run."

    def add_arguments(self, parser):
        parser.add_argument("--port", default="8000")
        parser.add_argument("--gateway", default="127.0.0.1:9100", help="POS gateway host:port")

    def handle(self, *args, port="8000", gateway="127.0.0.1:9100", **opts):
        base = f"http://127.0.0.1:{port}"
        lines = [
            "",
            "CampusCard is starting (Ctrl-C stops it):",
            f"  Counter workbench (校园卡业务柜台)       {base}/desk/  (login: centre, cashier, finance)",
            f"  Staff admin (configuration)          {base}/admin/",
            f"  English interface                    {base}/admin/  (language switch at the top)",
            f"  POS terminal gateway (TCP)           {gateway}  (5 simulated terminals trade on it)",
            f"  Self-service kiosk (自助挂失)          {base}/kiosk/  (holder number or ID number + kiosk password below)",
            f"  Merchant portal                      {base}/merchant/  (login: the merchant users below)",
            f"  Finance desk                         {base}/finance/  (login: finance)",
            f"  REST API v1 / docs                   {base}/api/v1/  {base}/api/docs/  (tokens: admin → API clients)",
            "",
            "Demo logins (demo data only):",
            *[f"  {u:<10} {p:<22} {r}" for u, r, p in DEMO_USERS],
            f"  kiosk query password of demo holders: {DEMO_KIOSK_PASSWORD}",
            "",
        ]
        token_file = settings.BASE_DIR / "var" / DEMO_API_TOKEN_FILE
        if token_file.exists():
            lines[-1:-1] = [f"  API token of the demo subsystem:      {token_file.read_text().strip()}",
                            f"    curl -H 'Authorization: Token <token>' {base}/api/v1/merchants/C01/settlements/"]
        self.stdout.write("\n".join(lines))
