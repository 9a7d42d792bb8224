"""Loading KYC statuses from a file: the upgrade path for a casino whose players were there
before the platform knew their status, and a bulk correction. Each change audited, safe to
run again, bad rows listed and the rest applied."""

import io

import pytest
from django.core.management import CommandError, call_command

from players.models import Player, PlayerAuditLog
from players.tests.factories import PlayerFactory

pytestmark = pytest.mark.django_db


def run(tmp_path, text: str, *args: str) -> tuple[str, str]:
    path = tmp_path / "kyc.csv"
    path.write_text(text, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("import_kyc", str(path), *args, stdout=out, stderr=err)
    except CommandError as exc:
        return out.getvalue(), err.getvalue() + f"CommandError: {exc}"
    return out.getvalue(), err.getvalue()


@pytest.fixture
def players(db):
    return [PlayerFactory(player_id=f"p_{n}", kyc_status="unverified") for n in range(3)]


def statuses() -> dict[str, str]:
    return dict(Player.objects.values_list("player_id", "kyc_status"))


def test_it_loads_statuses_audited_and_is_safe_to_run_again(tmp_path, players):
    text = "player_id,kyc_status,kyc_reference\np_0,verified,idv-1\np_1,pending,\np_2,unverified,\n"
    out, err = run(tmp_path, text, "--reason", "IDV export 2026-12-06")
    assert (out.strip(), err) == ("3 rows: 2 changed, 1 unchanged, 0 refused", "")
    assert statuses() == {"p_0": "verified", "p_1": "pending", "p_2": "unverified"}
    assert Player.objects.get(player_id="p_0").kyc_reference == "idv-1"
    audit = PlayerAuditLog.objects.filter(changed_by="import_kyc", reason="IDV export 2026-12-06")
    assert sorted(audit.values_list("player__player_id", "field", "new_value")) == [
        ("p_0", "kyc_reference", "idv-1"),
        ("p_0", "kyc_status", "verified"),
        ("p_1", "kyc_status", "pending"),
    ]
    out, _ = run(tmp_path, text, "--reason", "again")
    assert out.strip() == "3 rows: 0 changed, 3 unchanged, 0 refused"
    assert not PlayerAuditLog.objects.filter(reason="again").exists()


def test_a_status_set_since_the_file_was_made_is_kept_unless_overwritten(tmp_path, players):
    """The file is the upgrade's news: a revocation the casino made since is newer."""
    from players.services import player_update

    text = "player_id,kyc_status\np_0,verified\np_1,verified\n"
    assert run(tmp_path, text, "--reason", "IDV export")[0].strip() == "2 rows: 2 changed, 0 unchanged, 0 refused"
    player_update(
        player=Player.objects.get(player_id="p_0"), changed_by="casino", reason="forged", kyc_status="rejected"
    )
    out, err = run(tmp_path, text, "--reason", "again")
    assert err == ""
    assert out.strip() == (
        "2 rows: 0 changed, 1 unchanged, 1 kept (a status other than unverified; --overwrite), 0 refused"
    )
    assert statuses()["p_0"] == "rejected"
    out, _ = run(tmp_path, text, "--reason", "the provider re-verified", "--overwrite")
    assert out.strip() == "2 rows: 1 changed, 1 unchanged, 0 refused"
    assert statuses()["p_0"] == "verified"


def test_bad_rows_are_listed_and_the_others_applied(tmp_path, players):
    text = "player_id,kyc_status\np_0,verified\np_nobody,verified\np_1,approved\np_2,verified\np_\x00,verified\n"
    out, err = run(tmp_path, text, "--reason", "load")
    assert out.strip() == "5 rows: 2 changed, 0 unchanged, 3 refused"
    assert "line 3: no player 'p_nobody'" in err
    assert "line 4: kyc_status 'approved' is not one of" in err
    assert "line 6: no player" in err
    assert err.endswith("CommandError: 3 row(s) refused (listed above); the others were applied.")
    assert statuses() == {"p_0": "verified", "p_1": "unverified", "p_2": "verified"}


def test_a_dry_run_with_refused_rows_says_the_others_would_be_applied(tmp_path, players):
    _, err = run(tmp_path, "player_id,kyc_status\np_0,verified\nnobody,verified\n", "--reason", "x", "--dry-run")
    assert err.endswith("CommandError: 1 row(s) refused (listed above); the others would be applied (dry run).")
    assert statuses()["p_0"] == "unverified"


def test_a_dry_run_counts_and_changes_nothing(tmp_path, players):
    out, _ = run(tmp_path, "player_id,kyc_status\np_0,verified\np_1,unverified\n", "--reason", "x", "--dry-run")
    assert out.strip() == "2 rows: 1 would change, 1 unchanged, 0 refused (dry run)"
    assert set(statuses().values()) == {"unverified"}
    assert not PlayerAuditLog.objects.exists()


def test_a_long_file_reports_progress(tmp_path, players):
    Player.objects.bulk_create(Player(player_id=f"p_bulk_{n}") for n in range(25))
    text = "player_id,kyc_status\n" + "".join(f"p_bulk_{n},verified\n" for n in range(25))
    out, _ = run(tmp_path, text, "--reason", "x", "--progress-every", "10")
    assert out.splitlines() == [
        "10 rows: 10 changed, 0 unchanged, 0 refused",
        "20 rows: 20 changed, 0 unchanged, 0 refused",
        "25 rows: 25 changed, 0 unchanged, 0 refused",
    ]


@pytest.mark.parametrize(
    "text, args, message",
    [
        ("player_id,status\np_0,verified\n", ["--reason", "x"], "missing: kyc_status"),
        ("player_id,kyc_status,note\n", ["--reason", "x"], "Unknown columns: note"),
        ("player_id,kyc_status\n", ["--reason", " "], "--reason may not be empty"),
    ],
)
def test_a_file_it_cannot_read_is_refused_before_anything_changes(tmp_path, players, text, args, message):
    _, err = run(tmp_path, text, *args)
    assert message in err
    assert not PlayerAuditLog.objects.exists()


def test_a_missing_file_is_a_clear_error(tmp_path, db):
    with pytest.raises(CommandError, match=r"Cannot read .*nothing\.csv: No such file or directory"):
        call_command("import_kyc", str(tmp_path / "nothing.csv"), "--reason", "x")


def test_extra_cells_and_a_file_that_is_not_utf8(tmp_path, players):
    _, err = run(tmp_path, "player_id,kyc_status\np_0,verified,oops\np_1,verified\n", "--reason", "x")
    assert "line 2: more cells than the header names" in err
    assert statuses()["p_1"] == "verified" and statuses()["p_0"] == "unverified"
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"player_id,kyc_status\np_2,verified\np_\xe9,verified\n")
    with pytest.raises(CommandError, match=r"cannot be read .*a CSV in UTF-8 is expected"):
        call_command("import_kyc", str(path), "--reason", "x", stdout=io.StringIO(), stderr=io.StringIO())
    # Past the first block read, the rows before the bad one are applied.
    path.write_bytes(b"player_id,kyc_status\np_2,verified\n" + b"p_x,verified\n" * 2000 + b"p_\xe9,verified\n")
    with pytest.raises(CommandError, match="cannot be read after line"):
        call_command("import_kyc", str(path), "--reason", "x", stdout=io.StringIO(), stderr=io.StringIO())
    assert statuses()["p_2"] == "verified"


def test_progress_every_must_be_positive(tmp_path, players):
    with pytest.raises(CommandError, match="must be 1 or more"):
        call_command("import_kyc", "-", "--reason", "x", "--progress-every", "0")


def test_the_system_check_warns_while_unverified_players_hold_money(players, settings):
    from django.core import checks

    from players.checks import UNVERIFIED_WITH_MONEY
    from wallet.tests.factories import funded_wallet

    def warnings() -> list[str]:
        return [m.msg for m in checks.run_checks(databases=["default"]) if m.id == UNVERIFIED_WITH_MONEY]

    funded_wallet(player=players[1], amount=0)  # an empty wallet: nothing to take out
    assert warnings() == []
    funded_wallet(player=players[0], amount=500)
    funded_wallet(player=players[0], currency="USD", amount=500)
    [message] = warnings()
    assert message.startswith("1 unverified player(s) hold money in database 'default'")
    settings.KYC_REQUIRED_FOR_WITHDRAWALS = False
    assert warnings() == []
