"""Topic 3: deep-learning foundations you can train, watch and take apart.

Three sub-tabs:

- Playground (``playground.py``): TensorFlow Playground's idea (Smilkov and Carter 2016) with PyTorch
  under it: 2-D data (or the learner's CSV), up to 6 hidden layers of 32 neurons, trained live, every
  neuron drawn; "Show the code" writes the PyTorch script of the network on screen, and its weights
  download as safetensors.
- Representations (``representations.py``): an MLP or CNN learns handwritten digits; its last hidden
  layer, projected to 2-D before and after training, shows the classes pulling apart.
- Convolution and recurrence (``seen.py``): a 3x3 kernel on an image; a tiny RNN unrolled on a sequence.

Live training (Play / Pause / Step / Reset, NaN detection, one run per learner) is ``shared.live``.
"""
from __future__ import annotations

import gradio as gr

from apps.foundations.playground import build_playground
from apps.foundations.representations import build_representations
from apps.foundations.seen import build_seen


def build() -> None:
    """Lay out the topic 3 demo in the current tab: playground, representations, convolution and recurrence."""
    with gr.Tabs():
        with gr.Tab("Playground", id="playground"):
            build_playground()
        with gr.Tab("Representations", id="representations"):
            digits = build_representations()
        with gr.Tab("Convolution & recurrence", id="seen"):
            build_seen(digits)
