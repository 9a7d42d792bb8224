"""The files an operator deploys from say what the settings read: .env.example names every
variable, and docker-compose.yml and the Dockerfile set only variables that exist, in the
containers where they belong. No Docker engine runs in CI, so these are read, not started."""

import re
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
# Read by prometheus_client and casino_platform.metrics, not through the settings' env.
OUTSIDE_SETTINGS = {"PROMETHEUS_MULTIPROC_DIR"}


def settings_variables() -> set[str]:
    source = (ROOT / "casino_platform" / "settings.py").read_text()
    return set(re.findall(r'\benv(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]*)"', source))


def env_example_variables() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    # Set (NAME=...) or shown commented out (# NAME=...).
    return set(re.findall(r"^(?:# )?([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_the_settings_read_variables_at_all():
    # Guards the pattern above: if the settings stop matching it, the tests below prove nothing.
    assert {"DATABASE_URL", "SECRET_KEY", "SANDBOX_PARTNER_URL", "OUTBOUND_SWEEP_SECONDS"} <= settings_variables()


def test_env_example_names_every_variable_the_settings_read():
    assert settings_variables() - env_example_variables() == set()


def test_env_example_names_no_variable_nothing_reads():
    assert env_example_variables() - settings_variables() - OUTSIDE_SETTINGS == set()


def test_env_example_sets_no_empty_directory():
    # VAR_DIR= would put the SQLite database and the broker in whatever directory a command runs from.
    text = (ROOT / ".env.example").read_text()
    assert not re.search(r"^(VAR_DIR|STATIC_ROOT)=\s*$", text, flags=re.MULTILINE)


def test_compose_sets_only_variables_that_exist():
    known = settings_variables() | OUTSIDE_SETTINGS
    for name, service in compose()["services"].items():
        if name in ("postgres", "redis"):
            continue
        assert set(service["environment"]) - known == set(), name


def test_only_the_web_server_runs_with_a_prometheus_directory():
    # bin/serve creates and empties it; migrate, the worker and beat would refuse to start on
    # a directory nobody made (casino_platform.metrics), so neither the image nor they set it.
    assert not re.search(r"^ENV\b.*PROMETHEUS_MULTIPROC_DIR", (ROOT / "Dockerfile").read_text(), flags=re.MULTILINE)
    services = compose()["services"]
    assert services["web"]["environment"]["PROMETHEUS_MULTIPROC_DIR"]
    for name in ("migrate", "worker", "beat"):
        assert "PROMETHEUS_MULTIPROC_DIR" not in services[name]["environment"], name


def test_the_containers_reach_the_sandbox_partner_at_an_allowed_host():
    env = compose()["services"]["worker"]["environment"]
    partner = re.fullmatch(r"\$\{SANDBOX_PARTNER_URL:-(.+)\}", env["SANDBOX_PARTNER_URL"]).group(1)
    # Appended after the operator's own list, so that overriding ALLOWED_HOSTS keeps it.
    hosts = re.fullmatch(r"\$\{ALLOWED_HOSTS:-[^}]+\},(.+)", env["ALLOWED_HOSTS"]).group(1).split(",")
    assert urlsplit(partner).hostname in hosts
    # The partner is the web service, at the port it listens on inside its container.
    assert urlsplit(partner).hostname in compose()["services"]
    assert urlsplit(partner).port == 8000 and compose()["services"]["web"]["command"] == "bin/serve"
    # The migrate service seeds the sandbox, so it must see the same address.
    assert compose()["services"]["migrate"]["environment"]["SANDBOX_PARTNER_URL"] == env["SANDBOX_PARTNER_URL"]


def test_the_image_collects_the_static_files_and_keeps_local_state_out():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "collectstatic" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv*", "var", ".env", "compose.env"} <= set(ignored)  # compose.env: the keys (README)


def test_compose_has_no_default_for_the_keys_and_seeds_the_sandbox_only_when_asked():
    # A default written in a public file is a public key: compose refuses to start without them.
    for name, service in compose()["services"].items():
        if name in ("postgres", "redis"):
            continue
        for key in ("SECRET_KEY", "PROVIDER_SECRET_KEY"):
            assert re.fullmatch(rf"\$\{{{key}:\?[^}}]+\}}", service["environment"][key]), (name, key)
    # The sandbox's keys are public too.
    assert (
        "if [ '${SEED_SANDBOX:-0}' = 1 ]; then python manage.py seed_sandbox; fi"
        in (compose()["services"]["migrate"]["command"])
    )


def test_postgres_is_healthy_only_once_it_answers_over_tcp():
    # The image's init-time server listens on the Unix socket only: a healthcheck over the
    # socket passed then, and migrate (started once) failed to connect over TCP on a first `up`.
    postgres = compose()["services"]["postgres"]
    command = postgres["healthcheck"]["test"][-1]
    assert re.search(r"\bpg_isready\b", command) and re.search(r"\s-h\s*127\.0\.0\.1\b", command)
    database = urlsplit(compose()["services"]["migrate"]["environment"]["DATABASE_URL"])
    assert re.search(rf"\s-U\s*{database.username}(\s|$)", command)
    assert re.search(rf"\s-d\s*{database.path.lstrip('/')}(\s|$)", command)
    assert database.username == postgres["environment"]["POSTGRES_USER"]


def test_beat_keeps_its_schedule_on_a_volume_the_image_lets_it_write():
    beat = compose()["services"]["beat"]
    schedule = re.search(r"--schedule=(\S+)", beat["command"]).group(1)
    volume, mounted = beat["volumes"][0].split(":")
    assert volume in compose()["volumes"] and schedule.startswith(mounted + "/")
    # A new named volume takes the owner of the image's directory: the app's user.
    assert re.search(rf"mkdir -p {mounted}\b.*chown -R casino /app/var", (ROOT / "Dockerfile").read_text())
    assert mounted.startswith("/app/var/")


def env_example_value(name: str) -> str:
    return re.search(rf"^{name}=(.*)$", (ROOT / ".env.example").read_text(), flags=re.MULTILINE).group(1).strip()


def test_the_time_limits_and_timeouts_default_to_what_env_example_says(monkeypatch):
    # A default typed wrong (1 s for a task) cut every slow delivery short, and no test saw it.
    import importlib

    import casino_platform.settings as module

    for name in (
        "CELERY_TASK_TIME_LIMIT_SECONDS",
        "CELERY_LONG_TASK_TIME_LIMIT_SECONDS",
        "REDIS_TIMEOUT_SECONDS",
        "DATABASE_CONNECT_TIMEOUT_SECONDS",
    ):
        monkeypatch.delenv(name, raising=False)
    fresh = importlib.reload(module)
    try:
        assert fresh.CELERY_TASK_SOFT_TIME_LIMIT == int(env_example_value("CELERY_TASK_TIME_LIMIT_SECONDS")) == 120
        assert fresh.CELERY_TASK_TIME_LIMIT == fresh.CELERY_TASK_SOFT_TIME_LIMIT + 30
        assert fresh.CELERY_LONG_TASK_TIME_LIMIT_SECONDS == int(
            env_example_value("CELERY_LONG_TASK_TIME_LIMIT_SECONDS")
        )
        assert fresh.REDIS_TIMEOUT_SECONDS == float(env_example_value("REDIS_TIMEOUT_SECONDS"))
        assert fresh.DATABASES["default"]["OPTIONS"]["connect_timeout"] == int(
            env_example_value("DATABASE_CONNECT_TIMEOUT_SECONDS")
        )
    finally:
        monkeypatch.undo()
        importlib.reload(module)
