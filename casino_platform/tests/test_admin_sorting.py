"""A list counted from estimates is a table of millions: each column it offers to sort by is
read along an index for a page, never the whole table sorted (PostgreSQL's plans, sequential
scans priced out as on a big table)."""

import pytest
from django.contrib.admin import site
from django.db import connection
from django.test import RequestFactory

from casino_platform.admin import EstimatedCountPaginator
from casino_platform.tests.plans import sorted_whole
from ledger.models import JournalTransaction

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plans"),
]

BIG_LISTS = sorted(
    (admin for admin in site._registry.values() if issubclass(admin.paginator, EstimatedCountPaginator)),
    key=lambda admin: admin.model._meta.label,
)


def changelist(admin, user, query):
    request = RequestFactory().get("/", query)
    request.user = user
    cl = admin.get_changelist_instance(request)
    return cl, cl.get_ordering(request, cl.root_queryset)


@pytest.mark.parametrize("admin", BIG_LISTS, ids=lambda admin: admin.model._meta.label)
def test_each_column_a_big_list_sorts_by_is_read_along_an_index(admin, admin_user):
    with connection.cursor() as cursor:
        # As on a table of millions: where an index gives the order, it is read along it.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
    cl, default = changelist(admin, admin_user, {})
    sorted_columns = 0
    for number in range(len(cl.list_display)):
        for direction in ("", "-"):
            cl, ordering = changelist(admin, admin_user, {"o": f"{direction}{number}"})
            if ordering == default:
                continue  # not offered (Django ignores it), or the list's own order
            sorted_columns += 1
            plan = cl.queryset[:100].explain()
            assert not sorted_whole(plan), (cl.list_display[number], ordering, plan)
    assert sorted_columns, "the list offers no column to sort by at all"


def test_a_column_no_index_leads_is_not_offered():
    journal = site._registry[JournalTransaction]
    request = RequestFactory().get("/")
    sortable = journal.get_sortable_by(request)
    assert "created_at" in sortable and "id" in sortable
    assert "reason" not in sortable and "created_by" not in sortable
