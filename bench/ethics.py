"""How fast the topic 8 detectors are, against the speed of the model that writes the text.

    python bench/ethics.py [--tokens 200] [--repeats 3]

Baseline: the embedded language model generating (tokens per second, default backend, sampling at temperature
0.7), measured first in this script. Then, in tokens per second and as a ratio to the baseline:

- generation with the green-list watermark (the overhead of one more logits processor);
- the watermark detector on the watermarked text (tokenizer + transformers' ``WatermarkDetector`` + per-token
  colours; no model);
- the perplexity / log-rank scorer (one float32 forward pass of the transformers model over the text).

Also: WEAT on all-MiniLM-L6-v2 (the default preset, 10,000 permutations), and the image watermark (embed, decode,
whole robustness table) per method on the 640 x 427 sample photo, in seconds. Nothing here is asserted.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from apps.ethics import bias, detection, provenance, watermark  # noqa: E402
from shared.catalog import EMBEDDED_EMBEDDER, EMBEDDED_LM  # noqa: E402
from shared.generation import make_settings  # noqa: E402
from shared.loader import load  # noqa: E402


def best_of(repeats: int, fn):
    """``(result, seconds)`` of the fastest of ``repeats`` calls."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return result, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    writer = load(EMBEDDED_LM)
    scorer = load(EMBEDDED_LM, purpose="inspect")
    settings = make_settings(0.7, 0, 1.0, 1.0, args.tokens, 1)
    prompt, mode = watermark.DEFAULTS["prompt"], watermark.DEFAULTS["mode"]
    wm = watermark.WatermarkSettings()
    print(f"torch threads: {torch.get_num_threads()} · writer: {writer.backend} · scorer: {scorer.backend}")

    (plain, steps), t_plain = best_of(args.repeats, lambda: watermark.generate(writer, prompt, mode, settings, None))
    base = len(steps) / t_plain
    print(f"baseline  generation, no watermark   {len(steps):4d} tokens  {t_plain:7.3f} s  {base:8.1f} tokens/s  1.00x")

    def row(name: str, n: int, seconds: float) -> None:
        rate = n / seconds
        print(f"{name:36s} {n:4d} tokens  {seconds:7.3f} s  {rate:8.1f} tokens/s  {rate / base:5.2f}x")

    (marked, marked_steps), t_marked = best_of(args.repeats, lambda: watermark.generate(writer, prompt, mode, settings, wm))
    row("generation, with watermark", len(marked_steps), t_marked)
    found, t_detect = best_of(args.repeats, lambda: watermark.detect(writer.tokenizer, marked, wm))
    row("watermark detector (z, colours)", found.num_scored + 1, t_detect)
    score, t_score = best_of(args.repeats, lambda: detection.score_text(scorer, marked))
    row("perplexity / log-rank scorer", len(score.tokens) + 1, t_score)
    print(f"z-score with watermark {found.z_score:.2f}, without {watermark.detect(writer.tokenizer, plain, wm).z_score:.2f}; "
          f"perplexity with {watermark.perplexity(marked_steps):.2f}, without {watermark.perplexity(steps):.2f}")

    embedder = load(EMBEDDED_EMBEDDER)
    sets = [bias.parse_words("set", words, 2, 32) for words in bias.WEAT_PRESETS[bias.DEFAULT_WEAT]]
    result, t_weat = best_of(args.repeats, lambda: bias.weat(*[bias.embed(embedder, s) for s in sets], 10_000, 0))
    print(f"WEAT (embed 32 words + 10,000 permutations)  {t_weat:7.3f} s  "
          f"d = {result.effect_size:+.2f}, p = {result.p_value:.4f}")

    photo = provenance.default_image()
    for method in provenance.METHODS:
        marked_image, t_embed = best_of(1, lambda m=method: provenance.embed_watermark(photo, "CM08", m))
        _, t_decode = best_of(1, lambda m=method, im=marked_image: provenance.decode_bits(im, m))
        table, t_table = best_of(1, lambda m=method, im=marked_image: provenance.robustness_table(im, "CM08", m))
        survived = ", ".join(table.loc[table["found?"] == "yes", "attack"])
        print(f"image watermark {method:9s} embed {t_embed:6.3f} s · decode {t_decode:6.3f} s · table {t_table:6.2f} s · "
              f"survives: {survived}")


if __name__ == "__main__":
    from shared.device import describe_cpu

    print(f"CPU: {describe_cpu()}")
    main()
