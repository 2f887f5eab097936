"""Moving-window limits: unlike a fixed window, a burst straddling a boundary cannot double."""

from __future__ import annotations

import math
import time
from functools import lru_cache

from limits import RateLimitItem, parse, storage, strategies

from pixvault.core.ports import RateDecision


@lru_cache(maxsize=64)
def _item(limit: str) -> RateLimitItem:
    return parse(limit)


class LimitsRateLimiter:
    def __init__(self, storage_uri: str = "memory://") -> None:
        self._storage = storage.storage_from_string(storage_uri)
        self._strategy = strategies.MovingWindowRateLimiter(self._storage)

    def hit(self, limit: str, *keys: str) -> RateDecision:
        item = _item(limit)
        allowed = self._strategy.hit(item, *keys)
        return self._decision(item, allowed, keys)

    def test(self, limit: str, *keys: str) -> RateDecision:
        item = _item(limit)
        allowed = self._strategy.test(item, *keys)
        return self._decision(item, allowed, keys)

    def _decision(self, item: RateLimitItem, allowed: bool, keys: tuple[str, ...]) -> RateDecision:
        stats = self._strategy.get_window_stats(item, *keys)
        reset_after = max(0, math.ceil(stats.reset_time - time.time()))
        if not allowed:
            reset_after = max(1, reset_after)
        return RateDecision(
            allowed=allowed, limit=item.amount, remaining=stats.remaining, reset_after=reset_after
        )

    def reset(self) -> None:
        self._storage.reset()
