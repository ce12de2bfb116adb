"""Seconds for topic 9's "one idea, every modality" chain on 2 cores, and the tiny CLIP's accuracy vs chance.

    python bench/multimodal.py [--threads 2] [--runs 3]

Chain: prompt -> image (topic 5, 20 DDIM steps) -> caption (tiny CLIP) -> one sentence (SmolLM2-135M, at most
40 tokens, stopped at its first full stop) -> mood -> melody (topic 6, 4 bars) rendered to audio -> speech
(espeak-ng when installed). Goal: the warm chain under 5 s. The cold run includes every model load. Each step
is printed in seconds and as its share of the warm chain; the baseline for the whole chain is the 5 s goal.

Round trip: emoji names drawn by topic 5's model and captioned by the tiny CLIP; how often the name comes back.

CLIP: held-out zero-shot top-1/top-5 (the picture's name among the 191 held-out names) as multiples of chance,
and the seconds of one text search and one caption, against the baseline of one MiniLM sentence vector alone.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np
import torch

PROMPTS = ["a happy dog playing in the sun", "a lonely rainy night", "a rocket launching to the moon",
           "a sleepy cat by the fire"]
GOAL_S = 5.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3, help="warm chains to time (one prompt each)")
    parser.add_argument("--round-trips", type=int, default=24,
                        help="emoji names drawn by topic 5 and captioned by the tiny CLIP (0 = skip)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from apps.multimodal import chain
    from apps.multimodal import clip as mmclip
    from shared.catalog import EMBEDDED_EMBEDDER
    from shared.loader import load

    print(f"torch threads: {torch.get_num_threads()}")
    start = time.perf_counter()
    cold = chain.run_chain(PROMPTS[0], seed=0)
    cold_s = time.perf_counter() - start
    print(f"\ncold chain (models load): {cold_s:.2f} s")
    for step, note in cold.notes.items():
        print(f"  {step:8s} {note}")

    totals, per_step = [], {s: [] for s in chain.STEPS}
    for i in range(args.runs):
        prompt = PROMPTS[(i + 1) % len(PROMPTS)]
        t = time.perf_counter()
        r = chain.run_chain(prompt, seed=i)
        totals.append(time.perf_counter() - t)
        for s in chain.STEPS:
            per_step[s].append(r.seconds.get(s, 0.0))
        print(f"  warm run {i + 1}: {totals[-1]:.2f} s  '{prompt}' -> '{r.caption}' -> {r.mood.key} {r.mood.mode}, "
              f"{r.mood.tempo_bpm} bpm")
    warm = statistics.median(totals)
    print(f"\nwarm chain, median of {args.runs}: {warm:.2f} s = {warm / GOAL_S:.2f} x the {GOAL_S:.0f} s goal")
    for s in chain.STEPS:
        m = statistics.median(per_step[s])
        print(f"  {s:8s} {m:6.2f} s  {m / warm:5.1%} of the chain")

    bundle = load(mmclip.MODEL_ID)
    embedder = load(EMBEDDED_EMBEDDER)
    clip = bundle.model
    held = np.flatnonzero(clip.gallery.held_out)
    acc = mmclip.zero_shot_accuracy(clip, held)
    print(f"\ntiny CLIP, {len(held)} held-out emoji (zero-shot):")
    for k in (1, 5):
        chance = k / len(held)
        print(f"  top-{k}: {acc[k]:.1%} vs chance {chance:.1%} = {acc[k] / chance:.0f} x chance")

    def timed(fn, n=20):
        fn()
        t = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - t) / n

    from apps.multimodal.clip import sentence_vectors

    base = timed(lambda: sentence_vectors(embedder, ["a red heart"]))
    search = timed(lambda: mmclip.search_images(clip, embedder, "a red heart", 8))
    caption = timed(lambda: mmclip.caption_image(clip, clip.gallery.images[0], 5))
    print(f"  one MiniLM sentence vector (baseline): {base * 1000:.1f} ms")
    print(f"  text search over {len(clip.gallery.names):,} pictures: {search * 1000:.1f} ms = {search / base:.2f} x baseline")
    print(f"  caption one picture: {caption * 1000:.1f} ms = {caption / base:.2f} x baseline")

    if args.round_trips:
        # Text -> image -> text: does the caption of topic 5's picture name what was asked for?
        rng = np.random.default_rng(0)
        names = [clip.gallery.names[i] for i in rng.choice(len(clip.gallery.names), args.round_trips, replace=False)]
        hits1 = hits5 = 0
        for name in names:
            image, note = chain.generate_image(name, 0, clip, embedder)
            if "unavailable" in note:  # the stand-in is a gallery picture: the round trip would be trivial
                print(f"\nround trip skipped: {note}")
                return
            top = [m.name for m in mmclip.caption_image(clip, image, 5)]
            hits1 += top[0] == name
            hits5 += name in top
        n, total = len(names), len(clip.gallery.names)
        print(f"\nround trip, {n} emoji names -> topic 5 picture ({chain.IMAGE_STEPS} steps) -> tiny CLIP caption:")
        print(f"  the name comes back first {hits1}/{n} = {hits1 / n:.0%} (chance {1 / total:.2%}), "
              f"in the top 5 {hits5}/{n} = {hits5 / n:.0%} (chance {5 / total:.2%})")


if __name__ == "__main__":
    from shared.device import describe_cpu

    print(f"CPU: {describe_cpu()}")
    main()
