import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

from casino_platform.db import postgresql_url
from provider.crypto import encrypt_secret
from provider.models import PartnerCasino
from provider.outbound.client import WalletClient
from provider.tests.fake_partner import FakePartner

ROOT = Path(__file__).resolve().parents[2]


def wait_for(predicate, *, timeout=30.0, interval=0.1, message="condition"):
    """Poll until `predicate()` is true; fail with `message` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


class ProcessDied(BaseException):
    """What a SIGKILL looks like from inside: nothing after it runs, no handler sees it."""


class DiesAfterTheCall(WalletClient):
    """A client whose process dies the moment the partner has answered: the call was made,
    nothing of ours after it ran."""

    def call(self, endpoint, payload, **kwargs):
        super().call(endpoint, payload, **kwargs)
        raise ProcessDied


class Worker:
    """A real Celery worker (and beat) in a subprocess, on the test database and broker."""

    def __init__(self, log_path: Path, *, pool: str = "threads", env: dict[str, str] | None = None):
        self.log_path = log_path
        self.pool, self.extra_env = pool, env or {}
        self.process: subprocess.Popen | None = None
        self.beat: subprocess.Popen | None = None

    def start(self):
        db = connection.settings_dict
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "casino_platform.settings_test",
            "DATABASE_URL": postgresql_url(db),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "OUTBOUND_RETRY_BASE_SECONDS": "0.2",
            "OUTBOUND_RETRY_CAP_SECONDS": "1",
            "OUTBOUND_LEASE_SECONDS": "3",
            "OUTBOUND_SWEEP_SECONDS": "1",
            "OUTBOUND_FLAG_AFTER_ATTEMPTS": "5",
            "RG_LIMIT_SWEEP_SECONDS": "1",
            "MONITORING_SWEEP_SECONDS": "1",
            "CASHIER_WEBHOOK_TIMEOUT_SECONDS": "1",
            **self.extra_env,
        }
        log = self.log_path.open("ab")
        celery = [sys.executable, "-m", "celery", "-A", "casino_platform"]
        # A thread-pool worker is one process (SIGKILL leaves no orphans); beat runs beside it,
        # as in production.
        self.process = subprocess.Popen(
            [
                *celery,
                "worker",
                f"--pool={self.pool}",
                # One child under prefork: SIGKILL of the parent would orphan more.
                "--concurrency=4" if self.pool == "threads" else "--concurrency=1",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "-Q",
                f"{settings.CELERY_TASK_DEFAULT_QUEUE},{settings.CELERY_LONG_TASK_QUEUE}",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.beat = subprocess.Popen(
            [*celery, "beat", "--loglevel=INFO", f"--schedule={self.log_path.parent / 'beat-schedule'}"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_for(lambda: b"ready." in self.log_path.read_bytes(), timeout=60, message="the Celery worker")
        return self

    def kill(self):
        """SIGKILL the worker: no chance to finish or acknowledge what it is doing."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        if self.process:
            self.process.wait(timeout=10)

    def stop(self):
        for process in (self.process, self.beat):
            if process and process.poll() is None:
                process.terminate()
        for process in (self.process, self.beat):
            if process is None:
                continue
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture
def broker():
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture
def worker(transactional_db, broker, tmp_path):
    w = Worker(tmp_path / "worker.log").start()
    yield w
    w.stop()
    print(w.log_path.read_text()[-3000:])


@pytest.fixture
def fake_partner():
    with FakePartner(balances={"p1": 100_000}) as partner:
        yield partner


@pytest.fixture
def partner_casino(fake_partner, transactional_db):
    return PartnerCasino.objects.create(
        name="fake",
        base_url=fake_partner.url,
        provider_code=fake_partner.provider_code,
        secret_encrypted=encrypt_secret(fake_partner.secret),
        connect_timeout_ms=500,
        read_timeout_ms=1_000,
    )
