"""Training steps per second and UI updates per second of the topic 3 playground, largest allowed network.

    python bench/foundations.py [--seconds 5] [--points 2000]

One "update" is what a ``gr.Timer`` tick of ``shared.live`` does: up to ``LIVE_MAX_STEPS_PER_TICK``
training steps within ``LIVE_TICK_BUDGET_S``, then the render, then what Gradio does before sending
(copy the picture's PNG into its cache). Network transfer and the browser's drawing are not
counted. Goal: at least 5 updates per second on 2 cores. Also times the digits MLP and CNN steps.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gradio import processing_utils  # noqa: E402

from apps.foundations import playground, representations  # noqa: E402
from shared import limits, live  # noqa: E402


def largest_settings(points: int) -> list:
    return ["Spiral", points, 0.1, limits.NN_CLASSES_MAX, 70, 0, list(playground.FEATURES), limits.NN_LAYERS_MAX,
            limits.NN_NEURONS_MAX, "tanh", 0.0, 0.01, "Adam", limits.NN_BATCH_MAX, 0.0, playground.WEIGHT_VIEWS[0],
            None]


def steps_per_second(trainer, seconds: float) -> float:
    run = live.LiveRun(trainer)
    live.advance(run, 10**9, budget_s=seconds)
    return run.steps / run.train_s


def updates_per_second(values: list, seconds: float) -> tuple[float, dict[str, float]]:
    with live.one_thread():
        run = live.LiveRun(playground.make_trainer(*values))
    cache = tempfile.mkdtemp(prefix="cm-bench-")
    parts = {"train": 0.0, "render": 0.0, "encode": 0.0}
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        live.advance(run, limits.LIVE_MAX_STEPS_PER_TICK)
        t1 = time.perf_counter()
        with live.one_thread():
            image, _summary = playground.render(run, *values)
        t2 = time.perf_counter()
        processing_utils.save_file_to_cache(image, cache)  # what Gradio does with a returned file path
        t3 = time.perf_counter()
        parts["train"] += t1 - t0
        parts["render"] += t2 - t1
        parts["encode"] += t3 - t2
        n += 1
    total = time.perf_counter() - start
    return n / total, {k: 1000 * v / n for k, v in parts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--points", type=int, default=limits.NN_POINTS_MAX)
    args = parser.parse_args()
    values = largest_settings(args.points)
    with live.one_thread():
        trainer = playground.make_trainer(*values)
    params = playground.count_parameters(trainer.model)
    print(f"largest playground network: {limits.NN_LAYERS_MAX} x {limits.NN_NEURONS_MAX}, 7 features, "
          f"{limits.NN_CLASSES_MAX} classes, {params:,} parameters, {args.points} points, batch {limits.NN_BATCH_MAX}")
    print(f"  training steps/s (each with a full train+test evaluation): {steps_per_second(trainer, args.seconds):,.0f}")
    rate, parts = updates_per_second(values, args.seconds)
    print(f"  UI updates/s: {rate:.1f}  (goal >= 5; per update: train {parts['train']:.0f} ms, "
          f"render {parts['render']:.0f} ms, encode {parts['encode']:.0f} ms)")
    for view in playground.WEIGHT_VIEWS[1:]:
        rate, parts = updates_per_second(values[:-2] + [view, None], args.seconds / 2)
        print(f"  UI updates/s with weights as {view.lower()}: {rate:.1f}")
    for model in representations.MODELS:
        with live.one_thread():
            digits = representations.make_trainer(model, 0.003, 0)
        print(f"digits {model}: training steps/s {steps_per_second(digits, args.seconds / 2):,.0f}")


if __name__ == "__main__":
    from shared.device import describe_cpu

    print(f"CPU: {describe_cpu()}")
    main()
