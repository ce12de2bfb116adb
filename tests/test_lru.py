from shared.lru import LRUCache


def test_the_least_recently_used_item_goes_first_and_put_returns_the_value():
    cache = LRUCache(2)
    assert cache.put("a", 1) == 1
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recently used
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3
