"""The Redis cache backend shares one client per connection pool and still counts exactly."""

import threading
import uuid

import pytest
from django.conf import settings

from apps.core.cache import RedisCache


@pytest.fixture
def redis_cache() -> RedisCache:
    location = settings.CACHES["default"].get("LOCATION", "")
    if not str(location).startswith("redis://"):
        pytest.skip("needs CACHE_URL=redis://... (.ci/run sets it)")
    return RedisCache(location, {"KEY_PREFIX": f"test-cache-{uuid.uuid4()}"})


def test_the_settings_use_it_for_redis():
    if settings.CACHES["default"].get("LOCATION", "").startswith("redis://"):
        assert settings.CACHES["default"]["BACKEND"] == "apps.core.cache.RedisCache"


def test_one_client_serves_every_call(redis_cache):
    client = redis_cache._cache.get_client("a")

    assert redis_cache._cache.get_client("b") is client
    assert redis_cache._cache.get_client("c", write=True) is client  # one server: one pool


def test_a_client_per_server():
    cache = RedisCache("redis://127.0.0.1:1/0,redis://127.0.0.1:2/0", {})  # nothing is connected

    writer = cache._cache.get_client(write=True)
    reader = cache._cache.get_client()

    assert writer is not reader
    assert writer.connection_pool.connection_kwargs["port"] == 1
    assert reader.connection_pool.connection_kwargs["port"] == 2


def test_values_round_trip(redis_cache):
    redis_cache.set("key", {"a": [1, 2]}, timeout=30)

    assert redis_cache.get("key") == {"a": [1, 2]}
    assert redis_cache.get("missing", "default") == "default"


def test_threads_sharing_the_client_lose_no_increment(redis_cache):
    redis_cache.add("counter", 0, timeout=30)

    def count() -> None:
        for _ in range(50):
            redis_cache.incr("counter")

    threads = [threading.Thread(target=count) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert redis_cache.get("counter") == 400
