"""A wallet client that misbehaves on purpose, the way networks and partners do: responses
lost after the partner did the work, requests delivered twice, and delays."""

import random
import threading
import time
from collections import Counter
from typing import Any

from ..outbound.client import OutcomeUnknown, WalletAnswer, WalletClient


class MeasuredClient(WalletClient):
    """Records every answered call's latency (ms) for the simulator's percentiles."""

    def __init__(self, partner):
        super().__init__(partner)
        self.latencies_ms: list[int] = []
        self._lock = threading.Lock()

    def call(self, endpoint: str, payload: dict[str, Any], *, trace_id: str | None = None) -> WalletAnswer:
        answer = super().call(endpoint, payload, trace_id=trace_id)
        with self._lock:
            self.latencies_ms.append(answer.duration_ms)
        return answer


class ChaosClient(MeasuredClient):
    def __init__(self, partner, *, probability: float, rng: random.Random, max_delay_ms: int = 150):
        super().__init__(partner)
        self.probability, self.rng, self.max_delay_ms = probability, rng, max_delay_ms
        self.injected: Counter[str] = Counter()

    def _pick(self) -> str | None:
        with self._lock:
            if self.rng.random() >= self.probability:
                return None
            return self.rng.choice(["drop_response", "duplicate", "delay"])

    def call(self, endpoint: str, payload: dict[str, Any], *, trace_id: str | None = None) -> WalletAnswer:
        fault = self._pick() if endpoint in ("debit", "credit", "rollback") else None
        if fault is None:
            return super().call(endpoint, payload, trace_id=trace_id)
        with self._lock:
            self.injected[fault] += 1
        if fault == "delay":
            time.sleep(self.rng.uniform(0, self.max_delay_ms) / 1000)  # a slow network, on purpose
            return super().call(endpoint, payload, trace_id=trace_id)
        if fault == "duplicate":
            super().call(endpoint, payload, trace_id=trace_id)
            return super().call(endpoint, payload, trace_id=trace_id)
        # drop_response: the partner did the work; we never hear about it.
        super().call(endpoint, payload, trace_id=trace_id)
        raise OutcomeUnknown("chaos: the response was dropped")
