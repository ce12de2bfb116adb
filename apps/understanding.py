"""Topic 1: what makes a model generative. The same 2-D points, a discriminative and a generative model.

A discriminative model learns p(label | x): given a point, which class it belongs to. It draws a
decision boundary and can label any point, but it knows nothing about where points are likely, so it
cannot make new ones. A generative model learns p(x) itself, the distribution the data came from: it
can say how likely any point is (a density, drawn here as a heat map) and **sample** new points.

Two generative models, both classics:

- a Gaussian mixture (k Gaussians, weights pi_k), fitted by expectation-maximisation (Dempster, Laird
  and Rubin 1977; Bishop, *Pattern Recognition and Machine Learning* 2006, section 9.2), written out here
  in a few lines of numpy so each EM iteration can be shown;
- a kernel density estimate (Parzen 1962), sklearn's ``KernelDensity``: a small Gaussian on every point.

"Learning a distribution" becomes a number: the mean log-likelihood of held-out points (nats per point),
which EM raises iteration by iteration, and which a too-narrow kernel makes worse (overfitting).

The 2-D datasets here (``make_dataset``, ``parse_points_csv``) are shared with topic 2.
"""
from __future__ import annotations

import hashlib
import io
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from shared import limits, plots
from shared.checks import as_float, as_int
from shared.ui import friendly_errors, on_page_load

if TYPE_CHECKING:
    from sklearn.neighbors import KernelDensity
    from sklearn.neural_network import MLPClassifier

PRESETS = ("Two moons", "Ring of 8 Gaussians", "Spiral", "Your points")
YOUR_POINTS = PRESETS[-1]
BOX = 3.0  # every 2-D view (and the drawing canvas) spans [-BOX, BOX]^2
HELD_OUT_FRACTION = 0.25
CLASS_COLORS = np.array([[0.23, 0.45, 0.75], [0.93, 0.49, 0.19], [0.35, 0.65, 0.35], [0.6, 0.4, 0.7]])
GENERATIVE_MODELS = ("Gaussian mixture", "Kernel density")
CLICK_MODES = ("Add class 0 (blue)", "Add class 1 (orange)", "Erase nearest")
CANVAS_PX = 400
FAR_SPACINGS = 4  # a sample this many typical data spacings from every training point has left the data behind

DEFAULTS = dict(preset="Two moons", n_points=limits.DEFAULT_POINTS, seed=0, model="Gaussian mixture",
                n_components=8, em_iterations=30, bandwidth=0.2, n_samples=300, temperature=1.0)


# ---------------------------------------------------------------------------------------------
# 2-D data
# ---------------------------------------------------------------------------------------------

def make_dataset(preset: str, n_points: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Points of a preset dataset, scaled to fit the [-3, 3]^2 box.

    Returns:
        ``(X, y)``: float32 ``(n_points, 2)`` and int64 ``(n_points,)`` class labels (two moons: which
        moon; ring: even or odd Gaussian; spiral: which arm), so the classifier has something to learn.
    Raises:
        ValueError: unknown preset, or ``n_points`` outside ``[POINTS_MIN, POINTS_MAX]``.
    """
    n = as_int("Number of points", n_points, limits.POINTS_MIN, limits.POINTS_MAX)
    rng = np.random.default_rng(int(seed))
    if preset == "Two moons":
        from sklearn.datasets import (
            make_moons,  # sklearn loads in ~1.5 s: only when first used
        )

        X, y = make_moons(n, noise=0.08, random_state=int(seed))
        X = (X - [0.5, 0.25]) * 1.7
    elif preset == "Ring of 8 Gaussians":
        mode = rng.integers(0, 8, n)
        angle = mode * (2 * np.pi / 8)
        X = 2.0 * np.stack([np.cos(angle), np.sin(angle)], 1) + rng.normal(0, 0.12, (n, 2))
        y = mode % 2
    elif preset == "Spiral":
        y = rng.integers(0, 2, n)
        s = rng.uniform(0, 1, n) ** 0.6  # fewer points near the crowded centre
        angle = 3.2 * np.pi * s + np.pi * y
        radius = 0.3 + 2.2 * s
        X = np.stack([radius * np.cos(angle), radius * np.sin(angle)], 1) + rng.normal(0, 0.07, (n, 2))
    else:
        raise ValueError(f"Unknown dataset {preset!r}; choose one of {', '.join(PRESETS)}.")
    return X.astype(np.float32), np.asarray(y, dtype=np.int64)


def ring_modes() -> np.ndarray:
    """Centres of the "Ring of 8 Gaussians" preset, ``(8, 2)``; its standard deviation is 0.12."""
    angle = np.arange(8) * (2 * np.pi / 8)
    return 2.0 * np.stack([np.cos(angle), np.sin(angle)], 1)


def check_points(points) -> tuple[np.ndarray, np.ndarray]:
    """Validate learner-made points ``[[x, y, label], ...]`` (drawn or uploaded).

    Returns:
        ``(X, y)`` as in :func:`make_dataset`.
    Raises:
        ValueError: fewer than ``POINTS_MIN`` or more than ``POINTS_MAX`` points, or a non-finite value.
    """
    array = np.asarray(points if points is not None else [], dtype=np.float64).reshape(-1, 3)
    if len(array) < limits.POINTS_MIN:
        raise ValueError(
            f"Your dataset has {len(array)} point{'s' * (len(array) != 1)}; a distribution needs at least "
            f"{limits.POINTS_MIN}. Click on the canvas to add points, or pick a preset."
        )
    if len(array) > limits.POINTS_MAX:
        raise ValueError(f"Your dataset has {len(array):,} points; the limit is {limits.POINTS_MAX:,}.")
    if not np.isfinite(array).all():
        raise ValueError("Your dataset has a missing or infinite value.")
    return array[:, :2].astype(np.float32), array[:, 2].astype(np.int64)


def parse_points_csv(data: bytes | str | Path) -> list[list[float]]:
    """Read a CSV of ``x,y`` or ``x,y,label`` rows (a header row is optional) into ``[[x, y, label], ...]``.

    Points are scaled into the [-3, 3]^2 box (centred, keeping the aspect) when any falls outside it.
    Labels must be whole numbers from 0 to 3; without a label column every point is class 0.

    Raises:
        ValueError: empty file, fewer than two columns, text or a missing value where a number should
            be (the message names the row and column), a bad label, too few or too many rows.
    """
    if isinstance(data, (str, Path)):
        data = Path(data).read_bytes()
    text = data.decode("utf-8-sig", errors="replace") if data else ""
    if not text.strip():
        raise ValueError("The file is empty. Upload a CSV with one point per line: x,y (and optionally a label).")
    try:
        table = pd.read_csv(io.StringIO(text), header=None, dtype=str, skip_blank_lines=True, keep_default_na=False)
    except pd.errors.ParserError as e:
        raise ValueError(f"This is not a readable CSV file ({e}).") from e
    if table.shape[1] < 2:
        raise ValueError("The CSV needs at least two columns, x and y, separated by commas.")
    table = table.iloc[:, :3]
    first_row_numeric = all(_is_number(v) for v in table.iloc[0, :2])
    if not first_row_numeric:
        table = table.iloc[1:]  # a header
    if len(table) > limits.CSV_MAX_ROWS:
        raise ValueError(f"The CSV has {len(table):,} rows; the limit is {limits.CSV_MAX_ROWS:,}.")
    names = ["x", "y", "label"]
    rows = []
    for i, values in enumerate(table.itertuples(index=False), start=1 if first_row_numeric else 2):
        row = []
        for name, value in zip(names, values):
            value = str(value).strip()
            if not value or value.lower() in {"nan", "na", "null", "none"}:
                raise ValueError(f"Row {i} has no value for {name} (missing values are not allowed).")
            if not _is_number(value):
                raise ValueError(f"Row {i}, column {name}: {value[:30]!r} is not a number.")
            row.append(float(value))
        if not all(math.isfinite(v) for v in row):
            raise ValueError(f"Row {i} has an infinite value.")
        if len(row) == 3 and (not row[2].is_integer() or not 0 <= row[2] < len(CLASS_COLORS)):
            raise ValueError(f"Row {i}: the label must be a whole number from 0 to {len(CLASS_COLORS) - 1}, not {row[2]}.")
        rows.append(row if len(row) == 3 else row + [0.0])
    if len(rows) < limits.POINTS_MIN:
        raise ValueError(f"The CSV has {len(rows)} point(s); a distribution needs at least {limits.POINTS_MIN}.")
    points = np.asarray(rows)
    xy = points[:, :2]
    if np.abs(xy).max() > BOX:
        centre = (xy.max(0) + xy.min(0)) / 2
        half = max(float((xy.max(0) - xy.min(0)).max()) / 2, 1e-9)
        points[:, :2] = (xy - centre) * (0.9 * BOX / half)
    return points.round(4).tolist()


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def split_held_out(n_points: int, seed: int, fraction: float = HELD_OUT_FRACTION) -> tuple[np.ndarray, np.ndarray]:
    """``(train_index, held_out_index)``: a seeded random split of ``range(n_points)``; the held-out points
    are never used for fitting, only to measure how well a model generalises."""
    order = np.random.default_rng(int(seed) + 1).permutation(n_points)
    n_held = max(2, int(round(n_points * fraction)))
    return order[n_held:], order[:n_held]


# ---------------------------------------------------------------------------------------------
# Generative model 1: a Gaussian mixture fitted by EM
# ---------------------------------------------------------------------------------------------

@dataclass
class GaussianMixture2D:
    """p(x) = sum_k weights[k] N(x; means[k], covariances[k]). Shapes ``(K,)``, ``(K, 2)``, ``(K, 2, 2)``."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray

    def component_log_prob(self, X: np.ndarray) -> np.ndarray:
        """``(N, K)``: log weights[k] + log N(x_n; mean_k, cov_k), in nats."""
        a, b, d = self.covariances[:, 0, 0], self.covariances[:, 0, 1], self.covariances[:, 1, 1]
        det = a * d - b * b  # (K,)
        inv = np.stack([np.stack([d, -b], -1), np.stack([-b, a], -1)], -2) / det[:, None, None]  # (K, 2, 2)
        diff = X[:, None, :] - self.means[None]  # (N, K, 2)
        mahalanobis = np.einsum("nki,kij,nkj->nk", diff, inv, diff)  # (N, K)
        return np.log(self.weights) - 0.5 * mahalanobis - 0.5 * np.log(det) - np.log(2 * np.pi)

    def log_prob(self, X: np.ndarray) -> np.ndarray:
        """``(N,)`` log p(x) in nats (log-sum-exp over components)."""
        logs = self.component_log_prob(X)
        top = logs.max(1, keepdims=True)
        return (top + np.log(np.exp(logs - top).sum(1, keepdims=True)))[:, 0]

    def sample(self, n: int, temperature: float, rng: np.random.Generator) -> np.ndarray:
        """``(n, 2)`` new points at a sampling temperature tau.

        Weights become proportional to pi_k^(1/tau) and covariances are multiplied by tau: exactly
        p(x)^(1/tau), renormalised, for a single Gaussian; tau < 1 sharpens, tau > 1 spreads.
        """
        weights = self.weights ** (1.0 / temperature)
        weights /= weights.sum()
        component = rng.choice(len(weights), size=n, p=weights)
        chol = np.linalg.cholesky(self.covariances * temperature)  # (K, 2, 2)
        z = rng.standard_normal((n, 2))
        return self.means[component] + np.einsum("nij,nj->ni", chol[component], z)


def gmm_init(X: np.ndarray, n_components: int, rng: np.random.Generator) -> GaussianMixture2D:
    """Start EM from k random data points as means, the data's overall spread as every covariance."""
    k = min(n_components, len(X))
    means = X[rng.choice(len(X), size=k, replace=False)].astype(np.float64)
    cov = np.cov(X.T) + 1e-3 * np.eye(2)
    return GaussianMixture2D(np.full(k, 1.0 / k), means, np.repeat(cov[None], k, 0))


def em_step(g: GaussianMixture2D, X: np.ndarray, reg: float = 1e-3) -> GaussianMixture2D:
    """One EM iteration (Bishop 2006, eqs. 9.23-9.27): it never lowers the training log-likelihood.

    E step: responsibilities r[n, k] = p(component k | x_n). M step: each component's weight, mean and
    covariance become the responsibility-weighted ones; ``reg`` on the diagonal keeps a component that
    sits on one point from collapsing to zero width.
    """
    logs = g.component_log_prob(X)  # (N, K)
    r = np.exp(logs - logs.max(1, keepdims=True))
    r /= r.sum(1, keepdims=True)  # (N, K)
    nk = r.sum(0) + 1e-10  # (K,)
    means = (r.T @ X) / nk[:, None]  # (K, 2)
    diff = X[:, None, :] - means[None]  # (N, K, 2)
    covariances = np.einsum("nk,nki,nkj->kij", r, diff, diff) / nk[:, None, None] + reg * np.eye(2)
    return GaussianMixture2D(nk / nk.sum(), means, covariances)


def fit_gmm(X_train: np.ndarray, X_held: np.ndarray, n_components: int, em_iterations: int,
            seed: int) -> tuple[GaussianMixture2D, np.ndarray]:
    """Fit by ``em_iterations`` EM steps from a seeded start.

    Returns:
        ``(model, curve)``: ``curve`` is float64 ``(em_iterations + 1, 2)``, the mean log-likelihood
        (nats per point) of the training and held-out points after 0, 1, ... iterations.
    """
    X_train, X_held = X_train.astype(np.float64), X_held.astype(np.float64)
    g = gmm_init(X_train, n_components, np.random.default_rng(int(seed)))
    curve = [(g.log_prob(X_train).mean(), g.log_prob(X_held).mean())]
    for _ in range(em_iterations):
        g = em_step(g, X_train)
        curve.append((g.log_prob(X_train).mean(), g.log_prob(X_held).mean()))
    return g, np.array(curve)


# ---------------------------------------------------------------------------------------------
# Generative model 2: a kernel density estimate
# ---------------------------------------------------------------------------------------------

def fit_kde(X_train: np.ndarray, bandwidth: float) -> KernelDensity:
    """A Gaussian kernel of width ``bandwidth`` on every training point (sklearn ``KernelDensity``)."""
    from sklearn.neighbors import KernelDensity

    return KernelDensity(kernel="gaussian", bandwidth=float(bandwidth)).fit(X_train)


def sample_kde(kde: KernelDensity, n: int, temperature: float, rng: np.random.Generator) -> np.ndarray:
    """``(n, 2)``: pick training points at random and add Gaussian noise of width bandwidth * sqrt(tau)."""
    data = kde.tree_.data
    base = np.asarray(data)[rng.integers(0, len(data), n)]
    return base + rng.normal(0, kde.bandwidth * math.sqrt(temperature), (n, 2))


def kde_bandwidth_curve(X_train: np.ndarray, X_held: np.ndarray, bandwidths: np.ndarray) -> np.ndarray:
    """``(len(bandwidths), 2)``: mean train and held-out log-likelihood (nats per point) at each bandwidth."""
    out = []
    for h in bandwidths:
        kde = fit_kde(X_train, h)
        out.append((kde.score_samples(X_train).mean(), kde.score_samples(X_held).mean()))
    return np.array(out)


def single_gaussian_log_likelihood(X_train: np.ndarray, X_held: np.ndarray) -> float:
    """Held-out mean log-likelihood of one Gaussian fitted to the training points: the baseline to beat."""
    g = GaussianMixture2D(np.ones(1), X_train.mean(0, keepdims=True).astype(np.float64),
                          (np.cov(X_train.T) + 1e-6 * np.eye(2))[None])
    return float(g.log_prob(X_held.astype(np.float64)).mean())


# ---------------------------------------------------------------------------------------------
# The discriminative model
# ---------------------------------------------------------------------------------------------

def novelty(samples: np.ndarray, X_train: np.ndarray) -> tuple[float, float, float]:
    """How new the samples ``(n, 2)`` are next to the training points ``(m, 2)``, m >= 2.

    Returns:
        ``(spacing, new_share, far_share)``: the data's typical spacing (median distance from a training point
        to its nearest other one); the share of samples farther than that from every training point (not
        near-copies of one); the share farther than ``FAR_SPACINGS`` spacings (new, but off the data).
    """
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=2).fit(X_train)
    spacing = max(float(np.median(nn.kneighbors(X_train)[0][:, 1])), 1e-9)  # [:, 0] is the point itself
    distance = nn.kneighbors(samples, n_neighbors=1)[0][:, 0]  # (n,)
    return spacing, float((distance > spacing).mean()), float((distance > FAR_SPACINGS * spacing).mean())


def fit_classifier(X: np.ndarray, y: np.ndarray, seed: int) -> MLPClassifier | None:
    """A small neural network classifier (sklearn ``MLPClassifier``, two hidden layers of 32), or
    ``None`` when the data has a single class (there is no boundary to learn)."""
    if len(np.unique(y)) < 2:
        return None
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier((32, 32), learning_rate_init=0.01, max_iter=200, random_state=int(seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 200 iterations is enough to see the boundary
        return clf.fit(X, y)


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------

GRID = 120
_axis = np.linspace(-BOX, BOX, GRID)
GRID_POINTS = np.stack(np.meshgrid(_axis, _axis), -1).reshape(-1, 2)  # (GRID*GRID, 2), row 0 at y = -BOX


# Sizes a projector can show: these pictures appear about 190 CSS px wide beside each other at 150% zoom,
# where 10 pt titles and 7 pt ticks came out 9 and 7 screen px tall.
TITLE_PT, TICK_PT = 14, 11


def _square_axes(fig: Figure, ax, title: str) -> None:
    ax.set_xlim(-BOX, BOX)
    ax.set_ylim(-BOX, BOX)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=TITLE_PT)
    ax.tick_params(labelsize=TICK_PT)


def classifier_figure(clf, X: np.ndarray, y: np.ndarray) -> Figure:
    """Class probabilities as colour behind the points; the 0.5 line is the decision boundary."""
    fig = Figure(figsize=(4.2, 4.2), dpi=80)
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.08, top=0.92)  # fixed margins: tight_layout doubles the draw time
    ax = fig.subplots()
    colors = CLASS_COLORS[y % len(CLASS_COLORS)]
    if clf is None:
        ax.text(0, 0, "Only one class here:\nno boundary to learn.\nAdd points of class 1.", ha="center",
                va="center", fontsize=TITLE_PT)
    else:
        probs = clf.predict_proba(GRID_POINTS)  # (G*G, C)
        rgb = probs @ CLASS_COLORS[clf.classes_ % len(CLASS_COLORS)]
        rgb = 0.45 * rgb + 0.55  # pale, so the points stand out
        ax.imshow(rgb.reshape(GRID, GRID, 3), origin="lower", extent=(-BOX, BOX, -BOX, BOX))
        if len(clf.classes_) == 2:
            ax.contour(_axis, _axis, probs[:, 1].reshape(GRID, GRID), levels=[0.5], colors="k", linewidths=1)
    ax.scatter(X[:, 0], X[:, 1], s=7, c=colors, edgecolors="white", linewidths=0.3)
    _square_axes(fig, ax, "Discriminative: p(label | x)")
    return fig


def generative_figure(log_density: np.ndarray, X: np.ndarray, samples: np.ndarray, title: str) -> Figure:
    """The model's density on the grid as a heat map, the data (white) and new samples (red)."""
    fig = Figure(figsize=(4.2, 4.2), dpi=80)
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.08, top=0.92)  # fixed margins: tight_layout doubles the draw time
    ax = fig.subplots()
    density = np.exp(log_density.reshape(GRID, GRID))
    ax.imshow(density, origin="lower", extent=(-BOX, BOX, -BOX, BOX), cmap="magma")
    ax.scatter(X[:, 0], X[:, 1], s=4, c="white", alpha=0.5, linewidths=0)
    ax.scatter(samples[:, 0], samples[:, 1], s=9, c="#ff3b30", edgecolors="white", linewidths=0.3)
    _square_axes(fig, ax, title)
    return fig


def likelihood_figure(curve: np.ndarray, bandwidths: np.ndarray, kde_curve: np.ndarray, bandwidth: float,
                      baseline: float) -> Figure:
    """Left: held-out and training log-likelihood over EM iterations. Right: the same over KDE bandwidths."""
    fig = Figure(figsize=(8.4, 2.8), dpi=80)
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.22, top=0.88, wspace=0.12)
    left, right = fig.subplots(1, 2, sharey=True)
    left.plot(curve[:, 0], color="#9aa4b2", label="training points")
    left.plot(curve[:, 1], color="#e4572e", lw=2, label="held-out points")
    left.axhline(baseline, color="k", ls=":", lw=1, label="one Gaussian")
    left.set_xlabel("EM iteration", fontsize=TICK_PT + 1)
    left.set_ylabel("mean log p(x), nats", fontsize=TICK_PT + 1)
    left.set_title("Gaussian mixture learning", fontsize=TITLE_PT)
    right.semilogx(bandwidths, kde_curve[:, 0], color="#9aa4b2", label="training points")
    right.semilogx(bandwidths, kde_curve[:, 1], color="#e4572e", lw=2, label="held-out points")
    right.axvline(bandwidth, color="k", lw=1)
    right.set_xlabel("bandwidth", fontsize=TICK_PT + 1)
    right.set_title("Kernel density: too narrow overfits", fontsize=TITLE_PT)
    low = min(np.nanmin(curve[:, 1]), baseline, np.nanmin(kde_curve[:, 1])) - 0.3
    high = max(np.nanmax(curve), np.nanmax(kde_curve)) + 0.3
    for ax in (left, right):
        ax.set_ylim(max(low, high - 8), high)
        ax.legend(fontsize=TICK_PT - 1, loc="lower right")
        ax.tick_params(labelsize=TICK_PT)
    return fig


def canvas_image(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The clickable drawing canvas: ``(CANVAS_PX, CANVAS_PX, 3)`` uint8, the axes filling the image exactly,
    so pixel (px, py) is the point :func:`canvas_to_data` returns. White like paper (an opaque image: the page
    turns it dark in dark mode, shared/plots.py)."""
    dpi = 100
    fig = Figure(figsize=(CANVAS_PX / dpi, CANVAS_PX / dpi), dpi=dpi, facecolor="white")
    ax = fig.add_axes((0, 0, 1, 1), facecolor="white")
    ax.set_xlim(-BOX, BOX)
    ax.set_ylim(-BOX, BOX)
    for v in range(-int(BOX) + 1, int(BOX)):
        ax.axhline(v, color="#e5e7eb", lw=0.8, zorder=0)
        ax.axvline(v, color="#e5e7eb", lw=0.8, zorder=0)
    if len(X):
        ax.scatter(X[:, 0], X[:, 1], s=14, c=CLASS_COLORS[y % len(CLASS_COLORS)], edgecolors="white", linewidths=0.4)
    ax.set_axis_off()
    agg = FigureCanvasAgg(fig)
    agg.draw()
    return np.asarray(agg.buffer_rgba())[..., :3].copy()


def canvas_to_data(px: float, py: float, width: int = CANVAS_PX, height: int = CANVAS_PX) -> tuple[float, float]:
    """Data coordinates of a click at pixel ``(px, py)`` of the canvas (origin top-left)."""
    return -BOX + 2 * BOX * px / width, BOX - 2 * BOX * py / height


# ---------------------------------------------------------------------------------------------
# The demo
# ---------------------------------------------------------------------------------------------

def dataset(preset, n_points, seed, points) -> tuple[np.ndarray, np.ndarray]:
    """The dataset the learner chose: a preset, or their own (drawn or uploaded) points."""
    if preset == YOUR_POINTS:
        return check_points(points)
    return make_dataset(preset, n_points, as_int("Seed", seed, 0, limits.SEED_MAX))


_per_dataset: dict = {}  # a few datasets' classifier and KDE curve; dict ops are atomic, the worst race recomputes


@friendly_errors
def explain(preset, n_points, seed, points, model, n_components, em_iterations, bandwidth, n_samples, temperature):
    """Fit both models on the chosen data and draw them side by side, with the held-out log-likelihood."""
    X, y = dataset(preset, n_points, seed, points)
    seed = as_int("Seed", seed, 0, limits.SEED_MAX)
    n_components = as_int("Components", n_components, 1, limits.GMM_COMPONENTS_MAX)
    em_iterations = as_int("EM iterations", em_iterations, 0, limits.EM_ITERATIONS_MAX)
    bandwidth = as_float("Bandwidth", bandwidth, limits.KDE_BANDWIDTH_MIN, limits.KDE_BANDWIDTH_MAX)
    n_samples = as_int("Samples", n_samples, 1, limits.SAMPLES_MAX)
    temperature = as_float("Temperature", temperature, limits.SAMPLING_TEMPERATURE_MIN,
                            limits.SAMPLING_TEMPERATURE_MAX)
    train, held = split_held_out(len(X), seed)
    X_train, X_held = X[train], X[held]
    rng = np.random.default_rng(seed)

    g, curve = fit_gmm(X_train, X_held, n_components, em_iterations, seed)
    kde = fit_kde(X_train, bandwidth)
    if model == "Gaussian mixture":
        log_density = g.log_prob(GRID_POINTS)
        samples = g.sample(n_samples, temperature, rng)
        title = f"Generative: p(x), {len(g.weights)} Gaussians"
    else:
        log_density = kde.score_samples(GRID_POINTS)
        samples = sample_kde(kde, n_samples, temperature, rng)
        title = f"Generative: p(x), kernel density (h = {bandwidth:.2f})"

    key = (hashlib.sha1(X.tobytes() + y.tobytes()).hexdigest(), seed)
    cached = _per_dataset.get(key)
    if cached is None:  # what depends on the data alone is computed once per dataset, not per slider move
        bandwidths = np.geomspace(limits.KDE_BANDWIDTH_MIN, limits.KDE_BANDWIDTH_MAX, 12)
        cached = (bandwidths, kde_bandwidth_curve(X_train, X_held, bandwidths),
                  single_gaussian_log_likelihood(X_train, X_held), fit_classifier(X_train, y[train], seed))
        _per_dataset[key] = cached
        while len(_per_dataset) > 16:
            _per_dataset.pop(next(iter(_per_dataset)))
    bandwidths, kde_curve, baseline, clf = cached
    kde_held = float(kde.score_samples(X_held).mean())
    table = (
        f"**Held-out log-likelihood** (mean log p(x) of {len(X_held)} points the models never saw; "
        f"higher is better):\n\n"
        f"| model | nats per point |\n|---|---|\n"
        f"| one Gaussian (baseline) | {baseline:.3f} |\n"
        f"| Gaussian mixture, {len(g.weights)} components, {em_iterations} EM iterations | **{curve[-1, 1]:.3f}** |\n"
        f"| kernel density, bandwidth {bandwidth:.2f} | **{kde_held:.3f}** |"
    )
    spacing, new_share, far_share = novelty(samples, X_train)
    table += (f"\n\n**How new are the {n_samples} samples?** **{new_share:.0%}** lie farther from every training "
              f"point than the data's typical spacing ({spacing:.3f}): new points, not copies. **{far_share:.0%}** "
              f"lie over {FAR_SPACINGS} spacings from all data: new, but off the pattern. Temperature trades one "
              "for the other.")
    return (
        classifier_figure(clf, X, y),
        generative_figure(log_density, X, samples, title),
        likelihood_figure(curve, bandwidths, kde_curve, bandwidth, baseline),
        table,
    )



def _points_of(preset, n_points, seed, points) -> list[list[float]]:
    X, y = dataset(preset, n_points, seed, points)
    return np.column_stack([X, y]).round(4).tolist()


@friendly_errors
def show_data(preset, n_points, seed, points):
    """Redraw the canvas for the chosen data (an empty canvas for "Your points" with none yet)."""
    if preset == YOUR_POINTS:
        array = np.asarray(points or [], dtype=np.float64).reshape(-1, 3)
        return canvas_image(array[:, :2], array[:, 2].astype(np.int64))
    return canvas_image(*make_dataset(preset, n_points, as_int("Seed", seed, 0, limits.SEED_MAX)))


@friendly_errors
def click_canvas(preset, n_points, seed, points, mode, evt: gr.SelectData):
    """Add (or erase) a point where the learner clicked. Clicking on a preset edits a copy of it."""
    points = list(points or []) if preset == YOUR_POINTS else _points_of(preset, n_points, seed, None)
    x, y = canvas_to_data(*evt.index[:2])
    if mode == CLICK_MODES[2]:
        if points:
            array = np.asarray(points)[:, :2]
            points.pop(int(np.argmin(((array - [x, y]) ** 2).sum(1))))
    elif len(points) >= limits.POINTS_MAX:
        raise ValueError(f"Your dataset already has the maximum of {limits.POINTS_MAX:,} points.")
    else:
        points.append([round(x, 4), round(y, 4), float(CLICK_MODES.index(mode))])
    array = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    return points, YOUR_POINTS, canvas_image(array[:, :2], array[:, 2].astype(np.int64))


def undo_point(points):
    return list(points or [])[:-1], YOUR_POINTS


def clear_points():
    return [], YOUR_POINTS


@friendly_errors
def upload_points(path):
    """Read an uploaded CSV into the learner's points (see :func:`parse_points_csv`)."""
    if not path:
        raise ValueError("The upload is empty. Choose a CSV file with one point per line: x,y[,label].")
    return parse_points_csv(path), YOUR_POINTS


def build() -> None:
    """Lay out the topic 1 demo in the current tab and wire its events."""
    gr.Markdown("### One dataset, two kinds of model\nPick a dataset, or click on the canvas to draw your own "
                "(clicking on a preset edits a copy of it).")
    points = gr.State([])
    # The main control: the demo recomputes on every change, so picking a dataset is the action.
    preset = gr.Radio(list(PRESETS), value=DEFAULTS["preset"], label="Dataset", elem_classes="cm-main-action")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=280):
            canvas = gr.Image(value=None, label="The data (click to add points)", type="numpy", format="png",
                              interactive=False, height=CANVAS_PX, buttons=[], elem_classes=plots.PLOT)
        with gr.Column(scale=1, min_width=220):
            click_mode = gr.Radio(list(CLICK_MODES), value=CLICK_MODES[0], label="A click on the canvas will")
            with gr.Row():
                undo = gr.Button("Undo last point", size="sm")
                clear = gr.Button("Clear my points", size="sm")
            upload = gr.File(label="…or upload a CSV (x,y or x,y,label)", file_types=[".csv", ".txt"],
                             type="filepath", height=90)
            n_points = gr.Slider(limits.POINTS_MIN, limits.POINTS_MAX, value=DEFAULTS["n_points"], step=10,
                                 label="Points (presets)")
            seed = gr.Number(value=DEFAULTS["seed"], precision=0, minimum=0, maximum=limits.SEED_MAX, label="Seed")
    # No label chips: on a projector their wrapped text pushed the pictures out of the row's boxes (cut at
    # the bottom); each figure's title says the same, and the labels stay as the pictures' text alternatives.
    with gr.Row(equal_height=True):
        classifier_plot = gr.Plot(label="Discriminative model (a classifier)", format="png", show_label=False)
        generative_plot = gr.Plot(label="Generative model (a density you can sample)", format="png",
                                  show_label=False, elem_classes=plots.KEEP_COLOURS)  # bright = likely, in both themes
    gr.Markdown("Left: a neural network classifier colours the plane by the label it would give; it can label any "
                "point, but it cannot make one. Right: a generative model's density p(x) (bright = likely) and "
                "**new points sampled from it** (red).", elem_classes="cm-header")
    with gr.Row():
        model = gr.Radio(list(GENERATIVE_MODELS), value=DEFAULTS["model"], label="Generative model")
        n_samples = gr.Slider(1, limits.SAMPLES_MAX, value=DEFAULTS["n_samples"], step=1, label="Samples to draw")
        temperature = gr.Slider(limits.SAMPLING_TEMPERATURE_MIN, limits.SAMPLING_TEMPERATURE_MAX,
                                value=DEFAULTS["temperature"], step=0.05, label="Sampling temperature",
                                info="< 1 sharper, > 1 more spread out")
    with gr.Row():
        n_components = gr.Slider(1, limits.GMM_COMPONENTS_MAX, value=DEFAULTS["n_components"], step=1,
                                 label="Components k (mixture)")
        em_iterations = gr.Slider(0, limits.EM_ITERATIONS_MAX, value=DEFAULTS["em_iterations"], step=1,
                                  label="EM iterations (mixture)", info="move it to watch the mixture learn")
        bandwidth = gr.Slider(limits.KDE_BANDWIDTH_MIN, limits.KDE_BANDWIDTH_MAX, value=DEFAULTS["bandwidth"],
                              step=0.01, label="Bandwidth (kernel density)")
    likelihood_table = gr.Markdown()
    likelihood_plot = gr.Plot(label="Learning a distribution, as a number", format="png", show_label=False)

    data_inputs = [preset, n_points, seed, points]
    model_inputs = [model, n_components, em_iterations, bandwidth, n_samples, temperature]
    outputs = [classifier_plot, generative_plot, likelihood_plot, likelihood_table]
    gr.on(
        [preset.change, n_points.change, seed.change, points.change],
        show_data, inputs=data_inputs, outputs=[canvas], api_visibility="private", trigger_mode="always_last",
    )
    gr.on(
        [preset.change, n_points.change, seed.change, points.change, *(c.change for c in model_inputs)],
        explain, inputs=data_inputs + model_inputs, outputs=outputs, api_name="understanding_fit",
        trigger_mode="always_last",
    )
    canvas.select(click_canvas, inputs=[preset, n_points, seed, points, click_mode],
                  outputs=[points, preset, canvas], api_visibility="private")
    undo.click(undo_point, inputs=[points], outputs=[points, preset], api_visibility="private")
    clear.click(clear_points, inputs=None, outputs=[points, preset], api_visibility="private")
    upload.upload(upload_points, inputs=[upload], outputs=[points, preset], api_visibility="private")
    on_page_load(show_data, data_inputs, [canvas])
    on_page_load(explain, data_inputs + model_inputs, outputs)
