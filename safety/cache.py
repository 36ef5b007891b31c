"""A bounded, thread-safe LRU cache of moderation results.

Identical inputs (by content hash) judged under the same policy by the same model bundle get the
same verdict, so a repeat is served from memory. The key holds only hashes: the content itself is
never stored. Results whose channels failed or timed out are never cached (a fail-closed verdict
must not outlive the failure).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Generic, TypeVar

V = TypeVar("V")


class LRUCache(Generic[V]):
    def __init__(self, max_entries: int) -> None:
        if max_entries < 0:
            raise ValueError("max_entries must be >= 0")
        self.max_entries = max_entries
        self._data: OrderedDict[str, V] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> V | None:
        with self._lock:
            value = self._data.get(key)
            if value is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: str, value: V) -> None:
        if not self.max_entries:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


def result_key(*, text_sha256: str | None, image_sha256: str | None, policy_digest: str, bundle_digest: str) -> str:
    parts = [f"text={text_sha256 or '-'}", f"image={image_sha256 or '-'}", f"policy={policy_digest}",
             f"bundle={bundle_digest}"]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()
