"""A broker that takes connections and never answers (a failover's half-open connection, a
firewall dropping packets) is given up on in seconds: /health answers 503 and queuing a task
after a commit gives up, where kombu's Redis transport, untold, waited for ever. Against a
silent server on loopback; the bounds below are generous, as they prove an end, not a speed."""

import socket
import threading
import time

import pytest
from celery import Celery
from django.conf import settings as django_settings


class SilentBroker:
    """Accepts TCP connections and never writes a byte."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.held: list[socket.socket] = []
        self.url = f"redis://127.0.0.1:{self.sock.getsockname()[1]}/0"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self):
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def silent_broker():
    broker = SilentBroker()
    yield broker
    broker.close()


def ends_within(seconds: float, call) -> object:
    outcome: dict[str, object] = {}

    def run():
        try:
            outcome["value"] = call()
        except Exception as exc:  # the outcome is judged by the test
            outcome["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still waiting on a silent broker after {seconds} s"
    return outcome


@pytest.mark.django_db
def test_health_answers_503_when_the_broker_never_answers(client, settings, silent_broker):
    settings.CELERY_BROKER_URL = silent_broker.url
    outcome = ends_within(60, lambda: client.get("/health"))
    response = outcome["value"]
    assert response.status_code == 503
    assert response.json()["checks"]["broker"].startswith("failing")
    assert response.json()["checks"]["database"] == "ok"


def test_queuing_a_task_gives_up_on_a_silent_broker(silent_broker, monkeypatch):
    """The platform's Celery settings (the transport's socket timeouts, one quick publish
    retry) on an app of their own, pointed at the silent broker."""
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)  # Celery prefers it to the app's own
    # Not the current app: the platform's shared tasks would otherwise resolve to this one,
    # and every later test's task be sent to the silent broker, long closed.
    app = Celery("silent-broker-test", broker=silent_broker.url, set_as_current=False)
    app.conf.update(
        broker_transport_options=django_settings.CELERY_BROKER_TRANSPORT_OPTIONS,
        task_publish_retry_policy=django_settings.CELERY_TASK_PUBLISH_RETRY_POLICY,
    )

    @app.task(name="silent_broker_test.nudge")
    def nudge(row_id: int) -> None: ...

    started = time.monotonic()
    outcome = ends_within(90, lambda: nudge.delay(1))
    assert "error" in outcome, "a publish to a broker that never answers cannot succeed"
    assert silent_broker.held, "the publish never reached the silent broker"
    assert time.monotonic() - started < 90
    assert django_settings.CELERY_BROKER_TRANSPORT_OPTIONS["socket_timeout"] > 1  # above kombu's BRPOP wait
    app.close()
