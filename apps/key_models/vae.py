"""A variational autoencoder on handwritten digits, trained live (Kingma and Welling 2013).

An encoder maps an image x to a Gaussian q(z | x) = N(mu(x), diag(sigma(x)^2)) over a 2-D latent z; a
decoder maps z back to an image's pixel probabilities p(x | z). Training maximises the evidence lower
bound (ELBO, Kingma and Welling 2013, eq. 10), i.e. minimises

    loss = reconstruction + KL = -E_q[log p(x | z)] + KL(q(z | x) || N(0, I))

with the reparameterisation trick z = mu + sigma * eps, eps ~ N(0, I), so gradients flow through the
sampling. The KL term pulls every code towards the prior N(0, I), which is what makes the latent
plane smooth: decode any point of it and you get a plausible digit, so the VAE is generative.

Data: scikit-learn's digits (1,797 images of 8x8 pixels, 16 grey levels; UCI "Optical Recognition of
Handwritten Digits", shipped inside scikit-learn, no download). Pixels are scaled to [0, 1] and
modelled as Bernoulli probabilities (binary cross-entropy), as in the paper's MNIST experiments.
The same class also models 2-D points (Gaussian p(x | z) with a learned variance) for the comparison.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace

import gradio as gr
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from apps.key_models import common
from shared import limits, live
from shared.checks import as_float, as_int
from shared.ui import friendly_errors

IMAGE_SIDE = 8
LATENT_DIM = 2  # two, so the latent space can be drawn
HELD_OUT = 297  # the last 297 digits; 1,500 train


@functools.cache
def load_digits_data() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits: ``(images, labels)``, float32 ``(1797, 64)`` in [0, 1] and int64 ``(1797,)``."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.data / 16.0).astype(np.float32), digits.target.astype(np.int64)


@dataclass(frozen=True)
class VAEConfig:
    hidden: int = 128
    lr: float = 3e-3
    beta: float = 1.0  # weight of the KL term (beta-VAE, Higgins et al. 2017); 1 is the ELBO
    batch_size: int = 128
    seed: int = 0


def make_config(hidden, lr, beta, seed) -> VAEConfig:
    """Check raw UI / API values. Raises ``ValueError`` for anything out of ``shared.limits``."""
    return VAEConfig(
        hidden=as_int("Hidden size", hidden, limits.HIDDEN_MIN, limits.HIDDEN_MAX),
        lr=as_float("Learning rate", lr, limits.LEARNING_RATE_MIN, limits.LEARNING_RATE_MAX),
        beta=as_float("KL weight β", beta, 0.0, 4.0),
        seed=as_int("Seed", seed, 0, limits.SEED_MAX),
    )


class VAE(nn.Module):
    """Encoder ``(B, D) -> (mu, logvar)``, each ``(B, 2)``; decoder ``(B, 2) -> (B, D)`` logits (Bernoulli)
    or means (Gaussian, with one learned log-variance per dimension)."""

    def __init__(self, data_dim: int, hidden: int, likelihood: str = "bernoulli"):
        super().__init__()
        self.likelihood = likelihood
        self.encoder = common.mlp([data_dim, hidden, hidden, 2 * LATENT_DIM])
        self.decoder = common.mlp([LATENT_DIM, hidden, hidden, data_dim])
        self.log_var_x = nn.Parameter(torch.zeros(data_dim))  # used by the Gaussian likelihood only

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=1)  # (B, 2) each
        return mu, logvar.clamp(-10, 10)

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x | z), summed over data dimensions: ``(B,)`` nats."""
        out = self.decoder(z)
        if self.likelihood == "bernoulli":
            return -F.binary_cross_entropy_with_logits(out, x, reduction="none").sum(1)
        var = self.log_var_x.exp()
        return (-0.5 * ((x - out) ** 2 / var + self.log_var_x + math.log(2 * math.pi))).sum(1)

    def loss(self, x: torch.Tensor, generator: torch.Generator, beta: float = 1.0) -> tuple[torch.Tensor, dict]:
        """Negative ELBO per example (eq. 10), with the KL in closed form (appendix B)."""
        mu, logvar = self.encode(x)
        z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=generator)  # reparameterisation
        reconstruction = -self.log_likelihood(x, z).mean()
        kl = (-0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(1)).mean()
        return reconstruction + beta * kl, {"reconstruction": reconstruction.item(), "KL": kl.item()}

    @torch.no_grad()
    def decode_mean(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's mean output: pixel probabilities in [0, 1] (Bernoulli) or the point (Gaussian)."""
        out = self.decoder(z)
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out

    @torch.no_grad()
    def importance_log_likelihood(self, x: torch.Tensor, generator: torch.Generator, k: int = 64) -> torch.Tensor:
        """log p(x) estimated with k importance samples from q (Burda et al. 2016): ``(B,)`` nats,
        a lower bound that tightens as k grows (k = 1 is the ELBO)."""
        mu, logvar = self.encode(x)
        std = (0.5 * logvar).exp()
        eps = torch.randn((k, *mu.shape), generator=generator)  # (k, B, 2)
        z = mu + std * eps
        log_q = (-0.5 * (eps**2 + logvar + math.log(2 * math.pi))).sum(-1)  # (k, B)
        log_prior = (-0.5 * (z**2 + math.log(2 * math.pi))).sum(-1)  # (k, B)
        log_px_z = torch.stack([self.log_likelihood(x, z[i]) for i in range(k)])  # (k, B)
        return torch.logsumexp(log_px_z + log_prior - log_q, 0) - math.log(k)


class VAETrainer:
    """A VAE, its optimiser and its data (digits by default, or any ``(N, D)`` array)."""

    def __init__(self, config: VAEConfig, data: np.ndarray | None = None, labels: np.ndarray | None = None,
                 likelihood: str = "bernoulli"):
        self.config = config
        self.rng = torch.Generator().manual_seed(config.seed)
        if data is None:
            images, labels = load_digits_data()
            data, self.held_out = images[:-HELD_OUT], torch.as_tensor(images[-HELD_OUT:])
            self.held_out_labels = labels[-HELD_OUT:]
        else:
            self.held_out, self.held_out_labels = None, labels
        self.data = torch.as_tensor(data, dtype=torch.float32)  # (N, D)
        self.model = common.seeded_init_(VAE(self.data.shape[1], config.hidden, likelihood), self.rng)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=config.lr)

    def configure(self, hidden, lr, beta, seed, *_view) -> None:
        """Apply what can change mid-training: learning rate and KL weight (the size needs Reset).
        ``_view``: the explore controls, which only change what is drawn."""
        new = make_config(hidden, lr, beta, seed)
        self.config = replace(self.config, lr=new.lr, beta=new.beta)
        for group in self.opt.param_groups:
            group["lr"] = new.lr

    def train_step(self) -> dict[str, float]:
        x = self.data[torch.randint(len(self.data), (self.config.batch_size,), generator=self.rng)]  # (B, D)
        loss, parts = self.model.loss(x, self.rng, self.config.beta)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"loss": loss.item(), **parts}

    @torch.no_grad()
    def reconstruction_error(self, x: torch.Tensor) -> float:
        """Mean squared pixel error of decode(mu(x)) against x: how well images survive the 2-D bottleneck."""
        mu, _ = self.model.encode(x)
        return float(((self.model.decode_mean(mu) - x) ** 2).mean())

    @torch.no_grad()
    def latent_means(self, x: torch.Tensor) -> np.ndarray:
        return self.model.encode(x)[0].numpy()  # (B, 2)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> np.ndarray:
        """``(n, D)``: decode z ~ N(0, I); for 2-D data, plus the decoder's Gaussian noise."""
        z = torch.randn(n, LATENT_DIM, generator=generator)
        out = self.model.decode_mean(z)
        if self.model.likelihood == "gaussian":
            out = out + (0.5 * self.model.log_var_x).exp() * torch.randn(out.shape, generator=generator)
        return out.numpy()


def make_trainer(hidden, lr, beta, seed, *_explore) -> VAETrainer:
    return VAETrainer(make_config(hidden, lr, beta, seed))


# ---------------------------------------------------------------------------------------------
# The sub-tab
# ---------------------------------------------------------------------------------------------

STORE = live.RunStore()
GRID_N = 12  # the decoded latent plane: GRID_N x GRID_N digits
DIGIT_COLORS = "tab10"


def decoded_plane(trainer: VAETrainer, n: int = GRID_N, extent: float = limits.VAE_LATENT_RANGE) -> np.ndarray:
    """``(n*8, n*8)`` float image: the decoder's output at an n x n grid over [-extent, extent]^2 (top row = high z2)."""
    axis = np.linspace(-extent, extent, n, dtype=np.float32)
    z = np.stack(np.meshgrid(axis, axis[::-1]), -1).reshape(-1, 2)
    images = trainer.model.decode_mean(torch.as_tensor(z)).numpy().reshape(n, n, IMAGE_SIDE, IMAGE_SIDE)
    return images.transpose(0, 2, 1, 3).reshape(n * IMAGE_SIDE, n * IMAGE_SIDE)


def first_of_digit(trainer: VAETrainer, digit: int) -> torch.Tensor:
    index = int(np.flatnonzero(trainer.held_out_labels == digit)[0])
    return trainer.held_out[index : index + 1]  # (1, 64)


def render(run: live.LiveRun, hidden=None, lr=None, beta=None, seed=None, z1=0.0, z2=0.0, digit_a=3, digit_b=8):
    """The live figure (latent scatter, decoded plane, losses) and the explore figure."""
    trainer: VAETrainer = run.trainer
    z1, z2, digit_a, digit_b = _as_explore(z1, z2, digit_a, digit_b)
    extent = limits.VAE_LATENT_RANGE
    fig, (latent_ax, plane_ax, loss_ax) = common.figure(8.4, 3.0, 3, left=0.01, right=0.98, bottom=0.14, wspace=0.15)
    mu = trainer.latent_means(trainer.held_out)
    latent_ax.scatter(mu[:, 0], mu[:, 1], s=5, c=trainer.held_out_labels, cmap=DIGIT_COLORS, vmin=0, vmax=9,
                      linewidths=0)
    for digit in range(10):  # label each digit's cluster at its centre
        centre = mu[trainer.held_out_labels == digit].mean(0)
        latent_ax.text(*centre, str(digit), fontsize=common.TEXT_PT + 1, weight="bold", ha="center", va="center")
    latent_ax.plot([z1], [z2], marker="+", color="k", markersize=12, mew=2)
    latent_ax.set_xlim(-extent, extent)
    latent_ax.set_ylim(-extent, extent)
    latent_ax.set_aspect("equal")
    latent_ax.set_xticks([])
    latent_ax.set_yticks([])
    latent_ax.set_title("Latent codes of held-out digits", fontsize=common.TEXT_PT + 1)
    plane_ax.imshow(decoded_plane(trainer), cmap="gray_r", vmin=0, vmax=1, extent=(-extent, extent, -extent, extent))
    plane_ax.set_xticks([])
    plane_ax.set_yticks([])
    plane_ax.set_title("The latent plane, decoded", fontsize=common.TEXT_PT + 1)
    common.curves(loss_ax, run.history.steps, run.history.values, "Loss = reconstruction + KL (nats)",
                  {"loss": "k", "reconstruction": "#3b73bf", "KL": "#e4572e"})
    return fig, explore_figure(trainer, z1, z2, digit_a, digit_b)


def explore_figure(trainer: VAETrainer, z1: float, z2: float, digit_a: int, digit_b: int):
    """Left: the digit decoded at (z1, z2). Right: decoding along the line between two digits' codes.

    Drawn as one image (a single axes redraws far faster than nine)."""
    steps, side = 8, IMAGE_SIDE
    z_a = trainer.latent_means(first_of_digit(trainer, int(digit_a)))[0]
    z_b = trainer.latent_means(first_of_digit(trainer, int(digit_b)))[0]
    path = [z_a + (z_b - z_a) * w for w in np.linspace(0, 1, steps)]
    z = torch.tensor(np.stack([[z1, z2], *path]), dtype=torch.float32)  # (1 + steps, 2)
    images = trainer.model.decode_mean(z).numpy().reshape(-1, side, side)
    strip = np.full((side, (steps + 2) * (side + 1)), np.nan, dtype=np.float32)
    for i, image in enumerate(images):
        column = (i + (i > 0)) * (side + 1)  # a blank slot between the point and the walk
        strip[:, column : column + side] = image
    fig = common.Figure(figsize=(8.4, 1.3), dpi=72)
    ax = fig.add_axes((0.01, 0.02, 0.98, 0.74))
    ax.imshow(np.nan_to_num(strip, nan=0.0), cmap="gray_r", vmin=0, vmax=1, aspect="equal")
    ax.set_axis_off()  # two labels instead of ticks and a title: this figure redraws at every training tick
    article = "an" if digit_b == 8 else "a"
    ax.text(-0.5, -1.5, f"decoded at z = ({z1:.1f}, {z2:.1f})", fontsize=8, va="bottom")
    ax.text(2 * (side + 1) - 0.5, -1.5, f"walking in latent space from a {digit_a} (left) to {article} {digit_b} (right)",
            fontsize=8, va="bottom")
    return fig


def build_vae() -> None:
    gr.Markdown("The **encoder** squeezes each 8×8 digit into just two numbers (a point in the latent plane); "
                "the **decoder** turns any point back into an image. Press **Play**: the digits sort themselves "
                "into regions, and the decoded plane (middle) fills with digits that morph into one another.")
    with gr.Row():
        hidden = gr.Slider(limits.HIDDEN_MIN, limits.HIDDEN_MAX, value=VAEConfig.hidden, step=8,
                           label="Hidden size (on Reset)")
        lr = gr.Number(value=VAEConfig.lr, minimum=limits.LEARNING_RATE_MIN, maximum=limits.LEARNING_RATE_MAX,
                       step=1e-4, label="Learning rate")
        beta = gr.Slider(0.0, 4.0, value=VAEConfig.beta, step=0.1, label="KL weight β", info="1 = the ELBO")
        seed = gr.Number(value=0, precision=0, minimum=0, maximum=limits.SEED_MAX, label="Seed")
    controls = live.controls()
    plot = gr.Plot(label="VAE training", format="png", show_label=False)
    with gr.Row():
        extent = limits.VAE_LATENT_RANGE
        z1 = gr.Slider(-extent, extent, value=0.0, step=0.1, label="z1 (move the + )")
        z2 = gr.Slider(-extent, extent, value=0.0, step=0.1, label="z2")
        digit_a = gr.Dropdown(list(range(10)), value=3, label="From digit")
        digit_b = gr.Dropdown(list(range(10)), value=8, label="To digit")
    explore_plot = gr.Plot(label="Decode a point; walk between two digits", format="png", show_label=False)

    explore = [z1, z2, digit_a, digit_b]
    live.wire(controls, STORE, name="vae", make_trainer=make_trainer, settings=[hidden, lr, beta, seed, *explore],
              render=render, outputs=[plot, explore_plot])

    @friendly_errors
    def redraw(key, *values):
        run = STORE.get(key)
        if run is None:
            raise ValueError("Press Play (or Step) first: the VAE has not been created yet.")
        with live.one_thread():
            return explore_figure(run.trainer, *_as_explore(*values))

    gr.on([c.change for c in explore], redraw, inputs=[controls.key, *explore], outputs=[explore_plot],
          api_visibility="private", trigger_mode="always_last")


def _as_explore(z1, z2, digit_a, digit_b) -> tuple[float, float, int, int]:
    extent = limits.VAE_LATENT_RANGE
    return (as_float("z1", z1, -extent, extent), as_float("z2", z2, -extent, extent),
            as_int("From digit", digit_a, 0, 9), as_int("To digit", digit_b, 0, 9))

