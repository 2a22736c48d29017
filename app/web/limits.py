"""Rates: how often one tab may send commands, one address may try join codes, and
how often one kind of log line may be written (a flood of bad frames must not fill the
disk)."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict


class Bucket:
    """A token bucket: `rate` tokens a second, at most `burst` saved up."""

    __slots__ = ("rate", "burst", "tokens", "at")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.at = burst, time.monotonic()

    def _filled(self, now: float) -> float:
        return min(self.burst, self.tokens + (now - self.at) * self.rate)

    def take(self, n: float = 1.0) -> float:
        """0 if `n` tokens were taken; else the seconds until they would be there."""
        now = time.monotonic()
        self.tokens, self.at = self._filled(now), now
        if self.tokens >= n:
            self.tokens -= n
            return 0.0
        return (n - self.tokens) / self.rate

    def short(self, n: float = 1.0) -> float:
        """0 if `n` tokens are there now; else the seconds until they would be (none
        is taken)."""
        tokens = self._filled(time.monotonic())
        return 0.0 if tokens >= n else (n - tokens) / self.rate


class Rates:
    """One bucket per key (a tab, an address), the least recently used forgotten
    past `keep` keys so that the table itself stays bounded."""

    def __init__(self, rate: float, burst: float, keep: int = 100_000) -> None:
        self.rate, self.burst, self.keep = rate, burst, keep
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str, n: float = 1.0) -> float:
        with self._lock:
            b = self._buckets.pop(key, None) or Bucket(self.rate, self.burst)
            self._buckets[key] = b
            while len(self._buckets) > self.keep:
                self._buckets.popitem(last=False)
            return b.take(n)

    def short(self, key: str, n: float = 1.0) -> float:
        """What `take` would answer, without taking anything."""
        with self._lock:
            b = self._buckets.get(key)
            return 0.0 if b is None else b.short(n)

    def forget(self, key: str) -> None:
        with self._lock:
            self._buckets.pop(key, None)


class QuietLog(logging.Filter):
    """At most `burst` lines of one message template per minute (per logger); what is
    held back is counted in the next line that passes."""

    def __init__(self, burst: int = 20) -> None:
        super().__init__()
        self.rates = Rates(burst / 60.0, burst, keep=10_000)
        self.held: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = f"{record.name}:{record.msg}"
        if self.rates.take(key):
            self.held[key] = self.held.get(key, 0) + 1
            return False
        held = self.held.pop(key, 0)
        if held:
            record.msg = f"{record.msg} ({held} more like this held back)"
        return True


def quiet(*names: str) -> None:
    """Rate-limit the given loggers' lines (idempotent)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, QuietLog) for f in logger.filters):
            logger.addFilter(QuietLog())
