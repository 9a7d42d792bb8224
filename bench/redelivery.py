"""`make bench-redelivery`: how fast queued credits drain once a partner that was down
recovers. Queues N credits (default 10,000) for a fake partner on loopback that answers
503, starts a real Celery worker and beat on Redis, lets them retry for a while, brings the
partner back, and measures the time until every credit is accepted, exactly once each."""

import argparse
import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import ROOT, base_env, celery_command, fresh_database_with_django, log, stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--credits", type=int, default=10_000)
    parser.add_argument("--players", type=int, default=1_000)
    parser.add_argument("--down-seconds", type=float, default=15.0)
    parser.add_argument("--worker-threads", type=int, default=8)
    parser.add_argument("--database", default="casino_bench_redelivery")
    args = parser.parse_args()

    queue = f"redelivery-{uuid.uuid4().hex[:8]}"
    env = base_env(
        database=args.database,
        queue=queue,
        OUTBOUND_RETRY_BASE_SECONDS="1",
        OUTBOUND_RETRY_CAP_SECONDS="5",
        OUTBOUND_SWEEP_SECONDS="2",
        OUTBOUND_LEASE_SECONDS="30",
    )
    fresh_database_with_django(env, args.database)
    from django.utils import timezone

    from provider.crypto import encrypt_secret
    from provider.models import GameRound, OutboundTransaction, PartnerCasino, PartnerPlayer
    from provider.tests.fake_partner import FakePartner

    with FakePartner(balances={}) as partner:
        partner.down_until = float("inf")
        casino = PartnerCasino.objects.create(
            name="down-partner",
            base_url=partner.url,
            provider_code=partner.provider_code,
            secret_encrypted=encrypt_secret(partner.secret),
        )
        players = PartnerPlayer.objects.bulk_create(
            [PartnerPlayer(partner=casino, partner_player_id=f"p{n}") for n in range(args.players)]
        )
        rounds = GameRound.objects.bulk_create(
            [
                GameRound(
                    partner=casino,
                    round_id=f"rr-{n}",
                    player=players[n % args.players],
                    game_id="x:slot",
                    currency="EUR",
                    stake=100,
                    status=GameRound.Status.SETTLED,
                )
                for n in range(args.credits)
            ]
        )
        now = timezone.now()
        OutboundTransaction.objects.bulk_create(
            [
                OutboundTransaction(
                    partner=casino,
                    player_id=r.player_id,
                    round=r,
                    transaction_id=f"rc-{n}",
                    kind="credit",
                    reason="win",
                    amount=150,
                    currency="EUR",
                    next_attempt_at=now,
                )
                for n, r in enumerate(rounds)
            ],
            batch_size=2_000,
        )
        log("redelivery", f"{args.credits} credits for {args.players} players queued; the partner is down")
        worker_log = (
            open(ROOT / "var" / "redelivery-worker.log", "ab") if (ROOT / "var").exists() else subprocess.DEVNULL
        )
        procs = [
            subprocess.Popen(
                celery_command(
                    "worker",
                    "--pool=threads",
                    f"--concurrency={args.worker_threads}",
                    "-Q",
                    # The long tasks' queue too (base_env's CELERY_LONG_TASK_QUEUE): beat's
                    # reconcile runs beside the drain, as before it had a queue of its own.
                    f"{queue},{queue}-long",
                    "--without-gossip",
                    "--without-mingle",
                ),
                cwd=ROOT,
                env=env,
                stdout=worker_log,
                stderr=worker_log,
            ),
            subprocess.Popen(
                celery_command("beat", f"--schedule=/tmp/{queue}-beat"),
                cwd=ROOT,
                env=env,
                stdout=worker_log,
                stderr=worker_log,
            ),
        ]
        try:
            time.sleep(args.down_seconds)  # the partner stays down this long, on purpose
            attempts_while_down = sum(partner.received.values())
            partner.down_until = 0
            recovered = time.monotonic()
            log("redelivery", f"partner back after {args.down_seconds:.0f} s ({attempts_while_down} refused attempts)")
            pending = OutboundTransaction.objects.exclude(status="succeeded")
            while pending.exists():
                if time.monotonic() - recovered > 600:
                    raise SystemExit("not drained within 10 minutes")
                time.sleep(0.5)
            drained = time.monotonic() - recovered
        finally:
            stop(procs, timeout=30)
        duplicates = sum(1 for n in partner.applied.values() if n != 1)
        paid = sum(partner.balances.values())
    result = {
        "credits": args.credits,
        "players": args.players,
        "down_seconds": args.down_seconds,
        "attempts_while_down": attempts_while_down,
        "drain_seconds": round(drained, 2),
        "credits_per_second": round(args.credits / drained, 1),
        "applied_more_than_once": duplicates,
        "paid_total": paid,
        "expected_total": 150 * args.credits,
        "worker_threads": args.worker_threads,
        "at": datetime.now(UTC).isoformat(),
    }
    log(
        "redelivery",
        f"drained {args.credits} credits in {drained:.1f} s after recovery "
        f"({result['credits_per_second']} credits/s); applied more than once: {duplicates}; "
        f"paid {paid} of {150 * args.credits}",
    )
    out = ROOT / "bench" / "results" / f"redelivery-{datetime.now(UTC).strftime('%Y-%m-%dT%H-%M-%SZ')}.json"
    out.write_text(json.dumps(result, indent=2))
    if duplicates or paid != 150 * args.credits:
        raise SystemExit("VOID: a credit was paid twice or not at all")


if __name__ == "__main__":
    main()
