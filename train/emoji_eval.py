"""Evaluate an emoji diffusion pipeline on issue 21's goals, against the first model in the same run.

    python -m train.emoji_eval --pipeline /work/emoji-run/run1/pipeline --data-dir /work/emoji-run/npm \\
        --grid /work/emoji-run/run1/eval_grid.png [--subjects 60] [--threads 1]

For each pipeline (``--pipeline`` and ``--baseline``, default ``weights/tiny-emoji-diffusion``), at the demo's
defaults (25 DDIM steps, guidance 5):

- **subject on held-out paraphrases**: one prompt per subject for ``--subjects`` subjects drawn at random from all
  categories, each from :data:`train.emoji_styles.HELD_OUT_TEMPLATES` (never in training); a hit when the
  generated image's nearest picture (pixel distance at 16x16 among the data set's original pictures, every
  style) shows the subject (top-1), or is among the 5 nearest (top-5). Also reported for the subjects of the
  first model's four categories, which it was trained on.
- **seeds differ**: 3 seeds of 20 of those prompts: mean absolute pixel difference between the seeds' images
  (0-255), and the share of seed images whose nearest picture shows the subject.
- **colour named shows**: a held-out colour template with a colour chosen at random (not the subject's own);
  a hit when that colour is the commonest colour word among the image's non-white pixels
  (:func:`train.emoji_styles.colour_name`).
- **seconds per image**: one image, 25 steps, median of 5 taken in turns with the baseline, after a warm-up.

``--grid`` writes a PNG: one row per prompt (12), three seeds, the new model left and the baseline right.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from train import emoji_styles as es

REPO = Path(__file__).resolve().parents[1]
STEPS, GUIDANCE = 25, 5.0
FIRST_MODEL_CATEGORIES = ("Smileys & Emotion", "Animals & Nature", "Food & Drink", "Activities")
GRID_PROMPTS = ["a photo of a red heart", "please draw a cat for me", "an illustration showing a bicycle",
                "a small image of a green apple", "i would like a blue car", "a photo of the flag of japan",
                "a photo of a rocket", "an illustration showing a police officer", "please draw a pizza for me",
                "i would like a purple umbrella", "a photo of a hot beverage", "a small image of a yellow star"]


def load_pipeline(folder: Path):
    """A project-trained pipeline folder, read as the app reads it (``apps.images.read_pipeline``)."""
    from apps.images import read_pipeline

    pipe, _ = read_pipeline(folder, dtype=None, device="cpu", local_only=True, revision=None,
                            report=lambda *a, **k: None)
    return pipe


def generate(pipe, prompts: list[str], seeds: list[int], batch: int = 16) -> np.ndarray:
    """uint8 (len(prompts), 32, 32, 3): prompt i with ``torch.Generator().manual_seed(seeds[i])``."""
    import torch

    out = []
    for i in range(0, len(prompts), batch):
        with torch.no_grad():
            images = pipe(prompts[i:i + batch], num_inference_steps=STEPS, guidance_scale=GUIDANCE, height=32,
                          width=32, output_type="np",
                          generator=[torch.Generator().manual_seed(s) for s in seeds[i:i + batch]]).images
        out.append((np.clip(images, 0, 1) * 255).round().astype(np.uint8))
    return np.concatenate(out)


def small(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 32, 32, 3) -> float32 (N, 768): 2x2 means, the 16x16 pictures the judge compares."""
    x = images.astype(np.float32).reshape(len(images), 16, 2, 16, 2, 3).mean(axis=(2, 4))
    return x.reshape(len(images), -1)


def nearest_subjects(images: np.ndarray, reference: np.ndarray, subject: np.ndarray, k: int = 5) -> np.ndarray:
    """For each image, the subjects of its k nearest reference pictures (pixel distance at 16x16): int (N, k)."""
    a, b = small(images), small(reference)
    d = (a ** 2).sum(1, keepdims=True) - 2 * a @ b.T + (b ** 2).sum(1)
    return subject[np.argsort(d, axis=1)[:, :k]]


def shown_colour(image: np.ndarray) -> str | None:
    """The commonest colour word among an image's non-white pixels (white counts as background)."""
    pixels = image.reshape(-1, 3).astype(np.float32) / 255
    names = [es.colour_name(*p) for p in pixels]
    names = [n for n in names if n != "white"]
    return max(set(names), key=names.count) if names else None


def mean_seed_difference(images: np.ndarray) -> float:
    """Mean absolute pixel difference (0-255) over the pairs of an (S, H, W, 3) stack of one prompt's seeds."""
    x = images.astype(np.float32)
    pairs = [(i, j) for i in range(len(x)) for j in range(i + 1, len(x))]
    return float(np.mean([np.abs(x[i] - x[j]).mean() for i, j in pairs]))


def seconds_per_image(pipes: dict, repeats: int = 5) -> dict[str, float]:
    """Median seconds for one image at the defaults, per pipeline; the pipelines take turns, so a busy
    machine slows them alike."""
    times: dict[str, list[float]] = {label: [] for label in pipes}
    for label, pipe in pipes.items():
        generate(pipe, ["a photo of a cat"], [0])  # warm-up
    for r in range(repeats):
        for label, pipe in pipes.items():
            t = time.perf_counter()
            generate(pipe, ["a photo of a cat"], [r])
            times[label].append(time.perf_counter() - t)
    return {label: round(statistics.median(t), 3) for label, t in times.items()}


def evaluate(pipe, ds, picks: list[int], rng_seed: int = 0) -> dict:
    """The figures for one pipeline; ``picks`` are subject indices."""
    rng = np.random.default_rng(rng_seed)
    originals = ~ds.recoloured
    reference, ref_subject = ds.images[originals], ds.subject[originals]
    natural = {}
    for s, c, r in zip(ds.subject, ds.colour, ds.recoloured):
        if not r:
            natural.setdefault(int(s), c)
    prompts = []
    for n, s in enumerate(picks):
        options = es.evaluation_prompts(ds.subjects[s]["names"], natural.get(s))
        prompts.append(options[n % len(options)])
    images = generate(pipe, prompts, [0] * len(prompts))
    near = nearest_subjects(images, reference, ref_subject)
    target = np.array(picks)
    top1, top5 = near[:, 0] == target, (near == target[:, None]).any(1)
    old = np.array([ds.subjects[s]["category"] in FIRST_MODEL_CATEGORIES for s in picks])

    seed_prompts = prompts[:20]
    seeded = generate(pipe, [p for p in seed_prompts for _ in range(3)], [s for _ in seed_prompts for s in range(3)])
    seeded = seeded.reshape(len(seed_prompts), 3, 32, 32, 3)
    differences = [mean_seed_difference(x) for x in seeded]
    seed_near = nearest_subjects(seeded.reshape(-1, 32, 32, 3), reference, ref_subject, k=1)[:, 0]
    seed_hits = seed_near == np.repeat(target[:20], 3)

    colour_templates = [t for t in es.HELD_OUT_TEMPLATES if "{colour}" in t]
    colour_prompts, colours = [], []
    for n, s in enumerate(picks):
        colour = str(rng.choice([c for c in es.CHROMATIC if c != natural.get(s)]))
        name = ds.subjects[s]["names"][0]
        colour_prompts.append(es.fill(colour_templates[n % len(colour_templates)], name, colour, "", None))
        colours.append(colour)
    coloured = generate(pipe, colour_prompts, [0] * len(colour_prompts))
    colour_hits = [shown_colour(img) == c for img, c in zip(coloured, colours)]
    return {
        "subject_top1": float(top1.mean()), "subject_top5": float(top5.mean()),
        "subject_top1_first_model_categories": float(top1[old].mean()) if old.any() else None,
        "subjects": len(picks), "subjects_in_first_model_categories": int(old.sum()),
        "seed_mean_abs_difference": float(np.mean(differences)),
        "seed_prompts_with_difference_at_least_10": float(np.mean(np.array(differences) >= 10)),
        "seed_images_showing_subject": float(seed_hits.mean()),
        "colour_shown": float(np.mean(colour_hits)),
        "examples": [{"prompt": p, "hit": bool(h)} for p, h in zip(prompts[:10], top1[:10])]
                    + [{"prompt": p, "colour_hit": bool(h)} for p, h in zip(colour_prompts[:10], colour_hits[:10])],
    }


def grid(pipes: list, path: Path, scale: int = 3) -> None:
    """Rows of :data:`GRID_PROMPTS`, 3 seeds per pipeline, pipelines side by side, enlarged ``scale`` times."""
    from PIL import Image

    rows = []
    for prompt in GRID_PROMPTS:
        cells = []
        for pipe in pipes:
            cells += list(generate(pipe, [prompt] * 3, [0, 1, 2]))
            cells.append(np.full((32, 8, 3), 255, np.uint8))
        rows.append(np.concatenate(cells[:-1], axis=1))
    image = Image.fromarray(np.concatenate(rows, axis=0))
    image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST).save(path)


def main(argv: list[str] | None = None) -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", type=Path, required=True)
    parser.add_argument("--baseline", type=Path, default=REPO / "weights" / "tiny-emoji-diffusion")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--subjects", type=int, default=60)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--grid", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here too")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    ds = es.load(args.data_dir)
    picks = [int(s) for s in np.random.default_rng(21).choice(len(ds.subjects), args.subjects, replace=False)]
    pipes = {"new": load_pipeline(args.pipeline), "baseline": load_pipeline(args.baseline)}
    figures = {}
    seconds = seconds_per_image(pipes)
    for label, pipe in pipes.items():
        figures[label] = evaluate(pipe, ds, picks)
        figures[label]["seconds_per_image"] = seconds[label]
        print(label, json.dumps({k: v for k, v in figures[label].items() if k != "examples"}), flush=True)
    if args.grid:
        grid(list(pipes.values()), args.grid)
        print("grid:", args.grid)
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
