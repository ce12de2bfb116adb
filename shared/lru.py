"""A small, bounded, thread-safe LRU cache for results that many sessions share by key.

Sessions keep only the key, so memory does not grow with the number of learners.
"""
from __future__ import annotations

import threading
from collections import OrderedDict


class LRUCache:
    """At most ``size`` items; the least recently used one goes first."""

    def __init__(self, size: int):
        self.size, self._items, self._lock = size, OrderedDict(), threading.Lock()

    def get(self, key):
        """The value for ``key`` (now the most recently used), or ``None``."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def put(self, key, value):
        """Store ``value`` under ``key`` and return it."""
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value
