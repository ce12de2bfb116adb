"""Representation learning on handwritten digits: what a network's last hidden layer learns to say.

A small MLP or CNN (LeCun et al. 1998, much reduced) learns to classify scikit-learn's digits (1,797
images of 8x8 pixels, 16 grey levels; UCI "Optical Recognition of Handwritten Digits", Alpaydin and
Kaynak 1998). Before training, the last hidden layer (32 numbers per image) mixes the classes; after a
few seconds it has pulled them apart. The demo projects that layer to 2-D (PCA, or t-SNE, van der
Maaten and Hinton 2008) for the held-out digits before and after, and scores the separation with the
silhouette coefficient (Rousseeuw 1987; -1 to 1, higher = classes more apart). It also shows the first
layer's learned weights: an MLP's 8x8 "templates", a CNN's 3x3 filters (Zeiler and Fergus 2014).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import gradio as gr
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from apps.foundations.playground import init_weights
from shared import limits, live
from shared.checks import as_float, as_int

MODELS = ("MLP", "CNN")
PROJECTIONS = ("PCA", "t-SNE")
HELD_OUT = 297  # the last 297 digits; 1,497 for training
HIDDEN = 32  # width of the last hidden layer, the representation shown
BATCH_SIZE = 64
DIGIT_COLORS = np.array([[0.12, 0.47, 0.71], [1.0, 0.5, 0.05], [0.17, 0.63, 0.17], [0.84, 0.15, 0.16],
                         [0.58, 0.4, 0.74], [0.55, 0.34, 0.29], [0.89, 0.47, 0.76], [0.5, 0.5, 0.5],
                         [0.74, 0.74, 0.13], [0.09, 0.75, 0.81]])  # matplotlib's tab10


@functools.lru_cache(maxsize=1)
def load_digits_data() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits: float32 ``(1797, 1, 8, 8)`` in [0, 1] and int64 labels ``(1797,)``."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.images / 16.0).astype(np.float32)[:, None], digits.target.astype(np.int64)


def build_model(kind: str) -> nn.Sequential:
    """The classifier: ``features`` (everything up to the last hidden layer, ``(B, 32)``), then ``Linear(32, 10)``.

    MLP: 64 -> 64 -> 32 -> 10, ReLU. CNN: conv 3x3 (8 filters) -> ReLU -> max-pool -> conv 3x3 (16) ->
    ReLU -> max-pool -> 64 -> 32 -> 10.
    """
    if kind == "CNN":
        features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 8, 4, 4)
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 16, 2, 2)
            nn.Flatten(), nn.Linear(64, HIDDEN), nn.ReLU(),
        )
    elif kind == "MLP":
        features = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, HIDDEN), nn.ReLU())
    else:
        raise ValueError(f"Unknown model {kind!r}; choose one of {', '.join(MODELS)}.")
    return nn.Sequential(features, nn.Linear(HIDDEN, 10))


def init_conv(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """PyTorch's default initialisation of every Conv2d, drawn from ``generator`` (as ``init_weights`` for Linear)."""
    for layer in model.modules():
        if isinstance(layer, nn.Conv2d):
            bound = 1 / np.sqrt(layer.in_channels * layer.kernel_size[0] * layer.kernel_size[1])
            nn.init.uniform_(layer.weight, -bound, bound, generator=generator)
            nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
    return model


def projection_2d(hidden: np.ndarray, method: str, seed: int = 0) -> np.ndarray:
    """``(N, 2)``: the representation ``(N, D)`` projected by PCA or t-SNE (perplexity 30)."""
    if method == "t-SNE":
        from sklearn.manifold import (
            TSNE,  # sklearn loads in ~1.5 s: only when first used
        )

        return TSNE(2, perplexity=30, init="pca", random_state=seed, max_iter=500).fit_transform(hidden)
    if np.allclose(hidden, hidden[0]):
        return np.zeros((len(hidden), 2))
    from sklearn.decomposition import PCA

    return PCA(2).fit_transform(hidden)


def separation(hidden: np.ndarray, labels: np.ndarray) -> float:
    """Silhouette coefficient of the classes in the representation (-1 to 1; higher = better separated)."""
    if np.allclose(hidden, hidden[0]):
        return 0.0
    from sklearn.metrics import silhouette_score

    return float(silhouette_score(hidden, labels))


@dataclass(frozen=True)
class DigitsConfig:
    model: str = "MLP"
    learning_rate: float = 0.003
    seed: int = 0


class DigitsTrainer:
    """A digit classifier in training (``shared.live`` trainer); keeps its representation from before training."""

    def __init__(self, config: DigitsConfig):
        self.config = config
        images, labels = load_digits_data()
        self.X_train, self.y_train = torch.from_numpy(images[:-HELD_OUT]), torch.from_numpy(labels[:-HELD_OUT])
        self.X_test, self.y_test = torch.from_numpy(images[-HELD_OUT:]), torch.from_numpy(labels[-HELD_OUT:])
        self.generator = torch.Generator().manual_seed(config.seed)
        self.model = init_conv(init_weights(build_model(config.model), self.generator), self.generator)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.learning_rate)
        self.hidden_before = self.hidden()
        self.separation_before = separation(self.hidden_before, self.y_test.numpy())
        self._projections: dict = {}

    @torch.no_grad()
    def hidden(self) -> np.ndarray:
        """``(297, 32)``: the last hidden layer for every held-out digit."""
        self.model.eval()
        return self.model[0](self.X_test).numpy()

    def train_step(self) -> dict[str, float]:
        self.model.train()
        batch = torch.randint(0, len(self.X_train), (BATCH_SIZE,), generator=self.generator)
        loss = nn.functional.cross_entropy(self.model(self.X_train[batch]), self.y_train[batch])
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        with torch.no_grad():
            self.model.eval()
            accuracy = (self.model(self.X_test).argmax(1) == self.y_test).float().mean()
        return {"loss": loss.item(), "test accuracy": accuracy.item()}

    def configure(self, model, learning_rate, seed, *_view) -> None:
        lr = as_float("Learning rate", learning_rate, limits.DIGITS_LR_MIN, limits.DIGITS_LR_MAX)
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def first_layer_filters(self) -> np.ndarray:
        """MLP: ``(16, 8, 8)``, the first 16 neurons' weights over the pixels. CNN: ``(8, 3, 3)`` kernels."""
        first = next(m for m in self.model.modules() if isinstance(m, (nn.Linear, nn.Conv2d)))
        w = first.weight.detach().numpy()
        return w[:, 0] if w.ndim == 4 else w[:16].reshape(-1, 8, 8)

    def projection(self, which: str, method: str, steps: int) -> np.ndarray:
        """A cached projection of the representation ``before`` training or ``now`` (at ``steps``)."""
        key = (which, method, 0 if which == "before" else steps)
        if key not in self._projections:
            hidden = self.hidden_before if which == "before" else self.hidden()
            self._projections = {k: v for k, v in self._projections.items() if k[0] == "before"}
            self._projections[key] = projection_2d(hidden, method, self.config.seed)
        return self._projections[key]


def make_trainer(model, learning_rate, seed, *_view) -> DigitsTrainer:
    if model not in MODELS:
        raise ValueError(f"Unknown model {model!r}; choose one of {', '.join(MODELS)}.")
    return DigitsTrainer(DigitsConfig(
        model, as_float("Learning rate", learning_rate, limits.DIGITS_LR_MIN, limits.DIGITS_LR_MAX),
        as_int("Seed", seed, 0, limits.SEED_MAX)))


def _scatter(ax, xy: np.ndarray, labels: np.ndarray, title: str) -> None:
    ax.scatter(xy[:, 0], xy[:, 1], s=10, c=DIGIT_COLORS[labels], linewidths=0)
    for digit in range(10):  # the class's name at its centre
        centre = np.median(xy[labels == digit], 0)
        ax.text(*centre, str(digit), fontsize=11, weight="bold", ha="center", va="center", color="black",
                bbox=dict(boxstyle="circle,pad=0.15", fc="white", ec=DIGIT_COLORS[digit], alpha=0.8))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)


def render(run: live.LiveRun, model=None, learning_rate=None, seed=None, projection="PCA"):
    """Before / now projections of the last hidden layer, the first layer's weights, the accuracy curve."""
    trainer: DigitsTrainer = run.trainer
    method = projection if projection in PROJECTIONS else "PCA"
    note = ""
    if method == "t-SNE" and run.running:
        method, note = "PCA", " (t-SNE draws on Pause)"
    labels = trainer.y_test.numpy()
    fig = Figure(figsize=(8.4, 6.4), dpi=80)
    fig.subplots_adjust(left=0.03, right=0.98, bottom=0.07, top=0.94, wspace=0.12, hspace=0.25)
    grid = fig.add_gridspec(2, 2)
    before, now = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
    _scatter(before, trainer.projection("before", method, 0), labels,
             f"Before training ({method}) · separation {trainer.separation_before:.2f}")
    now_sep = separation(trainer.hidden(), labels) if run.steps else trainer.separation_before
    _scatter(now, trainer.projection("now", method, run.steps), labels,
             f"After {run.steps:,} steps ({method}{note}) · separation {now_sep:.2f}")
    filters = trainer.first_layer_filters()
    n, k = len(filters), filters.shape[-1]
    cols = 4 if k == 3 else 8
    rows = int(np.ceil(n / cols))
    mosaic = np.full((rows * (k + 1) - 1, cols * (k + 1) - 1), np.nan)
    for i, f in enumerate(filters):
        r, c = divmod(i, cols)
        mosaic[r * (k + 1): r * (k + 1) + k, c * (k + 1): c * (k + 1) + k] = f / (np.abs(f).max() + 1e-12)
    ax = fig.add_subplot(grid[1, 0])
    ax.imshow(mosaic, cmap="RdBu", vmin=-1, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    kind = "3×3 filters of the first convolution" if k == 3 else "weights of 16 first-layer neurons (8×8 pixels)"
    ax.set_title(f"Learned {kind}", fontsize=9)
    curve = fig.add_subplot(grid[1, 1])
    if run.history.steps:
        curve.plot(run.history.steps, run.history.values["test accuracy"], color="#e4572e", lw=1.6,
                   label="test accuracy")
        curve.plot(run.history.steps, run.history.values["loss"], color="#9aa4b2", lw=1.0, label="batch loss")
        curve.legend(fontsize=8, loc="center right")
    curve.set_ylim(0, max(2.5, *(run.history.values.get("loss") or [0])[:1]))
    curve.set_xlabel("step", fontsize=8)
    curve.tick_params(labelsize=7)
    curve.grid(alpha=0.3)
    curve.set_title("Held-out accuracy and training loss", fontsize=9)
    params = sum(p.numel() for p in trainer.model.parameters())
    return fig, (f"{trainer.config.model} · **{params:,} parameters** · 1,500 training digits, {HELD_OUT} held out; "
                 "colours are the true digits, positions are what the network's last hidden layer says")


STORE = live.RunStore()


def build_representations() -> live.LiveControls:
    """Lay out the representation-learning sub-tab; returns its live controls (the convolution view reads them)."""
    gr.Markdown("A network learns to read handwritten digits (8×8 pixels). Each dot is a held-out digit placed by "
                "its **last hidden layer** (32 numbers, squeezed to 2-D). Press **Play** and watch the classes pull "
                "apart: that internal description is the representation the network learned.")
    with gr.Row():
        model = gr.Radio(list(MODELS), value="MLP", label="Model (on Reset)")
        learning_rate = gr.Dropdown([0.0003, 0.001, 0.003, 0.01, 0.03], value=0.003, label="Learning rate",
                                    allow_custom_value=True)
        seed = gr.Number(value=0, precision=0, minimum=0, maximum=limits.SEED_MAX, label="Seed")
        projection = gr.Radio(list(PROJECTIONS), value="PCA", label="Projection")
    controls = live.controls()
    plot = gr.Plot(label="Representations", format="png", show_label=False)
    info = gr.Markdown()
    settings = [model, learning_rate, seed, projection]
    wired = live.wire(controls, STORE, name="digits", make_trainer=make_trainer, settings=settings, render=render,
                      outputs=[plot, info])
    gr.on([model.input, seed.input], wired.reset, wired.inputs, wired.outputs, api_visibility="private",
          concurrency_id="digits")
    projection.input(_redraw, [controls.key, *settings], [plot, info], api_visibility="private",
                     concurrency_id="digits")
    wired.paused.then(_redraw, [controls.key, *settings], [plot, info], api_visibility="private",
                      concurrency_id="digits")  # t-SNE, too slow while training, draws on Pause
    return controls


def _redraw(key, *values):
    run = STORE.get(key)
    if run is None:
        return gr.skip(), gr.skip()
    with live.one_thread():
        return render(run, *values)
