"""The database itself refuses what the ledger forbids, even when Python is bypassed."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import DataError, IntegrityError, connection, transaction

from ledger.models import Entry, JournalTransaction
from ledger.reconciliation import ledger_reconcile
from ledger.services import Leg, ledger_post
from wallet.models import Wallet
from wallet.tests.factories import funded_wallet

pytestmark = pytest.mark.django_db(transaction=True)


def raw(sql: str, params: list | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])


@pytest.fixture
def journal():
    wallet = funded_wallet(amount=1_000)
    return JournalTransaction.objects.get(entries__account=wallet.account)


def test_update_of_an_entry_is_refused(journal):
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        raw("UPDATE ledger_entry SET amount = amount + 1 WHERE transaction_id = %s", [journal.pk])


def test_delete_of_an_entry_is_refused(journal):
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        raw("DELETE FROM ledger_entry WHERE transaction_id = %s", [journal.pk])


def test_update_and_delete_of_a_journal_transaction_are_refused(journal):
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        raw("UPDATE ledger_journaltransaction SET memo = 'edited' WHERE id = %s", [journal.pk])
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        raw("DELETE FROM ledger_journaltransaction WHERE id = %s", [journal.pk])


def test_orm_delete_is_refused_too(journal):
    with pytest.raises(IntegrityError), transaction.atomic():
        Entry.objects.filter(transaction=journal).delete()
    assert Entry.objects.filter(transaction=journal).count() == 2


def test_unbalanced_transaction_is_refused_at_commit(journal):
    account_id = journal.entries.first().account_id
    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
        raw(
            "INSERT INTO ledger_journaltransaction (kind, provider_code, provider_transaction_id, round_id, reason,"
            " trace_id, created_at, created_by, memo) VALUES ('adjustment', '', '', '', '', '', now(), 'sql', '')"
        )
        raw(
            "INSERT INTO ledger_entry (transaction_id, leg, account_id, amount, currency, created_at) "
            "VALUES (currval('ledger_journaltransaction_id_seq'), 1, %s, 500, 'EUR', now())",
            [account_id],
        )
        raw(
            "INSERT INTO ledger_entry (transaction_id, leg, account_id, amount, currency, created_at) "
            "VALUES (currval('ledger_journaltransaction_id_seq'), 2, %s, -499, 'EUR', now())",
            [account_id],
        )
    assert ledger_reconcile().ok


def test_single_entry_transaction_is_refused_at_commit(journal):
    with pytest.raises(IntegrityError, match="at least two"), transaction.atomic():
        raw(
            "INSERT INTO ledger_journaltransaction (kind, provider_code, provider_transaction_id, round_id, reason,"
            " trace_id, created_at, created_by, memo) VALUES ('adjustment', '', '', '', '', '', now(), 'sql', '')"
        )


def _add_entry(journal_id: int, leg: int, account_id: int, amount: int) -> None:
    # Stamped with its transaction's time, as every leg must be.
    raw(
        "INSERT INTO ledger_entry (transaction_id, leg, account_id, amount, currency, created_at) "
        "SELECT %s, %s, %s, %s, 'EUR', created_at FROM ledger_journaltransaction WHERE id = %s",
        [journal_id, leg, account_id, amount, journal_id],
    )


@pytest.mark.parametrize("leg", [3, 7, 0, -1])
def test_entry_added_later_to_a_committed_transaction_is_refused(journal, leg):
    account_id = journal.entries.first().account_id
    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
        _add_entry(journal.pk, leg, account_id, 1)
    assert ledger_reconcile().ok


@pytest.mark.parametrize("leg", [1, 2])
def test_entry_added_later_in_a_leg_taken_is_refused(journal, leg):
    """Legs 1 and 2 of every committed transaction exist, so a late entry can't slip past the
    per-entry check (which fires for any other leg) by taking one of them."""
    account_id = journal.entries.first().account_id
    with pytest.raises(IntegrityError, match="entry_transaction_leg_unique"), transaction.atomic():
        _add_entry(journal.pk, leg, account_id, 1)
    assert ledger_reconcile().ok


@pytest.mark.parametrize("leg", [3, 0, -1])
def test_entry_added_after_an_early_check_in_the_same_transaction_is_checked(journal, leg):
    """SET CONSTRAINTS ALL IMMEDIATE runs the transaction's own check before COMMIT (the debit
    function does, before it waits for a busy wallet): an entry added after it is checked too."""
    account_id = journal.entries.first().account_id
    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
        _journal_with_entries([(account_id, 5, "EUR"), (account_id, -5, "EUR")])
        raw("SET CONSTRAINTS ALL IMMEDIATE")
        raw("SET CONSTRAINTS ALL DEFERRED")
        raw(
            "INSERT INTO ledger_entry (transaction_id, leg, account_id, amount, currency, created_at) "
            "VALUES (currval('ledger_journaltransaction_id_seq'), %s, %s, 1, 'EUR', now())",
            [leg, account_id],
        )
    assert ledger_reconcile().ok


@pytest.mark.parametrize("legs", [(1, 3), (2, 3), (0, 1), (-1, 2)])
def test_legs_not_numbered_from_one_without_a_gap_are_refused(journal, legs):
    account_id = journal.entries.first().account_id
    with pytest.raises(IntegrityError, match="legs are numbered 1, 2"), transaction.atomic():
        raw(
            "INSERT INTO ledger_journaltransaction (kind, provider_code, provider_transaction_id, round_id, reason,"
            " trace_id, created_at, created_by, memo) VALUES ('adjustment', '', '', '', '', '', now(), 'sql', '')"
        )
        for leg, amount in zip(legs, (5, -5), strict=True):
            raw(
                "INSERT INTO ledger_entry (transaction_id, leg, account_id, amount, currency, created_at) "
                "VALUES (currval('ledger_journaltransaction_id_seq'), %s, %s, %s, 'EUR', now())",
                [leg, account_id, amount],
            )


def test_three_legs_and_a_balanced_pair_added_later_are_accepted(eur_and_usd_accounts):
    eur = eur_and_usd_accounts["EUR"]
    with transaction.atomic():
        _journal_with_entries([(eur[0], 700, "EUR"), (eur[1], -300, "EUR"), (eur[1], -400, "EUR")])
    journal_id = JournalTransaction.objects.order_by("-id").first().pk
    with transaction.atomic():  # still balanced: the same rule as before legs were numbered
        _add_entry(journal_id, 4, eur[0], 9)
        _add_entry(journal_id, 5, eur[1], -9)
    assert list(Entry.objects.filter(transaction_id=journal_id).order_by("leg").values_list("leg", flat=True)) == [
        1,
        2,
        3,
        4,
        5,
    ]
    assert ledger_reconcile().ok


def test_a_leg_added_later_is_stamped_with_its_transaction_s_time_or_refused(journal):
    """The period reports find an entry by its transaction's time, the trial balance by its
    own: a later pair stamped two days on was in that day's trial balance and in no day's
    journal, GGR or cashier export. Stamped with its transaction's time it is in both."""
    from ledger.exports import Period
    from ledger.selectors import ledger_journal_lines, ledger_trial_balance
    from ledger.services import house_account_id

    with transaction.atomic():
        cash_in, adjustments = (house_account_id(kind=kind, currency="EUR") for kind in ("cash_in", "adjustments"))
    later = journal.created_at + timedelta(days=2)
    pair = (
        "INSERT INTO ledger_entry (transaction_id, leg, account_id, amount, currency, created_at)"
        " VALUES (%s, 3, %s, 5, 'EUR', %s), (%s, 4, %s, -5, 'EUR', %s)"
    )
    with pytest.raises(IntegrityError, match="a leg carries its transaction's time"), transaction.atomic():
        raw(pair, [journal.pk, cash_in, later, journal.pk, adjustments, later])

    with transaction.atomic():
        raw(pair, [journal.pk, cash_in, journal.created_at, journal.pk, adjustments, journal.created_at])
    period = Period.of_days(journal.created_at.date())
    moved = sum(row["entries"] for row in ledger_trial_balance(since=period.since, until=period.until))
    exported = list(ledger_journal_lines(since=period.since, until=period.until))
    assert moved == len(exported) == 4
    assert ledger_reconcile().ok


def test_a_leg_stamped_apart_from_its_transaction_in_the_same_commit_is_refused(eur_and_usd_accounts):
    """Legs 1 and 2 are not checked (the hot path's); a third leg is, whenever it is written."""
    eur = eur_and_usd_accounts["EUR"]
    with pytest.raises(IntegrityError, match="a leg carries its transaction's time"), transaction.atomic():
        _journal_with_entries([(eur[0], 5, "EUR"), (eur[1], -5, "EUR")])
        raw(
            "INSERT INTO ledger_entry (transaction_id, leg, account_id, amount, currency, created_at) "
            "VALUES (currval('ledger_journaltransaction_id_seq'), 3, %s, 0, 'EUR', now() + interval '1 day')",
            [eur[0]],
        )


def test_a_wallet_is_never_deleted(journal):
    """Its account's entries still say what the player is owed, and no balance would show it."""
    wallet = Wallet.objects.get()
    with pytest.raises(IntegrityError, match="wallets are never deleted: DELETE"), transaction.atomic():
        raw("DELETE FROM wallet_wallet WHERE id = %s", [wallet.pk])
    with pytest.raises(IntegrityError, match="wallets are never deleted: TRUNCATE"), transaction.atomic():
        raw("SET LOCAL ledger.allow_truncate = off")
        raw("TRUNCATE wallet_wallet CASCADE")
    assert Wallet.objects.filter(pk=wallet.pk).exists()


@pytest.fixture
def eur_and_usd_accounts():
    from ledger.models import Currency
    from ledger.services import ledger_account_get_or_create

    for code in ("EUR", "USD"):  # a transactional test's flush takes the seeded currencies away
        Currency.objects.get_or_create(code=code, defaults={"name": code, "exponent": 2})
    return {
        currency: [
            ledger_account_get_or_create(key=f"fx:{currency}:{n}", kind="adjustments", currency=currency).pk
            for n in (1, 2)
        ]
        for currency in ("EUR", "USD")
    }


def _journal_with_entries(entries: list[tuple[int, int, str]]) -> None:
    raw(
        "INSERT INTO ledger_journaltransaction (kind, provider_code, provider_transaction_id, round_id, reason,"
        " trace_id, created_at, created_by, memo) VALUES ('adjustment', '', '', '', '', '', now(), 'sql', '')"
    )
    for leg, (account_id, amount, currency) in enumerate(entries, start=1):
        raw(
            "INSERT INTO ledger_entry (transaction_id, leg, account_id, amount, currency, created_at) "
            "VALUES (currval('ledger_journaltransaction_id_seq'), %s, %s, %s, %s, now())",
            [leg, account_id, amount, currency],
        )


def test_a_journal_in_two_currencies_balances_each_on_its_own(eur_and_usd_accounts):
    eur, usd = eur_and_usd_accounts["EUR"], eur_and_usd_accounts["USD"]
    with transaction.atomic():
        _journal_with_entries(
            [(eur[0], 700, "EUR"), (usd[0], 800, "USD"), (eur[1], -700, "EUR"), (usd[1], -800, "USD")]
        )
    # Zero in all, but not in each currency: refused, whichever currency comes first.
    for entries in (
        [(eur[0], 5, "EUR"), (usd[0], -5, "USD")],
        [(usd[0], -5, "USD"), (eur[0], 5, "EUR"), (eur[1], 3, "EUR"), (eur[1], -3, "EUR")],
    ):
        with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
            _journal_with_entries(entries)
    assert ledger_reconcile().ok


def test_an_entry_in_another_currency_added_later_is_refused(eur_and_usd_accounts):
    eur, usd = eur_and_usd_accounts["EUR"], eur_and_usd_accounts["USD"]
    with transaction.atomic():
        _journal_with_entries([(eur[0], 700, "EUR"), (eur[1], -700, "EUR")])
    journal_id = JournalTransaction.objects.order_by("-id").first().pk
    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
        raw(
            "INSERT INTO ledger_entry (transaction_id, leg, account_id, amount, currency, created_at) "
            "VALUES (%s, 3, %s, 1, 'USD', now())",
            [journal_id, usd[0]],
        )


def test_sums_past_bigint_are_refused_not_wrapped(eur_and_usd_accounts):
    eur = eur_and_usd_accounts["EUR"]
    big = 2**62
    with pytest.raises((IntegrityError, DataError)), transaction.atomic():
        _journal_with_entries([(eur[0], big, "EUR"), (eur[0], big, "EUR"), (eur[1], big, "EUR"), (eur[1], big, "EUR")])
    assert ledger_reconcile().ok


def test_entry_currency_must_be_the_account_currency(journal):
    account_id = journal.entries.first().account_id
    with pytest.raises(IntegrityError), transaction.atomic():
        # Balanced, but in USD against a EUR account.
        ledger_post(kind="adjustment", legs=[Leg(account_id, 1, "USD"), Leg(account_id, -1, "USD")], created_by="t")


@pytest.mark.parametrize("currency", ["EUR", "XXX"])
def test_an_entry_needs_an_existing_account_and_currency(journal, currency):
    """The composite key (account_id, currency) is the only foreign key of both on
    PostgreSQL (ledger/migrations/0004): it refuses a missing account, and a currency that
    does not exist, since no account holds it."""
    missing_account = journal.entries.order_by("-account_id").first().account_id + 1000
    with pytest.raises(IntegrityError, match="ledger_entry_currency_is_account_currency"), transaction.atomic():
        ledger_post(
            kind="adjustment",
            legs=[Leg(missing_account, 1, currency), Leg(missing_account, -1, currency)],
            created_by="t",
        )
    assert Entry.objects.filter(account_id=missing_account).count() == 0


def test_reconciliation_catches_a_tampered_wallet_balance(journal):
    assert ledger_reconcile().ok
    wallet = Wallet.objects.get()
    # Someone edits the cached balance directly, outside every service.
    raw("UPDATE wallet_wallet SET balance = balance + 1 WHERE id = %s", [wallet.pk])
    report = ledger_reconcile()
    assert not report.ok
    assert [(m.row_id, m.cached, m.ledger) for m in report.mismatches] == [(wallet.pk, 1_001, 1_000)]


def test_wallet_balance_cannot_go_negative_even_in_sql(journal):
    wallet = Wallet.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        raw("UPDATE wallet_wallet SET balance = -1 WHERE id = %s", [wallet.pk])


def test_ledger_post_numbers_the_legs_in_order(eur_and_usd_accounts):
    eur = eur_and_usd_accounts["EUR"]
    with transaction.atomic():
        journal = ledger_post(
            kind="adjustment",
            legs=[Leg(eur[0], 5, "EUR"), Leg(eur[1], -2, "EUR"), Leg(eur[1], -3, "EUR")],
            created_by="t",
        )
    assert list(journal.entries.order_by("leg").values_list("leg", "amount")) == [(1, 5), (2, -2), (3, -3)]


def test_ledger_post_stamps_the_transaction_and_every_leg_alike(eur_and_usd_accounts):
    """At the time given (a debit gives the time its limits were judged at, so that it is
    booked in that period), or now; never a leg on another day than its transaction."""
    eur = eur_and_usd_accounts["EUR"]
    judged = datetime(2026, 12, 16, 23, 59, 59, 995_000, tzinfo=UTC)
    with transaction.atomic():
        given = ledger_post(
            kind="adjustment", legs=[Leg(eur[0], 5, "EUR"), Leg(eur[1], -5, "EUR")], created_by="t", created_at=judged
        )
        unstamped = ledger_post(kind="adjustment", legs=[Leg(eur[0], 1, "EUR"), Leg(eur[1], -1, "EUR")], created_by="t")
    for journal, at in ((given, judged), (unstamped, JournalTransaction.objects.get(pk=unstamped.pk).created_at)):
        assert JournalTransaction.objects.get(pk=journal.pk).created_at == at
        assert set(journal.entries.values_list("created_at", flat=True)) == {at}


def test_an_account_of_an_unknown_kind_is_refused(journal):
    """Reports and reconciliation group accounts by kind: one they do not know would go unseen."""
    with pytest.raises(IntegrityError, match="account_kind_valid"), transaction.atomic():
        raw(
            "INSERT INTO ledger_account (key, kind, currency, name, created_at)"
            " VALUES ('stray:EUR', 'bonus', 'EUR', '', now())"
        )


@pytest.mark.parametrize(
    "table", ["ledger_entry", "ledger_journaltransaction", "ledger_settingchange", "players_playerauditlog"]
)
def test_truncate_of_the_ledger_and_its_trails_is_refused(journal, table):
    # The suite's own connection may TRUNCATE (settings_test), to undo transactional tests.
    with pytest.raises(IntegrityError, match=f"TRUNCATE on {table} refused"), transaction.atomic():
        raw("SET LOCAL ledger.allow_truncate = off")
        raw(f"TRUNCATE {table} CASCADE")
    assert Entry.objects.filter(transaction=journal).count() == 2


def test_truncate_reaching_the_entries_by_cascade_is_refused(journal):
    with pytest.raises(IntegrityError, match="TRUNCATE on ledger_entry refused"), transaction.atomic():
        raw("SET LOCAL ledger.allow_truncate = off")
        raw("TRUNCATE ledger_account CASCADE")
    assert Entry.objects.filter(transaction=journal).count() == 2


@pytest.mark.parametrize(
    "change", ["kind = 'adjustments'", "key = key || ':moved'", "currency = 'USD'"], ids=["kind", "key", "currency"]
)
def test_an_account_s_kind_key_and_currency_are_fixed_once_written(journal, change):
    """Reports read an account's entries by its kind: changed, a wallet's history would leave
    the GGR and cashier reports while reconciliation still matched it by id."""
    from ledger.tests.factories import CurrencyFactory

    CurrencyFactory(code="USD", exponent=2)
    account_id = journal.entries.first().account_id
    with pytest.raises(IntegrityError, match="fixed once written"), transaction.atomic():
        raw(f"UPDATE ledger_account SET {change} WHERE id = %s", [account_id])
    raw("UPDATE ledger_account SET name = 'renamed' WHERE id = %s", [account_id])  # its label may change


def test_a_currency_s_exponent_is_fixed_once_an_account_holds_it(journal):
    from ledger.models import Currency

    with pytest.raises(IntegrityError, match="fixed once an account holds it"), transaction.atomic():
        Currency.objects.filter(code="EUR").update(exponent=3)
    assert Currency.objects.get(code="EUR").exponent == 2
    # A currency set up wrongly and not used yet is corrected.
    Currency.objects.create(code="XTS", exponent=2)
    Currency.objects.filter(code="XTS").update(exponent=0)
    assert Currency.objects.get(code="XTS").exponent == 0
