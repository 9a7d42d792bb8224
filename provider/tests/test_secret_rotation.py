"""A provider's signing secrets change one step at a time, from every door: the admin refuses
the rotation that would cut a provider off, as the command does, and can finish one; two
rotations side by side never leave three secrets; a secret stored under an earlier
PROVIDER_SECRET_KEY does not stop the seed; a key that is no key stops the platform at start."""

import io

import pytest
from cryptography.fernet import Fernet
from django.core.checks import Tags, run_checks
from django.core.management import call_command
from django.urls import reverse

from casino_platform.tests.lock_stages import Holding, Started, until_sessions_wait
from ledger.models import SettingChange
from ledger.tests.test_backoffice_guards import staff_with
from provider.crypto import decrypt_secret
from provider.models import PartnerCasino, Provider, ProviderSecret
from provider.services import RotationUnfinished, provider_active_secrets, provider_secret_rotate
from provider.tests.test_commands import balance_call


@pytest.fixture
def sandbox(db):
    call_command("seed_sandbox", stdout=io.StringIO())
    return Provider.objects.get(code="sandbox")


def rotate_on_the_page(client, provider: Provider, action: str = "rotate_secret"):
    return client.post(
        reverse("admin:provider_provider_changelist"),
        {"action": action, "_selected_action": [provider.pk]},
        follow=True,
    )


def secret_events(code: str) -> list[str]:
    return list(
        SettingChange.objects.filter(object_key=code, field="signing_secret")
        .exclude(changed_by="seed_sandbox")
        .order_by("id")
        .values_list("new_value", flat=True)
    )


class TestTheAdmin:
    def test_a_second_rotation_before_the_first_is_finished_is_refused(self, admin_client, client, sandbox):
        first = rotate_on_the_page(admin_client, sandbox)
        assert "New secret for sandbox" in first.content.decode()
        second = rotate_on_the_page(admin_client, sandbox).content.decode()
        assert "would revoke sandbo…, which the provider may still sign with" in second
        assert "New secret for sandbox" not in second
        assert ProviderSecret.objects.filter(provider=sandbox, is_active=True).count() == 2
        assert balance_call(client, code="sandbox", secret="sandbox-secret").status == 200

    def test_finishing_revokes_all_but_the_newest_each_on_record(self, admin_client, client, sandbox):
        rotate_on_the_page(admin_client, sandbox)
        newest = ProviderSecret.objects.filter(provider=sandbox).latest("id")
        page = rotate_on_the_page(admin_client, sandbox, "finish_rotation").content.decode()
        assert "Revoked 1 older secret(s) of sandbox." in page
        assert provider_active_secrets(provider=sandbox) == [decrypt_secret(newest.secret_encrypted)]
        oldest = ProviderSecret.objects.filter(provider=sandbox).earliest("id")
        assert secret_events("sandbox") == [f"rotated: {newest.hint}…", f"revoked: {oldest.hint}…"]
        assert balance_call(client, code="sandbox", secret="sandbox-secret").status == 401
        # Then a rotation is allowed again.
        assert "New secret for sandbox" in rotate_on_the_page(admin_client, sandbox).content.decode()

    def test_view_only_staff_cannot_finish_a_rotation(self, client, sandbox):
        provider_secret_rotate(provider=sandbox)
        staff_with(client, "view_provider")
        rotate_on_the_page(client, sandbox, "finish_rotation")
        assert ProviderSecret.objects.filter(provider=sandbox, is_active=True).count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_rotations_side_by_side_leave_two_secrets_not_three():
    call_command("seed_sandbox", stdout=io.StringIO())
    provider = Provider.objects.get(code="sandbox")
    first = Holding(lambda: provider_secret_rotate(provider=provider), "the first rotation, not yet committed")
    first.until_held()
    second = Started(lambda: provider_secret_rotate(provider=provider), "the second rotation")
    until_sessions_wait(1, "the second rotation to wait for the first", calls=[second])
    first.release()
    assert isinstance(second.answer(), RotationUnfinished), second.answer()
    assert ProviderSecret.objects.filter(provider=provider, is_active=True).count() == 2


class TestASecretOfAnEarlierKey:
    def stored_under_another_key(self, provider: Provider) -> None:
        other = Fernet(Fernet.generate_key())
        for row in ProviderSecret.objects.filter(provider=provider):
            row.secret_encrypted = other.encrypt(b"sandbox-secret").decode()
            row.save(update_fields=["secret_encrypted"])
        PartnerCasino.objects.update(secret_encrypted=other.encrypt(b"sandbox-secret").decode())

    def test_the_seed_adds_the_configured_secret_and_says_what_it_could_not_read(self, client, sandbox, caplog):
        self.stored_under_another_key(sandbox)
        assert balance_call(client, code="sandbox", secret="sandbox-secret").status == 401
        out = io.StringIO()
        call_command("seed_sandbox", stdout=out)
        assert "Sandbox ready." in out.getvalue()
        assert "cannot be decrypted with PROVIDER_SECRET_KEY" in caplog.text
        assert balance_call(client, code="sandbox", secret="sandbox-secret").status == 200
        partner = PartnerCasino.objects.get()
        assert decrypt_secret(partner.secret_encrypted) == "sandbox-secret"
        assert (
            SettingChange.objects.filter(object_key=partner.name, field="signing_secret")
            .values_list("new_value", flat=True)
            .last()
            == "set"
        )

    def test_a_seed_that_changes_no_secret_records_none(self, sandbox):
        before = SettingChange.objects.filter(field="signing_secret").count()
        stored = PartnerCasino.objects.get().secret_encrypted
        call_command("seed_sandbox", stdout=io.StringIO())
        assert SettingChange.objects.filter(field="signing_secret").count() == before
        assert PartnerCasino.objects.get().secret_encrypted == stored


class TestTheKeyItself:
    def errors(self) -> set[str]:
        return {m.id for m in run_checks(tags=[Tags.security])}

    @pytest.mark.parametrize("key", ["x" * 44, "not-a-key", "ZmFrZQ=="])
    def test_one_that_is_no_fernet_key_stops_the_platform_at_start(self, settings, key):
        settings.PROVIDER_SECRET_KEY = key
        assert "provider.E001" in self.errors()

    def test_a_fernet_key_or_none_passes(self, settings):
        settings.PROVIDER_SECRET_KEY = Fernet.generate_key().decode()
        assert "provider.E001" not in self.errors()
        settings.PROVIDER_SECRET_KEY = ""
        assert "provider.E001" not in self.errors()
