"""The course's figure style (shared/plots.py): drawn once, on a transparent background, for both themes."""
from __future__ import annotations

import io

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from shared import plots


@pytest.fixture
def course_style():
    with matplotlib.rc_context():
        plots.use_course_style()
        yield


def saved_png(fig: Figure) -> np.ndarray:
    """The figure as gradio's ``gr.Plot`` sends it (``savefig`` to PNG), as an RGBA array."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGBA"))


def test_a_figure_lets_the_page_background_show_through(course_style):
    fig = Figure(figsize=(3, 2), dpi=50)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="tab:blue")
    ax.set_title("a line")
    pixels = saved_png(fig)
    assert pixels[0, 0, 3] == 0, "the figure's margin is transparent"
    assert (pixels[..., 3] == 0).mean() > 0.5, "most of the figure (margins and the axes' inside) is transparent"
    assert (pixels[..., 3] == 255).any(), "the ink (line, text, axes) is opaque"


def test_the_music_figures_keep_their_transparency(course_style):
    from apps.music.melody import figure_image

    image = figure_image(Figure(figsize=(2, 1), dpi=50))
    assert image.mode == "RGBA" and image.getpixel((0, 0))[3] == 0
