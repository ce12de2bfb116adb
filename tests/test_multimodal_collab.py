"""Topic 9's writing-with-AI experiment (apps/multimodal/collab.py): how alike are human and AI story openings?"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from apps.multimodal import collab, collab_figure, collab_summary, collab_table
from shared import catalog
from shared.loader import load


@pytest.fixture(scope="module")
def embedder():
    return load(catalog.EMBEDDED_EMBEDDER)


@pytest.fixture(scope="module")
def groups(embedded_lm, embedder):
    return collab.run_experiment(embedded_lm, embedder, "a lost key", 3, 0.7, seed=0)


def test_pairwise_similarities_are_the_upper_triangle_of_the_cosine_matrix():
    vectors = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]), dim=-1)
    np.testing.assert_allclose(collab.pairwise_similarities(vectors), [2 ** -0.5, 0.0, 2 ** -0.5], atol=1e-6)
    with pytest.raises(ValueError, match="at least two"):
        collab.pairwise_similarities(vectors[:1])


def test_every_theme_has_enough_human_openings_and_bad_choices_are_refused():
    assert all(len(openings) == 8 for openings in collab.HUMAN_OPENINGS.values())
    with pytest.raises(ValueError, match="Pick one of the themes"):
        collab.human_openings("a dragon", 4)
    with pytest.raises(ValueError, match="from 2 to 8"):
        collab.human_openings("a lost key", 9)


def test_the_experiment_gives_three_groups_of_n_texts_with_every_pair_compared(groups):
    assert [g.name for g in groups] == list(collab.GROUPS)
    for g in groups:
        assert len(g.texts) == 3 and all(t.strip() for t in g.texts)
        assert g.similarities.shape == (3,) and g.to_theme.shape == (3,)
        assert -1.0 <= g.mean_similarity <= 1.0
    human, _, mixed = groups
    assert human.texts == list(collab.HUMAN_OPENINGS["a lost key"][:3])
    assert all(m.startswith(" ".join(h.split()[:collab.HUMAN_START_WORDS])) for h, m in zip(human.texts, mixed.texts))


def test_the_ai_writers_depend_on_the_seed(embedded_lm, groups):
    again = collab.ai_openings(embedded_lm, "a lost key", 3, 0.7, seed=0)
    other = collab.ai_openings(embedded_lm, "a lost key", 3, 0.7, seed=50)
    assert again == groups[1].texts
    assert other != again


def test_a_temperature_of_zero_is_refused_because_every_ai_writer_would_agree(embedded_lm, embedder):
    with pytest.raises(ValueError, match="same sentence"):
        collab.run_experiment(embedded_lm, embedder, "a lost key", 3, 0.0, seed=0)


def test_the_figure_summary_and_table_show_every_group(groups):
    assert len(collab_figure(groups).axes[0].patches) == 3  # one bar per group
    summary = collab_summary(groups)
    assert all(f"{g.mean_similarity:.2f}" in summary for g in groups)
    assert len(collab_table(groups)) == 9
