"""apps/understanding.py: datasets, the Gaussian mixture's EM, kernel density, bad input."""
from __future__ import annotations

import numpy as np
import pytest

from apps import understanding as u
from shared import limits


@pytest.mark.parametrize("preset", u.PRESETS[:-1])
def test_presets_fit_the_box_with_two_classes(preset):
    X, y = u.make_dataset(preset, 400, seed=0)
    assert X.shape == (400, 2) and X.dtype == np.float32
    assert np.abs(X).max() < u.BOX and set(np.unique(y)) == {0, 1}


def test_datasets_depend_on_the_seed():
    a, _ = u.make_dataset("Spiral", 200, 1)
    b, _ = u.make_dataset("Spiral", 200, 1)
    c, _ = u.make_dataset("Spiral", 200, 2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("preset", ["Two moons", "Ring of 8 Gaussians"])
def test_gaussian_mixture_held_out_likelihood_rises_with_em(preset):
    X, _ = u.make_dataset(preset, 600, seed=0)
    train, held = u.split_held_out(len(X), seed=0)
    _, curve = u.fit_gmm(X[train], X[held], n_components=8, em_iterations=40, seed=0)
    assert curve.shape == (41, 2)
    assert curve[-1, 1] > curve[0, 1] + 0.5  # held-out nats per point
    assert curve[-1, 1] > u.single_gaussian_log_likelihood(X[train], X[held])


def test_em_never_lowers_the_training_likelihood():
    X, _ = u.make_dataset("Ring of 8 Gaussians", 400, seed=3)
    _, curve = u.fit_gmm(X, X[:50], n_components=8, em_iterations=30, seed=3)
    assert np.all(np.diff(curve[:, 0]) > -1e-6)


def test_gmm_fit_and_samples_reproduce_from_the_seed():
    X, _ = u.make_dataset("Two moons", 300, seed=0)
    g1, c1 = u.fit_gmm(X, X, 5, 10, seed=4)
    g2, c2 = u.fit_gmm(X, X, 5, 10, seed=4)
    g3, c3 = u.fit_gmm(X, X, 5, 10, seed=5)
    assert np.array_equal(c1, c2) and not np.array_equal(c1, c3)
    s1 = g1.sample(50, 1.0, np.random.default_rng(0))
    assert np.array_equal(s1, g2.sample(50, 1.0, np.random.default_rng(0)))


def test_lower_temperature_samples_stay_closer_to_the_means():
    X, _ = u.make_dataset("Ring of 8 Gaussians", 600, seed=0)
    g, _ = u.fit_gmm(X, X, 8, 30, seed=0)

    def spread(t):
        s = g.sample(2000, t, np.random.default_rng(0))
        return np.linalg.norm(s[:, None] - g.means[None], axis=-1).min(1).mean()

    assert spread(0.3) < spread(1.0) < spread(3.0)


def test_a_too_narrow_kernel_overfits():
    X, _ = u.make_dataset("Two moons", 600, seed=0)
    train, held = u.split_held_out(len(X), seed=0)
    bandwidths = np.geomspace(limits.KDE_BANDWIDTH_MIN, limits.KDE_BANDWIDTH_MAX, 12)
    curve = u.kde_bandwidth_curve(X[train], X[held], bandwidths)
    assert curve[0, 0] > curve[0, 1] + 1  # far better on its own points than on new ones
    best = int(np.argmax(curve[:, 1]))
    assert 0 < best < len(bandwidths) - 1  # neither the narrowest nor the widest generalises best


def test_explain_draws_both_models_on_drawn_points():
    X, y = u.make_dataset("Two moons", 60, seed=0)
    points = np.column_stack([X, y]).tolist()
    classifier, generative, curve, table = u.explain(u.YOUR_POINTS, 60, 0, points, "Kernel density", 4, 10, 0.3, 50, 1.0)
    assert "Held-out log-likelihood" in table and "kernel density" in table
    assert classifier.axes and generative.axes and curve.axes


def test_canvas_clicks_map_to_data_coordinates():
    assert u.canvas_to_data(0, 0) == (-u.BOX, u.BOX)
    assert u.canvas_to_data(u.CANVAS_PX / 2, u.CANVAS_PX / 2) == (0.0, 0.0)
    assert u.canvas_image(np.zeros((3, 2)), np.zeros(3, dtype=int)).shape == (u.CANVAS_PX, u.CANVAS_PX, 3)


# Bad input: always a ValueError with a sentence the learner can act on

def test_csv_with_header_and_labels_is_read():
    text = "x,y,label\n" + "\n".join(f"{i / 10},{-i / 10},{i % 2}" for i in range(10))
    points = u.parse_points_csv(text.encode())
    assert len(points) == 10 and points[1] == [0.1, -0.1, 1.0]


def test_csv_points_outside_the_box_are_scaled_into_it():
    text = "\n".join(f"{100 * i},{50 * i}" for i in range(10))
    points = np.array(u.parse_points_csv(text.encode()))
    assert np.abs(points[:, :2]).max() <= u.BOX and set(points[:, 2]) == {0.0}


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("   \n\n", "empty"),
    ("x,y\n1,2\n3,abc\n" + "1,1\n" * 10, "Row 3, column y: 'abc' is not a number"),
    ("1,2\n3,nan\n" + "1,1\n" * 10, "Row 2 has no value for y"),
    ("1,2\n3,\n" + "1,1\n" * 10, "Row 2 has no value for y"),
    ("1\n2\n3\n", "at least two columns"),
    ("1,2\n3,4\n", "at least 8"),
    ("1,2,7\n" * 10, "label must be a whole number"),
])
def test_bad_csv_files_raise_a_clear_error(text, message):
    with pytest.raises(ValueError, match=message):
        u.parse_points_csv(text.encode())


def test_too_few_drawn_points_raise_a_clear_error():
    with pytest.raises(ValueError, match="needs at least 8"):
        u.check_points([[0, 0, 0], [1, 1, 1], [2, 2, 0]])
    with pytest.raises(ValueError, match="0 points"):
        u.dataset(u.YOUR_POINTS, 100, 0, [])


@pytest.mark.parametrize("n", [3, limits.POINTS_MAX + 1, "many"])
def test_point_counts_out_of_range_are_refused(n):
    with pytest.raises(ValueError, match="Number of points"):
        u.make_dataset("Two moons", n, 0)
