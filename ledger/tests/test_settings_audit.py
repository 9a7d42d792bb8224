"""The audit trail of operator settings: every change of a currency's thresholds, a provider's
access, a game, a partner casino, a switch or an API key, made in the admin, by a command or a
service, is a SettingChange row written with it and kept like the journal."""

import io

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.urls import reverse

from casino_platform.tests.pages import form_as_shown
from ledger.models import Currency, SettingChange
from ledger.settings_audit import setting_changes_record, setting_snapshot
from provider.crypto import decrypt_secret
from provider.models import Game, Provider, ProviderSecret
from sessions.models import OperatorApiKey, PlatformSwitch
from sessions.services import platform_switch_set

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox(db):
    call_command("seed_sandbox", stdout=io.StringIO())


def changes(**filters) -> list[tuple[str, str, str, str, str]]:
    """What was changed after the sandbox was seeded (the seed's own records are tested apart)."""
    rows = SettingChange.objects.filter(**filters).exclude(changed_by="seed_sandbox").order_by("id")
    return [(r.object_key, r.field, r.old_value, r.new_value, r.changed_by) for r in rows]


def currency_form(currency: Currency, **changes) -> dict:
    fields = ("name", "is_enabled", "withdrawal_review_above", "kyc_deposits_above", "staff_approval_above")
    optional = ("staff_daily_allowance", "large_win_above", "deposits_24h_above", "low_play_withdrawal_percent")
    form = {f: getattr(currency, f) for f in (*fields, *optional)}
    form = {k: ("" if v is None else v) for k, v in form.items()}
    form["is_enabled"] = "on" if currency.is_enabled else ""
    form.update(changes)
    return {k: v for k, v in form.items() if v != "" or k != "is_enabled"}


class TestAdmin:
    def test_a_currency_s_thresholds_changed_on_its_page(self, admin_client, sandbox):
        start = SettingChange.objects.count()
        eur = Currency.objects.get(code="EUR")
        url = reverse("admin:ledger_currency_change", args=["EUR"])
        r = admin_client.post(url, currency_form(eur, staff_approval_above=50_000, withdrawal_review_above=100_000))
        assert r.status_code == 302, r.content.decode()[-2000:]
        assert changes(setting="ledger.currency")[-2:] == [
            ("EUR", "withdrawal_review_above", "", "100000", "admin"),
            ("EUR", "staff_approval_above", "", "50000", "admin"),
        ]
        # The monitoring figures too: whoever may change a currency may turn monitoring off.
        eur.refresh_from_db()
        admin_client.post(url, currency_form(eur, large_win_above=500_000, deposits_24h_above=200_000))
        assert changes(setting="ledger.currency")[-2:] == [
            ("EUR", "large_win_above", "", "500000", "admin"),
            ("EUR", "deposits_24h_above", "", "200000", "admin"),
        ]
        start += 2
        # Saved again unchanged: nothing to record.
        eur.refresh_from_db()
        admin_client.post(url, currency_form(eur))
        assert SettingChange.objects.count() == start + 2

    def test_a_currency_disabled_in_the_list(self, admin_client, sandbox):
        url = reverse("admin:ledger_currency_changelist")
        codes = list(Currency.objects.order_by("code").values_list("code", flat=True))
        form = {"form-TOTAL_FORMS": len(codes), "form-INITIAL_FORMS": len(codes), "_save": "Save"}
        for i, code in enumerate(codes):
            form[f"form-{i}-code"] = code
            if code != "USD":
                form[f"form-{i}-is_enabled"] = "on"
        r = admin_client.post(url, form)
        assert r.status_code == 302
        assert changes(setting="ledger.currency")[-1:] == [("USD", "is_enabled", "yes", "no", "admin")]

    def test_provider_actions_and_a_new_provider(self, admin_client, sandbox):
        url = reverse("admin:provider_provider_changelist")
        sandbox_pk = Provider.objects.get(code="sandbox").pk
        admin_client.post(url, {"action": "disable", "_selected_action": [sandbox_pk]})
        admin_client.post(url, {"action": "enable", "_selected_action": [sandbox_pk]})
        rotated = admin_client.post(url, {"action": "rotate_secret", "_selected_action": [sandbox_pk]})
        # The new secret is shown once, from the session: no cookie carries it to the browser.
        assert "messages" not in rotated.cookies
        hint = ProviderSecret.objects.filter(provider_id=sandbox_pk).latest("id").hint
        assert changes(setting="provider.provider", object_key="sandbox") == [
            ("sandbox", "is_enabled", "yes", "no", "admin"),
            ("sandbox", "is_enabled", "no", "yes", "admin"),
            ("sandbox", "signing_secret", "", f"rotated: {hint}…", "admin"),
        ]
        add = reverse("admin:provider_provider_add")
        form = {
            "code": "acme",
            "name": "Acme Games",
            "is_enabled": "on",
            "ip_allowlist": '["10.0.0.0/8"]',
            "rate_limit_per_second": "50",
            "restricted_countries": "GB, US",
            "launch_url_template": "",
            "secrets-TOTAL_FORMS": "0",
            "secrets-INITIAL_FORMS": "0",
        }
        r = admin_client.post(add, form, follow=True)
        assert r.redirect_chain, r.content.decode()[-3000:]
        # Issued with it, as create_provider does, and shown once.
        issued = ProviderSecret.objects.get(provider__code="acme", is_active=True)
        secret = decrypt_secret(issued.secret_encrypted)
        assert f"New secret for acme (shown once, store it now): {secret}" in r.content.decode()
        assert changes(object_key="acme") == [
            ("acme", "name", "", "Acme Games", "admin"),
            ("acme", "is_enabled", "", "yes", "admin"),
            ("acme", "ip_allowlist", "", '["10.0.0.0/8"]', "admin"),
            ("acme", "rate_limit_per_second", "", "50", "admin"),
            ("acme", "restricted_countries", "", '["GB", "US"]', "admin"),
            ("acme", "signing_secret", "", f"issued: {issued.hint}…", "admin"),
        ]

    def test_a_game_deleted_and_a_key_revoked(self, admin_client, sandbox):
        game = Game.objects.create(
            game_id="sandbox:unused", provider=Provider.objects.get(code="sandbox"), name="Unused", game_type="slot"
        )
        r = admin_client.post(reverse("admin:provider_game_delete", args=[game.pk]), {"post": "yes"})
        assert r.status_code == 302
        assert ("sandbox:unused", "is_enabled", "yes", "", "admin") in changes(setting="provider.game")
        key = OperatorApiKey.objects.get()
        r = admin_client.post(
            reverse("admin:game_sessions_operatorapikey_change", args=[key.pk]),
            {"name": key.name, "scopes": key.scopes, "rate_limit_per_second": "0"},
        )
        assert r.status_code == 302
        assert changes(setting="game_sessions.operatorapikey")[-1] == (key.name, "is_active", "yes", "no", "admin")

    def test_a_rename_and_a_switch_toggled_in_the_list(self, admin_client, sandbox):
        game = Game.objects.get(game_id="sandbox:slot")
        form = {"name": "Sandbox Slots", "game_type": "slot"}  # its id is fixed once it exists
        r = admin_client.post(reverse("admin:provider_game_change", args=[game.pk]), {**form, "is_enabled": "on"})
        assert r.status_code == 302
        assert changes(setting="provider.game")[-1] == (
            "sandbox:slot",
            "name",
            "Sandbox Slot",
            "Sandbox Slots",
            "admin",
        )
        call_command("platform_switch", "maintenance", "on", "--reason", "db upgrade", stdout=io.StringIO())
        switch = PlatformSwitch.objects.get(name="maintenance")
        form = {"form-TOTAL_FORMS": 1, "form-INITIAL_FORMS": 1, "form-0-id": switch.pk, "_save": "Save"}
        r = admin_client.post(reverse("admin:game_sessions_platformswitch_changelist"), form)  # is_on unticked
        assert r.status_code == 302
        last = SettingChange.objects.filter(object_key="maintenance").latest("id")
        assert (last.old_value, last.new_value, last.changed_by, last.reason) == ("yes", "no", "admin", "")

    def test_the_trail_is_listed_for_staff(self, admin_client, sandbox):
        call_command("platform_switch", "maintenance", "on", "--reason", "db upgrade", stdout=io.StringIO())
        page = admin_client.get(reverse("admin:ledger_settingchange_changelist")).content.decode()
        assert "game_sessions.platformswitch" in page and "db upgrade" in page and "manage.py" in page
        assert "Add setting change" not in page


class TestAPageOpenedBeforeAChange:
    """A settings page saves what was changed on it, and keeps what a colleague or a command
    changed after it was opened (the page sends back what it showed)."""

    def test_a_key_revoked_meanwhile_stays_revoked_when_another_field_is_saved(self, admin_client, sandbox):
        key = OperatorApiKey.objects.get(name="sandbox")
        url = reverse("admin:game_sessions_operatorapikey_change", args=[key.pk])
        page = form_as_shown(admin_client.get(url))
        OperatorApiKey.objects.filter(pk=key.pk).update(is_active=False)  # revoked by a colleague
        r = admin_client.post(url, {**page, "rate_limit_per_second": "50"}, follow=True)
        assert r.status_code == 200
        key.refresh_from_db()
        assert (key.is_active, key.rate_limit_per_second) == (False, 50)
        assert changes(setting="game_sessions.operatorapikey", changed_by="admin") == [
            ("sandbox", "rate_limit_per_second", "0", "50", "admin")
        ]
        assert any("Kept what was changed after this page was opened" in str(m) for m in r.context["messages"])

    def test_a_threshold_lowered_meanwhile_is_kept_by_a_save_of_another(self, admin_client, sandbox):
        url = reverse("admin:ledger_currency_change", args=["EUR"])
        page = form_as_shown(admin_client.get(url))
        Currency.objects.filter(code="EUR").update(staff_approval_above=0)  # four eyes for every movement
        admin_client.post(url, {**page, "large_win_above": "500000"})
        eur = Currency.objects.get(code="EUR")
        assert (eur.staff_approval_above, eur.large_win_above) == (0, 500_000)

    def test_a_currency_disabled_meanwhile_stays_so_when_the_list_saves_another(self, admin_client, sandbox):
        url = reverse("admin:ledger_currency_changelist")
        page = form_as_shown(admin_client.get(url))
        Currency.objects.filter(code="USD").update(is_enabled=False)
        eur_row = next(k for k, v in page.items() if k.endswith("-code") and v == "EUR").removesuffix("-code")
        del page[f"{eur_row}-is_enabled"]  # staff untick EUR
        r = admin_client.post(url, {**page, "_save": "Save"})
        assert r.status_code == 302
        assert set(Currency.objects.filter(is_enabled=False).values_list("code", flat=True)) >= {"EUR", "USD"}
        assert changes(setting="ledger.currency", changed_by="admin") == [("EUR", "is_enabled", "yes", "no", "admin")]

    def test_a_switch_turned_on_meanwhile_stays_on_when_the_list_toggles_another(self, admin_client, sandbox):
        platform_switch_set(name="no_new_sessions", is_on=False, changed_by="ops")
        platform_switch_set(name="maintenance", is_on=False, changed_by="ops")
        url = reverse("admin:game_sessions_platformswitch_changelist")
        page = form_as_shown(admin_client.get(url))
        platform_switch_set(name="maintenance", is_on=True, changed_by="ops", reason="database upgrade")
        row = next(
            k
            for k, v in page.items()
            if k.endswith("-id") and v == str(PlatformSwitch.objects.get(name="no_new_sessions").pk)
        ).removesuffix("-id")
        r = admin_client.post(url, {**page, f"{row}-is_on": "on", "_save": "Save"})
        assert r.status_code == 302
        switches = dict(PlatformSwitch.objects.values_list("name", "is_on"))
        assert switches["maintenance"] is True and switches["no_new_sessions"] is True
        assert PlatformSwitch.objects.get(name="no_new_sessions").changed_by == "admin"
        assert PlatformSwitch.objects.get(name="maintenance").changed_by == "ops"


class TestOutsideTheAdmin:
    def test_commands_record_who_and_why(self, sandbox):
        call_command("platform_switch", "no_new_sessions", "on", "--reason", "incident 41", stdout=io.StringIO())
        call_command("platform_switch", "no_new_sessions", "off", stdout=io.StringIO())
        call_command("disable_provider", "sandbox", stdout=io.StringIO())
        call_command("rotate_provider_secret", "sandbox", stdout=io.StringIO())
        call_command("rotate_provider_secret", "sandbox", "--finish", stdout=io.StringIO())
        rows = SettingChange.objects.exclude(changed_by="seed_sandbox").order_by("id")
        switch = [(r.field, r.old_value, r.new_value, r.reason) for r in rows.filter(object_key="no_new_sessions")]
        assert switch == [("is_on", "", "yes", "incident 41"), ("is_on", "yes", "no", "")]
        provider = [(r.field, r.new_value.split(":")[0]) for r in rows.filter(setting="provider.provider")]
        assert provider == [
            ("is_enabled", "no"),
            ("signing_secret", "rotated"),
            ("signing_secret", "revoked"),
        ]
        assert {r.changed_by for r in rows} == {"manage.py"}

    def test_what_the_creating_commands_make_is_on_record(self, sandbox, monkeypatch):
        call_command("create_provider", "acme", "--allow-ip", "10.0.0.1", stdout=io.StringIO())
        monkeypatch.setenv("PARTNER_SECRET", "s3cret-from-partner")
        partner = ["create_partner", "bigcasino", "--base-url", "https://casino.example", "--provider-code", "us"]
        call_command(*partner, "--secret-env", "PARTNER_SECRET", stdout=io.StringIO())
        call_command(*partner, "--secret-env", "PARTNER_SECRET", "--read-timeout-ms", "2000", stdout=io.StringIO())
        call_command("create_operator_key", "cashier", "--scope", "cashier", stdout=io.StringIO())
        acme = [(f, new.split(":")[0]) for _, f, _, new, _ in changes(object_key="acme")]
        assert acme == [
            ("name", "acme"),
            ("is_enabled", "yes"),
            ("ip_allowlist", '["10.0.0.1"]'),
            ("rate_limit_per_second", "0"),
            ("restricted_countries", "[]"),
            ("signing_secret", "issued"),
        ]
        assert [(f, old, new) for _, f, old, new, _ in changes(object_key="bigcasino")] == [
            ("name", "", "bigcasino"),
            ("base_url", "", "https://casino.example"),
            ("provider_code", "", "us"),
            ("is_enabled", "", "yes"),
            ("connect_timeout_ms", "", "1000"),
            ("read_timeout_ms", "", "5000"),
            ("signing_secret", "", "set"),
            ("read_timeout_ms", "5000", "2000"),
            ("signing_secret", "", "set"),
        ]
        prefix = OperatorApiKey.objects.get(name="cashier").prefix
        assert changes(object_key="cashier") == [
            ("cashier", "name", "", "cashier", "manage.py"),
            ("cashier", "is_active", "", "yes", "manage.py"),
            ("cashier", "scopes", "", '["cashier"]', "manage.py"),
            ("cashier", "rate_limit_per_second", "", "0", "manage.py"),
            ("cashier", "key", "", f"issued: {prefix}…", "manage.py"),
        ]
        assert "s3cret" not in " ".join(SettingChange.objects.values_list("new_value", flat=True))

    def test_a_change_rolled_back_leaves_no_record(self, sandbox):
        eur = Currency.objects.get(code="EUR")
        with pytest.raises(RuntimeError), transaction.atomic():
            before = setting_snapshot(eur)
            Currency.objects.filter(code="EUR").update(kyc_deposits_above=1)
            eur.refresh_from_db()
            setting_changes_record(obj=eur, before=before, changed_by="alice")
            raise RuntimeError("the change fails after its record")
        assert not SettingChange.objects.filter(setting="ledger.currency").exists()

    @pytest.mark.django_db(transaction=True)
    def test_recording_outside_the_change_s_transaction_is_a_bug(self):
        eur = Currency.objects.create(code="XTS", exponent=2)
        with pytest.raises(RuntimeError):
            setting_changes_record(obj=eur, before={"name": "Old"}, changed_by="alice")

    def test_the_trail_is_append_only_in_the_database(self, sandbox):
        call_command("platform_switch", "maintenance", "on", stdout=io.StringIO())
        with pytest.raises(IntegrityError), transaction.atomic():
            SettingChange.objects.update(new_value="no")
        with pytest.raises(IntegrityError), transaction.atomic():
            SettingChange.objects.all().delete()
        assert SettingChange.objects.filter(new_value="yes").exists()


@pytest.mark.django_db(transaction=True)
def test_delete_selected_in_the_admin_records_each_deletion(admin_client):
    """Admin actions run outside a transaction: the deletions and their records commit together."""
    call_command("seed_sandbox", stdout=io.StringIO())
    provider = Provider.objects.get(code="sandbox")
    for n in (1, 2):
        Game.objects.create(game_id=f"sandbox:old{n}", provider=provider, name=f"Old {n}", game_type="slot")
    pks = list(Game.objects.filter(game_id__startswith="sandbox:old").values_list("pk", flat=True))
    url = reverse("admin:provider_game_changelist")
    r = admin_client.post(url, {"action": "delete_selected", "_selected_action": pks, "post": "yes"})
    assert r.status_code == 302
    assert not Game.objects.filter(pk__in=pks).exists()
    gone = SettingChange.objects.filter(setting="provider.game", field="game_id", new_value="")
    assert sorted(gone.values_list("object_key", flat=True)) == ["sandbox:old1", "sandbox:old2"]


@pytest.mark.django_db
def test_the_seed_is_on_the_trail_and_puts_back_what_it_owns():
    call_command("seed_sandbox", stdout=io.StringIO())
    seeded = SettingChange.objects.filter(changed_by="seed_sandbox")
    # The currencies come with the migrations; the seed creates the rest.
    assert {"provider.provider", "provider.game", "provider.partnercasino"} <= set(
        seeded.values_list("setting", flat=True)
    )
    assert seeded.filter(object_key="sandbox", field="key", new_value__startswith="set: ").exists()
    first = SettingChange.objects.count()
    call_command("seed_sandbox", stdout=io.StringIO())
    assert SettingChange.objects.count() == first  # nothing changed, nothing recorded
    OperatorApiKey.objects.filter(name="sandbox").update(is_active=False)  # revoked (outside the admin)
    call_command("seed_sandbox", stdout=io.StringIO())
    last = SettingChange.objects.latest("id")
    assert (last.object_key, last.field, last.old_value, last.new_value, last.changed_by) == (
        "sandbox",
        "is_active",
        "no",
        "yes",
        "seed_sandbox",
    )


@pytest.mark.django_db
def test_a_third_secret_revokes_the_oldest_on_record():
    call_command("seed_sandbox", stdout=io.StringIO())
    provider = Provider.objects.get(code="sandbox")
    call_command("rotate_provider_secret", "sandbox", stdout=io.StringIO())
    call_command("rotate_provider_secret", "sandbox", "--force", stdout=io.StringIO())  # before --finish
    oldest = ProviderSecret.objects.filter(provider=provider).earliest("id").hint
    events = SettingChange.objects.filter(object_key="sandbox", field="signing_secret").order_by("id")
    assert [e.new_value.split(":")[0] for e in events] == ["added", "rotated", "revoked", "rotated"]
    assert events[2].new_value == f"revoked: {oldest}…"
