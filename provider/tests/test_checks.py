from django.core.checks import Tags, run_checks


def deploy_check_ids() -> set[str]:
    return {m.id for m in run_checks(include_deployment_checks=True, tags=[Tags.security])}


def test_a_deployment_without_a_provider_secret_key_is_warned(settings):
    settings.PROVIDER_SECRET_KEY = ""
    assert "provider.W001" in deploy_check_ids()


def test_a_deployment_with_one_is_not(settings):
    settings.PROVIDER_SECRET_KEY = "zI0pBxgk5nwLnt2Q1mG3hT6sTqf0JRM0tv8dmU1q6WA="
    assert "provider.W001" not in deploy_check_ids()
