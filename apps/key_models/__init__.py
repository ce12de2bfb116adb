"""Topic 2: the key model families, each trained live on the same small data, and compared.

One sub-tab per family, then a comparison:

- GAN (Goodfellow et al. 2014): ``gan.py``, on the 2-D presets of topic 1;
- VAE (Kingma and Welling 2013): ``vae.py``, on scikit-learn's 8x8 handwritten digits;
- Diffusion (Ho et al. 2020): ``diffusion.py``, on the 2-D presets;
- Transformer (Vaswani et al. 2017): the course's real language model in topic 4's look-inside views
  (``shared.look_inside.build_transformer_view``), not reimplemented;
- Compare: ``compare.py``, every family on one 2-D dataset with the same measures.

Live training (Play / Pause / Step / Reset, one model per learner) comes from ``shared.live``.
"""
from __future__ import annotations

import gradio as gr

from apps.key_models.compare import build_compare
from apps.key_models.diffusion import build_diffusion
from apps.key_models.gan import build_gan
from apps.key_models.vae import build_vae
from shared.look_inside import build_transformer_view


def build() -> None:
    """Lay out the topic 2 demo in the current tab: one sub-tab per model family, then the comparison."""
    with gr.Tabs():
        with gr.Tab("GAN", id="gan"):
            build_gan()
        with gr.Tab("VAE", id="vae"):
            build_vae()
        with gr.Tab("Diffusion", id="diffusion"):
            build_diffusion()
        with gr.Tab("Transformer", id="transformer"):
            build_transformer_view()
        with gr.Tab("Compare", id="compare"):
            build_compare()
