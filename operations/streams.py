"""Append-only streams of lines an operation produces while it runs (log lines,
pull progress), kept in Redis for a day so clients can follow them by offset."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import redis
from django.conf import settings

RETENTION_SECONDS = 24 * 3600


@cache
def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=5)


def _key(operation_id: int) -> str:
    return f"berth:operation:{operation_id}:stream"


def append(operation_id: int, items: list[dict[str, Any]]) -> None:
    if not items:
        return
    key = _key(operation_id)
    pipe = _client().pipeline()
    pipe.rpush(key, *(json.dumps(item) for item in items))
    pipe.expire(key, RETENTION_SECONDS)
    pipe.execute()


def read(operation_id: int, offset: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
    raw = _client().lrange(_key(operation_id), offset, offset + limit - 1)
    return [json.loads(item) for item in raw]


def reset_client() -> None:
    _client.cache_clear()
