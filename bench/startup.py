"""Seconds from process start to serving, and the idle memory (RSS) of the app.

    python bench/startup.py [--repeats 3]

Starts ``python app.py`` as a user would (on a free port), polls until the page answers, then reads the
process's resident memory after two idle seconds. Baseline in the same run: a bare ``gr.Blocks`` app
with one Markdown, started the same way. Goals: < 5 s to serve, < 600 MB idle.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
BARE = "import gradio as gr\nwith gr.Blocks() as d:\n    gr.Markdown('hi')\nd.launch(ssr_mode=False)\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(script: str) -> tuple[float, float]:
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, script], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).read()
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"{script} exited with {proc.returncode}")
                time.sleep(0.05)
        seconds = time.perf_counter() - start
        time.sleep(2)
        rss = psutil.Process(proc.pid).memory_info().rss / 2**20
        return seconds, rss
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(BARE)
    results = {"bare gr.Blocks": [], "Creative Machines": []}
    for _ in range(a.repeats):
        results["bare gr.Blocks"].append(measure(f.name))
        results["Creative Machines"].append(measure(str(ROOT / "app.py")))
    os.unlink(f.name)
    med = {k: (statistics.median(s for s, _ in v), statistics.median(r for _, r in v)) for k, v in results.items()}
    for k, (s, r) in med.items():
        print(f"{k:18s} {s:5.2f} s to serve   {r:6.0f} MB idle RSS   (median of {a.repeats})")
    app, bare = med["Creative Machines"], med["bare gr.Blocks"]
    print(f"ratio app/bare: {app[0] / bare[0]:.2f}x time, {app[1] / bare[1]:.2f}x memory; goals < 5 s, < 600 MB")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from shared.device import describe_cpu

    print(f"CPU: {describe_cpu()}")
    main()
