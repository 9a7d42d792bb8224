"""The ledger back office is read-only over an append-only journal, and its lists stay cheap."""

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from casino_platform.admin import EstimatedCountPaginator
from casino_platform.tests.plans import plan_of, reads_whole, search_plan_of, sorted_whole
from ledger.models import Account, Entry, IdempotencyRecord, JournalTransaction
from players.tests.factories import PlayerFactory
from wallet.tests.factories import funded_wallet

pytestmark = pytest.mark.django_db


def analyzed(table: str) -> int:
    """PostgreSQL's estimate of the table's rows, brought up to date."""
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table}")
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [table])
        return cursor.fetchone()[0]


def counted(queries: CaptureQueriesContext, table: str) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if "COUNT(*)" in q["sql"] and f'"{table}"' in q["sql"]]


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
        plan = journal_search(JournalTransaction.objects.all(), "ledger-r1").explain()
        # Not only no Seq Scan: with those priced out, a whole index read end to end.
        assert not reads_whole(plan, "ledger_journaltransaction"), plan


class TestEntrySearch:
    """A journal number or an account's key, each by its index: Django's search ORed
    transaction_id = N with the joined account's key, which no index serves, and paged an
    account's entries by id, which its (account, created_at) index does not give."""

    def search(self, admin_client, q):
        r = admin_client.get(reverse("admin:ledger_entry_changelist"), {"q": q})
        assert r.status_code == 200
        return r.context["cl"]

    def test_a_journal_number_finds_its_entries_by_the_transaction_key(self, admin_client, sandbox):
        journal = journal_of("ledger-d1")
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")  # the test's tables are tiny
        for term in (str(journal.pk), f" #{journal.pk} "):
            cl = self.search(admin_client, term)
            assert sorted(e.pk for e in cl.result_list) == sorted(journal.entries.values_list("pk", flat=True))
            plan = search_plan_of(cl)
            assert not reads_whole(plan, "ledger_entry"), plan

    def test_an_account_key_pages_its_entries_newest_first_along_its_index(self, admin_client, sandbox):
        from wallet.models import Wallet

        account = Wallet.objects.select_related("account").get(player__player_id="p_demo_1", currency_id="EUR").account
        with connection.cursor() as cursor:  # as on a table of millions: no reading it whole, no sorting
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_sort = off")
        cl = self.search(admin_client, account.key)
        expected = list(Entry.objects.filter(account=account).order_by("-created_at", "-id").values_list("pk"))
        assert len(expected) > 1 and [(e.pk,) for e in cl.result_list] == expected
        plan = plan_of(cl)
        assert not reads_whole(plan, "ledger_entry") and not sorted_whole(plan), plan

    @pytest.mark.parametrize("term", ["no-such-account", "9" * 30])
    def test_a_term_that_names_no_journal_or_account_finds_nothing(self, admin_client, sandbox, term):
        assert self.search(admin_client, term).result_count == 0


def test_idempotency_records_are_searched_by_key_under_every_scope_along_their_index(admin_client, sandbox):
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    r = admin_client.get(reverse("admin:ledger_idempotencyrecord_changelist"), {"q": "ledger-d1"})
    assert r.status_code == 200
    assert [rec.key for rec in r.context["cl"].result_list] == ["ledger-d1"]
    plan = search_plan_of(r.context["cl"])
    # The only index is (scope, key): without a condition on scope it is read end to end.
    assert not reads_whole(plan, "ledger_idempotencyrecord"), plan
    assert re.search(r"Index Cond: .*scope", plan), plan


def test_accounts_are_searched_by_key_along_its_index_and_counted_from_the_estimate(admin_client, sandbox, monkeypatch):
    """An account per wallet: the list's "contains" search read every key, and each page
    counted every account twice (the page's count and "of N in all")."""
    monkeypatch.setattr(EstimatedCountPaginator, "EXACT_BELOW", 1)  # the sandbox's accounts are "many"
    estimate = analyzed("ledger_account")
    url = reverse("admin:ledger_account_changelist")
    with CaptureQueriesContext(connection) as queries:
        assert admin_client.get(url).context["cl"].result_count == estimate
    assert not counted(queries, "ledger_account")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    key = "wallet:p_demo_1:EUR"
    r = admin_client.get(url, {"q": key})
    assert [account.key for account in r.context["cl"].result_list] == [key]
    assert not reads_whole(search_plan_of(r.context["cl"]), "ledger_account")
    assert "exactly as written" in r.content.decode()
    assert not admin_client.get(url, {"q": "p_demo_1"}).context["cl"].result_list  # a key, not a part of one


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
        monkeypatch.setattr(EstimatedCountPaginator, "EXACT_BELOW", 1)  # the sandbox's journal is "large"
        estimate = analyzed("ledger_journaltransaction")
        url = reverse("admin:ledger_journaltransaction_changelist")
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(url).context["cl"].result_count == estimate
        assert not counted(queries, "ledger_journaltransaction")

    def test_a_large_list_filtered_along_an_index_is_counted_exactly_up_to_a_cap(
        self, admin_client, sandbox, monkeypatch
    ):
        # "Large" from the sandbox's provider's two rows up, as on a table of millions.
        monkeypatch.setattr(EstimatedCountPaginator, "EXACT_BELOW", analyzed("ledger_journaltransaction"))
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
        url = reverse("admin:ledger_journaltransaction_changelist")
        with CaptureQueriesContext(connection) as queries:
            shown = admin_client.get(url, {"provider_code": "sandbox"}).context["cl"].result_count
        assert shown == JournalTransaction.objects.filter(provider_code="sandbox").count() == 2
        [count] = counted(queries, "ledger_journaltransaction")
        assert "LIMIT" in count  # stops at EXACT_BELOW, however many the planner expected

    def test_rows_an_index_finds_and_a_filter_thins_are_not_counted_by_reading_them(
        self, admin_client, sandbox, monkeypatch
    ):
        """The provider's journal found by its index and filtered by kind: counting the few
        it keeps reads every row the index found (a month's journal, filtered by kind)."""
        monkeypatch.setattr(EstimatedCountPaginator, "EXACT_BELOW", analyzed("ledger_journaltransaction"))
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
        url = reverse("admin:ledger_journaltransaction_changelist")
        with CaptureQueriesContext(connection) as queries:
            shown = admin_client.get(url, {"provider_code": "sandbox", "kind__exact": "debit"}).context["cl"]
        assert not counted(queries, "ledger_journaltransaction")
        assert shown.result_count == EstimatedCountPaginator.ESTIMATE_AT_LEAST  # no single page without a LIMIT
        assert not shown.can_show_all

    def test_a_large_list_filtered_where_no_index_serves_is_not_counted_by_reading_it(
        self, admin_client, sandbox, monkeypatch
    ):
        """The entries of a currency: no index holds it (ledger 0004), so an exact count(*)
        read every entry on every load of the page. The planner's estimate is shown instead."""
        monkeypatch.setattr(EstimatedCountPaginator, "EXACT_BELOW", 1)
        analyzed("ledger_entry")
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
        with CaptureQueriesContext(connection) as queries:
            r = admin_client.get(reverse("admin:ledger_entry_changelist"), {"currency__code__exact": "EUR"})
        assert r.status_code == 200
        assert not counted(queries, "ledger_entry")
        explained = json.loads(Entry.objects.filter(currency_id="EUR").values("pk").explain(format="json"))
        # Never below what Django would list on one page without a LIMIT, or offer to "Show all".
        estimate = max(explained[0]["Plan"]["Plan Rows"], EstimatedCountPaginator.ESTIMATE_AT_LEAST)
        assert r.context["cl"].result_count == estimate

    @pytest.mark.parametrize("value", ["abc", "", "999999999999"])
    def test_a_value_a_filter_does_not_list_is_refused_as_djangos_own_filters_refuse_it(
        self, admin_client, sandbox, value
    ):
        r = admin_client.get(reverse("admin:ledger_idempotencyrecord_changelist"), {"response_status": value})
        assert r.status_code == 302 and r["Location"].endswith("?e=1")
