"""How the course draws its matplotlib figures, so that they follow the page's light or dark theme.

The figures are drawn on the server, which does not know the learner's theme (``?__theme=dark``, or the
system's setting). So every figure is drawn once, for the light theme, on a transparent background: in light
mode it sits on the white page. In dark mode the page's CSS (``shared/page.py``) turns each plot image's
lightness around and keeps its hues (``filter: invert(1) hue-rotate(180deg)``): black text and axes become
white on the dark page, a blue line stays blue. A figure whose lightness carries meaning (pictures, a heat map
whose bright parts are the large values) keeps its colours instead, on a light paper (``KEEP_COLOURS``).

Images drawn from a figure (``gr.Image``, not ``gr.Plot``) join in with ``elem_classes=PLOT``.
"""
from __future__ import annotations

import matplotlib

# CSS classes (see shared/page.py): a gr.Image that shows a figure; a plot whose colours must stay as drawn.
PLOT = "cm-plot"
KEEP_COLOURS = "cm-keep-colours"

COURSE_STYLE = {
    "figure.facecolor": "none",   # transparent: the page's background shows through, light or dark
    "axes.facecolor": "none",
    "savefig.facecolor": "auto",  # the figure's own (transparent) background, also in gradio's savefig
    "legend.facecolor": "white",  # a legend over the data keeps its own box (black in dark mode)
}


def use_course_style() -> None:
    """Draw every later figure of this process with :data:`COURSE_STYLE` (matplotlib's rcParams)."""
    matplotlib.rcParams.update(COURSE_STYLE)
