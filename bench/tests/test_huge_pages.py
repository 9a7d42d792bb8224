"""Whether the local PostgreSQL's shared memory is on huge pages, as the kernel counts them."""

from pathlib import Path

import pytest
from django.db import connection

from bench.run import postgresql_huge_pages


def reserved_huge_pages_in_use() -> bool:
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    return int(meminfo["HugePages_Total"].split()[0]) > int(meminfo["HugePages_Free"].split()[0])


@pytest.mark.django_db
def test_the_kernel_tells_whether_the_servers_shared_memory_is_on_huge_pages():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's shared memory")
    with connection.cursor() as cursor:
        pages = postgresql_huge_pages(cursor)
    assert pages["setting"] in ("on", "off", "try")
    assert pages["needed"] is None or pages["needed"] > 0
    if pages["mapped_kb"] is None:
        pytest.skip("the server is not a process of this machine")
    # Mapped huge pages are some of the kernel's reserved ones, in use; with `on` the server
    # would not have started without them.
    if pages["mapped_kb"]:
        assert pages["setting"] in ("on", "try") and reserved_huge_pages_in_use()
    else:
        assert pages["setting"] != "on"
