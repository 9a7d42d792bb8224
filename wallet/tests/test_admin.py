"""The wallet back office: the changelist, the "Move money" form, and the game-side pages the
wallet API fills (rounds, sessions, switches, providers, games)."""

import io
import threading

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from casino_platform.tests.plans import reads_whole
from ledger.models import JournalTransaction
from ledger.money import Money
from ledger.reconciliation import ledger_reconcile
from players.tests.factories import PlayerFactory
from provider.models import Game, Provider
from sessions.models import GameSession, Round
from sessions.services import platform_switch_set, session_create
from wallet.models import Wallet
from wallet.services import wallet_credit, wallet_debit, wallet_deposit
from wallet.tests.conftest import credit_request, debit_request
from wallet.tests.factories import funded_wallet

pytestmark = pytest.mark.django_db

GAME_SIDE_PAGES = [
    "game_sessions_round",
    "game_sessions_gamesession",
    "game_sessions_platformswitch",
    "provider_provider",
    "provider_game",
]


@pytest.fixture
def sandbox(db):
    """The seeded sandbox plus one played round, so the game-side pages have rows."""
    call_command("seed_sandbox", stdout=io.StringIO())
    provider = Provider.objects.get(code="sandbox")
    wallet = Wallet.objects.get(player__player_id="p_demo_1", currency_id="EUR")
    session_create(
        provider=provider, player=wallet.player, game=Game.objects.get(game_id="sandbox:dice"), currency="EUR"
    )
    wallet_debit(provider=provider, request=debit_request(wallet, amount=100, round_id="admin-r1"))
    wallet_credit(provider=provider, request=credit_request(wallet, amount=40, round_id="admin-r1", round_closed=True))
    platform_switch_set(name="no_new_sessions", is_on=False, changed_by="ops", reason="admin test")
    return provider


def demo_wallet(player_id: str = "p_demo_1", currency: str = "EUR") -> Wallet:
    return Wallet.objects.select_related("player").get(player__player_id=player_id, currency_id=currency)


def eur(minor: int) -> str:
    """Minor units of EUR as staff type them on "Move money…": 50001 -> "500.01"."""
    return Money(minor, "EUR").decimal(2)


def move(client, wallet: Wallet, **data):
    form = {"kind": "deposit", "amount": "", "reason": "back office test", "reference": "", **data}
    return client.post(reverse("admin:wallet_wallet_move", args=[wallet.pk]), form)


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


class TestWalletChangelist:
    def test_lists_the_sandbox_wallets(self, admin_client, sandbox):
        r = admin_client.get(reverse("admin:wallet_wallet_changelist"))
        assert r.status_code == 200
        content = r.content.decode()
        for player_id in ("p_demo_1", "p_demo_2", "p_blocked_rg", "p_low_balance", "p_kyc_pending"):
            assert player_id in content
        assert reverse("admin:wallet_wallet_move", args=[demo_wallet().pk]) in content

    @pytest.mark.parametrize("page", ["wallet_wallet", "wallet_rollbacktombstone", "wallet_withdrawalevent"])
    def test_big_lists_are_counted_from_the_estimate(self, admin_client, sandbox, page):
        """A wallet per player and currency, several events per withdrawal: a count(*) of the
        whole table on each page, as Django's paginator does, reads all of it."""
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(reverse(f"admin:{page}_changelist")).status_code == 200
        assert any("reltuples" in q["sql"] for q in queries.captured_queries)

    def test_queries_do_not_grow_with_the_number_of_wallets(self, admin_client, sandbox, django_assert_max_num_queries):
        url = reverse("admin:wallet_wallet_changelist")
        with CaptureQueriesContext(connection) as few:
            assert admin_client.get(url).status_code == 200
        for currency in ("EUR", "USD", "GBP"):
            for _ in range(5):
                funded_wallet(player=PlayerFactory(), currency=currency, amount=1_000)
        assert Wallet.objects.count() == 20
        # Session, user, currency filter, two counts, one page query: no query per row.
        with django_assert_max_num_queries(8):
            r = admin_client.get(url)
        assert r.status_code == 200 and r.context["cl"].result_count == 20
        with CaptureQueriesContext(connection) as many:
            admin_client.get(url)
        assert len(many) == len(few)


class TestTheWalletsOwnPage:
    @pytest.mark.django_db(transaction=True)
    def test_a_save_writes_nothing_over_a_movement_made_meanwhile(self, admin_client, sandbox, monkeypatch):
        """The page read the wallet, a deposit committed, then the page was saved: a plain
        admin's save wrote every column back as read, the balance included."""
        from wallet.admin import WalletAdmin

        wallet = demo_wallet()
        url = reverse("admin:wallet_wallet_change", args=[wallet.pk])
        page = admin_client.get(url).content.decode()
        assert 'name="_save"' not in page and 'name="_continue"' not in page
        read = WalletAdmin.get_object

        def read_then_a_deposit_commits(self, request, object_id, from_field=None):
            obj = read(self, request, object_id, from_field)
            if request.method == "POST":  # another request's deposit, on its own connection
                thread = threading.Thread(target=deposit)
                thread.start()
                thread.join()
            return obj

        def deposit():
            try:
                wallet_deposit(player_id="p_demo_1", currency="EUR", amount=5_000, created_by="t", reason="meanwhile")
            finally:
                connection.close()

        monkeypatch.setattr(WalletAdmin, "get_object", read_then_a_deposit_commits)
        admin_client.post(url, {"_save": "Save"})
        assert Wallet.objects.get(pk=wallet.pk).balance == wallet.balance + 5_000
        assert ledger_reconcile().ok

    def test_a_round_played_for_a_partner_is_not_saved_over(self, admin_client, sandbox):
        from provider.models import GameRound, PartnerCasino, PartnerPlayer

        partner = PartnerCasino.objects.get(name="self")
        player = PartnerPlayer.objects.create(partner=partner, partner_player_id="p_demo_1")
        round_obj = GameRound.objects.create(
            partner=partner, player=player, round_id="r-admin", game_id="sandbox:dice", currency="EUR", stake=100
        )
        url = reverse("admin:provider_gameround_change", args=[round_obj.pk])
        assert admin_client.get(url).status_code == 200
        GameRound.objects.filter(pk=round_obj.pk).update(status="settled")
        assert admin_client.post(url, {"_save": "Save"}).status_code == 403
        assert GameRound.objects.get(pk=round_obj.pk).status == "settled"


class TestMoveMoney:
    def test_staff_with_a_username_of_djangos_full_length_move_money(self, client, django_user_model, sandbox):
        """ "staff:" and 150 characters: wider than the columns that held who moved it were."""
        name = "u" * 150
        client.force_login(django_user_model.objects.create_superuser(name, password="x"))
        r = move(client, demo_wallet(), kind="deposit", amount="2.50", reference="long-name-1")
        assert r.status_code == 302, r.content.decode()[-2000:]
        assert JournalTransaction.objects.get(provider_transaction_id="long-name-1").created_by == f"staff:{name}"

    def test_form_renders(self, admin_client, sandbox):
        r = admin_client.get(reverse("admin:wallet_wallet_move", args=[demo_wallet().pk]))
        assert r.status_code == 200
        assert b"p_demo_1" in r.content and b'name="amount"' in r.content

    def test_unknown_wallet_is_404(self, admin_client, sandbox):
        assert admin_client.get(reverse("admin:wallet_wallet_move", args=[999_999])).status_code == 404

    def test_deposit_raises_the_balance_through_the_ledger(self, admin_client, admin_user, sandbox):
        wallet = demo_wallet()
        before = wallet.balance
        r = move(admin_client, wallet, kind="deposit", amount="25.00", reason="bank transfer 42")
        assert r.status_code == 302 and r["Location"] == reverse("admin:wallet_wallet_changelist")
        assert demo_wallet().balance == before + 2_500
        journal = JournalTransaction.objects.get(kind=JournalTransaction.Kind.DEPOSIT, created_by__startswith="staff:")
        assert journal.created_by == f"staff:{admin_user.get_username()}"
        assert journal.memo == "bank transfer 42"
        assert sorted(journal.entries.values_list("amount", flat=True)) == [-2_500, 2_500]
        assert journal.entries.filter(account_id=wallet.account_id, amount=2_500).exists()
        assert any(f"ledger transaction {journal.pk}" in m for m in messages_of(r))
        assert ledger_reconcile().ok

    def test_deposit_with_a_reference_happens_once(self, admin_client, sandbox):
        wallet = demo_wallet()
        before = wallet.balance
        for _ in range(2):
            move(admin_client, wallet, kind="deposit", amount="3.00", reference="bank-777")
        assert demo_wallet().balance == before + 300
        assert JournalTransaction.objects.filter(provider_transaction_id="bank-777").count() == 1

    def test_a_form_sent_twice_without_a_reference_moves_the_money_once(self, admin_client, sandbox):
        # A double click, or a proxy retrying the post: the form's own submission is the key.
        wallet = demo_wallet()
        page = admin_client.get(reverse("admin:wallet_wallet_move", args=[wallet.pk]))
        submission = page.context["form"]["submission"].value()
        assert f'value="{submission}"' in page.content.decode()
        for _ in range(2):
            move(admin_client, wallet, kind="deposit", amount="3.00", submission=submission)
        assert demo_wallet().balance == wallet.balance + 300
        assert JournalTransaction.objects.filter(provider_transaction_id=f"staff-submission:{submission}").count() == 1
        # A form shown again is a new movement.
        again = admin_client.get(reverse("admin:wallet_wallet_move", args=[wallet.pk]))
        move(admin_client, wallet, kind="deposit", amount="3", submission=again.context["form"]["submission"].value())
        assert demo_wallet().balance == wallet.balance + 600

    def test_a_refused_movement_comes_back_to_be_corrected_as_a_new_one(self, admin_client, sandbox):
        wallet = demo_wallet("p_low_balance")
        page = admin_client.get(reverse("admin:wallet_wallet_move", args=[wallet.pk]))
        submission = page.context["form"]["submission"].value()
        r = move(admin_client, wallet, kind="withdraw", amount="0.51", submission=submission)
        assert r.context["form"]["amount"].value() == "0.51" and r.context["form"]["submission"].value() != submission
        corrected = move(
            admin_client, wallet, kind="withdraw", amount="0.50", submission=r.context["form"]["submission"].value()
        )
        assert corrected.status_code == 302 and demo_wallet("p_low_balance").balance == 0

    def test_withdrawal_larger_than_the_balance_shows_an_error(self, admin_client, sandbox):
        wallet = demo_wallet("p_low_balance")
        journals = JournalTransaction.objects.count()
        r = move(admin_client, wallet, kind="withdraw", amount="0.51")
        assert r.status_code == 200  # the form is shown again
        errors = messages_of(r)
        assert len(errors) == 1 and errors[0].startswith("INSUFFICIENT_FUNDS")
        assert b"INSUFFICIENT_FUNDS" in r.content
        assert demo_wallet("p_low_balance").balance == 50
        assert JournalTransaction.objects.count() == journals

    def test_withdrawal_within_the_balance(self, admin_client, admin_user, sandbox):
        wallet = demo_wallet("p_low_balance")
        r = move(admin_client, wallet, kind="withdraw", amount="0.5")
        assert r.status_code == 302
        assert demo_wallet("p_low_balance").balance == 0
        journal = JournalTransaction.objects.get(kind=JournalTransaction.Kind.WITHDRAWAL)
        assert journal.created_by == f"staff:{admin_user.get_username()}"

    @pytest.mark.parametrize(
        "currency, typed, minor, said",
        [
            ("EUR", "250.00", 25_000, "250.00 EUR"),
            ("EUR", "250", 25_000, "250.00 EUR"),
            ("EUR", "0.5", 50, "0.50 EUR"),
            ("JPY", "250", 250, "250 JPY"),
            ("KWD", "1.250", 1_250, "1.250 KWD"),
        ],
    )
    def test_the_amount_is_typed_in_the_wallets_currency(self, admin_client, sandbox, currency, typed, minor, said):
        """As people write money, not minor units: Django's integer field took "250.00" for
        250 minor units, EUR 2.50, without a word."""
        wallet = funded_wallet(currency=currency, amount=0)
        page = admin_client.get(reverse("admin:wallet_wallet_move", args=[wallet.pk])).content.decode()
        example = {"EUR": "10.50 for 10.50 EUR", "JPY": "1050 for 1050 JPY", "KWD": "1.050 for 1.050 KWD"}[currency]
        assert f"In {currency}, e.g. {example}." in page
        r = move(admin_client, wallet, kind="deposit", amount=typed, reason="bank transfer")
        assert Wallet.objects.get(pk=wallet.pk).balance == minor
        assert messages_of(r)[-1].startswith(f"Done: Deposited {said} (ledger transaction ")

    @pytest.mark.parametrize(
        "currency, typed",
        [("EUR", "1.000"), ("EUR", "2.505"), ("JPY", "2.5"), ("KWD", "1.0000"), ("EUR", "1,000"), ("EUR", "1 000")],
    )
    def test_more_decimal_places_than_the_currency_has_are_refused(self, admin_client, sandbox, currency, typed):
        """ "1.000" in EUR is as likely a thousand written with a thousands dot as one euro."""
        wallet = funded_wallet(currency=currency, amount=0)
        r = move(admin_client, wallet, kind="deposit", amount=typed, reason="bank transfer")
        assert r.status_code == 200 and r.context["form"].errors["amount"]
        assert (
            Wallet.objects.get(pk=wallet.pk).balance == 0
            and not JournalTransaction.objects.filter(created_by__startswith="staff:").exists()
        )

    def test_a_refusal_says_how_the_currency_is_written(self, admin_client, sandbox):
        r = move(admin_client, demo_wallet(), kind="deposit", amount="1.000")
        assert r.context["form"].errors["amount"] == [
            "EUR has 2 decimal places, e.g. 250.00, written without thousands separators."
        ]

    @pytest.mark.parametrize("amount", ["", "0", "-5", "abc", "NaN", "1e20", "1e2", "1E+999999", "-0.01", "+5", ".5"])
    def test_bad_amounts_move_nothing(self, admin_client, sandbox, amount):
        wallet = demo_wallet()
        journals = JournalTransaction.objects.count()
        r = move(admin_client, wallet, kind="deposit", amount=amount)
        assert r.status_code == 200
        assert demo_wallet().balance == wallet.balance
        assert JournalTransaction.objects.count() == journals

    def test_a_movement_made_before_under_its_reference_is_said_to_have_moved_nothing_now(self, admin_client, sandbox):
        """A bank transfer whose reference the payment system gave an earlier deposit of the
        same amount (one namespace): the deposit is answered as it was, and the page must not
        say "Done" as for a new one, or the transfer is never booked."""
        wallet_deposit(
            player_id="p_demo_1",
            currency="EUR",
            amount=10_000,
            created_by="operator:psp",
            reason="card",
            reference="12345",
        )
        before = demo_wallet().balance
        r = move(admin_client, demo_wallet(), kind="deposit", amount="100.00", reference="12345")
        journal = JournalTransaction.objects.get(provider_transaction_id="12345")
        assert demo_wallet().balance == before
        assert messages_of(r) == [
            f"Nothing moved now: this movement was already recorded under reference 12345 (ledger transaction "
            f"{journal.pk}); balance {Money(before, 'EUR').format(2)}."
        ]

    def test_staff_without_change_permission_may_not_move_money(self, client, django_user_model, sandbox):
        clerk = django_user_model.objects.create_user(username="clerk", password="x", is_staff=True)
        clerk.user_permissions.add(Permission.objects.get(codename="view_wallet"))
        client.force_login(clerk)
        wallet = demo_wallet()
        r = move(client, wallet, kind="deposit", amount="100")
        assert r.status_code == 302
        assert messages_of(r) == ["You may not move money."]
        assert demo_wallet().balance == wallet.balance
        assert not JournalTransaction.objects.filter(created_by="staff:clerk").exists()


class TestGameSidePages:
    @pytest.mark.parametrize("page", GAME_SIDE_PAGES)
    def test_changelist_returns_200(self, admin_client, sandbox, page):
        r = admin_client.get(reverse(f"admin:{page}_changelist"))
        assert r.status_code == 200
        assert r.context["cl"].result_count >= 1

    def test_money_is_shown_in_the_currencys_units(self, admin_client, sandbox):
        rounds = admin_client.get(reverse("admin:game_sessions_round_changelist")).content.decode()
        assert "1.00 EUR" in rounds and "0.40 EUR" in rounds
        entries = admin_client.get(reverse("admin:ledger_entry_changelist"), {"q": "wallet:p_demo_1:EUR"})
        assert "-1.00 EUR" in entries.content.decode() and "0.40 EUR" in entries.content.decode()

    def test_rows_are_shown(self, admin_client, sandbox):
        assert Round.objects.filter(round_id="admin-r1").exists() and GameSession.objects.exists()
        assert b"admin-r1" in admin_client.get(reverse("admin:game_sessions_round_changelist")).content
        assert b"sandbox:holdem" in admin_client.get(reverse("admin:provider_game_changelist")).content


class TestReturnAFailedPayout:
    def test_staff_return_a_withdrawal_once(self, admin_client, admin_user, sandbox):
        wallet = demo_wallet()
        before = wallet.balance
        move(admin_client, wallet, kind="withdraw", amount="300.00", reference="po-adm")
        assert demo_wallet().balance == before - 30_000
        for _ in range(2):
            r = move(admin_client, wallet, kind="return", reference="po-adm", reason="IBAN closed")
            assert r.status_code == 302, messages_of(r)
        assert demo_wallet().balance == before
        (returned,) = JournalTransaction.objects.filter(reverses__provider_transaction_id="po-adm")
        assert (returned.kind, returned.memo, returned.created_by) == (
            "withdrawal",
            "IBAN closed",
            f"staff:{admin_user.get_username()}",
        )
        assert ledger_reconcile().ok

    def test_only_a_withdrawal_of_this_wallet(self, admin_client, sandbox):
        before = demo_wallet().balance
        move(admin_client, demo_wallet(), kind="withdraw", amount="1.00", reference="po-eur")
        wallet_deposit(player_id="p_demo_1", currency="USD", amount=100, created_by="test", reason="a USD wallet")
        usd = demo_wallet(currency="USD")
        r = move(admin_client, usd, kind="return", reference="po-eur")
        assert r.status_code == 200
        assert any(m.startswith("WITHDRAWAL_NOT_FOUND") for m in messages_of(r))
        assert demo_wallet().balance == before - 100

    @pytest.mark.parametrize(
        "data, field",
        [
            ({"kind": "return"}, "reference"),
            ({"kind": "return", "reference": "po-x", "amount": "5"}, "amount"),
            ({"kind": "deposit"}, "amount"),
        ],
    )
    def test_the_form_says_what_is_missing(self, admin_client, sandbox, data, field):
        journals = JournalTransaction.objects.count()
        r = move(admin_client, demo_wallet(), **data)
        assert r.status_code == 200
        assert field in r.context["form"].errors
        assert JournalTransaction.objects.count() == journals


class TestSearch:
    """Searches by whole ids, found by their indexes (no UPPER(column) = UPPER(term)); odd
    input is no 500."""

    PAGES = [
        "game_sessions_round",
        "game_sessions_gamesession",
        "wallet_wallet",
        "wallet_withdrawal",
        "wallet_staffmovement",
        "wallet_monitoringalert",
        "ledger_entry",
        "ledger_idempotencyrecord",
        "ledger_settingchange",
        "players_playerauditlog",
        "provider_outboundtransaction",
        "provider_gameround",
    ]

    @pytest.mark.parametrize("page", PAGES)
    @pytest.mark.parametrize("term", ["p_demo_1", "12345", "not a number", "9" * 40])
    def test_a_search_compares_exactly_and_never_fails(self, admin_client, sandbox, page, term):
        queue = page in ("wallet_withdrawal", "wallet_staffmovement", "wallet_monitoringalert")
        query = {"q": term, **({"status": "all"} if queue else {})}
        with CaptureQueriesContext(connection) as queries:
            r = admin_client.get(reverse(f"admin:{page}_changelist"), query)
        assert r.status_code == 200
        assert not any("UPPER(" in q["sql"] for q in queries.captured_queries)

    def test_a_player_is_found_by_id_exactly_and_by_name_in_part(self, admin_client, sandbox):
        url = reverse("admin:players_player_changelist")
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(url, {"q": "p_demo_1"}).context["cl"].result_count == 1
        assert not any('UPPER("players_player"."player_id"' in q["sql"] for q in queries.captured_queries)
        assert admin_client.get(url, {"q": "Demo"}).context["cl"].result_count == 2  # Demo One, Demo Two

    def test_a_round_is_found_by_its_id_as_typed(self, admin_client, sandbox):
        url = reverse("admin:game_sessions_round_changelist")
        assert admin_client.get(url, {"q": "admin-r1"}).context["cl"].result_count == 1
        assert admin_client.get(url, {"q": "ADMIN-R1"}).context["cl"].result_count == 0
        assert admin_client.get(url, {"q": "p_demo_1"}).context["cl"].result_count == 1  # by its player

    def test_the_round_search_reads_indexes_not_the_rounds(self, admin_client, sandbox):
        """With sequential scans priced out, a plan that still has one has no index to use."""
        from django.contrib.admin.sites import site
        from django.test import RequestFactory

        from sessions.models import Round

        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
        round_admin = site._registry[Round]
        request = RequestFactory().get("/")
        for term in ("admin-r1", "p_demo_1"):
            found, _ = round_admin.get_search_results(request, Round.objects.all(), term)
            assert found.count() == 1
            plan = found.explain()
            assert not reads_whole(plan, "game_sessions_round"), plan

    @pytest.mark.parametrize("query", [{"q": "a\x00"}, {"provider_code": "\x00"}, {"status": "pending\x00"}])
    def test_a_nul_in_the_query_is_a_400(self, admin_client, sandbox, query):
        assert admin_client.get(reverse("admin:ledger_journaltransaction_changelist"), query).status_code == 400
        assert admin_client.get(reverse("admin:wallet_withdrawal_changelist"), query).status_code == 400

    def test_a_nul_in_a_repeated_parameter_is_a_400(self, admin_client, sandbox):
        url = reverse("admin:ledger_journaltransaction_changelist")
        assert admin_client.get(url + "?provider_code=%00&provider_code=sandbox").status_code == 400
