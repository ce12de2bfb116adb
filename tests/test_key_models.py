"""apps/key_models: the GAN, VAE, diffusion model and autoregressive transformer really learn; seeds reproduce.

Step counts are small (a few seconds each on 2 cores); thresholds leave a wide margin over what was
measured with them.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from apps.key_models import common, compare, diffusion, gan, vae
from shared import live


def train(trainer, steps: int) -> live.LiveRun:
    run = live.LiveRun(trainer)
    live.advance(run, steps, budget_s=1e9)
    assert run.diverged is None
    return run


def test_gan_on_the_ring_covers_more_modes_after_training():
    trainer = gan.make_trainer("Ring of 8 Gaussians", 64, 2, 1e-3, 1e-3, "non-saturating", 0)
    before = common.modes_covered(trainer.sample(1000, torch.Generator().manual_seed(0)))
    train(trainer, 400)
    after = common.modes_covered(trainer.sample(1000, torch.Generator().manual_seed(0)))
    assert before <= 1 and after >= 5 and after > before


def test_gan_training_reproduces_from_the_seed():
    def samples(seed):
        trainer = gan.make_trainer("Two moons", 32, 2, 1e-3, 1e-3, "minimax", seed)
        train(trainer, 10)
        return trainer.samples()

    assert np.array_equal(samples(3), samples(3)) and not np.array_equal(samples(3), samples(4))


def test_gan_single_steps_update_one_network_each():
    trainer = gan.make_trainer("Spiral", 16, 1, 1e-3, 1e-3, "non-saturating", 0)
    g_before = [p.clone() for p in trainer.G.parameters()]
    trainer.discriminator_step()
    assert all(torch.equal(a, b) for a, b in zip(g_before, trainer.G.parameters()))
    d_before = [p.clone() for p in trainer.D.parameters()]
    trainer.generator_step()
    assert all(torch.equal(a, b) for a, b in zip(d_before, trainer.D.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(g_before, trainer.G.parameters()))


def test_gan_learning_rates_change_mid_training():
    trainer = gan.make_trainer("Two moons", 16, 2, 1e-3, 1e-3, "non-saturating", 0)
    trainer.configure("Two moons", 16, 2, 5e-4, 2e-3, "minimax", 0)
    assert trainer.opt_g.param_groups[0]["lr"] == 5e-4 and trainer.opt_d.param_groups[0]["lr"] == 2e-3
    assert trainer.config.loss == "minimax"


def test_vae_loss_falls_and_reconstructions_beat_the_mean_image():
    trainer = vae.make_trainer(128, 3e-3, 1.0, 0)
    run = train(trainer, 300)
    losses = run.history.values["loss"]
    assert np.mean(losses[-20:]) < np.mean(losses[:20]) - 5  # nats per image
    held_out = trainer.held_out
    mean_image_error = float(((trainer.data.mean(0) - held_out) ** 2).mean())
    assert trainer.reconstruction_error(held_out) < 0.8 * mean_image_error


def test_vae_latent_views_have_their_shapes():
    trainer = vae.make_trainer(32, 3e-3, 1.0, 0)
    assert vae.decoded_plane(trainer, n=5).shape == (40, 40)
    assert trainer.latent_means(trainer.held_out).shape == (vae.HELD_OUT, 2)
    figure, explore = vae.render(live.LiveRun(trainer), 32, 3e-3, 1.0, 0, 1.0, -1.0, 3, 8)
    assert len(figure.axes) == 3 and len(explore.axes) == 1


def test_vae_takes_the_demo_settings_mid_training():
    trainer = vae.make_trainer(32, 3e-3, 1.0, 0, 0.0, 0.0, 3, 8)
    trainer.configure(32, 1e-3, 0.5, 0, 1.0, 1.0, 2, 7)  # settings and view controls, as a tick passes them
    assert trainer.opt.param_groups[0]["lr"] == 1e-3 and trainer.config.beta == 0.5


def test_vae_reproduces_from_the_seed():
    a, b = vae.make_trainer(32, 3e-3, 1.0, 5), vae.make_trainer(32, 3e-3, 1.0, 5)
    train(a, 5), train(b, 5)
    assert np.array_equal(a.latent_means(a.held_out), b.latent_means(b.held_out))


def test_diffusion_samples_are_closer_to_the_data_than_noise():
    trainer = diffusion.make_trainer("Two moons", 50, "cosine", 128, 2e-3, 0)
    train(trainer, 500)
    data = trainer.data.numpy()
    generator = torch.Generator().manual_seed(0)
    samples, _ = trainer.sample(500, generator)
    noise = torch.randn(500, 2, generator=generator).numpy()
    assert common.mmd(samples, data) < 0.6 * common.mmd(noise, data)


@pytest.mark.parametrize("schedule", diffusion.SCHEDULES)
@pytest.mark.parametrize("timesteps", [10, 100, 500])
def test_noise_schedules_end_at_nearly_pure_noise(schedule, timesteps):
    betas = diffusion.noise_schedule(timesteps, schedule)
    alpha_bars = torch.cumprod(1 - betas, 0)
    assert betas.shape == (timesteps,) and bool((betas > 0).all() and (betas < 1).all())
    assert bool((alpha_bars[1:] < alpha_bars[:-1]).all()) and float(alpha_bars[-1]) < 0.01


def test_diffusion_reverse_process_runs_from_noise_to_data():
    trainer = diffusion.make_trainer("Spiral", 20, "linear", 32, 2e-3, 0)
    samples, trajectory = trainer.sample(30, torch.Generator().manual_seed(0), keep_every=1)
    assert samples.shape == (30, 2) and [t for t, _ in trajectory] == list(range(20, -1, -1))
    assert np.array_equal(trajectory[-1][1], samples)


def test_autoregressive_transformer_likelihood_rises():
    data = common.training_data("Ring of 8 Gaussians", 0)
    trainer = compare.TransformerTrainer(data[:450], seed=0)
    before = trainer.log_likelihood(data[450:]).mean()
    train(trainer, 150)
    assert trainer.log_likelihood(data[450:]).mean() > before + 1.0
    samples = trainer.sample(200, torch.Generator().manual_seed(0))
    assert samples.shape == (200, 2) and np.abs(samples).max() <= common.BOX


def test_mmd_and_nearest_neighbour_distance_see_the_difference():
    data = common.training_data("Two moons", 0)
    other = common.training_data("Two moons", 1)
    noise = np.random.default_rng(0).normal(size=data.shape)
    assert common.mmd(data, other) < 0.1 * common.mmd(data, noise)
    assert common.nearest_neighbour_distance(other, data) < common.nearest_neighbour_distance(noise, data)


@pytest.mark.parametrize("make, args, message", [
    (gan.make_trainer, ("Two moons", 64, 2, 1.0, 1e-3, "minimax", 0), "Generator learning rate"),
    (gan.make_trainer, ("Two moons", 64, 2, 1e-3, 1e-3, "wasserstein", 0), "Loss must be"),
    (gan.make_trainer, ("Two moons", 4, 2, 1e-3, 1e-3, "minimax", 0), "Hidden size"),
    (gan.make_trainer, ("Your points", 64, 2, 1e-3, 1e-3, "minimax", 0), "pick one of the presets"),
    (diffusion.make_trainer, ("Two moons", 5, "cosine", 64, 1e-3, 0), "Diffusion steps"),
    (diffusion.make_trainer, ("Two moons", 50, "cosine", 64, float("nan"), 0), "Learning rate"),
    (vae.make_trainer, (64, 1e-3, 1.0, -1), "Seed"),
])
def test_bad_settings_raise_a_clear_error(make, args, message):
    with pytest.raises(ValueError, match=message):
        make(*args)


def test_a_diverging_run_is_caught():
    trainer = diffusion.make_trainer("Two moons", 20, "linear", 16, 1e-3, 0)
    for p in trainer.model.parameters():
        p.data.fill_(float("nan"))
    run = live.LiveRun(trainer)
    live.advance(run, 5, budget_s=1e9)
    assert run.steps == 1 and "diverged" in run.diverged
