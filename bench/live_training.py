"""How fast the live trainers run, and how many visible updates per second a learner gets.

    python bench/live_training.py [--seconds 5]

Prints, for each live model (topic 2): training steps per second (training alone), the time to draw
one update, updates per second with training running (one tick = a training budget of
``LiveRun.tick_budget_s()`` + the redraw + PNG encoding, as the page receives it), and the real steps per
second a learner gets at Play (wall-clock time, redraws included: what the page's status line shows). The goal is at
least 5 updates per second on 2 cores. Figures only: nothing here is asserted.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gradio.processing_utils import encode_plot_to_base64  # noqa: E402

from apps.key_models import diffusion, gan, vae  # noqa: E402
from shared import limits, live  # noqa: E402

TRAINERS = {
    "GAN (ring of 8, hidden 64)": (gan.make_trainer, ("Ring of 8 Gaussians", 64, 2, 1e-3, 1e-3, "non-saturating", 0),
                                    gan.render),
    "VAE (digits, hidden 128)": (vae.make_trainer, (128, 3e-3, 1.0, 0, 0.0, 0.0, 3, 8), vae.render),
    "Diffusion (two moons, T=100)": (diffusion.make_trainer, ("Two moons", 100, "cosine", 128, 2e-3, 0),
                                     diffusion.render),
}


def measure(make, args, render, seconds: float) -> dict:
    run = live.LiveRun(make(*args))
    live.advance(run, 20, budget_s=1e9)  # warm up
    start, steps = time.perf_counter(), run.steps
    while time.perf_counter() - start < seconds / 2:
        live.advance(run, 1000, budget_s=0.2)
    steps_per_s = (run.steps - steps) / (time.perf_counter() - start)

    ticks, draw_s, start, steps = 0, 0.0, time.perf_counter(), run.steps
    while time.perf_counter() - start < seconds / 2:
        live.advance(run, limits.LIVE_MAX_STEPS_PER_TICK, budget_s=run.tick_budget_s())
        t0 = time.perf_counter()
        with live.one_thread():
            for value in render(run, *args):
                if hasattr(value, "savefig"):
                    encode_plot_to_base64(value, "png")
        run.render_s = time.perf_counter() - t0
        draw_s += run.render_s
        ticks += 1
    elapsed = time.perf_counter() - start
    return {"steps/s": steps_per_s, "draw ms": 1000 * draw_s / ticks, "updates/s": ticks / elapsed,
            "steps/update": (run.steps - steps) / max(ticks, 1), "real steps/s": (run.steps - steps) / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="measuring time per model")
    seconds = parser.parse_args().seconds
    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} CPUs, load average {load:.1f}; tick budget {1000 * limits.LIVE_TICK_BUDGET_S:.0f} ms or "
          f"the last redraw's time (up to {1000 * limits.LIVE_TICK_BUDGET_MAX_S:.0f} ms), "
          f"timer every {1000 * limits.LIVE_TICK_S:.0f} ms (so at most {1 / limits.LIVE_TICK_S:.1f} updates/s)")
    print(f"{'model':32} {'steps/s':>9} {'draw ms':>8} {'updates/s':>10} {'steps/update':>13} {'real steps/s':>13}")
    for name, (make, args, render) in TRAINERS.items():
        r = measure(make, args, render, seconds)
        print(f"{name:32} {r['steps/s']:9.0f} {r['draw ms']:8.0f} {r['updates/s']:10.1f} {r['steps/update']:13.1f} "
              f"{r['real steps/s']:13.0f}")
    print("updates/s here = server work per tick only; the page adds a round trip and waits for the timer.")


if __name__ == "__main__":
    from shared.device import describe_cpu

    print(f"CPU: {describe_cpu()}")
    main()
