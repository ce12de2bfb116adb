"""Topic 5 figures: the embedded model's seconds per image (goal under 2 s for 25 steps on 2 cores) against the
first model's in the same run, the cost of the step view (goal under 10% extra per step), and the quality bar:
for 20 prompts naming emoji of the first model's data, how often the generated image's nearest training image
has a caption with the prompt's subject (the second model's own evaluation is ``train/emoji_eval.py``).

    python bench/images.py [--repeats 3] [--threads 2] [--grid samples.png]

Speed: ``apps.images.generate`` at the demo's defaults (25 DDIM steps, guidance 5, one image), with the step view
(a forward hook + one 2-image VAE decode per step) and without; the median of ``--repeats`` runs, the two
models' runs interleaved so that a busy machine slows both alike.
Quality: one image per prompt (seed 0, defaults); its nearest neighbour by pixel distance among the training
emoji *as the autoencoder reconstructs them* (the sharpest the model could draw), compared at 16x16. A hit when
one of that neighbour's captions contains the subject word. Baseline: the same with the empty prompt
(unconditional images), i.e. how often chance lands on the subject.
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROMPTS = [  # (prompt, subject that a matching caption contains)
    ("red heart", "heart"), ("smiling cat face", "cat"), ("pizza", "pizza"), ("banana", "banana"),
    ("dog face", "dog"), ("soccer ball", "soccer"), ("face with tears of joy", "tears of joy"),
    ("pile of poo", "poo"), ("ghost", "ghost"), ("red apple", "apple"), ("hamburger", "hamburger"),
    ("birthday cake", "cake"), ("frog face", "frog"), ("monkey face", "monkey"), ("penguin", "penguin"),
    ("sunflower", "sunflower"), ("watermelon", "watermelon"), ("tiger face", "tiger"),
    ("christmas tree", "christmas tree"), ("strawberry", "strawberry"),
]
PARAPHRASES = ["a happy face", "a cute puppy", "something sweet to eat", "a sad face", "a ball for sport",
               "a wild animal"]


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--grid", type=Path, default=None, help="also save a sample grid PNG (prompts x 4 seeds)")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from apps.images import DEFAULTS, EMBEDDED_T2I, FIRST_T2I, generate, upscale
    from shared.loader import load
    from train.emoji_data import load_emoji_dataset
    from train.images import DEFAULT_CATEGORIES

    t = time.perf_counter()
    bundle = load(EMBEDDED_T2I)
    print(f"load: {time.perf_counter() - t:.2f} s ({bundle.nbytes / 1e6:.1f} MB in memory), {args.threads} threads")
    steps = DEFAULTS["num_inference_steps"]
    generate(bundle, "pizza", num_inference_steps=3)  # warm-up

    def run(record: bool, model=bundle):
        return lambda: generate(model, "smiling cat face", num_inference_steps=steps, record_steps=record)

    first = load(FIRST_T2I)
    generate(first, "pizza", num_inference_steps=3)
    pairs = [(_median_seconds(run(False), 1), _median_seconds(run(False, first), 1)) for _ in range(args.repeats)]
    plain, baseline = (statistics.median(p[i] for p in pairs) for i in (0, 1))
    print(f"seconds per image, {steps} DDIM steps, guidance {DEFAULTS['guidance_scale']:g}: {EMBEDDED_T2I} "
          f"{plain:.2f} s, {FIRST_T2I} {baseline:.2f} s ({plain / baseline:.2f}x)")
    del first
    viewed = _median_seconds(run(True), args.repeats)
    print(f"seconds per image, {steps} DDIM steps, guidance {DEFAULTS['guidance_scale']:g}: {plain:.2f} s without the "
          f"step view, {viewed:.2f} s with it ({plain / 2.0:.2f}x the 2 s goal)")
    extra = (viewed - plain) / plain
    print(f"step view: {1000 * (viewed - plain) / steps:.1f} ms extra per step = {100 * extra:+.1f}% "
          f"(goal under +10%); {1000 * plain / steps:.1f} ms per step without it")

    # quality: nearest training emoji (as the autoencoder reconstructs them) of each generated image
    ds = load_emoji_dataset(32)
    keep = [i for i, c in enumerate(ds.categories) if c in DEFAULT_CATEGORIES]
    vae = bundle.model.vae
    with torch.no_grad():
        x = torch.from_numpy(ds.images[keep]).permute(0, 3, 1, 2).float() / 127.5 - 1
        recon = torch.cat([vae.decode(vae.encode(x[i:i + 128]).latent_dist.mode()).sample for i in range(0, len(x), 128)])
    reference = torch.nn.functional.avg_pool2d(recon.clamp(-1, 1), 2).flatten(1)

    def nearest(image: np.ndarray) -> int:
        g = torch.from_numpy(image).permute(2, 0, 1).float()[None] / 127.5 - 1
        d = (reference - torch.nn.functional.avg_pool2d(g, 2).flatten(1)).pow(2).sum(1)
        return keep[int(d.argmin())]

    def hit(index: int, subject: str) -> bool:
        return any(re.search(rf"\b{re.escape(subject)}", c) for c in ds.captions[index])

    hits, chance, rows = 0, 0, []
    unconditional = generate(bundle, "", num_inference_steps=steps, seed=0, record_steps=False).images[0]
    u_index = nearest(unconditional)
    for prompt, subject in PROMPTS:
        image = generate(bundle, prompt, num_inference_steps=steps, seed=0, record_steps=False).images[0]
        index = nearest(image)
        ok = hit(index, subject)
        hits += ok
        chance += hit(u_index, subject)
        rows.append(f"  {'HIT ' if ok else 'miss'} {prompt!r:28} -> nearest: {ds.names[index]}")
    print("\n".join(rows))
    share = sum(any(hit(i, s) for i in keep) and sum(hit(i, s) for i in keep) / len(keep) for _, s in PROMPTS) / len(PROMPTS)
    print(f"quality: {hits}/{len(PROMPTS)} prompts ({100 * hits / len(PROMPTS):.0f}%) give an image whose nearest "
          f"training emoji matches the subject; the unconditional image matches {chance}/{len(PROMPTS)}; "
          f"a random training emoji would match {100 * share:.1f}% of the time "
          f"({hits / len(PROMPTS) / max(share, 1e-9):.0f}x chance)")

    if args.grid:
        from PIL import Image

        prompts = [p for p, _ in PROMPTS[:8]] + PARAPHRASES[:4]
        rows = []
        for prompt in prompts:
            result = generate(bundle, prompt, num_inference_steps=steps, seed=0, batch_size=4, record_steps=False)
            rows.append(np.concatenate(result.images, axis=1))
        grid = np.concatenate(rows, axis=0)
        Image.fromarray(upscale(grid, grid.shape[0] * 2)).save(args.grid, optimize=True)
        print(f"grid: {args.grid} ({len(prompts)} prompts x 4 seeds: {', '.join(prompts)})")


if __name__ == "__main__":
    from shared.device import describe_cpu

    print(f"CPU: {describe_cpu()}")
    main()
