"""The result cache: identical inputs under the same policy and bundle are answered from memory;
nothing else is, and a failed channel is never cached."""

from __future__ import annotations

import pytest

from safety.cache import LRUCache
from safety.detectors.protocol import DetectorKind
from tests import fakes
from tests.conftest import fake_moderator, png_bytes, spec


def test_lru_evicts_the_least_recently_used():
    cache = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recent
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3
    assert (cache.hits, cache.misses) == (3, 1) and len(cache) == 2
    off = LRUCache(0)
    off.put("a", 1)
    assert off.get("a") is None
    with pytest.raises(ValueError):
        LRUCache(-1)


def test_a_repeat_is_served_from_the_cache_with_its_own_id():
    detector = fakes.KeywordText()
    moderator = fake_moderator(text=spec("kw", DetectorKind.TEXT, fakes.loaded(detector)))
    first = moderator.moderate(text="you idiot")
    again = moderator.moderate(text="you idiot")
    assert detector.batches == [1]
    assert not first.cached and again.cached and again.id != first.id
    assert again.model_dump(exclude={"id", "cached", "latency_ms"}) == first.model_dump(exclude={"id", "cached", "latency_ms"})
    # another policy, another text or another image is computed
    moderator.moderate(text="you idiot", policy="strict")
    moderator.moderate(text="you idiot!")
    assert detector.batches == [1, 1, 1]


def test_a_batch_mixing_hits_and_misses_runs_only_the_misses():
    detector = fakes.KeywordText()
    moderator = fake_moderator(text=spec("kw", DetectorKind.TEXT, fakes.loaded(detector)))
    moderator.moderate(text="seen")
    results = moderator.moderate_batch([{"text": "new one"}, {"text": "seen"}, {"text": "new two"}])
    assert detector.batches == [1, 2] and [r.cached for r in results] == [False, True, False]


def test_failed_channels_are_never_cached():
    moderator = fake_moderator(text=spec("bad", DetectorKind.TEXT, fakes.loaded(fakes.Failing())))
    assert moderator.moderate(text="hello").action.value == "review"
    assert not moderator.moderate(text="hello").cached


def test_the_cache_can_be_turned_off():
    detector = fakes.KeywordText()
    moderator = fake_moderator(text=spec("kw", DetectorKind.TEXT, fakes.loaded(detector)))
    moderator.cache.max_entries = 0
    moderator.moderate(text="x")
    assert not moderator.moderate(text="x").cached and detector.batches == [1, 1]


def test_images_are_keyed_by_content():
    moderator = fake_moderator(image=spec("img", DetectorKind.IMAGE, fakes.loaded(fakes.BrightImage())))
    moderator.moderate(image=png_bytes(color=(10, 10, 10)))
    assert moderator.moderate(image=png_bytes(color=(10, 10, 10))).cached
    assert not moderator.moderate(image=png_bytes(color=(250, 250, 250))).cached
