"""Topic 1's novelty measure (apps/understanding.py: novelty): new points vs points off the data (key idea 1.3)."""
from __future__ import annotations

import re

import numpy as np
import pytest

import apps.understanding as u


def test_copies_of_training_points_are_not_new_and_distant_points_are_off_the_data():
    X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    spacing, new, far = u.novelty(X.copy(), X)
    assert spacing == pytest.approx(1.0) and new == 0.0 and far == 0.0
    spacing, new, far = u.novelty(np.array([[2.5, 0.5], [10.0, 10.0]]), X)
    assert new == 1.0 and far == 0.5  # (2.5, 0.5) is new but near; (10, 10) has left the data


def test_hotter_sampling_makes_more_new_points_and_more_off_the_data():
    d = u.DEFAULTS
    shares = []
    for temperature in (0.5, 2.0):
        *_, table = u.explain("Ring of 8 Gaussians", d["n_points"], 0, None, "Gaussian mixture", 8,
                              d["em_iterations"], d["bandwidth"], d["n_samples"], temperature)
        shares.append([int(x) for x in re.findall(r"\*\*(\d+)%\*\*", table)])
    (cold_new, cold_far), (hot_new, hot_far) = shares
    assert hot_new > cold_new and hot_far > cold_far
