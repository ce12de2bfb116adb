"""The server side: 10 learners generating at once through the app, on each backend.

    python bench/server.py [--users 10] [--tokens 48]

For each backend (``CM_LM_BACKEND=onnx`` and ``transformers``) starts ``python app.py`` on a free port,
warms it up with one request, then sends ``--users`` concurrent generations with gradio_client over
loopback. Prints total tokens/s across users and the median and 95th-percentile time to first token
(TTFT: from submitting to the first streamed text), which includes waiting in the queue: generations
on one model run one at a time (a 2-core CPU gains nothing from running them side by side).
"""
from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from gradio_client import Client

ROOT = Path(__file__).resolve().parent.parent
MODEL = "SmolLM2-135M-Instruct (embedded)"
JOB_TIMEOUT_S = 600


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(backend: str | None = None, env_extra: dict | None = None) -> tuple[subprocess.Popen, str]:
    """``python app.py`` on a free port (``CM_LM_BACKEND=backend`` if given, plus ``env_extra``): ``(process, url)``."""
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
           **({"CM_LM_BACKEND": backend} if backend else {}), **(env_extra or {})}
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 600  # a busy machine starts slowly
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=5).read()
            return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("the app did not start within 10 minutes")


def generate(client: Client, model: str, seed: int, tokens: int) -> tuple[float, float, int, str]:
    """``(seconds to first token, seconds in all, tokens, info line)`` of one streamed generation (topic 4)."""
    t0 = time.perf_counter()
    job = client.submit(f"Tell me a story about a lighthouse keeper, number {seed}.", "Chat", model,
                        0.8, 50, 0.95, 1.1, tokens, seed, api_name="/language_generate")
    ttft = None
    while not job.done():
        if ttft is None and job.outputs():
            ttft = time.perf_counter() - t0
        if time.perf_counter() - t0 > JOB_TIMEOUT_S:
            job.cancel()
            raise TimeoutError(f"no reply within {JOB_TIMEOUT_S} s")
        time.sleep(0.02)
    total = time.perf_counter() - t0
    info = job.result()[1]
    n = int(re.search(r"(\d+) tokens", info).group(1))
    return (ttft if ttft is not None else total), total, n, info


def one_user(url: str, seed: int, tokens: int, results: list, start: threading.Barrier) -> None:
    client = Client(url, verbose=False)
    start.wait()
    results.append(generate(client, MODEL, seed, tokens))


def measure(backend: str, users: int, tokens: int) -> None:
    proc, url = start_app(backend)
    try:
        Client(url, verbose=False).predict("Hello", "Chat", MODEL, 0.8, 50, 0.95, 1.1, 8, 0,
                                           api_name="/language_generate")  # loads (and builds) the model
        results, start = [], threading.Barrier(users)
        threads = [threading.Thread(target=one_user, args=(url, s, tokens, results, start)) for s in range(users)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        ttfts = sorted(r[0] for r in results)
        p95 = ttfts[min(len(ttfts) - 1, round(0.95 * (len(ttfts) - 1)))]
        n = sum(r[2] for r in results)
        print(f"[{backend}] {users} users, {n} tokens in {wall:.1f} s: {n / wall:.1f} tokens/s in total; "
              f"TTFT median {statistics.median(ttfts):.2f} s, p95 {p95:.2f} s; one user alone: {results[0][3]}")
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=10)
    ap.add_argument("--tokens", type=int, default=48)
    a = ap.parse_args()
    for backend in ("onnx", "transformers"):
        measure(backend, a.users, a.tokens)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from shared.device import describe_cpu

    print(f"CPU: {describe_cpu()}")
    main()
