"""Memory the app has freed goes back to the operating system.

The C library's ``malloc`` (glibc on Linux) keeps what Python, numpy, Pillow and torch free in its arenas, for
reuse: one arena per thread that allocated, up to eight per core, each returning memory to the system only
from its very end. A server whose requests run on many threads therefore keeps the peak of each request on
each thread, and its resident memory (RSS) creeps up request after request although nothing is alive any
more. ``malloc_trim(0)`` hands every free page of every arena back; :func:`release_regularly` calls it every
``limits.MEMORY_RELEASE_EVERY_S`` seconds (``bench/abuse.py`` measures the difference; see the README).

Where the C library has no ``malloc_trim`` (macOS, Windows, musl) this does nothing.
"""
from __future__ import annotations

import asyncio
import contextlib
import ctypes

import anyio

from shared import limits


def _malloc_trim():
    try:
        return ctypes.CDLL(None).malloc_trim  # the C library this process runs on
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _malloc_trim()


def release_freed_memory() -> bool:
    """Give the pages ``malloc`` holds free back to the operating system (glibc's ``malloc_trim(0)``).

    Returns:
        Whether this C library can (``False`` where it has no ``malloc_trim``).
    """
    if _MALLOC_TRIM is None:
        return False
    _MALLOC_TRIM(0)
    return True


@contextlib.asynccontextmanager
async def release_regularly(app):
    """A FastAPI lifespan: :func:`release_freed_memory` every ``limits.MEMORY_RELEASE_EVERY_S`` seconds, on a
    worker thread (it walks every arena; the event loop keeps serving meanwhile)."""

    async def every():
        while True:
            await asyncio.sleep(limits.MEMORY_RELEASE_EVERY_S)
            await anyio.to_thread.run_sync(release_freed_memory)

    task = asyncio.create_task(every()) if _MALLOC_TRIM is not None else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
