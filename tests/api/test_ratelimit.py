from api.services.ratelimit import TokenBucketLimiter


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_token_bucket_burst_refill_and_wait():
    clock = Clock()
    lim = TokenBucketLimiter(rate_per_minute=120, burst=2, clock=clock)  # 2 tokens/s
    assert lim.acquire("k") == 0.0
    assert lim.acquire("k") == 0.0
    wait = lim.acquire("k")
    assert wait == 0.5  # (1 - 0 tokens) / 2 per second
    assert lim.retry_after(wait) == 1
    clock.t += 0.25  # half a token
    assert lim.acquire("k") == 0.25
    clock.t += 0.25
    assert lim.acquire("k") == 0.0
    assert lim.acquire("other") == 0.0  # independent buckets


def test_disabled_limiter_never_waits():
    lim = TokenBucketLimiter(rate_per_minute=0, burst=1)
    assert all(lim.acquire("k") == 0.0 for _ in range(100))
