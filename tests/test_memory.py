"""shared/memory.py: memory freed by the app goes back to the operating system."""
import asyncio
import platform
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest

from shared import limits, memory, ui

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

MB = 2**20


def rss() -> int:
    return psutil.Process().memory_info().rss


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc_trim")
def test_freed_blocks_pinned_under_a_live_one_go_back_to_the_system():
    # 2,000 blocks of 100 KB (below malloc's mmap threshold: they come from its heap), then all but the last
    # freed: that one pins the end of the heap, so malloc keeps the 200 MB below it until asked to hand it back.
    blocks = [b"x" * 100_000 for _ in range(2000)]
    last = blocks[-1]
    before = rss()
    del blocks
    kept = rss()
    assert memory.release_freed_memory()
    after = rss()
    assert kept - after > 100 * MB, (before // MB, kept // MB, after // MB)
    assert last


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc_trim")
def test_the_server_hands_freed_memory_back_regularly_as_one_of_its_chores(monkeypatch):
    assert ui.launch_kwargs()["app_kwargs"]["lifespan"] is ui.housekeeping
    released = []
    monkeypatch.setattr(limits, "MEMORY_RELEASE_EVERY_S", 0.01)
    monkeypatch.setattr(limits, "CACHE_SWEEP_EVERY_S", 3600)
    monkeypatch.setattr(memory, "release_freed_memory", lambda: released.append(True))

    async def serve_a_while():
        async with ui.housekeeping(app=None):
            while len(released) < 3:
                await asyncio.sleep(0.01)

    # On a thread of its own: a session-wide Playwright (sync API) keeps an event loop running on this one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, asyncio.wait_for(serve_a_while(), timeout=120)).result()
    assert len(released) >= 3
