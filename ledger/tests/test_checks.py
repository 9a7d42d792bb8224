"""The database check an operator sees on `migrate` and `manage.py check --database default`."""

import pytest
from django.core.management import call_command
from django.db import connection

from ledger.checks import AUTOVACUUM_OFF, postgresql_autovacuum_check

pytestmark = pytest.mark.django_db


def server_autovacuum() -> str:
    # Read apart from the check's own query, so the test does not take the check's word for it.
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('autovacuum'), current_setting('track_counts')")
        autovacuum, track_counts = cursor.fetchone()
    return "on" if autovacuum == track_counts == "on" else "off"


def test_the_check_warns_exactly_when_the_server_runs_without_autovacuum():
    messages = postgresql_autovacuum_check(databases=["default"])
    if server_autovacuum() == "on":
        assert messages == []
    else:
        assert [m.id for m in messages] == [AUTOVACUUM_OFF]
        assert "without autovacuum" in messages[0].msg
        assert "ANALYZE" in messages[0].hint


def test_the_check_is_silent_without_databases_asked_for():
    # `manage.py check` without --database does not touch the database.
    assert postgresql_autovacuum_check(databases=None) == []


def test_manage_py_check_with_the_database_reports_it(capsys):
    call_command("check", databases=["default"])
    reported = capsys.readouterr()
    assert (AUTOVACUUM_OFF in reported.out + reported.err) == (server_autovacuum() != "on")


def test_the_check_warns_when_the_statistics_autovacuum_works_from_are_off():
    # Whatever the server runs with: track_counts off for this transaction (a superuser may).
    from django.db import DatabaseError, transaction

    with transaction.atomic():
        try:
            # In a savepoint, so that a refusal leaves the transaction usable; the setting
            # holds once the savepoint is released, until the transaction ends.
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL track_counts = off")
        except DatabaseError:
            pytest.skip("the test's role may not change track_counts")
        assert [m.id for m in postgresql_autovacuum_check(databases=["default"])] == [AUTOVACUUM_OFF]
