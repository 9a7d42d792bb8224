"""The OpenAPI schema that providers and casinos code against is generated without a warning:
drf-spectacular's warnings are where a view's documentation and its code part."""

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_the_schema_validates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    assert "/api/v1/wallet/debit" in (tmp_path / "schema.yml").read_text()
