"""In-memory token buckets (per process): requests per key, characters per key (the cost budget), and
failed authentications per client address."""
from __future__ import annotations

import math
import threading
import time


class TokenBucketLimiter:
    """``rate_per_minute`` tokens refill continuously up to ``burst``; each request takes one.

    ``rate_per_minute == 0`` disables limiting.
    """

    def __init__(self, rate_per_minute: float, burst: int, *, clock=time.monotonic, max_buckets: int = 100_000):
        self.rate = rate_per_minute / 60.0
        self.burst = max(1, int(burst))
        self.clock = clock
        self.max_buckets = max_buckets
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def acquire(self, key: str, cost: float = 1.0) -> float:
        """Take ``cost`` tokens for ``key``; returns 0 when allowed (taken), else the seconds to wait before
        that many tokens are available (nothing taken)."""
        if not self.enabled:
            return 0.0
        now = self.clock()
        with self._lock:
            tokens = self._refill(key, now)
            if tokens >= cost:
                self._buckets[key] = (tokens - cost, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            self._bound()
            return (min(cost, float(self.burst)) - tokens) / self.rate

    def charge(self, key: str, cost: float) -> float:
        """Cost-based use (characters): allowed while the bucket is positive; the whole ``cost`` is then taken,
        so the bucket may go into debt (down to ``-burst``) and the next requests wait until it refills.
        Returns 0 when charged, else the seconds until the bucket is positive again (nothing charged)."""
        if not self.enabled:
            return 0.0
        now = self.clock()
        with self._lock:
            tokens = self._refill(key, now)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return (1.0 - tokens) / self.rate
            self._buckets[key] = (max(-float(self.burst), tokens - cost), now)
            self._bound()
            return 0.0

    def wait_for(self, key: str, cost: float = 1.0) -> float:
        """Seconds until ``cost`` tokens are available for ``key`` (0: now); takes nothing (a cheap check)."""
        if not self.enabled:
            return 0.0
        with self._lock:
            tokens = self._refill(key, self.clock(), store=False)
        return 0.0 if tokens >= cost else (min(cost, float(self.burst)) - tokens) / self.rate

    def _refill(self, key: str, now: float, *, store: bool = True) -> float:
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - last) * self.rate)

    def _bound(self) -> None:
        if len(self._buckets) > self.max_buckets:  # bounded memory: drop the oldest entries
            for k in list(self._buckets)[: len(self._buckets) // 2]:
                self._buckets.pop(k, None)

    @staticmethod
    def retry_after(wait_s: float) -> int:
        return max(1, math.ceil(wait_s))
