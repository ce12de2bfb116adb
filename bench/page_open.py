"""A class opens the teacher's link at once: how long until the linked tab shows, and what reaches the queue.

    python bench/page_open.py [--learners 30] [--tab images]

Starts the app on a free port. First one learner opens ``?tab=<tab>`` alone in headless Chromium (the
baseline): seconds until the linked tab is selected, and every request the page made. Then ``--learners``
open it at the same time: one in Chromium, the others as HTTP clients that make the same requests the real
page made (each learner has their own computer, so only the server is shared; thirty Chromiums on this
machine's two cores would measure the browsers). Reports the browser learner's seconds to the linked tab,
the HTTP learners' seconds to load everything, failed requests, and the events sent to the server's queue
on opening (goal: 0). Figures depend on the CPU, which is printed.
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

import httpx
from playwright.async_api import TimeoutError as PlaywrightTimeout
from playwright.async_api import async_playwright

import app
from shared.device import describe_cpu
from shared.ui import launch

CHROMIUM = "/usr/bin/chromium"


async def open_in_browser(browser, url: str, title: str) -> dict:
    context = await browser.new_context(viewport={"width": 1280, "height": 720})
    page = await context.new_page()
    gets, events, errors = [], [], []

    def record(request):
        if "/queue/join" in request.url or "/run/" in request.url:
            events.append(request.url)
        elif request.method == "GET" and "/heartbeat/" not in request.url:
            gets.append(request.url)

    page.on("request", record)
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
    errors += await page.locator(".toast-body").all_inner_texts()
    await context.close()
    return {"seconds": seconds, "events": events, "gets": gets, "errors": errors}


async def open_over_http(client: httpx.AsyncClient, urls: list[str]) -> dict:
    """One learner's page open as its requests: the page, then everything it loads, as a browser would (6 at once)."""
    start = time.perf_counter()
    failed = []
    limit = asyncio.Semaphore(6)

    async def get(u):
        async with limit:
            try:
                r = await client.get(u)
                if r.status_code >= 400:
                    failed.append(f"{r.status_code} {u}")
            except httpx.HTTPError as e:
                failed.append(f"{type(e).__name__} {u}")

    await get(urls[0])
    await asyncio.gather(*(get(u) for u in urls[1:]))
    return {"seconds": time.perf_counter() - start, "errors": failed}


async def run(url: str, title: str, learners: int) -> tuple[dict, dict, list[dict]]:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        alone = await open_in_browser(browser, url, title)
        urls = [url] + [u for u in dict.fromkeys(alone["gets"]) if u != url]
        async with httpx.AsyncClient(timeout=300) as client:
            real, *others = await asyncio.gather(open_in_browser(browser, url, title),
                                                 *(open_over_http(client, urls) for _ in range(learners - 1)))
        await browser.close()
    return alone, real, others


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
        alone, real, others = asyncio.run(run(f"{url}?tab={a.tab}", titles[a.tab], a.learners))
    finally:
        demo.close()
    print(f"CPU: {describe_cpu()}")
    print(f"one learner alone (Chromium): linked tab shown after {alone['seconds']:.2f} s; "
          f"{len(alone['gets'])} requests; {len(alone['events'])} events sent to the queue")
    times = sorted(r["seconds"] for r in others)
    print(f"{a.learners} learners at once: the Chromium learner saw the linked tab after {real['seconds']:.2f} s "
          f"({real['seconds'] / alone['seconds']:.1f}x alone); the {len(others)} others loaded the page in median "
          f"{statistics.median(times):.2f} s, slowest {times[-1]:.2f} s")
    failed = [e for r in others for e in r["errors"]] + real["errors"]
    print(f"events sent to the queue on opening: {len(real['events']) + len(alone['events'])}; "
          f"failed requests or errors shown: {len(failed)}")
    for e in failed[:5]:
        print("   ", e[:160])


if __name__ == "__main__":
    main()
