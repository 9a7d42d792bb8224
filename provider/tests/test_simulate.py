"""`manage.py simulate` against this platform's own wallet API on a real socket."""

import re
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from ledger.reconciliation import ledger_reconcile
from players.models import Player
from provider.models import OutboundTransaction, PartnerCasino

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def platform(live_server, settings, broker):
    settings.PUBLIC_BASE_URL = live_server.url
    settings.OUTBOUND_RETRY_BASE_SECONDS = 0.05
    settings.OUTBOUND_RETRY_CAP_SECONDS = 0.2
    call_command("seed_sandbox", stdout=StringIO())
    return live_server


def run(**options) -> str:
    out, err = StringIO(), StringIO()
    call_command("simulate", stdout=out, stderr=err, **options)
    return out.getvalue()


def test_simulation_reconciles_to_the_cent(platform):
    output = run(players=3, rounds=30, concurrency=3, seed=5)
    assert "rounds      30 played" in output
    assert "reconciled  3 players" in output
    assert OutboundTransaction.objects.filter(kind="debit").count() == 30
    assert not OutboundTransaction.objects.exclude(status__in=["succeeded", "failed", "unknown"]).exists()
    assert ledger_reconcile().ok


def test_simulation_with_chaos_still_reconciles(platform):
    output = run(players=4, rounds=60, concurrency=4, seed=9, chaos=0.3)
    assert "chaos       " in output and "drop_response" in output
    assert "reconciled  4 players" in output
    # Dropped debit answers left outcomes unknown; each was rolled back and answered.
    unknown = OutboundTransaction.objects.filter(kind="debit", status="unknown").count()
    assert OutboundTransaction.objects.filter(kind="rollback", status="succeeded").count() == unknown
    assert ledger_reconcile().ok


def test_same_seed_same_outcomes(platform):
    run(players=2, rounds=10, concurrency=1, seed=42)
    from provider.models import GameRound

    first = list(GameRound.objects.order_by("nonce").values_list("nonce", "outcome"))
    run(players=2, rounds=10, concurrency=1, seed=42)
    rounds = GameRound.objects.order_by("nonce", "id").values_list("nonce", "outcome")
    by_nonce: dict[int, list] = {}
    for nonce, outcome in rounds:
        by_nonce.setdefault(nonce, []).append(outcome)
    assert all(len(v) == 2 and v[0] == v[1] for v in by_nonce.values())
    assert len(first) == 10


def test_unknown_partner_is_a_clear_error(platform):
    with pytest.raises(CommandError, match="No partner casino"):
        run(partner="nowhere")


def test_a_run_without_a_seed_says_which_it_played(platform):
    output = run(players=1, rounds=1, concurrency=1)
    seed = re.search(r"seed (\d+)", output).group(1)
    assert Player.objects.filter(player_id=f"sim_{seed}_0").exists()
    assert "reconciled  1 players" in output


def test_another_partner_is_refused_before_any_player_is_funded(platform, partner_casino):
    with pytest.raises(CommandError, match="only through the partner 'self'"):
        run(partner=partner_casino.name, seed=3)
    assert not Player.objects.filter(player_id__startswith="sim_").exists()


def test_an_unreachable_partner_is_a_clear_error_before_any_player_is_funded(platform):
    PartnerCasino.objects.filter(name="self").update(base_url="http://127.0.0.1:1")  # nothing listens there
    with pytest.raises(CommandError, match=re.escape("did not answer at http://127.0.0.1:1")):
        run(seed=4)
    assert not Player.objects.filter(player_id__startswith="sim_").exists()


def test_a_partner_secret_stored_under_another_key_is_a_clear_error_before_any_player_is_funded(platform):
    # What a second terminal without `make run`'s DEBUG=1 (another SECRET_KEY) finds.
    other_key = Fernet(Fernet.generate_key())
    PartnerCasino.objects.filter(name="self").update(secret_encrypted=other_key.encrypt(b"sandbox-secret").decode())
    with pytest.raises(CommandError, match="encrypted under another PROVIDER_SECRET_KEY") as raised:
        run(seed=6)
    assert "seed_sandbox" in str(raised.value) and "DEBUG=1" in str(raised.value)
    assert not Player.objects.filter(player_id__startswith="sim_").exists()
    # seed_sandbox replaces the unreadable secret, and the simulator plays again.
    call_command("seed_sandbox", stdout=StringIO())
    assert "reconciled  1 players" in run(players=1, rounds=1, concurrency=1, seed=6)


def test_a_stake_whose_best_win_the_contract_could_not_carry_is_refused(platform):
    with pytest.raises(CommandError, match="stake must be at most"):
        run(stake=10**15 // 80 + 1)


@pytest.mark.parametrize("cause", ["secret", "disabled"])
def test_a_partner_refusing_our_calls_is_a_clear_error_before_any_player_is_funded(platform, cause):
    """Our secret there no longer the provider's (rotated on this platform since the seed), or
    our provider switched off: every call would be refused. The run used to fund its players
    and launch their sessions first, then fail on a balance naming only the code."""
    from provider.crypto import encrypt_secret
    from provider.models import Provider
    from provider.selectors import provider_cache_clear

    if cause == "secret":
        PartnerCasino.objects.filter(name="self").update(secret_encrypted=encrypt_secret("not-the-secret"))
        code = "INVALID_SIGNATURE"
    else:
        Provider.objects.filter(code="sandbox").update(is_enabled=False)
        provider_cache_clear()  # the live server runs in this process
        code = "PROVIDER_DISABLED"
    with pytest.raises(CommandError, match=f"refuses our calls: {code}") as raised:
        run(players=2, rounds=2, concurrency=1, seed=8)
    assert "Nothing was played" in str(raised.value) and "seed_sandbox" in str(raised.value)
    assert not Player.objects.filter(player_id__startswith="sim_").exists()
    assert not OutboundTransaction.objects.exists()
