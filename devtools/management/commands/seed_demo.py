"""Demo data for `make run`: units, a few hundred cardholders of every category, cards of all
three types, a few lost/frozen/replaced cards, pending refunds and staff users of every role.

Everything goes through the services, so the demo ledger is as balanced as a real one."""

import datetime as dt
import random

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts import services
from accounts.models import POSTGRADUATE_CATEGORIES, STUDENT_CATEGORIES, Cardholder, CardType, Category, Unit
from accounts.setup import ROLE_NAMES, role_group
from devtools import demo_history
from merchants.models import MerchantKind
from merchants.selectors import merchant_get
from merchants.services import merchant_create
from terminals.services import surcharge_rate_add, terminal_add

DEMO_USERS = [  # username, role, password (printed by demo_banner; demo only)
    ("admin", "super_admin", "admin-demo-2026"),
    ("centre", "card_centre", "centre-demo-2026"),
    ("finance", "finance", "finance-demo-2026"),
    ("cashier", "cash_operator", "cashier-demo-2026"),
    ("merchant", "merchant_user", "merchant-demo-2026"),
    ("unitagent", "unit_agent", "unitagent-demo-2026"),
]
DEMO_KIOSK_PASSWORD = "123456"
UNITS = [("CS", "计算机学院"), ("EE", "电子工程学院"), ("MATH", "数学学院"), ("LIB", "图书馆"),
         ("HQ", "后勤集团"), ("INTL", "国际交流处")]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"


class Command(BaseCommand):
    help = "Load demo data (only into an empty database with --if-empty)."

    def add_arguments(self, parser):
        parser.add_argument("--if-empty", action="store_true", help="do nothing if cardholders exist")
        parser.add_argument("--holders", type=int, default=300)
        parser.add_argument("--no-history", action="store_true", help="no past trade, closed days or statements")
        parser.add_argument("--history-days", type=int, default=demo_history.HISTORY_DAYS)
        parser.add_argument("--history-per-day", type=int, default=demo_history.PER_DAY, help="purchases a weekday")

    def handle(self, *args, if_empty=False, holders=300, no_history=False, history_days=demo_history.HISTORY_DAYS,
               history_per_day=demo_history.PER_DAY, **opts):
        if if_empty and Cardholder.objects.exists():
            self.stdout.write("Demo data already loaded.")
            return
        # With history the demo is seeded on its first day (terminals are assigned from then on).
        plan = None if no_history else demo_history.history_plan(days=history_days, per_day=history_per_day,
                                                                 out=self.stdout)
        with demo_history.seeding_clock(plan), transaction.atomic():
            self._seed(holders)
        if plan is not None:
            demo_history.history_add(plan=plan, out=self.stdout)

    def _seed(self, n_holders: int) -> None:
        rng = random.Random(2026)
        User = get_user_model()
        users = {}
        for username, role, password in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username, defaults={"is_staff": role != "merchant_user", "is_superuser": role == "super_admin"}
            )
            if created:
                user.set_password(password)
                user.save()
            user.groups.add(role_group(role))
            users[role] = User.objects.get(pk=user.pk)
        admin = users["super_admin"]
        units = [Unit.objects.get_or_create(code=c, defaults={"name": n})[0] for c, n in UNITS]
        # The demo unit agent applies for 后勤集团's batches only (R-ISSUE-2); it signs that unit's merchant forms too.
        services.unit_agents_set(actor=admin, unit=next(u for u in units if u.code == "HQ"),
                                 users=[users["unit_agent"]], reason="演示")

        categories = list(Category)
        today = dt.date.today()
        formal_cards, ordinary_rows = [], []
        for i in range(n_holders):
            category = categories[i % len(categories)]
            name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))
            # Students enrolled one to three years ago: every demo student is still studying.
            start = dt.date(today.year - 1 - i % 3, 9, 1)
            number = f"{start.year}{i:05d}"
            end = (dt.date(start.year + 4, 6, 30) if category in STUDENT_CATEGORIES
                   else dt.date(today.year + rng.randint(1, 4), 12, 31))
            fields = dict(category=category, unit=rng.choice(units), start_date=start, end_date=end,
                          id_number=demo_id_number(i, rng), phone=f"139{i:08d}",
                          bank_card_no=f"622202{i:013d}" if rng.random() < 0.9 else "")
            if category in POSTGRADUATE_CATEGORIES:
                fields["entry"] = rng.choice(["spring", "autumn"])
            if category in services.FORMAL_CATEGORIES:
                holder = services.holder_create(actor=admin, number=number, name=name, **fields)
                formal_cards.append(services.card_issue_formal(actor=admin, holder=holder))
            elif category != Category.SHORT_TERM:
                ordinary_rows.append({"number": number, "name": name, "category": category,
                                      "end_date": end.isoformat(), "bank_card_no": fields["bank_card_no"]})
        for unit in units[:3]:
            rows = [r for k, r in enumerate(ordinary_rows) if k % 3 == units.index(unit)]
            if rows:
                services.card_batch_issue(actor=admin, unit=unit, card_type=CardType.ORDINARY, rows=rows,
                                          filename="demo.csv")
            services.card_batch_issue(actor=admin, unit=unit, card_type=CardType.CONSUMPTION, quantity=10)
        # One hash for every demo holder: PBKDF2 is slow on purpose, 300 of them would take a minute.
        Cardholder.objects.update(kiosk_password=make_password(DEMO_KIOSK_PASSWORD))
        for holder in Cardholder.objects.filter(status="active")[:40]:
            # R-ADJ-1: finance asks, the super admin approves (never the same person).
            request = services.adjustment_request(actor=users["finance"], holder=holder, kind="refund_holder",
                                                  amount=rng.randint(1, 500) * 100, reason="演示：银行对帐补款")
            services.adjustment_decide(actor=admin, request=request, approve=True)
        for card in formal_cards[:5]:
            services.card_report_loss(card=card, channel="kiosk", reason="演示挂失")
        for card in formal_cards[5:8]:
            services.card_freeze(card=card, actor=admin, reason="演示：卡库不平")
        for card in formal_cards[8:10]:
            services.card_report_loss(card=card, channel="kiosk")
            services.card_replace(card=card, actor=admin, reason="演示补卡", fee_payment="cash")
        self._seed_merchants(admin, users, units)
        self._seed_api_client(admin)
        self.stdout.write(self.style.SUCCESS(
            f"Demo data: {Cardholder.objects.count()} cardholders, roles {', '.join(ROLE_NAMES.values())}."
        ))

    def _seed_merchants(self, admin, users, units) -> None:
        """Active merchants of every kind with terminals and contacts, and a few forms awaiting
        approval; the demo terminal keys go to var/demo-terminals.txt."""
        from django.conf import settings
        from django.utils import timezone

        from merchants.services import application_submit, merchant_apply, merchant_user_add, unit_approver_add

        hq = next(u for u in units if u.code == "HQ")
        unit_approver_add(actor=admin, unit=hq, user=users["unit_agent"])  # signs 后勤集团's merchants' forms

        surcharge_rate_add(actor=admin, effective_from=timezone.now() - dt.timedelta(days=365),
                           board_fee_bp=1000, energy_fee_bp=500, water_multiplier_pct=200)
        lines = []
        for code, name, kind, internal, n in DEMO_MERCHANTS:
            merchant = merchant_create(actor=admin, code=code, name=name, kind=kind, internal=internal, unit=hq,
                                       bank_name="中国工商银行", bank_account_name=name,
                                       bank_account_no=f"62220202000{len(lines):08d}")
            if code == "C01":
                contact = users["merchant_user"]
            else:
                contact, _ = get_user_model().objects.get_or_create(username=f"contact-{code.lower()}")
                contact.set_unusable_password()
                contact.save()
            merchant_user_add(actor=admin, merchant=merchant, user=contact, role="contact")
            for _ in range(n):
                terminal, key = terminal_add(actor=admin, merchant=merchant)
                lines.append(f"{terminal.pk} {key.hex()} {code}")
        # Forms waiting for the unit (login unitagent), then the centre and finance.
        application_submit(actor=users["merchant_user"], merchant=merchant_get(code="C01"), kind="device",
                           payload={"count": 2, "purpose": "演示：新增售饭窗口", "location": "一层东侧"})
        newcomer, _ = get_user_model().objects.get_or_create(username="contact-p01")
        newcomer.set_unusable_password()
        newcomer.save()
        merchant_apply(actor=admin, code="P01", name="咖啡厅", kind=MerchantKind.RETAIL, unit=hq, contact=newcomer,
                       internal=False, payload={"business_scope": "演示：咖啡、简餐"})
        path = settings.BASE_DIR / "var" / "demo-terminals.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_text("\n".join(lines) + "\n")

    def _seed_api_client(self, admin) -> None:
        """One demo subsystem client with every scope; its token (shown once) goes to var/demo-api-token.txt."""
        from django.conf import settings

        from campuscard.api.services import api_client_create

        _, token = api_client_create(actor=admin, name="演示子系统", scopes=["cards:read", "cards:functions",
                                                                        "revenue:read", "settlements:read"])
        path = settings.BASE_DIR / "var" / DEMO_API_TOKEN_FILE
        path.parent.mkdir(exist_ok=True)
        path.write_text(token + "\n")


def demo_id_number(i: int, rng) -> str:
    """A resident ID number whose birth date and check digit are right (python-stdnum checks both)."""
    from stdnum.cn import ric

    born = dt.date(1960, 1, 1) + dt.timedelta(days=rng.randint(0, 16000))
    body = f"110101{born:%Y%m%d}{i % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")  # it skips the last character


DEMO_API_TOKEN_FILE = "demo-api-token.txt"
DEMO_MERCHANTS = [  # code, name, kind, internal, terminals
    ("C01", "第一食堂", MerchantKind.DINING, True, 6),
    ("C02", "第二食堂", MerchantKind.DINING, True, 4),
    ("W01", "学生浴室", MerchantKind.WATER, True, 4),
    ("W02", "开水房", MerchantKind.WATER, True, 2),
    ("S01", "校园超市", MerchantKind.RETAIL, False, 2),
    ("S02", "打印店", MerchantKind.RETAIL, False, 1),
    ("T01", "饮食中心充值点", MerchantKind.TOPUP, True, 2),
]
