"""Play real rounds over HTTP against a partner casino and prove the books still agree."""

import random

from cryptography.fernet import InvalidToken
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from casino_platform.errors import DomainError
from ledger.reconciliation import ledger_reconcile
from provider.games.engine import DICE_MIN_TARGET, stake_max
from provider.models import PartnerCasino
from provider.outbound.client import OutcomeUnknown
from provider.simulation.runner import simulate


class Command(BaseCommand):
    help = (
        "Simulate players playing dice and slot rounds against a partner's wallet API over HTTP "
        "(default: this platform's own), optionally with chaos, and reconcile to the cent."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--partner",
            default=settings.SANDBOX_PARTNER,
            help="The partner casino standing for this platform's own wallet API (default %(default)s).",
        )
        parser.add_argument("--players", type=int, default=10)
        parser.add_argument("--rounds", type=int, default=100, help="Rounds in total, spread over the players.")
        parser.add_argument("--concurrency", type=int, default=4, help="Players playing at the same time.")
        parser.add_argument(
            "--seed",
            type=int,
            default=None,
            help="Makes players, games and outcomes reproducible (default: a random one, printed).",
        )
        parser.add_argument(
            "--chaos",
            type=float,
            default=0.0,
            metavar="P",
            help="Probability per wallet call of a dropped response, a duplicate or a delay.",
        )
        parser.add_argument("--stake", type=int, default=100, help="Stake per round in minor units.")

    def handle(self, *args, partner, players, rounds, concurrency, seed, chaos, stake, **options):
        partner_obj = PartnerCasino.objects.filter(name=partner).first()
        if partner_obj is None:
            raise CommandError(f"No partner casino {partner!r} (seed_sandbox creates {settings.SANDBOX_PARTNER!r}).")
        if not 0 <= chaos < 1 or players < 1 or rounds < 1 or concurrency < 1 or stake < 1:
            raise CommandError("players, rounds, concurrency and stake must be >= 1; chaos in [0, 1).")
        # Dice is played at targets down to the lowest, whose win pays the most.
        most = min(stake_max(game="slot"), stake_max(game="dice", target=DICE_MIN_TARGET))
        if stake > most:
            raise CommandError(f"stake must be at most {most}: a bigger win could not be credited.")
        if seed is None:
            seed = random.SystemRandom().randrange(1 << 30)
        self.stdout.write(
            f"Simulating {players} players x {rounds} rounds against {partner_obj.name} "
            f"({partner_obj.base_url}), concurrency {concurrency}, chaos {chaos}, seed {seed}"
        )
        bar = tqdm(total=rounds, unit="round", desc="playing", file=self.stderr._out, leave=True)
        drain = tqdm(desc="delivering queued credits/rollbacks", unit="left", file=self.stderr._out, leave=False)
        try:
            report = simulate(
                partner=partner_obj,
                players=players,
                rounds=rounds,
                concurrency=concurrency,
                seed=seed,
                chaos=chaos,
                stake=stake,
                on_round=lambda: bar.update(1),
                on_drain=lambda left: drain.set_postfix(left=left, refresh=True),
            )
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
        except OutcomeUnknown as exc:
            raise CommandError(
                f"The partner's wallet API did not answer at {partner_obj.base_url} ({exc}): is the platform "
                "serving there (make run; PORT and PUBLIC_BASE_URL)?"
            ) from exc
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        except InvalidToken as exc:
            # The client reads the partner's secret before any call: nothing was played yet.
            raise CommandError(
                f"The stored secret of the partner {partner_obj.name!r} cannot be decrypted: it was encrypted "
                "under another PROVIDER_SECRET_KEY (or, without one, SECRET_KEY) than this process has. Against "
                "`make run`, run this with its settings (DEBUG=1 and the same .env); otherwise run "
                "`manage.py seed_sandbox` again with these settings (it replaces an unreadable sandbox partner secret)."
            ) from exc
        finally:
            bar.close()
            drain.close()
        w = self.stdout.write
        w("")
        w(
            f"rounds      {report.rounds} played, {report.rounds - report.rounds_refused} settled, "
            f"{report.rounds_refused} refused"
        )
        w(f"wallet calls debits {report.debits}, credits {report.credits}, rollbacks {report.rollbacks}")
        if report.refusals:
            w("refusals    " + ", ".join(f"{code} {n}" for code, n in report.refusals.most_common()))
        if report.chaos:
            w("chaos       " + ", ".join(f"{fault} {n}" for fault, n in report.chaos.most_common()))
        w(
            f"latency     p50 {report.percentile(50):.1f} ms, p95 {report.percentile(95):.1f} ms, "
            f"p99 {report.percentile(99):.1f} ms over {len(report.latencies_ms)} answered calls"
        )
        mismatched = [p for p in report.players if p["difference"]]
        for p in mismatched:
            w(
                self.style.ERROR(
                    f"  {p['player_id']}: partner moved {p['end'] - p['start']}, "
                    f"provider side recorded {p['provider_side']}"
                )
            )
        if report.undelivered:
            w(self.style.ERROR(f"  {report.undelivered} credits/rollbacks still undelivered"))
        books = ledger_reconcile() if partner_obj.name == settings.SANDBOX_PARTNER else None
        if report.reconciled and (books is None or books.ok):
            moved = sum(p["end"] - p["start"] for p in report.players)
            w(
                self.style.SUCCESS(
                    f"reconciled  {len(report.players)} players: partner balances moved {moved}, "
                    f"exactly what the provider side recorded" + ("; the platform's ledger balances" if books else "")
                )
            )
        else:
            raise CommandError("Reconciliation FAILED")
