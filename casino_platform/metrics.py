"""Prometheus metrics: wallet latency, errors and replays per endpoint; the outbound queue;
the withdrawals waiting for staff; the withdrawal events waiting for the payment system; the
closed accounts still holding money; staff's movements waiting for a second approval; the
monitoring alerts waiting for staff and how far behind the monitoring sweep is; when the
books were last proved and what the last proof found; the players whose ended self-exclusion
still refuses play.

- `WalletMetricsMiddleware` times every request under /api/v1/wallet/ (a histogram with
  buckets for single-digit-millisecond answers), counts error answers by their contract code
  and counts idempotent replays. It runs no query; its only per-request work beyond the
  timing is a lookup of the labelled children, which are cached in plain dicts.
- `DATABASE_COLLECTORS` read the outbox at scrape time with one aggregate query, the
  withdrawals waiting for review with two, the undelivered withdrawal events with two, the
  closed accounts holding money with two, the staff movements waiting with two, the
  monitoring alerts and sweep with three, the reconciliation's runs with two, the staff
  sign-in's lockouts, failures and second factor with three, and the players whose ended
  self-exclusion still refuses play with one.
- `metrics` serves GET /metrics, open by default, `Authorization: Bearer <METRICS_TOKEN>`
  when that setting is set.

Under a server with several worker processes (granian, bin/serve) set
PROMETHEUS_MULTIPROC_DIR (an existing directory, emptied before the server starts): each
worker writes its samples there and /metrics merges them with prometheus_client's
MultiProcessCollector. prometheus_client decides the mode when
it is imported, from the process environment, so this module reads the same variable.
"""

import hmac
import logging
import os
from collections.abc import Callable, Iterable
from datetime import datetime
from time import perf_counter
from typing import Any

import orjson
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from django.db.models import Count, Min, Q, Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_http_methods
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from . import clock
from .db import FinishedTransactionsBelow
from .tracing import current_trace_id

logger = logging.getLogger(__name__)

MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
if MULTIPROC_DIR and not os.path.isdir(MULTIPROC_DIR):
    raise ImproperlyConfigured(
        f"PROMETHEUS_MULTIPROC_DIR={MULTIPROC_DIR!r} is not a directory; create it (and empty it) before starting."
    )

# --- Wallet requests ----------------------------------------------------------------------

WALLET_PREFIX = "/api/v1/wallet/"
# Full path -> endpoint label: one dict lookup per request, no slicing.
_ENDPOINTS = {WALLET_PREFIX + name: name for name in ("authenticate", "balance", "debit", "credit", "rollback")}
OTHER_ENDPOINT = "other"  # unknown paths under the prefix (404s), so the labels stay bounded

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

REQUEST_DURATION = Histogram(
    "wallet_request_duration_seconds",
    "Time to answer a wallet API request, by endpoint and HTTP status.",
    ["endpoint", "status"],
    buckets=LATENCY_BUCKETS,
)
ERRORS = Counter(
    "wallet_errors",  # exposed as wallet_errors_total
    "Wallet API answers other than 200, by endpoint and contract error code.",
    ["endpoint", "code"],
)
REPLAYS = Counter(
    "wallet_idempotent_replays",  # exposed as wallet_idempotent_replays_total
    "Wallet API answers replayed from an earlier request (Idempotent-Replayed: true).",
    ["endpoint"],
)

# Labelled children, created once per label combination.
_durations: dict[tuple[str, int], Any] = {}
_errors: dict[tuple[str, str], Any] = {}
_replays: dict[str, Any] = {}

UNKNOWN_CODE = "UNKNOWN"


def _error_code(response: HttpResponse) -> str:
    """The contract code of an error answer. The wallet view names it on the response; any
    other answer (a 404, say) is read from its small JSON body."""
    named = getattr(response, "wallet_error_code", None)
    if named:
        return named[:64]
    if response.streaming:
        return UNKNOWN_CODE
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return UNKNOWN_CODE
    code = body.get("code") if isinstance(body, dict) else None
    return code[:64] if isinstance(code, str) and code else UNKNOWN_CODE


def record_wallet_request(endpoint: str, response: HttpResponse, elapsed: float) -> None:
    status = response.status_code
    if status != 200:
        code = _error_code(response)
        counter = _errors.get((endpoint, code))
        if counter is None:
            counter = _errors[(endpoint, code)] = ERRORS.labels(endpoint, code)
        counter.inc()
    record_wallet_answer(endpoint, status, replayed=response.get("Idempotent-Replayed") == "true", elapsed=elapsed)


def record_wallet_answer(endpoint: str, status: int, *, replayed: bool, elapsed: float) -> None:
    """The timing and the replay count of an answer; by itself, for an accepted callback the
    wallet front answered without a response object (wallet/api/front.py)."""
    child = _durations.get((endpoint, status))
    if child is None:
        child = _durations[(endpoint, status)] = REQUEST_DURATION.labels(endpoint, str(status))
    child.observe(elapsed)
    if replayed:
        replays = _replays.get(endpoint)
        if replays is None:
            replays = _replays[endpoint] = REPLAYS.labels(endpoint)
        replays.inc()


class WalletMetricsMiddleware:
    """Times wallet API requests; everything else passes straight through."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        endpoint = _ENDPOINTS.get(path)
        if endpoint is None:
            if not path.startswith(WALLET_PREFIX):
                return self.get_response(request)
            endpoint = OTHER_ENDPOINT
        started = perf_counter()
        response = self.get_response(request)
        record_wallet_request(endpoint, response, perf_counter() - started)
        return response


# --- The outbound queue -------------------------------------------------------------------


def age_seconds(oldest: datetime | None, now: datetime) -> float:
    """How long the oldest waiting row has waited; 0 when none waits (or the clocks disagree)."""
    return max(0.0, (now - oldest).total_seconds()) if oldest else 0.0


def outbound_queue_snapshot(now: datetime | None = None) -> dict[str, Any]:
    """Depth and oldest age of the undelivered credits and rollbacks, and the flagged count,
    in one aggregate query over the not-yet-succeeded rows (the status index finds them)."""
    from provider.models import OutboundTransaction as Out
    from provider.outbound.services import OUTBOX_KINDS

    undelivered = [Out.Status.PENDING, Out.Status.SENDING]
    flagged = Q(flagged_at__isnull=False)
    aggregates: dict[str, Any] = {"flagged": Count("pk", filter=flagged)}
    kinds = [str(kind.value) for kind in OUTBOX_KINDS]
    for kind in kinds:
        queued = Q(kind=kind, status__in=undelivered)
        aggregates[f"{kind}_depth"] = Count("pk", filter=queued)
        aggregates[f"{kind}_oldest"] = Min("created_at", filter=queued)
    # Only credits and rollbacks are queued or flagged: the debits refused or of unknown
    # outcome, final and never flagged, would be read on every scrape, more each day.
    row = (
        Out.objects.filter(kind__in=kinds, status__in=[*undelivered, Out.Status.FAILED])
        .filter(Q(status__in=undelivered) | flagged)
        .aggregate(**aggregates)
    )
    now = now or clock.now()
    snapshot: dict[str, Any] = {"depth": {}, "oldest_age_seconds": {}, "flagged": row["flagged"] or 0}
    for kind in kinds:
        oldest = row[f"{kind}_oldest"]
        snapshot["depth"][kind] = row[f"{kind}_depth"] or 0
        snapshot["oldest_age_seconds"][kind] = age_seconds(oldest, now)
    return snapshot


def _outbound_families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
    return (
        GaugeMetricFamily(
            "outbound_queue_depth",
            "Credits and rollbacks waiting for the partner (pending or sending).",
            labels=["kind"],
        ),
        GaugeMetricFamily(
            "outbound_queue_oldest_age_seconds",
            "Age of the oldest undelivered credit or rollback; 0 when none waits.",
            labels=["kind"],
        ),
        GaugeMetricFamily(
            "outbound_flagged",
            "Outbound transactions flagged for staff and not succeeded (admin: needs attention).",
        ),
    )


class DatabaseGaugeCollector(Collector):
    """Gauges read from the database at scrape time: `families()` makes them empty, `fill`
    reads the database into them. A failed read leaves them out of that scrape (and is
    logged) rather than failing /metrics as a whole."""

    def __init__(
        self,
        what: str,
        families: Callable[[], tuple[GaugeMetricFamily, ...]],
        fill: Callable[..., None],
    ):
        self.what, self.families, self.fill = what, families, fill

    def describe(self) -> Iterable[Metric]:
        # Lets a registry check names without running the query.
        return self.families()

    def collect(self) -> Iterable[Metric]:
        families = self.families()
        try:
            self.fill(*families)
        except DatabaseError:
            logger.warning("%s metrics unavailable: the database query failed", self.what, exc_info=True)
            return []
        return families


def _fill_outbound(depth: GaugeMetricFamily, age: GaugeMetricFamily, flagged: GaugeMetricFamily) -> None:
    """Outbox gauges (one query per scrape)."""
    snapshot = outbound_queue_snapshot()
    for kind, value in snapshot["depth"].items():
        depth.add_metric([kind], value)
    for kind, value in snapshot["oldest_age_seconds"].items():
        age.add_metric([kind], value)
    flagged.add_metric([], snapshot["flagged"])


# --- Withdrawals waiting for staff ----------------------------------------------------------


def _withdrawal_families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
    return (
        GaugeMetricFamily(
            "withdrawals_pending", "Withdrawals waiting for staff to approve or reject.", labels=["currency"]
        ),
        GaugeMetricFamily(
            "withdrawals_pending_amount",
            "Minor units held for the withdrawals waiting for staff.",
            labels=["currency"],
        ),
        GaugeMetricFamily(
            "withdrawals_pending_oldest_age_seconds",
            "Age of the oldest withdrawal waiting for staff; 0 when none waits.",
            labels=["currency"],
        ),
    )


def _fill_withdrawals(count: GaugeMetricFamily, amount: GaugeMetricFamily, age: GaugeMetricFamily) -> None:
    """The review queue's gauges (two queries per scrape)."""
    from wallet.selectors import withdrawals_pending_summary

    now = clock.now()
    for row in withdrawals_pending_summary():
        count.add_metric([row["currency"]], row["count"])
        amount.add_metric([row["currency"]], row["amount"])
        age.add_metric([row["currency"]], age_seconds(row["oldest"], now))


# --- Withdrawal events waiting for the payment system ---------------------------------------


def _withdrawal_event_families() -> tuple[GaugeMetricFamily, ...]:
    return (
        GaugeMetricFamily(
            "withdrawal_events_undelivered",
            "Withdrawal events not yet accepted by CASHIER_WEBHOOK_URL (those left to the feed are not waiting).",
        ),
        GaugeMetricFamily(
            "withdrawal_events_oldest_age_seconds",
            "Age of the oldest undelivered withdrawal event; 0 when none waits.",
        ),
        GaugeMetricFamily(
            "withdrawal_events_flagged", "Undelivered withdrawal events flagged for staff after repeated failures."
        ),
        GaugeMetricFamily(
            "withdrawal_events_feed_held",
            "Committed withdrawal events GET /api/v1/withdrawal-events does not give yet: an older transaction that "
            "writes is still open on the database server.",
        ),
        GaugeMetricFamily(
            "withdrawal_events_feed_held_oldest_age_seconds",
            "Age of the oldest withdrawal event the feed holds back; 0 when it holds none.",
        ),
    )


def _fill_withdrawal_events(
    count: GaugeMetricFamily,
    age: GaugeMetricFamily,
    flagged: GaugeMetricFamily,
    held: GaugeMetricFamily,
    held_age: GaugeMetricFamily,
) -> None:
    """One aggregate query over the undelivered events' partial index, one over the feed's."""
    from wallet.models import WithdrawalEvent

    row = WithdrawalEvent.objects.filter(
        delivery__in=[WithdrawalEvent.Delivery.PENDING, WithdrawalEvent.Delivery.SENDING]
    ).aggregate(count=Count("pk"), oldest=Min("created_at"), flagged=Count("pk", filter=Q(flagged_at__isnull=False)))
    now = clock.now()
    count.add_metric([], row["count"])
    age.add_metric([], age_seconds(row["oldest"], now))
    flagged.add_metric([], row["flagged"])
    waiting = WithdrawalEvent.objects.filter(txid__gte=FinishedTransactionsBelow()).aggregate(
        count=Count("pk"), oldest=Min("created_at")
    )
    held.add_metric([], waiting["count"])
    held_age.add_metric([], age_seconds(waiting["oldest"], now))


# --- Closed accounts that still hold the player's money --------------------------------------


def _closed_account_families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
    return (
        GaugeMetricFamily(
            "closed_accounts_holding_money",
            "Wallets of closed accounts with a balance above zero, owed to their players.",
            labels=["currency"],
        ),
        GaugeMetricFamily(
            "closed_accounts_holding_money_amount",
            "Minor units held in the wallets of closed accounts.",
            labels=["currency"],
        ),
    )


def _fill_closed_accounts(count: GaugeMetricFamily, amount: GaugeMetricFamily) -> None:
    """Two queries per scrape, the closed players through their partial index."""
    from wallet.selectors import closed_accounts_holding_money_summary

    for row in closed_accounts_holding_money_summary():
        count.add_metric([row["currency"]], row["count"])
        amount.add_metric([row["currency"]], row["amount"])


# --- Staff movements waiting for a second member of staff --------------------------------


def _staff_movement_families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
    return (
        GaugeMetricFamily(
            "staff_movements_waiting",
            "Staff money movements waiting for a second member of staff to approve them.",
            labels=["currency"],
        ),
        GaugeMetricFamily(
            "staff_movements_waiting_oldest_age_seconds",
            "Age of the oldest staff movement waiting for approval; 0 when none waits.",
            labels=["currency"],
        ),
    )


def _fill_staff_movements(count: GaugeMetricFamily, age: GaugeMetricFamily) -> None:
    """Two queries per scrape, over the open movements' partial index."""
    from wallet.selectors import staff_movements_waiting_summary

    now = clock.now()
    for row in staff_movements_waiting_summary():
        count.add_metric([row["currency"]], row["count"])
        age.add_metric([row["currency"]], age_seconds(row["oldest"], now))


# --- Anti-money-laundering monitoring alerts waiting for staff ----------------------------


def _monitoring_families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
    return (
        GaugeMetricFamily(
            "monitoring_alerts_pending",
            "Monitoring alerts (large wins, deposits in 24 hours, withdrawals with little play) waiting for staff.",
            labels=["currency", "rule"],
        ),
        GaugeMetricFamily(
            "monitoring_alerts_pending_oldest_age_seconds",
            "How long the longest-waiting monitoring alert has waited since it was raised; 0 when none waits.",
            labels=["currency", "rule"],
        ),
        GaugeMetricFamily(
            "monitoring_sweep_lag_seconds",
            "How far behind now the monitoring sweep has read the journal; absent before its first sweep.",
        ),
    )


def _fill_monitoring(count: GaugeMetricFamily, age: GaugeMetricFamily, lag: GaugeMetricFamily) -> None:
    """Three queries per scrape: the pending alerts through their partial index, the
    currencies, the sweep's cursor."""
    from wallet.selectors import monitoring_alerts_pending_summary, monitoring_scanned_until

    now = clock.now()
    for row in monitoring_alerts_pending_summary():
        count.add_metric([row["currency"], row["rule"]], row["count"])
        age.add_metric([row["currency"], row["rule"]], age_seconds(row["oldest"], now))
    scanned_until = monitoring_scanned_until()
    if scanned_until is not None:
        lag.add_metric([], age_seconds(scanned_until, now))


# --- The hourly proof of the books ----------------------------------------------------------


def _reconcile_families() -> tuple[GaugeMetricFamily, ...]:
    return (
        GaugeMetricFamily(
            "ledger_reconcile_last_success_timestamp_seconds",
            "When the last reconciliation that found the books right finished (Unix time); 0 before the first.",
        ),
        GaugeMetricFamily(
            "ledger_reconcile_last_run_timestamp_seconds",
            "When the last reconciliation finished, whatever it found (Unix time); absent before the first.",
        ),
        GaugeMetricFamily(
            "ledger_reconcile_last_duration_seconds", "How long the last reconciliation took; absent before the first."
        ),
        GaugeMetricFamily(
            "ledger_reconcile_problems",
            "What the last reconciliation found wrong (unbalanced transactions, balances and rounds unlike their "
            "journal, money on no wallet); absent before the first.",
        ),
    )


def _fill_reconcile(
    success: GaugeMetricFamily, finished: GaugeMetricFamily, duration: GaugeMetricFamily, problems: GaugeMetricFamily
) -> None:
    """Two queries per scrape along the runs' indexes: the last run, the last clean one."""
    from ledger.reconciliation import reconcile_runs_summary

    summary = reconcile_runs_summary()
    # 0 rather than absent: "the books were last proved long ago" must fire before the first
    # proof too, and an absent series fires no comparison.
    clean = summary.last_clean_finished_at if summary is not None else None
    success.add_metric([], clean.timestamp() if clean is not None else 0.0)
    if summary is not None:
        finished.add_metric([], summary.last_finished_at.timestamp())
        duration.add_metric([], summary.last_duration_seconds)
        problems.add_metric([], summary.last_problems)


# Gauges read from the database when scraped.
# --- Staff sign-in (django-axes) --------------------------------------------------------


def _sign_in_families() -> tuple[GaugeMetricFamily, ...]:
    return (
        GaugeMetricFamily(
            "staff_sign_in_locked_out",
            "Usernames locked out of the back office from an address now, after too many wrong passwords.",
        ),
        GaugeMetricFamily(
            "staff_sign_in_failures_recent",
            "Wrong passwords at the back office's sign-in not yet cleared by a success or the lockout's cool-off.",
        ),
        GaugeMetricFamily(
            "staff_second_factor_failing",
            "Active members of staff whose last second-factor code, within the lockout's cool-off, was wrong.",
        ),
        GaugeMetricFamily(
            "staff_without_second_factor",
            "Active staff users who have not set up the second factor (0 while STAFF_SECOND_FACTOR is off).",
        ),
    )


def _fill_sign_in(
    locked_out: GaugeMetricFamily,
    failures: GaugeMetricFamily,
    second_factor_failing: GaugeMetricFamily,
    without_second_factor: GaugeMetricFamily,
) -> None:
    """Three queries per scrape. The first reads the attempts a success or the cool-off has not
    cleared (axes deletes those, so the table stays small; its failure log is never read here).
    axes keeps a row per username, address and browser and locks a username and address out on
    their rows' sum: a guesser changing browser at each guess is one lockout."""
    from axes.models import AccessAttempt

    from .second_factor import staff_second_factor_failing, staff_without_second_factor

    since = clock.now() - settings.AXES_COOLOFF_TIME
    pairs = list(
        AccessAttempt.objects.filter(attempt_time__gte=since)
        .values("username", "ip_address")
        .annotate(failures=Sum("failures_since_start"))
        .values_list("failures", flat=True)
    )
    locked_out.add_metric([], sum(1 for n in pairs if n >= settings.AXES_FAILURE_LIMIT))
    failures.add_metric([], sum(pairs))
    second_factor_failing.add_metric([], staff_second_factor_failing())
    without_second_factor.add_metric([], staff_without_second_factor() if settings.STAFF_SECOND_FACTOR else 0)


# --- Players whose self-exclusion has ended and still refuses play --------------------------


def _self_exclusion_families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
    return (
        GaugeMetricFamily(
            "players_self_exclusion_awaiting_request",
            "Players whose self-exclusion has ended and who have yet to ask to play again: play is refused until "
            "they do (RG_SELF_EXCLUSION_RESUME_ON_REQUEST).",
        ),
        GaugeMetricFamily(
            "players_self_exclusion_cooling_off",
            "Players who asked to play again after their self-exclusion and wait out the cooling-off.",
        ),
    )


def _fill_self_exclusions(awaiting: GaugeMetricFamily, cooling: GaugeMetricFamily) -> None:
    """One query per scrape, along the partial index of the players who have a self-exclusion."""
    from players.selectors import players_self_exclusion_waiting

    counts = players_self_exclusion_waiting(now=clock.now())
    awaiting.add_metric([], counts["awaiting_request"])
    cooling.add_metric([], counts["cooling_off"])


DATABASE_COLLECTORS = (
    DatabaseGaugeCollector("outbound queue", _outbound_families, _fill_outbound),
    DatabaseGaugeCollector("withdrawal queue", _withdrawal_families, _fill_withdrawals),
    DatabaseGaugeCollector("withdrawal events", _withdrawal_event_families, _fill_withdrawal_events),
    DatabaseGaugeCollector("closed accounts", _closed_account_families, _fill_closed_accounts),
    DatabaseGaugeCollector("staff movements", _staff_movement_families, _fill_staff_movements),
    DatabaseGaugeCollector("monitoring alerts", _monitoring_families, _fill_monitoring),
    DatabaseGaugeCollector("ledger reconciliation", _reconcile_families, _fill_reconcile),
    DatabaseGaugeCollector("staff sign-in", _sign_in_families, _fill_sign_in),
    DatabaseGaugeCollector("self-exclusions", _self_exclusion_families, _fill_self_exclusions),
)
if not MULTIPROC_DIR:
    # Multi-process mode serves a fresh registry per scrape and registers them there instead.
    for collector in DATABASE_COLLECTORS:
        REGISTRY.register(collector)


# --- GET /metrics -------------------------------------------------------------------------


def _authorized(request: HttpRequest) -> bool:
    token: str = settings.METRICS_TOKEN
    if not token:
        return True
    given = request.headers.get("Authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def _registry() -> CollectorRegistry:
    if not MULTIPROC_DIR:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    for collector in DATABASE_COLLECTORS:
        registry.register(collector)
    return registry


@require_http_methods(["GET", "HEAD"])
def metrics(request: HttpRequest) -> HttpResponse:
    if not _authorized(request):
        response = JsonResponse(
            {
                "code": "UNAUTHORIZED",
                "message": "GET /metrics needs Authorization: Bearer <METRICS_TOKEN>.",
                "retryable": False,
                "trace_id": current_trace_id(),
            },
            status=401,
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)
