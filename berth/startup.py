"""What a web server process does once Django is set up, before its first request."""

from __future__ import annotations

import gc

from django.urls import get_resolver


def freeze_loaded_app() -> None:
    """Import every view now (the URLconf is otherwise loaded by the first request), then
    take everything loaded so far out of the garbage collector's work.

    Django's and Berth's modules, classes and functions are some 120,000 objects that
    never become garbage, yet every full collection walked all of them: 100-170 ms here,
    landing on whichever request was building a large page (a page of the images list
    at 1,000 hosts; docs/performance.md). Frozen, a full collection only walks what
    requests made. Collected first, so startup's own garbage is not kept forever.
    """
    get_resolver().url_patterns  # noqa: B018 - imports every view module
    gc.collect()
    gc.freeze()
