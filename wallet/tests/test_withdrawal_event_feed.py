"""GET /api/v1/withdrawal-events: the webhook's events as a feed the payment system reads from
where it left off, in an order to which no later commit adds in the middle."""

import io
import json
import threading

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from casino_platform import clock
from casino_platform.tests.test_metrics import scrape, value
from ledger.models import Currency
from provider.tests.conftest import wait_for
from wallet.models import Withdrawal, WithdrawalEvent
from wallet.services import withdrawal_approve
from wallet.services.webhooks import withdrawal_event_body, withdrawal_state
from wallet.tests.test_cashier import TOKEN
from wallet.tests.test_withdrawal_events import SECRET, withdraw
from wallet.tests.webhook_receiver import WebhookReceiver

FEED = "/api/v1/withdrawal-events"


@pytest.fixture
def webhook(settings):
    with WebhookReceiver(secret=SECRET) as receiver:
        settings.CASHIER_WEBHOOK_URL = receiver.url
        settings.CASHIER_WEBHOOK_SECRET = SECRET
        yield receiver


def seed() -> None:
    call_command("seed_sandbox", stdout=io.StringIO())
    Currency.objects.filter(code="EUR").update(withdrawal_review_above=10_000)


def read(client, **query):
    response = client.get(FEED, query, headers=TOKEN)
    assert response.status_code == 200, response.content
    return response.json()


def read_until(client, count: int, **query):
    """The feed once it gives `count` events: a writing transaction anywhere on the server (in
    another database too) holds later events back until it ends."""
    pages: list[dict] = []
    wait_for(lambda: pages.append(read(client, **query)) or len(pages[-1]["results"]) >= count, message="the feed")
    return pages[-1]


def refs(page) -> list[tuple[str, str]]:
    return [(event["withdrawal"]["reference"], event["withdrawal"]["status"]) for event in page["results"]]


# Committed for real: the feed gives only events of finished transactions, and a test wrapped in
# one transaction would never finish its own.
@pytest.mark.django_db(transaction=True)
class TestFeed:
    def test_pages_from_the_start_then_from_where_the_reader_left_off(self, client, webhook):
        seed()
        withdraw(20_000, "po-1")  # held: pending
        withdraw(500, "po-2")  # approved at once
        withdrawal_approve(reference="po-1", staff="staff:eve", reason="ok")

        first = read_until(client, 2, limit="2")
        assert refs(first) == [("po-1", "pending"), ("po-2", "approved")]
        assert first["next"] == f"http://testserver{FEED}?after={first['after']}&limit=2"
        second = read_until(client, 1, after=first["after"], limit="2")
        assert refs(second) == [("po-1", "approved")]
        # Nothing new: the same position again, for the next poll.
        idle = read(client, after=second["after"])
        assert (idle["results"], idle["after"]) == ([], second["after"])
        assert idle["next"] == f"http://testserver{FEED}?after={second['after']}"
        withdraw(600, "po-3")
        assert refs(read_until(client, 1, after=idle["after"])) == [("po-3", "approved")]
        # The empty position an answer gives before any event reads from the start.
        assert len(read_until(client, 4, after="")["results"]) == 4

    def test_each_event_is_the_webhook_s_body(self, client, webhook):
        seed()
        withdraw(20_000, "po-body")
        (event,) = WithdrawalEvent.objects.all()
        (given,) = read_until(client, 1)["results"]
        assert given == json.loads(withdrawal_event_body(event))
        assert given["event_id"] == event.pk and given["type"] == "withdrawal.status_changed"

    def test_without_a_webhook_the_feed_still_gives_them(self, client, settings):
        settings.CASHIER_WEBHOOK_URL = ""
        seed()
        withdraw(500, "po-pull")
        withdraw(20_000, "po-pull-held")
        assert refs(read_until(client, 2)) == [("po-pull", "approved"), ("po-pull-held", "pending")]

    def test_nothing_recorded_is_an_empty_feed(self, client):
        seed()
        page = read(client)
        assert page == {"results": [], "after": "", "next": f"http://testserver{FEED}"}

    @pytest.mark.parametrize(
        "query, field",
        [
            ({"after": "not-a-position"}, "after"),
            ({"after": "MTIz"}, "after"),  # "123": no event id
            ({"after": "LTEuMg"}, "after"),  # "-1.2"
            ({"after": "OTk5OTk5OTk5OTk5OTk5OTk5OTkuMQ"}, "after"),  # beyond a bigint
            ({"after": "é"}, "after"),
            ({"after": "ICAxLjI"}, "after"),  # "  1.2": not as this API writes one
            ({"after": "KzEuMg"}, "after"),  # "+1.2"
            ({"after": "MV8wLjI"}, "after"),  # "1_0.2"
            ({"after": "MS4y="}, "after"),  # "1.2" padded, as this API does not
            ({"after": " "}, "after"),
            ({"limit": "0"}, "limit"),
            ({"limit": "201"}, "limit"),
            ({"limit": "5.0"}, "limit"),
            ({"limit": "-1"}, "limit"),
        ],
    )
    def test_a_bad_position_or_limit_is_a_validation_error(self, client, query, field):
        seed()
        response = client.get(FEED, query, headers=TOKEN)
        assert response.status_code == 400
        body = response.json()
        assert body["code"] == "VALIDATION_ERROR" and field in body["details"]

    def test_it_needs_the_operator_token(self, client):
        seed()
        response = client.get(FEED)
        assert response.status_code == 401


@pytest.mark.concurrency
def test_an_event_committed_late_is_not_skipped(transactional_db, client, webhook):
    """A transaction writes an event and stays open while a withdrawal's commits after it. Read
    by id, the reader would take the second, move past the first and never see it. The feed
    holds the second back until the first has committed, then gives both, the first first.
    (The withdrawal services commit their own transactions; the slow one is written as they
    write it, in a transaction held open.)"""
    seed()
    withdraw(20_000, "po-slow")
    start = read_until(client, 1)["after"]
    pending = Withdrawal.objects.get(reference="po-slow")
    written, release = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                WithdrawalEvent.objects.create(
                    withdrawal=pending,
                    status=pending.status,
                    withdrawal_state=withdrawal_state(pending),
                    created_at=clock.now(),
                )
                written.set()
                release.wait(timeout=30)
        except BaseException as exc:  # the assertions below name it
            failures.append(exc)
            written.set()
        finally:
            connection.close()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    try:
        assert written.wait(timeout=30)
        withdraw(800, "po-quick")  # committed, its event's id after the open one's
        held = read(client, after=start)
        assert failures == [] and held["results"] == [] and held["after"] == start
        # /metrics says so: one committed event held back (the open one is not committed).
        assert value(scrape(client), "withdrawal_events_feed_held") == 1
    finally:
        release.set()
        thread.join()
    assert failures == []
    both = read_until(client, 2, after=start)
    assert refs(both) == [("po-slow", "pending"), ("po-quick", "approved")]
    slow, quick = (event["event_id"] for event in both["results"])
    assert slow < quick
    wait_for(lambda: value(scrape(client), "withdrawal_events_feed_held") == 0, message="the feed to hold none")
