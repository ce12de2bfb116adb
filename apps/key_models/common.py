"""What the topic 2 models share: the 2-D data, sample-quality measures, seeded initialisation, figure pieces."""
from __future__ import annotations

import math

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from torch import nn

from apps.understanding import BOX, PRESETS, YOUR_POINTS, make_dataset, ring_modes
from shared import limits

DATA_PRESETS = PRESETS[:-1]  # the live models train on presets; "Your points" is topic 1's canvas
RING_STD = 0.12


def training_data(preset: str, seed: int, n_points: int = limits.DEFAULT_POINTS) -> np.ndarray:
    """``(n_points, 2)`` float32 points of a 2-D preset (see ``apps.understanding.make_dataset``)."""
    if preset == YOUR_POINTS:
        raise ValueError("Draw your own points in topic 1; here, pick one of the presets.")
    return make_dataset(preset, n_points, seed)[0]


def seeded_init_(module: nn.Module, generator: torch.Generator) -> nn.Module:
    """Re-initialise every ``nn.Linear`` as PyTorch does by default, but from ``generator``.

    A private generator (not ``torch.manual_seed``) keeps one learner's seed from disturbing another's
    in a server where many models are created at once.
    """
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
            if layer.bias is not None:
                bound = 1 / math.sqrt(layer.in_features)
                nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
    return module


def mlp(sizes: list[int], activation=nn.SiLU) -> nn.Sequential:
    """Linear layers of the given widths with ``activation`` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


# ---------------------------------------------------------------------------------------------
# How good are samples? The same measures for every model family
# ---------------------------------------------------------------------------------------------

def mmd(x: np.ndarray, y: np.ndarray, bandwidths: tuple[float, ...] = (0.1, 0.3, 1.0)) -> float:
    """Squared maximum mean discrepancy between two point sets (Gretton et al. 2012, biased estimate).

    A sum of Gaussian kernels of the given widths, so it sees both fine detail (0.1) and overall shape
    (1.0). 0 when the sets come from the same distribution; larger is further apart.
    """
    x, y = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)

    def k(a, b):
        d2 = torch.cdist(a, b).pow(2)
        return sum(torch.exp(-d2 / (2 * h * h)) for h in bandwidths)

    return float(k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean())


def nearest_neighbour_distance(samples: np.ndarray, data: np.ndarray) -> float:
    """Mean distance from each sample to its nearest data point: small = samples land on the data."""
    d = torch.cdist(torch.as_tensor(samples, dtype=torch.float64), torch.as_tensor(data, dtype=torch.float64))
    return float(d.min(1).values.mean())


def modes_covered(samples: np.ndarray, centres: np.ndarray | None = None, radius: float = 3 * RING_STD,
                  min_fraction: float = 0.02) -> int:
    """How many of the ring's 8 Gaussians get at least ``min_fraction`` of the samples within ``radius``.

    The measure of mode collapse used for GANs on this data (Metz et al. 2017, "Unrolled GANs").
    """
    centres = ring_modes() if centres is None else centres
    d = np.linalg.norm(samples[:, None, :] - centres[None], axis=-1)  # (N, modes)
    hits = (d < radius).sum(0)
    return int((hits >= min_fraction * len(samples)).sum())


# ---------------------------------------------------------------------------------------------
# Figure pieces (fixed margins, few labels: a live figure redraws several times a second)
# ---------------------------------------------------------------------------------------------

# Text sizes a projector can show: these figures appear at about 0.7x there (604 px drawn, 413 CSS px shown at
# 150% zoom), where the earlier 7 pt ticks and legends came out 6 screen pixels tall.
TITLE_PT, TEXT_PT = 12, 10


def figure(width_in: float, height_in: float, n: int, **adjust) -> tuple[Figure, list]:
    fig = Figure(figsize=(width_in, height_in), dpi=72)
    fig.subplots_adjust(**{"left": 0.05, "right": 0.98, "bottom": 0.13, "top": 0.88, "wspace": 0.28, **adjust})
    axes = fig.subplots(1, n)
    return fig, list(np.atleast_1d(axes))


def plane(ax, title: str) -> None:
    """A 2-D data panel: the fixed [-3, 3]^2 box, no tick labels."""
    ax.set_xlim(-BOX, BOX)
    ax.set_ylim(-BOX, BOX)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=TITLE_PT, y=1.0)  # a fixed y spares matplotlib measuring the axes at every draw


def curves(ax, steps: list[int], values: dict[str, list[float]], title: str, colors: dict[str, str] | None = None) -> None:
    """Metric curves over training steps (a :class:`shared.live.History`'s contents)."""
    colors = colors or {}
    for name, ys in values.items():
        ax.plot(steps, ys, lw=1.3, label=name, color=colors.get(name))
    if len(values) > 1:  # one curve is named by the title
        ax.legend(fontsize=TEXT_PT, loc="upper right")
    # Few ticks: tick labels are most of the cost of a redraw, and three or four are enough to read a trend.
    ax.xaxis.set_major_locator(MaxNLocator(3, integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(4))
    ax.set_xlabel("step", fontsize=TEXT_PT)
    ax.set_title(title, fontsize=TITLE_PT, y=1.0)
    ax.tick_params(labelsize=TEXT_PT)
