"""python manage.py simulate_terminals --terminals N --cards M --minutes T [--tcp host:port | --serial URL]
[--offline-share x] [--faults] [--speed k] [--seed s] [--verify] [--post-inline]

Virtual terminals and cards against a running gateway; the logic is devtools/simulator.py."""

import asyncio
import logging
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from devtools import simulator


class Command(BaseCommand):
    help = "Run virtual POS terminals and cards against the gateway (TCP or serial)."

    def add_arguments(self, parser):
        parser.add_argument("--terminals", type=int, default=5)
        parser.add_argument("--cards", type=int, default=50)
        parser.add_argument("--minutes", type=float, default=10, help="simulated minutes")
        parser.add_argument("--speed", type=float, default=1, help="simulated minutes per wall minute")
        parser.add_argument("--seed", type=int, default=1)
        line = parser.add_mutually_exclusive_group()
        line.add_argument("--tcp", default="127.0.0.1:9100", help="gateway host:port")
        line.add_argument("--serial", help="pyserial URL of the line the serial gateway serves")
        parser.add_argument("--offline-share", type=float, default=0.0)
        parser.add_argument("--faults", action="store_true", help="drop connections mid-batch, upload out of order")
        parser.add_argument("--batch-size", type=int, default=50)
        parser.add_argument("--operator", help="username of the cashier for cash top-ups")
        parser.add_argument("--actor", help="username of the staff member who registers missing terminals")
        parser.add_argument("--verify", action="store_true",
                            help="at the end check the stored records, the purses and the ledger")
        parser.add_argument("--post-inline", action="store_true",
                            help="post batches from this process (when no Celery worker runs)")
        parser.add_argument("--wait-posted", type=float, default=120, help="seconds --verify waits for posting")

    def handle(self, *args, **o):
        logging.basicConfig(level=logging.WARNING)
        User = get_user_model()
        actor = (User.objects.filter(username=o["actor"]).first() if o["actor"]
                 else User.objects.filter(is_superuser=True, is_active=True).order_by("pk").first())
        if actor is None:
            raise CommandError("No staff member to register terminals: run seed_demo or pass --actor.")
        operator = None
        if o["operator"]:
            operator = User.objects.filter(username=o["operator"]).first()
            if operator is None:
                raise CommandError(f"No user {o['operator']!r}.")
        try:
            operator = simulator.operator_setup(operator)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        var = Path(settings.BASE_DIR) / "var"
        specs = simulator.terminals_setup(count=o["terminals"], actor=actor,
                                          key_files=[var / "demo-terminals.txt", var / "sim-terminals.txt"],
                                          save_to=var / "sim-terminals.txt")
        cards = simulator.cards_setup(count=o["cards"])
        if not cards:
            raise CommandError("No active cards: run seed_demo first.")
        host, _, port = (o["tcp"] or "").rpartition(":")
        config = simulator.SimConfig(
            minutes=o["minutes"], speed=o["speed"], seed=o["seed"], offline_share=o["offline_share"],
            faults=o["faults"], batch_size=o["batch_size"], serial=o["serial"],
            tcp=None if o["serial"] else (host or "127.0.0.1", int(port)),
        )
        sim = simulator.Simulation(
            config, specs, cards, operator_no=operator.pk, deposit_status=simulator.deposits_posted,
            poster=(lambda: simulator.post_waiting([s.terminal_id for s in specs])) if o["post_inline"] else None,
        )
        kinds = ", ".join(f"{simulator.KIND_NAMES[k]} {sum(1 for s in specs if s.kind == k)}" for k in simulator.KIND_NAMES)
        self.stdout.write(f"{len(specs)} terminals ({kinds}), {len(cards)} cards, cashier {operator} (#{operator.pk}); "
                          f"{o['minutes']} simulated minutes at {o['speed']}x via {o['serial'] or o['tcp']}")
        try:
            stats = asyncio.run(sim.run())
        except KeyboardInterrupt:
            stats = sim.stats
        self.stdout.write("\n".join(stats.summary()) + f"\nwall time         {sim.elapsed:.1f} s")
        if o["verify"]:
            result = simulator.verify(sim, wait_posted=o["wait_posted"], post_inline=o["post_inline"])
            self.stdout.write("\n".join(result.summary()))
            if not result.ok:
                raise CommandError("verification failed")
