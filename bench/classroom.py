"""A class of thirty on one server: every learner opens the page, generates, explores, makes an image and a melody.

    python bench/classroom.py [--learners 30] [--minutes 5] [--tokens 64] [--backend embedded|server|both]

Starts ``python app.py`` on a free port (for ``server``: with ``CM_LM_SERVER_URL`` pointing at a vLLM CPU
server that this script starts too, see ``tests/engine.py``). First one learner generates ``--tokens`` tokens
alone (the baseline). Then ``--learners`` simulated learners (gradio_client over loopback, each in its own
thread) start at random moments in the first half of ``--minutes`` and each, in turn: opens the page (the HTML
and the app's config), generates ``--tokens`` tokens (topic 4), asks the next-token explorer (topic 4), makes
one image (topic 5's defaults) and one melody (topic 6's defaults). Every request is bounded in time.

Before that, every learner presses Generate at the same moment (``--tokens`` each): the total tokens/s against
one learner alone is what batching gains (queued one by one, it stays near 1x). Then reports, per backend:
errors and queue rejections per action; the median and 95th-percentile time to first
token (from submitting to the first streamed text, queueing included); total tokens/s across learners while
they generated, against one learner alone; the app's resident memory (RSS) after warm-up and at the end.
Figures depend on the CPU, which is printed.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil
from gradio_client import Client

from bench.server import JOB_TIMEOUT_S, MODEL, free_port, generate, start_app
from shared.device import describe_cpu



def learner(url: str, model: str, index: int, tokens: int, delay_s: float, record) -> None:
    time.sleep(delay_s)
    actions = [
        ("open page", lambda c: urllib.request.urlopen(url, timeout=JOB_TIMEOUT_S).read()),
        ("generate", lambda c: record("tokens", generate(c, model, index, tokens))),
        ("explorer", lambda c: c.predict("The best thing about school is", "Raw continuation", model,
                                          0.8, 50, 0.95, 1.0, api_name="/language_next_token")),
        ("image", lambda c: c.predict(api_name="/images_generate")),
        ("melody", lambda c: c.predict(opening="", api_name="/music_generate_melody")),
    ]
    try:
        client = Client(url, verbose=False)
    except Exception as e:  # noqa: BLE001 - a failed page open is a result to count
        record("error", ("open page", f"{type(e).__name__}: {e}"))
        return
    for name, act in actions:
        t0 = time.perf_counter()
        try:
            act(client)
            record("ok", (name, time.perf_counter() - t0))
        except Exception as e:  # noqa: BLE001 - every failure is counted and shown
            record("error", (name, f"{type(e).__name__}: {str(e)[:200]}"))


def measure(label: str, env_extra: dict, model: str, learners: int, minutes: float, tokens: int) -> None:
    proc, url = start_app(env_extra=env_extra)
    app_process = psutil.Process(proc.pid)
    try:
        warm = Client(url, verbose=False)
        warm.predict("Hello", "Chat", model, 0.8, 50, 0.95, 1.1, 8, 0, api_name="/language_generate")
        warm.predict(api_name="/images_generate")
        warm.predict(opening="", api_name="/music_generate_melody")
        alone = generate(warm, model, 999, tokens)
        burst = generate_at_once(url, model, learners, tokens)
        rss_start = app_process.memory_info().rss
        results: dict[str, list] = {"tokens": [], "ok": [], "error": []}
        lock = threading.Lock()

        def record(kind, value):
            with lock:
                results[kind].append((time.perf_counter(), value))

        rng = random.Random(0)
        threads = [threading.Thread(target=learner, args=(url, model, i, tokens, rng.uniform(0, 30 * minutes), record),
                                    daemon=True) for i in range(learners)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=max(1.0, 60 * minutes + 2 * JOB_TIMEOUT_S - (time.perf_counter() - t0)))
        wall = time.perf_counter() - t0
        rss_end = app_process.memory_info().rss
    finally:
        proc.terminate()
        proc.wait(30)

    gens = [v for _, v in results["tokens"]]
    errors = Counter(name for _, (name, _) in results["error"])
    rejected = sum("queue" in msg.lower() and "full" in msg.lower() for _, (_, msg) in results["error"])
    done = Counter(name for _, (name, _) in results["ok"])
    print(f"\n[{label}] {learners} learners over {wall:.0f} s; one learner alone: {alone[2]} tokens in "
          f"{alone[1]:.1f} s = {alone[2] / alone[1]:.1f} tokens/s, first token after {alone[0]:.2f} s")
    print("  completed: " + ", ".join(f"{k} {done[k]}/{learners}" for k in
                                      ("open page", "generate", "explorer", "image", "melody")))
    print(f"  errors: {sum(errors.values())} {dict(errors)}; queue rejections: {rejected}")
    for _, (name, msg) in results["error"][:5]:
        print(f"    {name}: {msg}")
    if gens:
        ttfts = sorted(g[0] for g in gens)
        p95 = ttfts[min(len(ttfts) - 1, round(0.95 * (len(ttfts) - 1)))]
        # total rate while generating: all tokens over the span from the first generation's start to the last's end
        ends = [t for t, _ in results["tokens"]]
        span = max(ends) - min(end - g[1] for end, g in zip(ends, gens, strict=True))
        total_rate = sum(g[2] for g in gens) / span
        print(f"  time to first token: median {statistics.median(ttfts):.2f} s, p95 {p95:.2f} s, max {ttfts[-1]:.2f} s")
        print(f"  tokens/s in total while generating: {total_rate:.1f} = {total_rate / (alone[2] / alone[1]):.2f}x "
              f"one learner alone")
    print(f"  app RSS: {rss_start / 2**20:.0f} MiB after warm-up, {rss_end / 2**20:.0f} MiB at the end")
    n, wall, ttfts = burst
    print(f"  all {learners} pressing Generate at once: {n} tokens in {wall:.1f} s = {n / wall:.1f} tokens/s = "
          f"{n / wall / (alone[2] / alone[1]):.2f}x one learner alone; first token median "
          f"{statistics.median(ttfts):.2f} s, max {max(ttfts):.2f} s")


def generate_at_once(url: str, model: str, learners: int, tokens: int) -> tuple[int, float, list[float]]:
    """Every learner presses Generate at the same moment: ``(tokens in all, seconds, each first-token time)``.

    This is where batching shows: queued one by one, the total rate stays that of one learner."""
    clients = [Client(url, verbose=False) for _ in range(learners)]
    start, results = threading.Barrier(learners + 1), []

    def one(client, seed):
        start.wait()
        results.append(generate(client, model, seed, tokens))

    threads = [threading.Thread(target=one, args=(c, 100 + i), daemon=True) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join(timeout=2 * JOB_TIMEOUT_S)
    return sum(r[2] for r in results), time.perf_counter() - t0, [r[0] for r in results]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--learners", type=int, default=30)
    ap.add_argument("--minutes", type=float, default=5)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--backend", choices=("embedded", "server", "both"), default="both")
    a = ap.parse_args()
    print(f"CPU: {describe_cpu()}")
    if a.backend in ("embedded", "both"):
        measure("embedded model", {}, MODEL, a.learners, a.minutes, a.tokens)
    if a.backend in ("server", "both"):
        with vllm_server() as url:
            from shared.catalog import SERVER_LM
            from tests.test_lm_server_vllm import SERVED_NAME

            env = {"CM_LM_SERVER_URL": url, "CM_LM_SERVER_MODEL": SERVED_NAME}
            measure("class server (vLLM CPU, same machine)", env, SERVER_LM, a.learners, a.minutes, a.tokens)


@contextlib.contextmanager
def vllm_server():
    """vLLM's CPU server (``make vllm``) on the embedded model, as the class-server test starts it; its URL."""
    from shared.catalog import EMBEDDED_LM
    from shared.loader import folder
    from tests.test_lm_server_vllm import _stop, vllm_command

    port = free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", VLLM_CPU_KVCACHE_SPACE="1", VLLM_NO_USAGE_STATS="1")
    log = open("/tmp/classroom-vllm.log", "w")  # noqa: SIM115 - open while the server runs
    process = subprocess.Popen(vllm_command(folder(EMBEDDED_LM), port), cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 1200
        while time.monotonic() < deadline and process.poll() is None:
            try:
                urllib.request.urlopen(f"{url}/v1/models", timeout=5).read()
                break
            except OSError:
                time.sleep(3)
        else:
            raise RuntimeError("vLLM did not start: see /tmp/classroom-vllm.log")
        yield url
    finally:
        _stop(process)
        log.close()


if __name__ == "__main__":
    main()
