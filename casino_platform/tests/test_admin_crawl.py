"""The whole back office crawled as a superuser over seeded data, one test per ModelAdmin
registered on the admin site, so that a failure names its model and its pages: the list,
each link the list renders (its filters' choices, the date hierarchy, its sort headers and
pages), a search for each of a few awkward terms, each sortable column both ways, the add
page, the change page, history and delete confirmation of existing rows and of ids that are
no row's, each page of the admin's own get_urls that takes no argument or a row's id (a
form it sends by GET, the Reports', filled in), and each list action's first step. The lists
are counted as big tables are, from the planner's estimates (EstimatedCountPaginator).

A page answers 200 (a redirect only where Django's admin redirects by design: a row that
does not exist). A 500 is a bug; so is a 400 here, since every request the crawl makes is
one a member of staff can make by clicking or typing in the search box."""

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from html import unescape
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, urlencode
from urllib.parse import quote as urlquote

from django import forms
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db import connection
from django.test import Client, TestCase
from django.urls import reverse
from rest_framework.authtoken.models import Token

from casino_platform import clock
from casino_platform.admin import EstimatedCountPaginator
from casino_platform.second_factor import staff_backup_codes_issue
from ledger.models import Currency
from ledger.services import export_record_start
from players.models import Player
from players.services import (
    player_block,
    player_set_daily_play_time_limit,
    player_set_deposit_limit,
    player_set_loss_limit,
    player_set_session_time_limit,
    player_set_wager_limit,
    player_time_out,
)
from provider.models import (
    Game,
    GameRound,
    OutboundAttempt,
    OutboundTransaction,
    PartnerCasino,
    PartnerPlayer,
    Provider,
)
from sessions.models import PlatformSwitch
from sessions.services import platform_switch_set, session_close, session_create
from wallet.models import MonitoringAlert, StaffMovement, Wallet
from wallet.services import (
    staff_money_move,
    staff_movement_reject,
    wallet_credit,
    wallet_debit,
    wallet_deposit,
    wallet_rollback,
    wallet_withdraw,
    wallet_withdrawal_return,
    withdrawal_reject,
)
from wallet.services.monitoring import monitoring_alert_decide, monitoring_sweep
from wallet.tests.conftest import credit_request, debit_request, rollback_request

# What staff type in a search box: a letter, a digit, LIKE's wildcard, a quote, a letter
# beyond ASCII, longer than any id column, a sign, past bigint.
AWKWARD_TERMS = ("x", "0", "%", "'", "ü", "q" * 70, "-1", "9999999999999999999999")
# The lists' pages, small enough for the seeded rows to need several and "Show all".
LIST_PER_PAGE = 2
LIST_MAX_SHOW_ALL = 20
# A list's parameters that are not its filters: the order, the page, "Show all", the counts.
NOT_FILTERS = {"o", "p", "all", "_facets"}
# Searched for in each list a filter's link leads to: no row's id, and a number.
LINK_SEARCH_TERMS = ("x", "0")
# What a date field of a form sent by GET may be given: the calendar's ends.
AWKWARD_DATES = ("0001-01-01", "9999-12-31")
# Ids of no row: on the standard pages Django's admin redirects with a message, on a
# get_urls page with an <int:> argument it is a 404.
NO_SUCH_IDS = ("0", "9999999999999999999999")
# The standard pages of ModelAdmin.get_urls, by the suffix of their names.
STANDARD_PAGES = ("changelist", "add", "history", "delete", "change")

_QUERY_LINK = re.compile(r'<a\b[^>]*\shref="(\?[^"]*)"')
_DATE_HIERARCHY = re.compile(r'<nav class="toplinks">(.*?)</nav>', re.DOTALL)


def seed() -> None:
    """The sandbox, and a row in every table an admin lists: play with a win, a rollback and
    a rollback of a bet never seen; withdrawals held and paid; staff's movements alone and
    held; limits; a monitoring alert; a reconcile run and an export; a partner's round and
    its delivery; a group, an API token and a switch."""
    call_command("seed_sandbox", stdout=io.StringIO())
    Currency.objects.filter(code="EUR").update(
        staff_approval_above=50_000,
        staff_daily_allowance=200_000,
        large_win_above=1_000,
        deposits_24h_above=3_000,
        low_play_withdrawal_percent=50,
    )
    provider = Provider.objects.get(code="sandbox")
    wallet = Wallet.objects.select_related("player").get(player__player_id="p_demo_1", currency_id="EUR")
    player = wallet.player
    session_create(provider=provider, player=player, game=Game.objects.get(game_id="sandbox:dice"), currency="EUR")
    closed, _ = session_create(
        provider=provider, player=player, game=Game.objects.get(game_id="sandbox:slot"), currency="EUR"
    )
    session_close(session=closed)

    wallet_debit(provider=provider, request=debit_request(wallet, amount=500, round_id="crawl-won"))
    wallet_credit(provider=provider, request=credit_request(wallet, amount=2_500, round_id="crawl-won"))
    bet = debit_request(wallet, amount=300, round_id="crawl-rolled-back")
    wallet_debit(provider=provider, request=bet)
    wallet_rollback(
        provider=provider, request=rollback_request(wallet, reference=bet.transaction_id, round_id=bet.round_id)
    )
    wallet_rollback(
        provider=provider, request=rollback_request(wallet, reference="crawl-never-seen", round_id="crawl-x")
    )
    wallet_debit(provider=provider, request=debit_request(wallet, amount=200, round_id="crawl-open"))

    for reference, review_reason in (("paid", ""), ("returned", ""), ("held", "large"), ("rejected", "large")):
        wallet_withdraw(
            player_id=player.player_id,
            currency="EUR",
            amount=1_000,
            created_by="operator:test",
            reason="payout",
            reference=f"crawl-po-{reference}",
            review_reason=review_reason,
        )
    withdrawal_reject(reference="crawl-po-rejected", staff="staff:bob", reason="no")
    wallet_withdrawal_return(
        player_id=player.player_id, reference="crawl-po-returned", created_by="staff:bob", reason="bounced"
    )
    staff_money_move(wallet=wallet, kind="deposit", amount=1_000, staff="staff:alice", reason="bank transfer")
    for kind, amount in (("deposit", 60_000), ("withdraw", 60_000), ("adjust", -60_000)):
        staff_money_move(wallet=wallet, kind=kind, amount=amount, staff="staff:alice", reason="bank transfer")
    waiting = StaffMovement.objects.filter(kind="withdraw").get()
    staff_movement_reject(movement_id=waiting.pk, staff="staff:bob", reason="no")
    wallet_deposit(player_id="p_demo_2", currency="EUR", amount=5_000, created_by="operator:psp", reason="card")

    for set_limit in (player_set_loss_limit, player_set_wager_limit, player_set_deposit_limit):
        set_limit(player=player, currency="EUR", period="day", amount=500_000, changed_by="staff:ana", reason="asked")
    for set_minutes in (player_set_session_time_limit, player_set_daily_play_time_limit):
        set_minutes(player=player, minutes=120, changed_by="staff:ana", reason="asked")

    monitoring_sweep()
    first, second = MonitoringAlert.objects.order_by("id")[:2]
    monitoring_alert_decide(alert_id=first.pk, staff="staff:bob", decision="clear", memo="fine")
    monitoring_alert_decide(
        alert_id=second.pk, staff="staff:bob", decision="report", memo="odd", report_reference="SAR-1"
    )
    player_block(player=Player.objects.get(player_id="p_low_balance"), changed_by="staff:ana", reason="fraud")
    player_time_out(
        player=Player.objects.get(player_id="p_demo_2"),
        until=clock.now() + timedelta(days=1),
        changed_by="p",
        reason="break",
    )
    call_command("reconcile", stdout=io.StringIO())
    now = clock.now()
    export_record_start(
        exported_by="staff:ana",
        report="journal",
        since=now - timedelta(days=1),
        until=now,
        currency="EUR",
        provisional=True,
    )

    partner = PartnerCasino.objects.get(provider_code="sandbox")
    partner_player = PartnerPlayer.objects.create(partner=partner, partner_player_id="pp-1")
    game_round = GameRound.objects.create(
        partner=partner, round_id="gr-1", player=partner_player, game_id="sandbox:dice", currency="EUR", stake=100
    )
    delivery = OutboundTransaction.objects.create(
        partner=partner,
        player=partner_player,
        round=game_round,
        transaction_id="c-1",
        kind="credit",
        reason="win",
        amount=150,
        currency="EUR",
        status="pending",
        attempts=1,
        last_error_code="SERVICE_UNAVAILABLE",
    )
    OutboundAttempt.objects.create(transaction=delivery, http_status=503, error_code="SERVICE_UNAVAILABLE")

    Group.objects.create(name="support")
    # A wrong password at the back office's door: its attempt and its failure's log (django-axes).
    Client(REMOTE_ADDR="203.0.113.9").post("/admin/login/", {"username": "mallory", "password": "guess"})
    platform_switch_set(name=PlatformSwitch.Name.NO_NEW_SESSIONS, is_on=False, changed_by="staff:ana", reason="test")
    assert set(MonitoringAlert.objects.values_list("rule", flat=True)) == set(MonitoringAlert.Rule.values)


class Crawl:
    """The pages of one ModelAdmin, requested one by one; what each answered, and every answer
    that is not what the page should answer."""

    def __init__(self, client: Any, model_admin: admin.ModelAdmin) -> None:
        self.client, self.model_admin = client, model_admin
        opts = model_admin.model._meta
        self.info = f"{opts.app_label}_{opts.model_name}"
        self.pages = 0
        self.problems: list[str] = []

    def get(self, url: str, expected: tuple[int, ...] = (200,)) -> Any:
        return self.request("GET", url, None, expected)

    def request(self, method: str, url: str, data: dict[str, Any] | None, expected: tuple[int, ...]) -> Any:
        self.pages += 1
        page = f"{method} {url} {data}" if data else url
        try:
            response = self.client.generic(method, url) if data is None else self.client.post(url, data)
            if response.streaming:  # a download: its rows are read as it is sent
                b"".join(response.streaming_content)
        except Exception as exc:  # the page's crash, named with the page
            self.problems.append(f"{page}: raised {type(exc).__name__}: {exc}")
            return None
        if response.status_code not in expected:
            body = getattr(response, "content", b"")[:300].decode(errors="replace")
            self.problems.append(f"{page}: {response.status_code} (expected {expected}) {body!r}")
        return response

    def run(self) -> None:
        changelist = reverse(f"admin:{self.info}_changelist")
        response = self.get(changelist)
        if response is None or response.status_code != 200:
            return
        self.links(changelist, response)
        self.searches(changelist, response)
        self.sorts(changelist, response)
        request = response.wsgi_request
        if self.model_admin.has_add_permission(request):
            self.get(reverse(f"admin:{self.info}_add"))
        rows = self.rows(response.context["cl"])
        for obj, object_id in rows:
            self.get(reverse(f"admin:{self.info}_change", args=[object_id]))
            self.get(reverse(f"admin:{self.info}_history", args=[object_id]))
            if self.model_admin.has_delete_permission(request, obj):
                self.get(reverse(f"admin:{self.info}_delete", args=[object_id]))
        # Delete pages only where deleting is allowed: elsewhere Django refuses (403) before
        # looking the row up.
        pages = (
            ("change", "history", "delete")
            if self.model_admin.has_delete_permission(request)
            else ("change", "history")
        )
        for pk in NO_SUCH_IDS:
            for page in pages:
                # The admin's "no such row" redirect; a key Django cannot read is a 404.
                self.get(reverse(f"admin:{self.info}_{page}", args=[pk]), expected=(302, 404))
        self.own_pages(rows)
        self.actions(changelist, response)

    def rows(self, cl: Any) -> list[tuple[Any, str]]:
        """The first and the last row by key, and the first of each value of each field with
        choices (a status, a kind, a rule), each with its id as the list links to it (a
        proxy's may be another model's key: DRF's tokens are linked by their user's)."""
        rows = self.model_admin.model._default_manager.order_by("pk")
        found = [rows.first(), rows.last()]
        assert found[0] is not None, f"no {self.info} seeded: the crawl needs a row of each model"
        for field in self.model_admin.model._meta.concrete_fields:
            if field.choices:
                found += [rows.filter(**{field.attname: value}).first() for value, _ in field.flatchoices]
        unique = {obj.pk: obj for obj in found if obj is not None}.values()
        return [(obj, cl.url_for_result(obj).rstrip("/").split("/")[-2]) for obj in unique]

    def links(self, changelist: str, response: Any) -> None:
        """Each link to another view of the list the page renders (filters, date hierarchy,
        sort headers, pages, "Show all"), and the date hierarchy's links down to its days."""
        seen: set[str] = set()
        searchable = bool(self.model_admin.get_search_fields(response.wsgi_request))
        cl = response.context["cl"]
        for spec in cl.filter_specs:  # each choice of each filter is a link the page renders
            for choice in spec.choices(cl):
                if choice["query_string"] not in _query_links(response.content.decode()):
                    self.problems.append(f"{changelist}: filter {spec.title!r} links to no {choice['query_string']}")
        for query in _query_links(response.content.decode()):
            if query in seen:
                continue
            seen.add(query)
            page = self.get(changelist + query)
            if page is None or page.status_code != 200:
                continue
            if searchable and set(parse_qs(query.lstrip("?"))) - NOT_FILTERS:
                for term in LINK_SEARCH_TERMS:  # the filtered list searched
                    self.get(f"{changelist}{query}&q={urlquote(term)}")
            for drill in _date_hierarchy_links(page.content.decode()):
                if drill not in seen:
                    seen.add(drill)
                    deeper = self.get(changelist + drill)
                    for day in _date_hierarchy_links(deeper.content.decode()) if deeper is not None else ():
                        if day not in seen:
                            seen.add(day)
                            self.get(changelist + day)

    def searches(self, changelist: str, response: Any) -> None:
        if not self.model_admin.get_search_fields(response.wsgi_request):
            return
        for term in AWKWARD_TERMS:
            self.get(f"{changelist}?q={urlquote(term)}")

    def sorts(self, changelist: str, response: Any) -> None:
        cl = response.context["cl"]
        for index, name in enumerate(cl.list_display):
            if cl.get_ordering_field(name) is None:
                continue
            for sign in ("", "-"):
                self.get(f"{changelist}?o={sign}{index}")

    def own_pages(self, rows: list[tuple[Any, str]]) -> None:
        """The pages the ModelAdmin adds in get_urls, with no argument or a row's id."""
        standard = {f"{self.info}_{page}" for page in STANDARD_PAGES}
        for pattern in self.model_admin.get_urls():
            name = getattr(pattern, "name", None)
            if name is None or name in standard:
                continue
            arguments = list(pattern.pattern.converters)
            if not arguments:
                url = reverse(f"admin:{name}")
                if (page := self.get(url)) is not None and page.status_code == 200:
                    self.get_forms(url, page)
            elif len(arguments) == 1:
                for _, object_id in rows:
                    self.get(reverse(f"admin:{name}", args=[object_id]))
                for pk in NO_SUCH_IDS:
                    self.get(reverse(f"admin:{name}", args=[pk]), expected=(404,))
            else:
                raise AssertionError(f"{name} takes {arguments}: teach the crawl what to pass")

    def get_forms(self, url: str, response: Any) -> None:
        """A page's form sent by GET (a report's), as its initial values, with each choice of
        each of its choice fields, and with each awkward value in each field."""
        form = (response.context or {}).get("form")
        if form is None or 'method="get"' not in response.content.decode():
            return
        initial = {name: form[name].value() for name in form.fields}
        initial = {name: "" if value is None else str(value) for name, value in initial.items()}
        for name, field in form.fields.items():  # a choice the form needs, where none is made
            if not initial[name] and field.required and getattr(field, "choices", None):
                initial[name] = next(str(value) for value, _ in field.choices if value != "")
        # The dates a day on too: a report of yesterday (the form's own) is of no seeded row.
        today = {
            name: (date.fromisoformat(value) + timedelta(days=1)).isoformat()
            if isinstance(form.fields[name], forms.DateField) and value
            else value
            for name, value in initial.items()
        }
        queries = []
        for name, field in form.fields.items():
            for base in (initial, today):
                queries += [{**base, name: str(value)} for value, _ in getattr(field, "choices", ())]
            queries += [{**initial, name: value} for value in (*AWKWARD_TERMS, *AWKWARD_DATES)]
        for query in queries:
            self.get(f"{url}?{urlencode(query)}")

    def actions(self, changelist: str, response: Any) -> None:
        """Each action of the list on its first row: the confirmation page, or what the action
        does to one row and its message (the test's transaction undoes it)."""
        cl = response.context["cl"]
        if not cl.result_list:
            return
        row = cl.result_list[0].pk
        for name in self.model_admin.get_actions(response.wsgi_request):
            self.request(
                "POST", changelist, {"action": name, "_selected_action": [row], "index": 0}, expected=(200, 302)
            )


def _query_links(page: str) -> Iterator[str]:
    for href in _QUERY_LINK.findall(page):
        yield unescape(href)


def _date_hierarchy_links(page: str) -> list[str]:
    nav = _DATE_HIERARCHY.search(page)
    return list(_query_links(nav.group(1))) if nav else []


def _registered() -> list[tuple[str, admin.ModelAdmin]]:
    return sorted(
        ((f"{m._meta.app_label}_{m._meta.model_name}", ma) for m, ma in admin.site._registry.items()),
        key=lambda item: item[0],
    )


def _rows_now(paginator: EstimatedCountPaginator, table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{table}"')  # a model's own table name
        return int(cursor.fetchone()[0])


@contextmanager
def counted_as_big_tables() -> Iterator[None]:
    """Every table with a row counts as big (EstimatedCountPaginator estimates it), its rows
    given as ANALYZE would give them. Not ANALYZE itself: the row counts it writes are kept
    past the test's rollback, and later tests' plans were made for tables of a row or two."""
    with (
        mock.patch.object(EstimatedCountPaginator, "EXACT_BELOW", 1),
        mock.patch.object(EstimatedCountPaginator, "_table_rows", _rows_now),
    ):
        yield


class TestAdminCrawl(TestCase):
    """One test per registered ModelAdmin (test_<app>_<model>), over the same seeded data."""

    @classmethod
    def setUpTestData(cls) -> None:
        seed()
        cls.superuser = User.objects.create_superuser("crawler", "crawler@example.com", "pw")
        Token.objects.create(user=cls.superuser)
        staff_backup_codes_issue(cls.superuser)  # their app comes with force_login (conftest)

    def setUp(self) -> None:
        self.client.force_login(self.superuser)

    def crawl(self, model_admin: admin.ModelAdmin) -> None:
        crawl = Crawl(self.client, model_admin)
        # Pages of two rows, so that the lists render their page links and "Show all"; lists
        # of big tables counted from the planner's estimates, as in production.
        with (
            mock.patch.object(model_admin, "list_per_page", LIST_PER_PAGE),
            mock.patch.object(model_admin, "list_max_show_all", LIST_MAX_SHOW_ALL),
            counted_as_big_tables(),
        ):
            crawl.run()
        assert not crawl.problems, f"{len(crawl.problems)} of {crawl.pages} pages:\n" + "\n".join(crawl.problems)

    def test_the_index_and_each_app_s_index(self) -> None:
        assert self.client.get(reverse("admin:index")).status_code == 200
        for app_label in sorted({m._meta.app_label for m in admin.site._registry}):
            response = self.client.get(reverse("admin:app_list", args=[app_label]))
            assert response.status_code == 200, app_label

    def test_a_big_list_searched_for_what_no_row_can_be_finds_none(self) -> None:
        """Game sessions searched for no player's id and no number: an empty IN list, which
        Django answers without asking the database; counted as a big table is (from the
        planner's estimate), its empty plan was parsed as JSON: a 500."""
        with counted_as_big_tables():
            response = self.client.get(reverse("admin:game_sessions_gamesession_changelist"), {"q": "nobody"})
        assert response.status_code == 200
        assert response.context["cl"].result_count == 0

    def test_every_model_admin_is_crawled(self) -> None:
        crawled = {name.removeprefix("test_") for name in dir(self) if name.startswith("test_")}
        assert {info for info, _ in _registered()} <= crawled


def _crawl_test(model_admin: admin.ModelAdmin) -> Any:
    def test(self: TestAdminCrawl) -> None:
        self.crawl(model_admin)

    return test


for _info, _model_admin in _registered():
    setattr(TestAdminCrawl, f"test_{_info}", _crawl_test(_model_admin))
