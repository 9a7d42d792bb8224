"""Game providers → Rounds played for partners, on a table every bet of our games writes to: a
page neither counts every round nor reads them all for its filter's values, and a search
finds a round or a partner's player by their keys."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse_lazy

from casino_platform.tests.plans import reads_whole, search_plan_of
from provider.models import GameRound, OutboundTransaction, PartnerCasino, PartnerPlayer

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plans"),
]

ROUNDS = reverse_lazy("admin:provider_gameround_changelist")
TABLE = "provider_gameround"


@pytest.fixture
def played(db):
    """Rounds of two partners' players; sequential scans priced out, as on a table of
    millions (the test's is tiny, read whole whatever its indexes)."""
    partners = [
        PartnerCasino.objects.create(name=name, base_url="http://127.0.0.1:9", provider_code=code)
        for name, code in (("self", "sandbox"), ("other", "acme"))
    ]
    for partner in partners:
        for player_id in ("p1", "p2"):
            player = PartnerPlayer.objects.create(partner=partner, partner_player_id=player_id)
            for game in ("dice", "slot", "holdem"):
                GameRound.objects.create(
                    partner=partner,
                    player=player,
                    round_id=f"{partner.provider_code}-{player_id}-{game}",
                    game_id=f"{partner.provider_code}:{game}",
                    currency="EUR",
                    stake=100,
                )
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")


def page(admin_client, **query):
    response = admin_client.get(ROUNDS, query)
    assert response.status_code == 200
    return response.context["cl"]


def test_a_page_neither_counts_every_round_nor_reads_them_for_the_filter(admin_client, played):
    with CaptureQueriesContext(connection) as queries:
        cl = page(admin_client)
    assert cl.result_count == 12
    sql = [q["sql"] for q in queries.captured_queries]
    assert any("reltuples" in s for s in sql)  # EstimatedCountPaginator's estimate, first
    assert not any("DISTINCT" in s and f'"{TABLE}"' in s for s in sql), sql
    # The filter lists every game played for each partner, from the partners' rows.
    (game_filter,) = [f for f in cl.filter_specs if getattr(f, "parameter_name", "") == "game_id"]
    assert [value for value, _ in game_filter.lookup_choices] == [
        "acme:dice", "acme:slot", "acme:holdem", "sandbox:dice", "sandbox:slot", "sandbox:holdem",
    ]  # fmt: skip


def test_the_game_filter_lists_that_game_s_rounds(admin_client, played):
    cl = page(admin_client, game_id="sandbox:slot")
    assert sorted(r.round_id for r in cl.result_list) == ["sandbox-p1-slot", "sandbox-p2-slot"]


@pytest.mark.parametrize(
    "term, found",
    [
        ("acme-p2-dice", ["acme-p2-dice"]),
        ("p1", sorted(f"{code}-p1-{game}" for code in ("acme", "sandbox") for game in ("dice", "holdem", "slot"))),
        ("no such", []),
    ],
)
def test_a_search_by_round_or_player_reads_their_keys(admin_client, played, term, found):
    cl = page(admin_client, q=term)
    assert sorted(r.round_id for r in cl.result_list) == found
    plan = search_plan_of(cl)
    assert not reads_whole(plan, TABLE), plan


# --- What our games sent: Game providers → Outbound transactions ------------------------------

OUTBOUND = reverse_lazy("admin:provider_outboundtransaction_changelist")


@pytest.fixture
def sent(played):
    """A debit for each round, and a rollback of the first partner's first debit."""
    for game_round in GameRound.objects.all():
        OutboundTransaction.objects.create(
            partner_id=game_round.partner_id,
            player_id=game_round.player_id,
            round=game_round,
            transaction_id=f"tx-{game_round.round_id}",
            kind=OutboundTransaction.Kind.DEBIT,
            amount=100,
            currency="EUR",
        )
    bet = OutboundTransaction.objects.get(transaction_id="tx-sandbox-p1-dice")
    OutboundTransaction.objects.create(
        partner_id=bet.partner_id,
        player_id=bet.player_id,
        round_id=bet.round_id,
        transaction_id="rb-sandbox-p1-dice",
        kind=OutboundTransaction.Kind.ROLLBACK,
        currency="EUR",
        reference_transaction_id=bet.transaction_id,
    )


def test_the_outbound_list_counts_from_the_estimate(admin_client, sent):
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(OUTBOUND)
    assert response.status_code == 200 and response.context["cl"].result_count == 13
    assert any("reltuples" in q["sql"] for q in queries.captured_queries)


@pytest.mark.parametrize(
    "term, found",
    [
        ("tx-acme-p2-slot", ["tx-acme-p2-slot"]),
        ("acme-p2-slot", ["tx-acme-p2-slot"]),  # the round
        ("p2", sorted(f"tx-{code}-p2-{game}" for code in ("acme", "sandbox") for game in ("dice", "holdem", "slot"))),
        ("tx-sandbox-p1-dice", ["rb-sandbox-p1-dice", "tx-sandbox-p1-dice"]),  # a debit and its rollback
        ("no such", []),
    ],
)
def test_an_outbound_search_reads_their_keys(admin_client, sent, term, found):
    response = admin_client.get(OUTBOUND, {"q": term})
    assert response.status_code == 200
    cl = response.context["cl"]
    assert sorted(t.transaction_id for t in cl.result_list) == found
    plan = search_plan_of(cl)
    assert not reads_whole(plan, "provider_outboundtransaction"), plan
