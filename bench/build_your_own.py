"""Topic 10: how fast the learner's model trains, and how long until its samples are English words.

    python bench/build_your_own.py [--steps 1500] [--minutes 15] [--lora]

Prints:

1. Training throughput of the default model (4 layers, 4 heads, embedding 128, context 64, batch 16,
   character-level Shakespeare) in tokens per second on 1 thread (what each run in the app gets) and on
   all threads, as a ratio to the 1-thread figure.
2. Minutes of training until the samples are recognisably English: the first evaluation at which at least
   half of the words in a 400-character sample (temperature 0.8) are words of the training text. The
   baseline, measured in the same script: the same share for a sample of the bigram model of that text
   (which spells short words but rarely long ones), and for the untrained model.
3. With ``--lora``: seconds per LoRA step on SmolLM2-135M (default settings of the tab) on 1 thread.

Figures only; nothing is asserted. Whatever else runs on the machine slows every figure down: say what ran.
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from apps.build_your_own import data as D  # noqa: E402
from apps.build_your_own import train as T  # noqa: E402
from shared import live  # noqa: E402
from shared.device import CPU_THREADS, torch_threads  # noqa: E402

SOURCE = "Shakespeare: six tragedies"


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def english_share(sample: str, vocabulary: set[str]) -> float:
    """Share of the sample's words (2+ letters, weighted by length) that occur in the training text."""
    ws = [w for w in words(sample) if len(w) >= 2]
    if not ws:
        return 0.0
    return sum(len(w) for w in ws if w in vocabulary) / sum(len(w) for w in ws)


def bigram_sample(data: T.Dataset, n: int, seed: int = 0) -> str:
    counts = np.ones((data.vocab_size, data.vocab_size))
    np.add.at(counts, (data.train[:-1], data.train[1:]), 1)
    probs = counts / counts.sum(1, keepdims=True)
    rng, token, out = np.random.default_rng(seed), int(data.train[0]), []
    for _ in range(n):
        token = int(rng.choice(data.vocab_size, p=probs[token]))
        out.append(token)
    return data.tokenizer.decode(out)


def throughput(data: T.Dataset, threads: int, steps: int = 30) -> float:
    trainer = T.GPTTrainer(data, T.ModelSettings(), T.TrainSettings(eval_interval=10**9, sample_every=10**9))
    with torch_threads(threads):
        for _ in range(3):
            trainer.train_step()
        start = time.perf_counter()
        for _ in range(steps):
            trainer.train_step()
        seconds = time.perf_counter() - start
    return steps * trainer.ts.batch_size * trainer.ms.block_size / seconds


def minutes_to_english(data: T.Dataset, vocabulary: set[str], max_steps: int, max_minutes: float) -> None:
    ts = T.TrainSettings(max_steps=max_steps, eval_interval=100, sample_every=10**9)
    trainer = T.GPTTrainer(data, T.ModelSettings(), ts)
    run = live.LiveRun(trainer)
    share = english_share(trainer.sample(400), vocabulary)
    print(f"  step     0: {share:5.0%} English words (untrained)")
    while trainer.step < max_steps and run.train_s < 60 * max_minutes:
        live.advance(run, 100 - trainer.step % 100, budget_s=1e9)
        text = trainer.sample(400)  # outside live.advance: not counted as training time
        share = english_share(text, vocabulary)
        print(f"  step {trainer.step:5d}: {share:5.0%} English words, held-out loss {trainer.val_loss:.3f}, "
              f"{run.train_s / 60:5.2f} min of training", flush=True)
        if share >= 0.5:
            print(f"recognisably English after {trainer.step} steps, {run.train_s / 60:.2f} minutes of training "
                  f"on 1 thread. Sample:\n{text[:300]}")
            greedy = T.sample(trainer.model, data.tokenizer, "Hamlet:\n", 200, trainer.ms.block_size, 1e-4,
                              __import__("torch").Generator().manual_seed(0))
            print(f"greedy (temperature ~0) from 'Hamlet:':\n{greedy}")
            return
    print(f"not yet English after {trainer.step} steps ({run.train_s / 60:.1f} minutes)")


def lora_step_seconds() -> None:
    from apps.build_your_own import lora as LO
    from shared.catalog import EMBEDDED_LM
    from shared.loader import load

    bundle = load(EMBEDDED_LM, purpose="inspect")
    text = D.load_text(SOURCE)  # the tab's defaults: six tragedies, 10 steps, rank 8, sequences of 64
    times = []

    def report(step, loss):
        times.append(time.perf_counter())

    settings = LO.make_lora_settings(10, 8, 2e-3, 64, 0)
    start = time.perf_counter()
    _, result = LO.lora_finetune(bundle.model, bundle.tokenizer, text, "Romeo:\n", settings, progress=report)
    steps = np.diff(times)
    print(f"LoRA on SmolLM2-135M (rank 8, 4 x 64 tokens): {np.median(steps):.1f} s per step (median of "
          f"{len(steps)}), whole call {time.perf_counter() - start:.0f} s incl. before/after samples; held-out "
          f"loss {result.val_before:.3f} -> {result.val_after:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--lora", action="store_true")
    args = parser.parse_args()

    text = D.load_text(SOURCE)
    data = T.prepare(text, "Characters", 0, SOURCE)
    vocabulary = set(words(text[: int(0.9 * len(text))]))
    print(f"{SOURCE}: {len(text):,} characters, vocabulary {data.vocab_size}; torch sees {CPU_THREADS} threads")

    one = throughput(data, 1)
    every = throughput(data, CPU_THREADS)
    print(f"default model ({T.parameter_count(data.vocab_size, T.ModelSettings()):,} parameters), batch 16 x 64: "
          f"{one:,.0f} tokens/s on 1 thread ({1000 * 16 * 64 / one:.0f} ms/step); {every:,.0f} tokens/s on "
          f"{CPU_THREADS} threads = {every / one:.2f}x")

    bigram = english_share(bigram_sample(data, 400), vocabulary)
    print(f"baseline: a bigram model's sample has {bigram:.0%} English words (by letters)")
    minutes_to_english(data, vocabulary, args.steps, args.minutes)
    if args.lora:
        lora_step_seconds()


if __name__ == "__main__":
    from shared.device import describe_cpu

    print(f"CPU: {describe_cpu()}")
    main()
