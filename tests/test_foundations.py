"""apps/foundations: the playground really learns (and a linear model really cannot), its code runs as is,
bad CSVs are refused clearly, divergence is caught; digits representations separate; convolution and
the RNN do what the lesson says.

Step counts are small (seconds on 2 cores); thresholds leave a margin over what was measured with them.
"""
from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors import safe_open

from apps.foundations import playground as pg
from apps.foundations import representations as reps
from apps.foundations import seen
from shared import limits, live


def settings(points=None, **changes) -> list:
    """The playground's UI values, in ``wire`` order: a config, then the weights view and the CSV points."""
    base = dict(dataset="XOR", n_points=400, noise=0.0, features=("x", "y"), hidden_layers=2, neurons=8,
                learning_rate=0.03)
    config = pg.PlaygroundConfig(**{**base, **changes})
    return [*config.__dict__.values(), pg.WEIGHT_VIEWS[0], points]


def train(values: list, steps: int) -> live.LiveRun:
    with live.one_thread():
        run = live.LiveRun(pg.make_trainer(*values))
        live.advance(run, steps, budget_s=1e9)
    return run


# ---------------------------------------------------------------------------------------------
# The playground
# ---------------------------------------------------------------------------------------------

def test_a_wide_enough_network_separates_xor_and_a_linear_model_cannot():
    network = train(settings(hidden_layers=2, neurons=8), 600)
    linear = train(settings(hidden_layers=0), 600)
    assert network.diverged is None and linear.diverged is None
    assert network.last_metrics["test accuracy"] > 0.95
    assert abs(linear.last_metrics["test accuracy"] - 0.5) < 0.15
    assert network.last_metrics["test loss"] < 0.2 < 0.6 < linear.last_metrics["test loss"]


def test_the_xy_feature_lets_even_a_linear_model_solve_xor():
    linear = train(settings(hidden_layers=0, features=("x", "y", "xy")), 600)
    assert linear.last_metrics["test accuracy"] > 0.95


def test_more_neurons_or_layers_change_the_parameter_count_shown():
    def shown(**changes) -> int:
        with live.one_thread():
            trainer = pg.make_trainer(*settings(**changes))
        return int(re.search(r"\*\*([\d,]+) parameters\*\*", pg.architecture_line(trainer)).group(1).replace(",", ""))

    base = shown(hidden_layers=2, neurons=8)
    assert base == (2 * 8 + 8) + (8 * 8 + 8) + (8 * 2 + 2)
    assert shown(hidden_layers=2, neurons=16) > base
    assert shown(hidden_layers=3, neurons=8) == base + 8 * 8 + 8
    assert shown(hidden_layers=0) == 2 * 2 + 2


def test_the_same_seed_trains_the_same_network_and_another_seed_does_not():
    def final(seed):
        run = train(settings(dataset="Spiral", seed=seed, hidden_layers=3), 40)
        return [p.detach().clone() for p in run.trainer.model.parameters()], run.last_metrics

    (a, ma), (b, mb), (c, _) = final(3), final(3), final(4)
    assert all(torch.equal(x, y) for x, y in zip(a, b)) and ma == mb
    assert not all(torch.equal(x, y) for x, y in zip(a, c))


@pytest.mark.parametrize("dataset", [d for d in pg.DATASETS if d != pg.YOUR_CSV])
def test_every_dataset_fits_the_plane_and_splits_by_the_percentage(dataset):
    config = pg.PlaygroundConfig(dataset=dataset, n_points=300, n_classes=4, noise=0.2, train_percent=60)
    data = pg.make_data(config)
    assert len(data.X_train) == 180 and len(data.X_test) == 120
    assert np.abs(np.concatenate([data.X_train, data.X_test])).max() < pg.BOX
    if dataset == pg.REGRESSION:
        assert data.regression and data.y_train.dtype == np.float32
    else:
        expected = 2 if dataset in pg.TWO_CLASS_ONLY else 4
        assert data.n_classes == expected and set(np.unique(data.y_train)) == set(range(expected))


def test_features_match_the_expressions_written_into_the_script():
    X = np.random.default_rng(0).uniform(-6, 6, (50, 2)).astype(np.float32)
    x, y = X[:, 0], X[:, 1]
    for name, expression in pg.FEATURES.items():
        expected = eval(expression, {"np": np, "x": x, "y": y})  # noqa: S307 (our own constant strings)
        np.testing.assert_allclose(pg.feature_matrix(X, (name,))[:, 0], expected, rtol=1e-6)


def test_learning_rate_and_optimiser_change_mid_training():
    with live.one_thread():
        trainer = pg.make_trainer(*settings())
    changed = settings(learning_rate=0.1, optimizer="SGD", batch_size=8, l2=0.01)
    trainer.configure(*changed)
    assert isinstance(trainer.optimizer, torch.optim.SGD)
    assert trainer.optimizer.param_groups[0]["lr"] == 0.1 and trainer.optimizer.param_groups[0]["weight_decay"] == 0.01
    assert trainer.config.batch_size == 8


def test_a_too_large_learning_rate_is_reported_as_divergence_not_a_crash():
    run = train(settings(dataset="Regression", features=tuple(pg.FEATURES), optimizer="SGD", learning_rate=10.0,
                         hidden_layers=3, neurons=16, activation="ReLU"), 200)
    assert run.diverged and "diverged" in run.diverged and "learning rate" in run.diverged
    assert run.steps < 200
    picture, _ = pg.render(run, *settings())  # the page still draws the last state
    assert picture.endswith(".png")


def test_render_draws_the_network_its_output_and_both_loss_curves():
    run = train(settings(dataset="Gaussians", n_classes=3), 20)
    path, line = pg.render(run, *settings())
    from PIL import Image

    image = np.asarray(Image.open(path))
    assert image.shape == (pg.PICTURE_HEIGHT + pg.CHART_HEIGHT, pg.PICTURE_WIDTH, 3)
    chart = image[pg.PICTURE_HEIGHT:].reshape(-1, 3)
    for color in pg.LOSS_COLORS.values():  # both curves are drawn
        assert (chart == color).all(1).sum() > 20
    assert "parameters" in line
    heat = pg.playground_image(run.trainer, run.history, pg.WEIGHT_VIEWS[1])
    assert heat.shape == image.shape and not np.array_equal(heat, image)


@pytest.mark.parametrize("bad", [
    ("x,y,label\n1,2,0\nthree,4,1\n" + "1,1,0\n1,2,1\n" * 20, r"Row 3, column x: 'three' is not a number"),
    ("1,2\n3,4\n" * 20, r"three columns"),
    ("1,2,0\n" * 40, r"one class"),
    ("1,2,0\n3,4,1\n" * 1001, r"2,002 rows; the limit is 2,000"),
    ("", r"empty"),
    ("1,2,0\n3,4,9\n" * 20, r"from 0 to 4"),
    ("1,2,0\n3,,1\n" * 20, r"Row 2, column y: is missing"),
])
def test_bad_csvs_are_refused_with_a_clear_message(bad):
    text, message = bad
    with pytest.raises(ValueError, match=message):
        pg.parse_csv(text.encode())


def test_a_too_big_csv_file_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("1.0,2.0,0\n" * (limits.NN_CSV_MAX_BYTES // 10 + 10))
    with pytest.raises(ValueError, match="the limit is"):
        pg.parse_csv(path)


def test_a_good_csv_trains_as_classes_or_as_a_regression():
    rng = np.random.default_rng(0)
    X = rng.uniform(-20, 20, (200, 2))
    classes = "x,y,label\n" + "\n".join(f"{a:.3f},{b:.3f},{int(a > 0)}" for a, b in X)
    points = pg.parse_csv(classes.encode())
    assert points.shape == (200, 3) and np.abs(points[:, :2]).max() <= pg.BOX
    run = train(settings(dataset=pg.YOUR_CSV, points=points.tolist()), 300)
    assert run.trainer.data.n_classes == 2 and run.last_metrics["test accuracy"] > 0.9
    values = "\n".join(f"{a:.3f},{b:.3f},{a / 40:.3f}" for a, b in X)
    assert pg.csv_classes(pg.parse_csv(values.encode())[:, 2]) == 0


def test_bad_settings_are_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="Hidden layers must be a whole number from 0 to 6"):
        pg.make_trainer(*settings(hidden_layers=7))
    with pytest.raises(ValueError, match="Neurons per layer"):
        pg.make_trainer(*settings(neurons=33))
    with pytest.raises(ValueError, match="at least one input feature"):
        pg.make_trainer(*settings(features=()))
    with pytest.raises(ValueError, match="Upload a CSV first"):
        pg.make_trainer(*settings(dataset=pg.YOUR_CSV))


# ---------------------------------------------------------------------------------------------
# Take it home
# ---------------------------------------------------------------------------------------------

def final_losses(output: str) -> tuple[float, float]:
    match = re.findall(r"train loss ([\d.]+), test loss ([\d.]+)", output)
    assert match, output
    return float(match[-1][0]), float(match[-1][1])


@pytest.mark.parametrize("changes", [
    dict(dataset="Two moons", hidden_layers=2, neurons=8, activation="ReLU"),
    dict(dataset="Regression", hidden_layers=1, neurons=6, features=("x", "y", "sin x"), optimizer="SGD",
         learning_rate=0.03, l2=0.001),
], ids=["moons-adam", "regression-sgd"])
def test_the_generated_script_trains_to_the_loss_the_app_shows(tmp_path, changes):
    steps = 150
    run = train(settings(**changes), steps)
    code = pg.generate_code(run.trainer.config, steps)
    script = tmp_path / "train_network.py"
    script.write_text(code)
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    train_loss, test_loss = final_losses(done.stdout)
    assert train_loss == pytest.approx(run.last_metrics["train loss"], rel=1e-3, abs=1e-4)
    assert test_loss == pytest.approx(run.last_metrics["test loss"], rel=1e-3, abs=1e-4)
    assert f"{pg.count_parameters(run.trainer.model):,} parameters" in done.stdout
    with safe_open(str(tmp_path / "network.safetensors"), "pt") as f:  # the script saved its weights too
        assert set(f.keys()) == set(run.trainer.model.state_dict())


def test_downloaded_weights_load_back_into_the_same_network(tmp_path):
    run = train(settings(), 30)
    path = pg.save_weights(run.trainer, run.steps, tmp_path)
    model = pg.build_network(2, 2, 8, "tanh", 0.0, 2)
    from safetensors.torch import load_file

    model.load_state_dict(load_file(str(path)))
    X = torch.randn(10, 2)
    with torch.no_grad():
        assert torch.equal(model(X), run.trainer.model.eval()(X))
    with safe_open(str(path), "pt") as f:
        assert f.metadata()["steps"] == "30" and '"hidden_layers": 2' in f.metadata()["config"]


# ---------------------------------------------------------------------------------------------
# Representations, convolution, recurrence
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model", reps.MODELS)
def test_training_on_digits_separates_the_classes_in_the_last_hidden_layer(model):
    with live.one_thread():
        run = live.LiveRun(reps.make_trainer(model, 0.003, 0))
        live.advance(run, 150, budget_s=1e9)
    trainer = run.trainer
    after = reps.separation(trainer.hidden(), trainer.y_test.numpy())
    assert run.last_metrics["test accuracy"] > 0.8
    assert after > trainer.separation_before + 0.1
    assert trainer.first_layer_filters().shape == ((8, 3, 3) if model == "CNN" else (16, 8, 8))


def test_a_sobel_kernel_finds_vertical_edges_and_ignores_flat_regions():
    image = np.zeros((10, 10), np.float32)
    image[:, 5:] = 1.0  # a vertical edge between columns 4 and 5
    feature_map = seen.convolve(image, np.asarray(seen.KERNELS["Vertical edges (Sobel)"]))
    assert feature_map.shape == (8, 8)
    assert np.all(feature_map[:, 3:5] == 4) and np.all(feature_map[:, :2] == 0) and np.all(feature_map[:, 6:] == 0)


def test_the_learned_kernel_needs_a_trained_cnn():
    with pytest.raises(ValueError, match="Train a CNN first"):
        seen.learned_kernel(None, 1)
    run = live.LiveRun(reps.make_trainer("CNN", 0.003, 0))
    assert seen.learned_kernel(run, 2).shape == (3, 3)


def test_bad_kernels_and_sequences_are_refused_clearly():
    with pytest.raises(ValueError, match="3 rows of 3"):
        seen.parse_kernel([[1, 2], [3, 4]])
    with pytest.raises(ValueError, match="must be a number"):
        seen.parse_kernel([["a", 0, 0], [0, 0, 0], [0, 0, 0]])
    with pytest.raises(ValueError, match=r"only \( and \)"):
        seen.encode("(()x)")
    with pytest.raises(ValueError, match="the limit is 64"):
        seen.encode("()" * 40)


def test_a_trained_rnn_tracks_bracket_depth_better_than_an_untrained_one():
    sequence = "(()(()))((()))()"
    _, untrained, depth, _ = seen.unroll(sequence, 4, 0, 0)
    hidden, trained, depth, losses = seen.unroll(sequence, 4, 300, 0)
    assert hidden.shape == (len(sequence), 4) and np.all(np.abs(hidden) <= 1)  # tanh
    assert np.abs(trained - depth).mean() < 0.6 < np.abs(untrained - depth).mean()
    assert losses[-1] < losses[0] / 5
