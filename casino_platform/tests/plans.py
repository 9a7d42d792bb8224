"""Reading a query's plan in tests of what an index serves: with sequential scans (and
sorts, where the test says so) priced out, as on tables of millions, a plan that still reads
a table whole or sorts it has no index to do better with."""

import re
from itertools import pairwise


def plan_of(cl) -> str:
    """The plan of the page's own query, its LIMIT included."""
    return cl.result_list.explain()


def search_plan_of(cl) -> str:
    """The plan of what the search and filters find, unordered (the page's order would make
    an index read end to end look like a way to find the rows)."""
    return cl.queryset.order_by().explain()


def reads_whole(plan: str, table: str) -> bool:
    """Whether the plan reads `table` without a condition on an index: a Seq Scan, or an
    index read end to end, which is what a plan does when sequential scans are priced out."""
    for line, following in pairwise([*plan.splitlines(), ""]):
        if re.search(rf"Scan .*\bon {table}\b", line) and "Cond:" not in following:
            return True
    return False


def sorted_whole(plan: str) -> bool:
    """Whether the plan sorts its rows (a Sort node) rather than reading them in an index's
    order (an Incremental Sort only orders the ties within that order)."""
    return re.search(r"^\s*(->\s*)?Sort\s+\(", plan, re.MULTILINE) is not None
