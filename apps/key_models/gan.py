"""A generative adversarial network on 2-D points, trained live (Goodfellow et al. 2014).

Two small MLPs play a game. The generator G turns noise z ~ N(0, I) into a point; the discriminator D
looks at a point and outputs the probability that it is real. D is trained to tell real from fake;
G is trained to fool D. Neither ever sees a formula for the data distribution: G learns it only through
D's judgements. The heat map behind the points is D's output: where it thinks real data lives.

Generator losses (Goodfellow et al. 2014, section 3):
- minimax: G minimises log(1 - D(G(z))), the game as written; it gives G almost no gradient while D
  easily rejects its samples (early in training), so it learns slowly or not at all;
- non-saturating: G maximises log D(G(z)), the paper's practical fix, used almost everywhere since.

A GAN can cover only some modes of the data ("mode collapse", e.g. Metz et al. 2017): the mode-collapse
preset below shows it on the ring of 8 Gaussians.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import gradio as gr
import numpy as np
import torch
import torch.nn.functional as F

from apps.key_models import common
from shared import limits, live
from shared.checks import as_float, as_int

LOSSES = ("non-saturating", "minimax")


@dataclass(frozen=True)
class GANConfig:
    preset: str = "Ring of 8 Gaussians"
    hidden: int = 64
    noise_dim: int = 2
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    loss: str = "non-saturating"
    batch_size: int = 128
    seed: int = 0


# Named settings a learner can load: each shows one thing. Names fit the menu on a projector (300 px).
GAN_PRESETS = {
    "Balanced (learns the ring)": GANConfig(),
    # Measured here: covers 3-4 of the 8 modes after 2,000 steps (seeds 0, 1), hopping between them.
    "Mode collapse (tiny net, high rates)": GANConfig(hidden=8, noise_dim=1, lr_g=1e-2, lr_d=1e-2),
    "Minimax loss (slow to start)": GANConfig(loss="minimax", lr_d=3e-3),
}


def make_config(preset, hidden, noise_dim, lr_g, lr_d, loss, seed) -> GANConfig:
    """Check raw UI / API values. Raises ``ValueError`` for anything out of ``shared.limits``."""
    if loss not in LOSSES:
        raise ValueError(f"Loss must be one of {', '.join(LOSSES)}, not {loss!r}.")
    return GANConfig(
        preset=preset,
        hidden=as_int("Hidden size", hidden, limits.HIDDEN_MIN, limits.HIDDEN_MAX),
        noise_dim=as_int("Noise dimension", noise_dim, 1, limits.NOISE_DIM_MAX),
        lr_g=as_float("Generator learning rate", lr_g, limits.LEARNING_RATE_MIN, limits.LEARNING_RATE_MAX),
        lr_d=as_float("Discriminator learning rate", lr_d, limits.LEARNING_RATE_MIN, limits.LEARNING_RATE_MAX),
        loss=loss,
        seed=as_int("Seed", seed, 0, limits.SEED_MAX),
    )


class GANTrainer:
    """A generator and a discriminator, their Adam optimisers, and one learner's data.

    ``train_step`` = one discriminator step then one generator step, each on a fresh batch.
    ``samples`` are the generator's outputs for a *fixed* set of noise vectors, so the plotted points
    move smoothly as G learns instead of being redrawn at random.
    """

    def __init__(self, data: np.ndarray, config: GANConfig, n_show: int = 400):
        self.config = config
        self.generator_rng = torch.Generator().manual_seed(config.seed)
        self.data = torch.as_tensor(data, dtype=torch.float32)  # (N, 2)
        self.G = common.seeded_init_(common.mlp([config.noise_dim, config.hidden, config.hidden, 2]),
                                     self.generator_rng)
        self.D = common.seeded_init_(common.mlp([2, config.hidden, config.hidden, 1], torch.nn.LeakyReLU),
                                     self.generator_rng)
        # beta1 = 0.5 as in DCGAN (Radford et al. 2016): momentum makes the game oscillate more.
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=config.lr_g, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=config.lr_d, betas=(0.5, 0.999))
        self.fixed_noise = torch.randn(n_show, config.noise_dim, generator=self.generator_rng)  # (n_show, z)
        self.last = {"loss_D": float("nan"), "loss_G": float("nan")}

    def configure(self, preset, hidden, noise_dim, lr_g, lr_d, loss, seed) -> None:
        """Apply what can change mid-training: learning rates and loss (the rest needs Reset)."""
        new = make_config(preset, hidden, noise_dim, lr_g, lr_d, loss, seed)
        self.config = replace(self.config, lr_g=new.lr_g, lr_d=new.lr_d, loss=new.loss)
        for group in self.opt_g.param_groups:
            group["lr"] = new.lr_g
        for group in self.opt_d.param_groups:
            group["lr"] = new.lr_d

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        b = self.config.batch_size
        real = self.data[torch.randint(len(self.data), (b,), generator=self.generator_rng)]  # (B, 2)
        z = torch.randn(b, self.config.noise_dim, generator=self.generator_rng)  # (B, z)
        return real, z

    def discriminator_step(self) -> dict[str, float]:
        """One step on D's loss: -log D(x) - log(1 - D(G(z))), i.e. binary cross-entropy, real = 1, fake = 0."""
        real, z = self._batch()
        with torch.no_grad():
            fake = self.G(z)  # (B, 2)
        logits_real, logits_fake = self.D(real), self.D(fake)  # (B, 1) each
        loss = (F.binary_cross_entropy_with_logits(logits_real, torch.ones_like(logits_real))
                + F.binary_cross_entropy_with_logits(logits_fake, torch.zeros_like(logits_fake)))
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        self.last["loss_D"] = loss.item()
        return dict(self.last)

    def generator_step(self) -> dict[str, float]:
        """One step on G's loss, minimax or non-saturating (module docstring)."""
        _, z = self._batch()
        logits_fake = self.D(self.G(z))  # (B, 1)
        if self.config.loss == "minimax":
            loss = -F.softplus(logits_fake).mean()  # log(1 - sigmoid(l)) = -softplus(l)
        else:
            loss = F.softplus(-logits_fake).mean()  # -log sigmoid(l) = softplus(-l)
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        self.last["loss_G"] = loss.item()
        return dict(self.last)

    def train_step(self) -> dict[str, float]:
        self.discriminator_step()
        return self.generator_step()

    @torch.no_grad()
    def samples(self) -> np.ndarray:
        """``(n_show, 2)`` generator outputs for the fixed noise."""
        return self.G(self.fixed_noise).numpy()

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> np.ndarray:
        """``(n, 2)`` fresh samples."""
        return self.G(torch.randn(n, self.config.noise_dim, generator=generator)).numpy()

    @torch.no_grad()
    def discriminator_map(self, points: np.ndarray) -> np.ndarray:
        """D(x) = p(real | x) at ``points`` ``(M, 2)`` -> ``(M,)``."""
        return torch.sigmoid(self.D(torch.as_tensor(points, dtype=torch.float32)))[:, 0].numpy()


def make_trainer(preset, hidden, noise_dim, lr_g, lr_d, loss, seed) -> GANTrainer:
    config = make_config(preset, hidden, noise_dim, lr_g, lr_d, loss, seed)
    return GANTrainer(common.training_data(config.preset, config.seed), config)


# ---------------------------------------------------------------------------------------------
# The sub-tab
# ---------------------------------------------------------------------------------------------

MAP_GRID = 48
_axis = np.linspace(-common.BOX, common.BOX, MAP_GRID)
MAP_POINTS = np.stack(np.meshgrid(_axis, _axis), -1).reshape(-1, 2)
STORE = live.RunStore()


def render(run: live.LiveRun, *_settings):
    trainer: GANTrainer = run.trainer
    fig, (ax, loss_ax) = common.figure(8.4, 3.6, 2, left=0.01, right=0.98, bottom=0.13, wspace=0.12)
    d_map = trainer.discriminator_map(MAP_POINTS).reshape(MAP_GRID, MAP_GRID)
    ax.imshow(d_map, origin="lower", extent=(-common.BOX, common.BOX, -common.BOX, common.BOX),
                      cmap="RdBu", vmin=0, vmax=1, interpolation="bilinear", alpha=0.8)
    data = trainer.data.numpy()
    ax.scatter(data[:, 0], data[:, 1], s=4, c="k", alpha=0.35, linewidths=0, label="real")
    fake = trainer.samples()
    ax.scatter(fake[:, 0], fake[:, 1], s=7, c="#ff8c00", edgecolors="k", linewidths=0.2, label="generated")
    ax.legend(fontsize=common.TEXT_PT, loc="lower left", markerscale=2)
    common.plane(ax, "D(x): blue = 'real', red = 'fake'")
    common.curves(loss_ax, run.history.steps, run.history.values, "Losses (ideal game: D ≈ 1.39, log 4)",
                  {"loss_D": "#3b73bf", "loss_G": "#ff8c00"})
    modes = ""
    if trainer.config.preset == "Ring of 8 Gaussians":
        modes = f" · modes covered: **{common.modes_covered(trainer.sample(1000, torch.Generator().manual_seed(0)))} of 8**"
    return fig, f"Loss: {trainer.config.loss} · lr G {trainer.config.lr_g:g}, lr D {trainer.config.lr_d:g}{modes}"


def load_preset(name):
    c = GAN_PRESETS[name]
    return c.preset, c.hidden, c.noise_dim, c.lr_g, c.lr_d, c.loss


def build_gan() -> None:
    gr.Markdown("Two networks play a game: a **generator** (orange points) and a **discriminator** (background).")
    with gr.Row():
        setting = gr.Dropdown(list(GAN_PRESETS), value=next(iter(GAN_PRESETS)), label="Settings to try", scale=2,
                              min_width=300)  # the names are short enough to show whole in 300 px
        preset = gr.Dropdown(list(common.DATA_PRESETS), value=GANConfig.preset, label="Data", scale=1,
                             min_width=230)  # "Ring of 8 Gaussians" shows whole beside the arrow
    controls = live.controls(main_action=True)
    with gr.Row():
        d_step = gr.Button("One discriminator step", size="sm")
        g_step = gr.Button("One generator step", size="sm")
    gr.Markdown("The generator turns noise into points; the discriminator tries to tell them from the real data. "
                "Press **Play** and watch the orange points move.", elem_classes="cm-header")
    plot = gr.Plot(label="GAN training", format="png", show_label=False)
    info = gr.Markdown()
    with gr.Row():
        hidden = gr.Slider(limits.HIDDEN_MIN, limits.HIDDEN_MAX, value=GANConfig.hidden, step=8,
                           label="Hidden size (on Reset)")
        noise_dim = gr.Slider(1, limits.NOISE_DIM_MAX, value=GANConfig.noise_dim, step=1,
                              label="Noise dimension (on Reset)")
        loss = gr.Radio(list(LOSSES), value=GANConfig.loss, label="Generator loss")
    with gr.Row():
        lr_g = gr.Number(value=GANConfig.lr_g, minimum=limits.LEARNING_RATE_MIN, maximum=limits.LEARNING_RATE_MAX,
                         step=1e-4, label="Generator learning rate")
        lr_d = gr.Number(value=GANConfig.lr_d, minimum=limits.LEARNING_RATE_MIN, maximum=limits.LEARNING_RATE_MAX,
                         step=1e-4, label="Discriminator learning rate")
        seed = gr.Number(value=0, precision=0, minimum=0, maximum=limits.SEED_MAX, label="Seed")

    settings = [preset, hidden, noise_dim, lr_g, lr_d, loss, seed]
    wired = live.wire(
        controls, STORE, name="gan", make_trainer=make_trainer, settings=settings, render=render,
        outputs=[plot, info],
        extra_steps={d_step: lambda t: t.discriminator_step, g_step: lambda t: t.generator_step},
    )
    setting.input(load_preset, [setting], [preset, hidden, noise_dim, lr_g, lr_d, loss], api_visibility="private") \
        .then(wired.reset, wired.inputs, wired.outputs, api_visibility="private")
