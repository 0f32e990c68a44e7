"""The plugin's caches: small, thread-safe and bounded, so TensorBoard's memory stays flat however long it runs.

Example:
    >>> cache = LRUCache(2)
    >>> [cache.get_or_create(k, lambda k=k: k * 10) for k in (1, 2, 1, 3)]
    [10, 20, 10, 30]
    >>> len(cache), cache.hits, cache.misses  # 2 was the least recently used, and went
    (2, 1, 3)
    >>> cache.get(2), cache.get(3), cache.hits, cache.misses  # a look-up counts as a hit or a miss too
    (None, 30, 2, 4)
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Hashable
from typing import Any


class LRUCache:
    """A small thread-safe least-recently-used cache (TensorBoard serves requests from several threads)."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._data: collections.OrderedDict[Hashable, Any] = collections.OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_create(self, key: Hashable, create: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                self.hits += 1
                return self._data[key]
            self.misses += 1
        # Decode outside the lock: a slow decode must not block requests for other graphs. Two threads may
        # decode the same graph at once; both get equal results and one is kept.
        value = create()
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)
        return value

    def get(self, key: Hashable, default: Any = None) -> Any:
        """The cached value (now the most recently used), or ``default`` without creating anything; counted as a
        hit or a miss like :meth:`get_or_create`."""
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                self.hits += 1
                return self._data[key]
            self.misses += 1
        return default

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
