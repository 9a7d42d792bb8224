"""The ledger back office is read-only over an append-only journal, and its lists stay cheap."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from ledger.models import Account, Entry, IdempotencyRecord, JournalTransaction
from players.tests.factories import PlayerFactory
from wallet.tests.factories import funded_wallet

pytestmark = pytest.mark.django_db

CHANGELISTS = [
    "ledger_journaltransaction",
    "ledger_entry",
    "ledger_account",
    "ledger_currency",
    "ledger_idempotencyrecord",
]


def journal_of(tx: str) -> JournalTransaction:
    return JournalTransaction.objects.get(provider_transaction_id=tx)


class TestPages:
    @pytest.mark.parametrize("page", CHANGELISTS)
    def test_changelist_returns_200(self, admin_client, sandbox, page):
        r = admin_client.get(reverse(f"admin:{page}_changelist"))
        assert r.status_code == 200
        # show_full_result_count=False on the big tables: the filtered count is all there is.
        assert r.context["cl"].result_count >= 1

    def test_journal_change_page_shows_its_entries(self, admin_client, sandbox):
        journal = journal_of("ledger-d1")
        r = admin_client.get(reverse("admin:ledger_journaltransaction_change", args=[journal.pk]))
        assert r.status_code == 200
        assert not r.context["has_change_permission"]
        content = r.content.decode()
        assert "ledger-d1" in content and "ledger-r1" in content
        for entry in journal.entries.select_related("account", "currency"):
            assert entry.account.key in content
            assert entry.currency.format(entry.amount) in content  # 10.50 EUR, not 1050 beside EUR

    def test_a_wallet_s_entries_are_listed_newest_first_along_its_index(self, admin_client, sandbox):
        from wallet.models import Wallet

        wallet = Wallet.objects.get(player__player_id="p_demo_1", currency_id="EUR")
        r = admin_client.get(reverse("admin:ledger_entry_changelist"), {"account__id__exact": wallet.account_id})
        shown = [(e.created_at, e.pk) for e in r.context["cl"].result_list]
        assert len(shown) > 1 and shown == sorted(shown, reverse=True)
        assert r.context["cl"].queryset.query.order_by[:2] == ("-created_at", "-id")

    def test_changelist_search_by_provider_transaction_id(self, admin_client, sandbox):
        r = admin_client.get(reverse("admin:ledger_journaltransaction_changelist"), {"q": "ledger-c1"})
        assert r.status_code == 200
        assert [j.pk for j in r.context["cl"].result_list] == [journal_of("ledger-c1").pk]


class TestReadOnly:
    def test_journal_transaction_has_no_add_or_delete(self, admin_client, sandbox):
        journal = journal_of("ledger-d1")
        assert admin_client.get(reverse("admin:ledger_journaltransaction_add")).status_code == 403
        assert admin_client.post(reverse("admin:ledger_journaltransaction_add"), {"kind": "deposit"}).status_code == 403
        delete_url = reverse("admin:ledger_journaltransaction_delete", args=[journal.pk])
        assert admin_client.get(delete_url).status_code == 403
        assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403
        assert JournalTransaction.objects.filter(pk=journal.pk).exists()

    def test_journal_changelist_offers_no_add_and_no_bulk_delete(self, admin_client, sandbox):
        r = admin_client.get(reverse("admin:ledger_journaltransaction_changelist"))
        assert not r.context["has_add_permission"]
        assert reverse("admin:ledger_journaltransaction_add").encode() not in r.content
        assert "delete_selected" not in (r.context["cl"].model_admin.get_actions(r.wsgi_request) or {})

    def test_bulk_delete_action_is_refused(self, admin_client, sandbox):
        journal = journal_of("ledger-d1")
        r = admin_client.post(
            reverse("admin:ledger_journaltransaction_changelist"),
            {"action": "delete_selected", "_selected_action": [journal.pk], "post": "yes"},
        )
        assert r.status_code in (200, 302)
        assert JournalTransaction.objects.filter(pk=journal.pk).exists()

    @pytest.mark.parametrize(
        ("page", "model"),
        [("ledger_entry", Entry), ("ledger_account", Account), ("ledger_idempotencyrecord", IdempotencyRecord)],
    )
    def test_other_ledger_tables_are_read_only(self, admin_client, sandbox, page, model):
        obj = model.objects.first()
        assert admin_client.get(reverse(f"admin:{page}_add")).status_code == 403
        assert admin_client.get(reverse(f"admin:{page}_delete", args=[obj.pk])).status_code == 403
        r = admin_client.get(reverse(f"admin:{page}_change", args=[obj.pk]))
        assert r.status_code == 200 and not r.context["has_change_permission"]


class TestQueries:
    def test_journal_changelist_queries_do_not_grow_with_rows(
        self, admin_client, sandbox, django_assert_max_num_queries
    ):
        url = reverse("admin:ledger_journaltransaction_changelist")
        with CaptureQueriesContext(connection) as few:
            assert admin_client.get(url).status_code == 200
        for _ in range(10):
            funded_wallet(player=PlayerFactory(), amount=1_000)
        assert JournalTransaction.objects.count() >= 16
        # Session, user, one page count, the page, date hierarchy (range and days), provider filter.
        with django_assert_max_num_queries(9):
            assert admin_client.get(url).status_code == 200
        with CaptureQueriesContext(connection) as many:
            admin_client.get(url)
        assert len(many) == len(few)


class TestRoundMoneyMovements:
    def test_a_rounds_page_lists_its_debit_and_credit_with_the_wallets_side(self, admin_client, sandbox):
        from sessions.models import Round

        game_round = Round.objects.get(round_id="ledger-r1")
        r = admin_client.get(reverse("admin:game_sessions_round_change", args=[game_round.pk]))
        assert r.status_code == 200
        content = r.content.decode()
        for tx, moved in (("ledger-d1", "-1.00 EUR"), ("ledger-c1", "0.40 EUR")):
            journal = journal_of(tx)
            assert reverse("admin:ledger_journaltransaction_change", args=[journal.pk]) in content
            assert tx in content
            assert moved in content
        assert content.index("ledger-d1") < content.index("ledger-c1")

    def test_staff_who_may_not_read_the_journal_see_its_numbers_without_links(self, client, sandbox):
        from django.contrib.auth.models import Permission, User

        from sessions.models import Round

        support = User.objects.create_user("support", password="pw", is_staff=True)
        support.user_permissions.add(Permission.objects.get(codename="view_round"))
        client.force_login(support)
        game_round = Round.objects.get(round_id="ledger-r1")
        r = client.get(reverse("admin:game_sessions_round_change", args=[game_round.pk]))
        assert r.status_code == 200
        content = r.content.decode()
        journal = journal_of("ledger-d1")
        assert f"#{journal.pk}" in content and "ledger-d1" in content
        assert reverse("admin:ledger_journaltransaction_change", args=[journal.pk]) not in content
        support.user_permissions.add(Permission.objects.get(codename="view_journaltransaction"))
        support = User.objects.get(pk=support.pk)  # permissions are cached on the user object
        client.force_login(support)
        r = client.get(reverse("admin:game_sessions_round_change", args=[game_round.pk]))
        assert reverse("admin:ledger_journaltransaction_change", args=[journal.pk]) in r.content.decode()

    def test_a_round_with_nothing_booked_says_so(self, admin_client, sandbox):
        from sessions.models import Round

        game_round = Round.objects.get(round_id="ledger-r1")
        other = Round.objects.create(
            provider=game_round.provider,
            round_id="ledger-empty",
            player=game_round.player,
            currency=game_round.currency,
            game_id=game_round.game_id,
            opened_at=game_round.opened_at,
        )
        r = admin_client.get(reverse("admin:game_sessions_round_change", args=[other.pk]))
        assert r.status_code == 200
        assert "None booked." in r.content.decode()

    def test_the_movements_are_found_by_journal_round_idx(self, sandbox):
        """The index every debit, credit and rollback pays for is what this page reads by."""
        from ledger.selectors import round_journal

        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")  # the test's tables are tiny
        plan = round_journal(provider_code="sandbox", round_id="ledger-r1").explain()
        assert "journal_round_idx" in plan


class TestJournalSearch:
    def search(self, admin_client, q):
        r = admin_client.get(reverse("admin:ledger_journaltransaction_changelist"), {"q": q})
        assert r.status_code == 200
        return sorted(j.pk for j in r.context["cl"].result_list)

    def test_by_round_id_journal_number_and_trace_id(self, admin_client, sandbox):
        debit, credit = journal_of("ledger-d1"), journal_of("ledger-c1")
        assert self.search(admin_client, " ledger-r1 ") == sorted([debit.pk, credit.pk])
        assert self.search(admin_client, str(credit.pk)) == [credit.pk]
        assert self.search(admin_client, f"#{credit.pk}") == [credit.pk]
        assert self.search(admin_client, f"trace:{debit.trace_id}") == [
            j.pk for j in JournalTransaction.objects.filter(trace_id=debit.trace_id).order_by("pk")
        ]
        assert self.search(admin_client, "no-such-id") == []
        assert self.search(admin_client, "9" * 30) == []  # past bigint: no journal number
        assert self.search(admin_client, "1" * 5_000) == []  # past what int() parses

    def test_every_provider_code_in_the_journal_is_searched(self, admin_client, sandbox):
        from ledger.selectors import journal_provider_codes

        assert journal_provider_codes() == sorted(
            set(JournalTransaction.objects.values_list("provider_code", flat=True))
        )

    def test_the_search_reads_indexes_not_the_journal(self, sandbox):
        """With sequential scans priced out, a plan that still has one has no index to use."""
        from ledger.selectors import journal_search

        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
        from casino_platform.tests.plans import reads_whole

        plan = journal_search(JournalTransaction.objects.all(), "ledger-r1").explain()
        # Not only no Seq Scan: with those priced out, a whole index read end to end.
        assert not reads_whole(plan, "ledger_journaltransaction"), plan


class TestListFilters:
    """The filters of the journal's and the idempotency keys' lists list their values along
    an index or from what the code knows, not by reading the table (SELECT DISTINCT)."""

    @pytest.mark.parametrize(
        ("page", "query", "choices"),
        [
            ("ledger_journaltransaction", {"provider_code": "sandbox"}, "provider code"),
            ("ledger_idempotencyrecord", {"scope": "sandbox"}, "scope"),
            ("ledger_idempotencyrecord", {"operation": "debit"}, "operation"),
            ("ledger_idempotencyrecord", {"response_status": "402"}, "response status"),
        ],
    )
    def test_a_filter_lists_its_values_without_reading_the_table(self, admin_client, sandbox, page, query, choices):
        with CaptureQueriesContext(connection) as queries:
            r = admin_client.get(reverse(f"admin:{page}_changelist"), query)
        assert r.status_code == 200
        assert not any("DISTINCT" in q["sql"] for q in queries.captured_queries)
        spec = next(f for f in r.context["cl"].filter_specs if f.title == choices)
        assert any(value == next(iter(query.values())) for value, _ in spec.lookup_choices)

    def test_a_filter_keeps_the_rows_of_its_value(self, admin_client, sandbox):
        url = reverse("admin:ledger_journaltransaction_changelist")
        codes = set(JournalTransaction.objects.values_list("provider_code", flat=True))
        for code in codes:
            shown = admin_client.get(url, {"provider_code": code}).context["cl"].result_count
            assert shown == JournalTransaction.objects.filter(provider_code=code).count()

    def test_the_journal_by_the_day_it_was_booked(self, admin_client, sandbox):
        url = reverse("admin:ledger_journaltransaction_changelist")
        seeded = JournalTransaction.objects.count()
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(url, {"booked": "today"}).context["cl"].result_count == seeded
        assert not any("DISTINCT" in q["sql"] for q in queries.captured_queries)
        assert admin_client.get(url, {"booked": "7d"}).context["cl"].result_count == seeded
        assert admin_client.get(url, {"booked": "yesterday"}).context["cl"].result_count == 0

    def test_a_large_unfiltered_list_is_counted_from_the_estimate(self, admin_client, sandbox, monkeypatch):
        from casino_platform.admin import EstimatedCountPaginator

        monkeypatch.setattr(EstimatedCountPaginator, "EXACT_BELOW", 1)  # the sandbox's journal is "large"
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE ledger_journaltransaction")
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = 'ledger_journaltransaction'::regclass")
            estimate = cursor.fetchone()[0]
        url = reverse("admin:ledger_journaltransaction_changelist")
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(url).context["cl"].result_count == estimate
        assert not any(
            "COUNT(*)" in q["sql"] and "ledger_journaltransaction" in q["sql"] for q in queries.captured_queries
        )
        # Filtered, it is counted exactly.
        deposits = JournalTransaction.objects.filter(kind="deposit").count()
        assert admin_client.get(url, {"kind__exact": "deposit"}).context["cl"].result_count == deposits

    @pytest.mark.parametrize("value", ["abc", "", "999999999999"])
    def test_a_value_a_filter_does_not_list_is_refused_as_djangos_own_filters_refuse_it(
        self, admin_client, sandbox, value
    ):
        r = admin_client.get(reverse("admin:ledger_idempotencyrecord_changelist"), {"response_status": value})
        assert r.status_code == 302 and r["Location"].endswith("?e=1")
