"""In-memory token bucket per API key (per process)."""
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

    def acquire(self, key: str) -> float:
        """Take a token for ``key``; returns 0 when allowed, else the seconds to wait before retrying."""
        if not self.enabled:
            return 0.0
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > self.max_buckets:  # bounded memory: drop the oldest entries
                for k in list(self._buckets)[: len(self._buckets) // 2]:
                    self._buckets.pop(k, None)
            return (1.0 - tokens) / self.rate

    @staticmethod
    def retry_after(wait_s: float) -> int:
        return max(1, math.ceil(wait_s))
