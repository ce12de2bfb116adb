"""A denoising diffusion model on 2-D points, trained live (Ho et al. 2020, "DDPM").

The forward process adds a little Gaussian noise at each of T steps until the data is pure noise:
q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I), where alpha_bar_t is the product of
(1 - beta_s) up to t and beta_1..beta_T is the noise schedule. A small network eps_theta(x_t, t)
learns to predict the noise that was added (Ho et al. 2020, eq. 14, the "simple" loss):

    loss = || eps - eps_theta(sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, t) ||^2

Sampling runs the process backwards (Algorithm 2): start from x_T ~ N(0, I) and, for t = T..1,
remove the predicted noise and add back a little fresh noise, so the points flow back onto the data.

Schedules: "linear" (Ho et al. 2020: beta from 1e-4 to 0.02 over T = 1000, rescaled here to other T)
and "cosine" (Nichol and Dhariwal 2021, eq. 17).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import gradio as gr
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from apps.key_models import common
from shared import limits, live
from shared.checks import as_float, as_int
from shared.ui import friendly_errors, on_page_load

SCHEDULES = ("cosine", "linear")


@dataclass(frozen=True)
class DiffusionConfig:
    preset: str = "Two moons"
    timesteps: int = 100
    schedule: str = "cosine"
    hidden: int = 128
    lr: float = 2e-3
    batch_size: int = 256
    seed: int = 0


def make_config(preset, timesteps, schedule, hidden, lr, seed) -> DiffusionConfig:
    """Check raw UI / API values. Raises ``ValueError`` for anything out of ``shared.limits``."""
    if schedule not in SCHEDULES:
        raise ValueError(f"Schedule must be one of {', '.join(SCHEDULES)}, not {schedule!r}.")
    return DiffusionConfig(
        preset=preset,
        timesteps=as_int("Diffusion steps T", timesteps, limits.DIFFUSION_TIMESTEPS_MIN, limits.DIFFUSION_TIMESTEPS_MAX),
        schedule=schedule,
        hidden=as_int("Hidden size", hidden, limits.HIDDEN_MIN, limits.HIDDEN_MAX),
        lr=as_float("Learning rate", lr, limits.LEARNING_RATE_MIN, limits.LEARNING_RATE_MAX),
        seed=as_int("Seed", seed, 0, limits.SEED_MAX),
    )


def noise_schedule(timesteps: int, schedule: str = "cosine") -> torch.Tensor:
    """beta_1..beta_T, float32 ``(T,)``, each in (0, 0.999].

    "linear": Ho et al. 2020's 1e-4..0.02 for T = 1000, scaled by 1000 / T so that fewer, bigger steps
    still end at (nearly) pure noise. "cosine": alpha_bar_t = cos^2(((t/T + s) / (1 + s)) pi/2), s = 0.008.
    """
    if schedule == "linear":
        scale = 1000 / timesteps
        betas = torch.linspace(1e-4 * scale, 0.02 * scale, timesteps, dtype=torch.float64)
    elif schedule == "cosine":
        s = 0.008
        t = torch.linspace(0, timesteps, timesteps + 1, dtype=torch.float64) / timesteps
        alpha_bar = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
        betas = 1 - alpha_bar[1:] / alpha_bar[:-1]
    else:
        raise ValueError(f"Schedule must be one of {', '.join(SCHEDULES)}, not {schedule!r}.")
    return betas.clamp(1e-5, 0.999).float()


def timestep_embedding(t: torch.Tensor, dim: int = 16) -> torch.Tensor:
    """Sinusoidal features of integer timesteps ``(B,)`` -> ``(B, dim)`` (Vaswani et al. 2017, as in DDPM)."""
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, dtype=torch.float32) / half)  # (half,)
    angles = t.float()[:, None] * freqs[None]  # (B, half)
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class Denoiser(nn.Module):
    """eps_theta(x_t, t): an MLP on the point and its timestep's sinusoidal embedding; predicts the noise."""

    def __init__(self, hidden: int, t_dim: int = 16):
        super().__init__()
        self.t_dim = t_dim
        self.net = common.mlp([2 + t_dim, hidden, hidden, hidden, 2])

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.predict(x_t, timestep_embedding(t, self.t_dim))

    def predict(self, x_t: torch.Tensor, t_features: torch.Tensor) -> torch.Tensor:
        """eps_theta from precomputed timestep features, ``(B, t_dim)`` or one row ``(t_dim,)`` for the whole batch."""
        return self.net(torch.cat([x_t, t_features.expand(len(x_t), -1)], dim=1))  # (B, 2)


class DiffusionTrainer:
    """A denoiser, its optimiser, the noise schedule, and one learner's data."""

    def __init__(self, data: np.ndarray, config: DiffusionConfig):
        self.config = config
        self.rng = torch.Generator().manual_seed(config.seed)
        self.data = torch.as_tensor(data, dtype=torch.float32)  # (N, 2)
        self.betas = noise_schedule(config.timesteps, config.schedule)  # (T,)
        self.alphas = 1 - self.betas
        self.alpha_bars = torch.cumprod(self.alphas, 0)  # (T,)
        self.model = common.seeded_init_(Denoiser(config.hidden), self.rng)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=config.lr)

    def configure(self, preset, timesteps, schedule, hidden, lr, seed) -> None:
        """Apply what can change mid-training: the learning rate (T, schedule, size need Reset)."""
        self.config = replace(self.config, lr=make_config(preset, timesteps, schedule, hidden, lr, seed).lr)
        for group in self.opt.param_groups:
            group["lr"] = self.config.lr

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """The forward process in one jump: x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps (eq. 4)."""
        ab = self.alpha_bars[t][:, None]  # (B, 1)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def train_step(self) -> dict[str, float]:
        """One step on the simple loss (eq. 14) over a batch of random points and random timesteps."""
        b = self.config.batch_size
        x0 = self.data[torch.randint(len(self.data), (b,), generator=self.rng)]  # (B, 2)
        t = torch.randint(self.config.timesteps, (b,), generator=self.rng)  # (B,) 0-based: t=0 is step 1
        noise = torch.randn(b, 2, generator=self.rng)
        loss = F.mse_loss(self.model(self.q_sample(x0, t, noise), t), noise)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"loss": loss.item()}

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, keep_every: int = 0) -> tuple[np.ndarray, list]:
        """Ancestral sampling (Algorithm 2), sigma_t^2 = beta_t.

        Returns:
            ``(x_0, trajectory)``: ``(n, 2)`` samples and, when ``keep_every > 0``, a list of
            ``(t, (n, 2) points)`` from t = T down to 0, every ``keep_every`` steps.
        """
        T = self.config.timesteps
        # Everything that does not depend on x, computed once: the live figure samples T steps at every
        # redraw, and per-step tensor bookkeeping used to cost as much as the network itself.
        t_features = timestep_embedding(torch.arange(T), self.model.t_dim)  # (T, t_dim)
        eps_coef = (self.betas / (1 - self.alpha_bars).sqrt()).tolist()  # beta_t / sqrt(1 - alpha_bar_t)
        sqrt_alphas, sigmas = self.alphas.sqrt().tolist(), self.betas.sqrt().tolist()
        x = torch.randn(n, 2, generator=generator)  # x_T
        trajectory = [(T, x.numpy().copy())] if keep_every else []
        for i in reversed(range(T)):
            eps = self.model.predict(x, t_features[i])  # (n, 2)
            mean = (x - eps_coef[i] * eps) / sqrt_alphas[i]
            x = mean + sigmas[i] * torch.randn(n, 2, generator=generator) if i > 0 else mean
            if keep_every and (i % keep_every == 0):
                trajectory.append((i, x.numpy().copy()))
        return x.numpy(), trajectory


def make_trainer(preset, timesteps, schedule, hidden, lr, seed) -> DiffusionTrainer:
    config = make_config(preset, timesteps, schedule, hidden, lr, seed)
    return DiffusionTrainer(common.training_data(config.preset, config.seed), config)


# ---------------------------------------------------------------------------------------------
# The sub-tab
# ---------------------------------------------------------------------------------------------

STORE = live.RunStore()
N_SHOW = 200  # sampled afresh at every redraw: T network calls on this many points (250 cost 8 ms more)


def render(run: live.LiveRun, *_settings):
    trainer: DiffusionTrainer = run.trainer
    fig, (ax, loss_ax) = common.figure(8.4, 3.6, 2, left=0.01, right=0.98, bottom=0.13, wspace=0.12)
    data = trainer.data.numpy()
    samples, _ = trainer.sample(N_SHOW, torch.Generator().manual_seed(0))
    ax.scatter(data[:, 0], data[:, 1], s=4, c="k", alpha=0.3, linewidths=0, label="data")
    ax.scatter(samples[:, 0], samples[:, 1], s=7, c="#7b3fe4", edgecolors="white", linewidths=0.2,
               label="sampled (T steps back from noise)")
    ax.legend(fontsize=common.TEXT_PT, loc="lower left", markerscale=2)
    common.plane(ax, "Samples from the reverse process")
    common.curves(loss_ax, run.history.steps, run.history.values, "Noise-prediction loss (1 = knows nothing)",
                  {"loss": "#7b3fe4"})
    loss_ax.set_ylim(0, 1.3)
    return (fig,)


def process_figure(preset, timesteps, schedule, seed):
    """The forward process on the data at four timesteps, and the noise schedule (beta_t, alpha_bar_t)."""
    config = make_config(preset, timesteps, schedule, limits.HIDDEN_MIN, 1e-3, seed)
    data = torch.as_tensor(common.training_data(config.preset, config.seed))
    betas = noise_schedule(config.timesteps, config.schedule)
    alpha_bars = torch.cumprod(1 - betas, 0)
    # Two rows, so that the schedule's words can be read on a projector (shown at about 0.7x there): the forward
    # process at four timesteps above, the schedule across the width below.
    fig = Figure(figsize=(8.4, 4.6), dpi=72)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.1, top=0.94, hspace=0.35, wspace=0.1)
    grid = fig.add_gridspec(2, 4, height_ratios=[1.1, 1])
    axes = [fig.add_subplot(grid[0, i]) for i in range(4)] + [fig.add_subplot(grid[1, :])]
    noise = torch.randn(data.shape, generator=torch.Generator().manual_seed(config.seed))
    T = config.timesteps
    for ax, t in zip(axes[:4], (0, T // 4, T // 2, T)):
        x = data if t == 0 else alpha_bars[t - 1].sqrt() * data + (1 - alpha_bars[t - 1]).sqrt() * noise
        ax.scatter(x[:, 0], x[:, 1], s=2, c="#7b3fe4", linewidths=0)
        common.plane(ax, f"t = {t}" + (" (data)" if t == 0 else " (noise)" if t == T else ""))
    sched = axes[4]
    steps = np.arange(1, T + 1)
    sched.plot(steps, alpha_bars.numpy(), color="#7b3fe4", label="ᾱ_t (signal left)")
    sched.plot(steps, betas.numpy(), color="#e4572e", label="β_t (noise added)")
    sched.set_ylim(0, 1.02)
    sched.set_title(f"{config.schedule} schedule", fontsize=common.TITLE_PT)
    sched.legend(fontsize=common.TEXT_PT + 1, loc="center right")
    sched.tick_params(labelsize=common.TEXT_PT + 1)
    sched.set_xlabel("t", fontsize=common.TEXT_PT + 1)
    return fig


def reverse_figure(run: live.LiveRun | None):
    """Points flowing back from noise to data: the reverse process at five moments, with trails."""
    if run is None:
        raise ValueError("Train the model first: press Play (or Step).")
    trainer: DiffusionTrainer = run.trainer
    T = trainer.config.timesteps
    with live.one_thread():
        _, trajectory = trainer.sample(300, torch.Generator().manual_seed(1), keep_every=1)
    path = np.stack([x for _, x in trajectory])  # (T + 1, 300, 2), from t = T down to 0
    fig, axes = common.figure(8.4, 2.0, 5, left=0.01, right=0.99, bottom=0.02, top=0.86, wspace=0.05)
    for ax, t in zip(axes, (T, 3 * T // 4, T // 2, T // 4, 0)):
        k = T - t
        for j in range(0, 300, 10):
            ax.plot(path[: k + 1, j, 0], path[: k + 1, j, 1], lw=0.4, color="#bbb")
        ax.scatter(path[k, :, 0], path[k, :, 1], s=3, c="#7b3fe4", linewidths=0)
        common.plane(ax, f"t = {t}")
    return fig


def build_diffusion() -> None:
    gr.Markdown("The **forward process** blurs the data into noise over T small steps (top). A small network "
                "learns to predict the noise at any step; run backwards, it turns fresh noise into new data. "
                "Press **Play** and watch the purple samples find the data.")
    with gr.Row():
        # 230 CSS px: "Ring of 8 Gaussians" shows whole beside the arrow
        preset = gr.Dropdown(list(common.DATA_PRESETS), value=DiffusionConfig.preset, label="Data", min_width=230)
        timesteps = gr.Slider(limits.DIFFUSION_TIMESTEPS_MIN, limits.DIFFUSION_TIMESTEPS_MAX,
                              value=DiffusionConfig.timesteps, step=10, label="Diffusion steps T (on Reset)")
        schedule = gr.Radio(list(SCHEDULES), value=DiffusionConfig.schedule, label="Noise schedule (on Reset)")
    with gr.Row():
        hidden = gr.Slider(limits.HIDDEN_MIN, limits.HIDDEN_MAX, value=DiffusionConfig.hidden, step=8,
                           label="Hidden size (on Reset)")
        lr = gr.Number(value=DiffusionConfig.lr, minimum=limits.LEARNING_RATE_MIN, maximum=limits.LEARNING_RATE_MAX,
                       step=1e-4, label="Learning rate")
        seed = gr.Number(value=0, precision=0, minimum=0, maximum=limits.SEED_MAX, label="Seed")
    process_plot = gr.Plot(label="Forward process and noise schedule", format="png", show_label=False)
    controls = live.controls()
    plot = gr.Plot(label="Diffusion training", format="png", show_label=False)
    show_reverse = gr.Button("Show the reverse process (noise → data)", size="sm")
    reverse_plot = gr.Plot(label="Reverse process", format="png", show_label=False)

    settings = [preset, timesteps, schedule, hidden, lr, seed]
    live.wire(controls, STORE, name="diffusion", make_trainer=make_trainer, settings=settings, render=render,
              outputs=[plot])
    process_inputs = [preset, timesteps, schedule, seed]
    gr.on([c.change for c in process_inputs], friendly_errors(process_figure), inputs=process_inputs,
          outputs=[process_plot], api_visibility="private", trigger_mode="always_last")
    show_reverse.click(friendly_errors(lambda key: reverse_figure(STORE.get(key))), inputs=[controls.key],
                       outputs=[reverse_plot], api_name="diffusion_reverse_process")
    on_page_load(friendly_errors(process_figure), process_inputs, [process_plot])
