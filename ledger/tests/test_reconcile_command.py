"""`manage.py reconcile`: passes on honest books, fails loudly when a wallet drifts from its ledger,
naming whose money in what currency, and says how far it is."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from wallet.models import Wallet

# The wallet table has no trigger, so a raw UPDATE inside the test transaction is enough.
pytestmark = pytest.mark.django_db


def reconcile() -> str:
    out = io.StringIO()
    call_command("reconcile", stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def sandbox(db):
    call_command("seed_sandbox", stdout=io.StringIO())


def test_succeeds_on_a_seeded_sandbox(sandbox):
    output = reconcile()
    # Each check says when it is done: on a large journal each takes minutes.
    assert "  checked: every journal transaction balances (" in output
    assert "  checked: wallet_wallet balances equal their ledger accounts (" in output
    assert f"OK: {Wallet.objects.count()} wallets and holding accounts match their ledger accounts" in output
    assert "FAILED" not in output


def test_succeeds_on_an_empty_database(db):
    assert "OK: 0 wallets" in reconcile()


def test_fails_naming_the_wallet_changed_behind_the_ledgers_back(sandbox):
    wallet = Wallet.objects.get(player__player_id="p_demo_1", currency_id="EUR")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE wallet_wallet SET balance = balance + 1 WHERE id = %s", [wallet.pk])

    out = io.StringIO()
    with pytest.raises(CommandError, match=r"Reconciliation FAILED: 0 unbalanced, 1 mismatched"):
        call_command("reconcile", stdout=out, stderr=io.StringIO())
    output = out.getvalue()
    assert (
        f"wallet_wallet {wallet.pk} (player p_demo_1, EUR): cached balance 1000.01 EUR (100001)"
        f" != ledger 1000.00 EUR (100000) (account {wallet.account_id})"
    ) in output
    others = Wallet.objects.exclude(pk=wallet.pk).values_list("pk", flat=True)
    assert all(f"wallet_wallet {pk} (" not in output for pk in others)


def test_every_drifted_wallet_is_reported(sandbox):
    wallets = list(Wallet.objects.filter(player__player_id__in=["p_demo_1", "p_low_balance"]))
    with connection.cursor() as cursor:
        for wallet in wallets:
            cursor.execute("UPDATE wallet_wallet SET balance = balance + 1 WHERE id = %s", [wallet.pk])

    out = io.StringIO()
    with pytest.raises(CommandError, match="2 mismatched"):
        call_command("reconcile", stdout=out, stderr=io.StringIO())
    for wallet in wallets:
        assert f"wallet_wallet {wallet.pk} (player {wallet.player.player_id}, EUR): cached balance" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_a_journal_transaction_without_its_entries_is_named_for_what_it_is(db):
    """Not "does not balance: 0": it has fewer entries than a movement needs (written past
    the database's check, which a trigger's owner can disable)."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE ledger_journaltransaction DISABLE TRIGGER ledger_journal_balanced")
        try:
            cursor.execute(
                "INSERT INTO ledger_journaltransaction (kind, provider_code, provider_transaction_id, round_id,"
                " reason, trace_id, created_at, created_by, memo)"
                " VALUES ('adjustment', '', '', '', '', '', now(), 'sql', '') RETURNING id"
            )
            (journal_id,) = cursor.fetchone()
        finally:
            cursor.execute("ALTER TABLE ledger_journaltransaction ENABLE TRIGGER ledger_journal_balanced")
    out = io.StringIO()
    with pytest.raises(CommandError, match=f"first: journal transaction {journal_id} has 0 entries"):
        call_command("reconcile", stdout=out, stderr=io.StringIO())
    assert f"journal transaction {journal_id} has 0 entries; a movement has two or more" in out.getvalue()


def test_a_systematic_drift_is_named_a_hundred_times_and_counted_beyond(db):
    from wallet.tests.factories import funded_wallet

    for _ in range(102):
        funded_wallet(amount=100)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE wallet_wallet SET balance = balance + 1")

    out = io.StringIO()
    with pytest.raises(CommandError, match="0 unbalanced, 102 mismatched"):
        call_command("reconcile", stdout=out, stderr=io.StringIO())
    output = out.getvalue()
    assert output.count("cached balance 1.01 EUR (101) != ledger 1.00 EUR (100)") == 100
    assert "  ... and 2 more (the first 100 shown)" in output


def test_says_which_check_it_is_in_and_records_the_run(sandbox):
    from ledger.models import ReconcileRun

    output = reconcile()
    assert "  checking: every journal transaction balances ...\n" in output
    checking = "  checking: game_sessions_round counts and totals equal their journal"
    assert f"{checking} (rounds opened or moved since " in output
    # The first run, as every one after it, compares the rounds opened or moved since; --all-rounds, every one.
    since = "those opened or moved since the last run that found none drifted"
    assert f"rounds ({since}) match their journal" in output
    assert ReconcileRun.objects.get().problems == 0
    assert f"rounds ({since}) match their journal" in reconcile()
    out = io.StringIO()
    call_command("reconcile", "--all-rounds", stdout=out, stderr=io.StringIO())
    assert "rounds (every one) match their journal" in out.getvalue()


def test_the_hourly_reconcile_expires_so_an_outage_does_not_pile_them_up(settings):
    """Each is a whole-journal read: after a worker outage of N hours, one runs, not N."""
    entry = settings.CELERY_BEAT_SCHEDULE["ledger-reconcile"]
    assert entry["options"]["expires"] == entry["schedule"] == settings.RECONCILE_INTERVAL_SECONDS
