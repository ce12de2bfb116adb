"""A class opens the teacher's link at once: how long until the linked tab shows, and what reaches the queue.

    python bench/page_open.py [--learners 30] [--tab images]

Starts the app on a free port, then opens ``?tab=<tab>`` in ``--learners`` headless Chromium pages at the same
time (one browser, one context each, as separate learners). Reports, per learner, the seconds from the request
to the linked tab being selected, the events the pages sent to the server's queue (goal: 0) and any queue
rejection or error shown. The baseline, in the same run: one learner opening the same link alone.
Figures depend on the CPU, which is printed.
"""
from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.async_api import TimeoutError as PlaywrightTimeout
from playwright.async_api import async_playwright

import app
from shared.device import describe_cpu
from shared.ui import launch

CHROMIUM = "/usr/bin/chromium"


async def open_link(browser, url: str, title: str) -> dict:
    context = await browser.new_context(viewport={"width": 1280, "height": 720})
    page = await context.new_page()
    sent, errors = [], []
    page.on("request", lambda r: sent.append(r.url) if "/queue/join" in r.url or "/run/" in r.url else None)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    start = time.perf_counter()
    try:
        await page.goto(url, wait_until="commit", timeout=300_000)
        await page.get_by_role("tab", name=title, exact=True).and_(
            page.locator("[aria-selected='true']")).wait_for(timeout=300_000)
        seconds = time.perf_counter() - start
    except PlaywrightTimeout as e:
        errors.append(f"the linked tab was not shown: {e.message.splitlines()[0]}")
        seconds = float("nan")
    await page.wait_for_timeout(2000)  # anything sent on opening has been sent by now
    toasts = await page.locator(".toast-body").all_inner_texts()
    await context.close()
    return {"seconds": seconds, "events": len(sent), "errors": errors + toasts}


async def run(url: str, title: str, learners: int) -> tuple[dict, list[dict]]:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        alone = await open_link(browser, url, title)
        together = await asyncio.gather(*(open_link(browser, url, title) for _ in range(learners)))
        await browser.close()
    return alone, list(together)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--learners", type=int, default=30)
    ap.add_argument("--tab", default="images", help="the slug the link opens")
    a = ap.parse_args()
    titles = app.url_tabs()
    demo = app.build_demo()
    _, url, _ = launch(demo, prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True)
    try:
        alone, together = asyncio.run(run(f"{url}?tab={a.tab}", titles[a.tab], a.learners))
    finally:
        demo.close()
    times = sorted(r["seconds"] for r in together if r["seconds"] == r["seconds"])  # NaN: never shown
    if not times:
        times = [float("nan")]
    print(f"CPU: {describe_cpu()}")
    print(f"one learner alone: linked tab shown after {alone['seconds']:.2f} s, {alone['events']} queued events")
    print(f"{a.learners} learners at once: {len(times)} saw the linked tab, after median {statistics.median(times):.2f} s, "
          f"slowest {times[-1]:.2f} s ({times[-1] / alone['seconds']:.1f}x alone)")
    print(f"events sent to the queue on opening: {sum(r['events'] for r in together)}; "
          f"errors or rejections shown: {sum(len(r['errors']) for r in together)}")
    for r in together:
        for e in r["errors"][:2]:
            print("   ", e[:160])


if __name__ == "__main__":
    main()
