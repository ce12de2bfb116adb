"""train/emoji_eval.py: the judges of issue 21's figures, on synthetic pictures."""
from __future__ import annotations

import numpy as np

from train import emoji_eval as ev


def picture(rgb) -> np.ndarray:
    image = np.full((32, 32, 3), 255, np.uint8)
    image[8:24, 8:24] = rgb
    return image


def test_the_nearest_picture_judge_names_the_subject_of_the_closest_reference():
    reference = np.stack([picture((220, 30, 30)), picture((30, 90, 220)), picture((40, 180, 60))])
    near = ev.nearest_subjects(np.stack([picture((200, 40, 40)), picture((35, 170, 70))]), reference,
                               np.array([7, 8, 9]), k=2)
    assert near.shape == (2, 2) and near[0, 0] == 7 and near[1, 0] == 9


def test_the_shown_colour_ignores_the_white_background():
    assert ev.shown_colour(picture((30, 90, 220))) == "blue"
    assert ev.shown_colour(np.full((32, 32, 3), 255, np.uint8)) is None


def test_seed_difference_is_the_mean_absolute_pixel_difference_over_pairs():
    same = np.stack([picture((0, 0, 0))] * 3)
    assert ev.mean_seed_difference(same) == 0
    black, white = np.zeros((4, 4, 3), np.uint8), np.full((4, 4, 3), 255, np.uint8)
    assert ev.mean_seed_difference(np.stack([black, white, white])) == 170  # pairs: 255, 255, 0
