"""The model families side by side on one 2-D dataset, with the same budget and the same measures.

Each family is trained for the same number of steps on the same training points, then judged on
held-out points it never saw:

- held-out log-likelihood (nats per point) where the family defines one: exact for the Gaussian
  mixture and for the autoregressive transformer (on a grid of cells, Van den Oord et al. 2016's
  discretised likelihood), an importance-weighted lower bound for the VAE (Burda et al. 2016), none
  for the GAN (it has no density) and none computed here for diffusion (it has only a bound);
- sample quality, defined for all: MMD between samples and held-out points, and the mean distance
  from each sample to its nearest held-out point;
- training time and sampling time (1,000 points), in this process on this machine.

The transformer here is the family's idea at its smallest: a point becomes two tokens (its x cell,
then its y cell, of ``BINS`` cells each) and a causal transformer predicts each token from the ones
before, p(x, y) = p(x) p(y | x), exactly as a language model predicts the next word.
"""
from __future__ import annotations

import math
import time
from collections.abc import Iterator

import gradio as gr
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from apps.key_models import common, diffusion, gan, vae
from apps.understanding import BOX, fit_gmm, split_held_out
from shared import limits, live
from shared.checks import as_int
from shared.ui import friendly_errors

BINS = 32
N_SAMPLES = 1000
FAMILIES = ("Gaussian mixture (topic 1)", "GAN", "VAE", "Diffusion", "Transformer (autoregressive)")


class PointTransformer(nn.Module):
    """A one-layer causal transformer over the token sequence [start, x cell, y cell]."""

    def __init__(self, d_model: int = 64, n_head: int = 4):
        super().__init__()
        self.embed = nn.Embedding(BINS + 1, d_model)  # cell ids 0..BINS-1, BINS = start token
        self.position = nn.Parameter(torch.zeros(2, d_model))
        self.block = nn.TransformerEncoderLayer(d_model, n_head, 4 * d_model, dropout=0.0, batch_first=True)
        self.head = nn.Linear(d_model, BINS)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, 2)`` input tokens [start, x cell] -> ``(B, 2, BINS)`` logits for [x cell, y cell]."""
        h = self.embed(tokens) + self.position  # (B, 2, d)
        mask = nn.Transformer.generate_square_subsequent_mask(2)
        return self.head(self.block(h, src_mask=mask, is_causal=True))


def to_cells(points: torch.Tensor) -> torch.Tensor:
    """``(N, 2)`` points -> ``(N, 2)`` int64 cell ids in [0, BINS) (points outside the box are clipped)."""
    return ((points + BOX) / (2 * BOX) * BINS).long().clamp(0, BINS - 1)


class TransformerTrainer:
    def __init__(self, data: np.ndarray, seed: int, lr: float = 3e-3, batch_size: int = 256):
        self.rng = torch.Generator().manual_seed(seed)
        self.cells = to_cells(torch.as_tensor(data, dtype=torch.float32))  # (N, 2)
        self.model = common.seeded_init_(PointTransformer(), self.rng)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.batch_size = batch_size

    def _inputs(self, cells: torch.Tensor) -> torch.Tensor:
        start = torch.full((len(cells), 1), BINS, dtype=torch.long)
        return torch.cat([start, cells[:, :1]], 1)  # (B, 2)

    def train_step(self) -> dict[str, float]:
        cells = self.cells[torch.randint(len(self.cells), (self.batch_size,), generator=self.rng)]
        logits = self.model(self._inputs(cells))
        loss = F.cross_entropy(logits.reshape(-1, BINS), cells.reshape(-1))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"loss": loss.item()}

    @torch.no_grad()
    def log_likelihood(self, points: np.ndarray) -> np.ndarray:
        """log density in nats: log p(cells) minus log of a cell's area (uniform inside a cell)."""
        cells = to_cells(torch.as_tensor(points, dtype=torch.float32))
        log_p = torch.log_softmax(self.model(self._inputs(cells)), -1)  # (N, 2, BINS)
        log_p_cells = log_p.gather(2, cells[:, :, None])[:, :, 0].sum(1)  # (N,)
        return (log_p_cells - 2 * math.log(2 * BOX / BINS)).numpy()

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> np.ndarray:
        """Token by token, as a language model generates: the x cell, then the y cell given x."""
        start = torch.full((n, 1), BINS, dtype=torch.long)
        x_logits = self.model(torch.cat([start, start], 1))[:, 0]  # (n, BINS): position 0 sees only start
        x = torch.multinomial(torch.softmax(x_logits, -1), 1, generator=generator)  # (n, 1)
        y_logits = self.model(torch.cat([start, x], 1))[:, 1]
        y = torch.multinomial(torch.softmax(y_logits, -1), 1, generator=generator)
        cells = torch.cat([x, y], 1).float() + torch.rand(n, 2, generator=generator)  # uniform inside the cell
        return (cells / BINS * 2 * BOX - BOX).numpy()


def _train(trainer, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    return time.perf_counter() - start


def compare(preset: str, steps: int, seed: int) -> Iterator[tuple[str, dict, np.ndarray]]:
    """Train each family for ``steps`` steps (the mixture: ``min(steps, 100)`` EM iterations) and judge it.

    Yields:
        ``(family, row, samples)`` per family as it finishes: ``row`` holds the table's columns,
        ``samples`` is ``(N_SAMPLES, 2)``.
    """
    data = common.training_data(preset, seed)
    train, held = split_held_out(len(data), seed)
    X_train, X_held = data[train], data[held]
    generator = torch.Generator().manual_seed(seed)

    def judge(family, train_s, sample_fn, log_likelihood=None, bound=False):
        t0 = time.perf_counter()
        samples = np.asarray(sample_fn(), dtype=np.float64)
        sample_s = time.perf_counter() - t0
        ll = "—" if log_likelihood is None else f"{'≥ ' if bound else ''}{log_likelihood:.3f}"
        # Short headers, so the table fits a projector; the Markdown under it spells each one out.
        row = {"model": family, "held-out log p (nats)": ll,
               "MMD ↓": round(common.mmd(samples, X_held), 4),
               "NN distance ↓": round(common.nearest_neighbour_distance(samples, X_held), 3),
               "train (s)": round(train_s, 2), "sample 1k (ms)": round(1000 * sample_s, 1)}
        return family, row, samples

    t0 = time.perf_counter()
    g, _ = fit_gmm(X_train, X_held, 8, min(steps, limits.EM_ITERATIONS_MAX), seed)
    gmm_s = time.perf_counter() - t0
    rng = np.random.default_rng(seed)
    yield judge(FAMILIES[0], gmm_s, lambda: g.sample(N_SAMPLES, 1.0, rng), float(g.log_prob(X_held.astype(np.float64)).mean()))

    trainer = gan.GANTrainer(X_train, gan.GANConfig(preset=preset, seed=seed))
    yield judge(FAMILIES[1], _train(trainer, steps), lambda: trainer.sample(N_SAMPLES, generator))

    v = vae.VAETrainer(vae.VAEConfig(hidden=64, lr=3e-3, seed=seed), data=X_train, likelihood="gaussian")
    v_s = _train(v, steps)
    iwae = float(v.model.importance_log_likelihood(torch.as_tensor(X_held), generator).mean())
    yield judge(FAMILIES[2], v_s, lambda: v.sample(N_SAMPLES, generator), iwae, bound=True)

    d = diffusion.DiffusionTrainer(X_train, diffusion.DiffusionConfig(preset=preset, seed=seed))
    yield judge(FAMILIES[3], _train(d, steps), lambda: d.sample(N_SAMPLES, generator)[0])

    t = TransformerTrainer(X_train, seed)
    t_s = _train(t, steps)
    yield judge(FAMILIES[4], t_s, lambda: t.sample(N_SAMPLES, generator), float(t.log_likelihood(X_held).mean()))


def samples_figure(data: np.ndarray, results: dict[str, np.ndarray]):
    fig, axes = common.figure(8.4, 1.9, len(FAMILIES), left=0.01, right=0.99, bottom=0.02, top=0.85, wspace=0.05)
    for ax, family in zip(axes, FAMILIES):
        ax.scatter(data[:, 0], data[:, 1], s=2, c="k", alpha=0.25, linewidths=0)
        if family in results:
            s = results[family]
            ax.scatter(s[:, 0], s[:, 1], s=2, c="#e4572e", linewidths=0)
        common.plane(ax, family.split(" (")[0])
        ax.title.set_fontsize(8)
    return fig


@friendly_errors
def compare_ui(preset, steps, seed):
    """Stream the comparison: one more table row (and panel) as each family finishes."""
    steps = as_int("Training steps", steps, 1, limits.COMPARE_STEPS_MAX)
    seed = as_int("Seed", seed, 0, limits.SEED_MAX)
    data = common.training_data(preset, seed)
    rows, results = [], {}
    families = compare(preset, steps, seed)
    while True:
        with live.one_thread():  # never across a yield: the generator may resume on another thread
            item = next(families, None)
        if item is None:
            return
        family, row, samples = item
        rows.append(row)
        results[family] = samples
        yield pd.DataFrame(rows), samples_figure(data, results)


def build_compare() -> None:
    gr.Markdown("Five families, one dataset, the same number of training steps, the same yardsticks. "
                "Log-likelihood needs a density (a GAN has none); MMD and nearest-neighbour distance only "
                "need samples, so they compare everyone.\n\n"
                "**held-out log p**: average log-density of unseen data points (higher = better; ≥ marks a VAE's "
                "lower bound) · **MMD ↓**: maximum mean discrepancy between samples and held-out data · "
                "**NN distance ↓**: mean distance from a held-out point to its nearest sample · **train**, "
                "**sample 1k**: seconds to train, milliseconds to draw 1,000 samples.")
    with gr.Row():
        # 230 CSS px: "Ring of 8 Gaussians" shows whole beside the arrow
        preset = gr.Dropdown(list(common.DATA_PRESETS), value="Ring of 8 Gaussians", label="Data", min_width=230)
        steps = gr.Slider(100, limits.COMPARE_STEPS_MAX, value=800, step=100, label="Training steps per model")
        seed = gr.Number(value=0, precision=0, minimum=0, maximum=limits.SEED_MAX, label="Seed")
    run = gr.Button("Train all and compare", variant="primary")
    table = gr.Dataframe(label="Held-out points, 1,000 samples per model", interactive=False, wrap=True)
    plot = gr.Plot(label="Samples (red) over the data (grey)", format="png", show_label=False)
    run.click(compare_ui, inputs=[preset, steps, seed], outputs=[table, plot], api_name="key_models_compare",
              concurrency_id="key_models_compare", concurrency_limit=1)
