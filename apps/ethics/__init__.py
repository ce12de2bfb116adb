"""Topic 8: ethics you can test, on the course's own models.

Eight sub-tabs, one module each:

- Text watermark (``watermark.py``): green and red lists (Kirchenbauer et al. 2023) added to topic 4's sampling loop.
- Detecting machine text (``detection.py``): perplexity and token ranks (Gehrmann et al. 2019, GLTR), and why a
  low score is not proof.
- Bias probe (``bias.py``): counterfactual templates on the language model; WEAT (Caliskan et al. 2017) on
  all-MiniLM-L6-v2.
- Image provenance (``provenance.py``): an invisible watermark (``invisible-watermark``) under JPEG, resizing and
  cropping; provenance metadata in PNG text chunks.
- Deepfake (``deepfake.py``): a fake made by topic 5's image model, watermarked and labelled, then re-saved,
  cropped and relabelled: what each check can still say.
- Memorisation (``memorisation.py``): does the language model continue a known text word for word
  (Carlini et al. 2021)? The question behind the ownership cases.
- Oversight (``oversight.py``): the model drafts, a check routes, a named person approves or rejects, and an
  audit record keeps who decided what on which output.
- Model cards (``model_cards.py``): every model in the catalog, with the project's own cards from ``weights/``.

Nothing loads at import: each model loads on first use through ``shared.loader``.
"""
from __future__ import annotations

import gradio as gr

from apps.ethics.bias import build_bias
from apps.ethics.deepfake import build_deepfake
from apps.ethics.detection import build_detection
from apps.ethics.memorisation import build_memorisation
from apps.ethics.model_cards import build_model_cards
from apps.ethics.oversight import build_oversight
from apps.ethics.provenance import build_provenance
from apps.ethics.watermark import build_watermark


def build() -> None:
    """Lay out the topic 8 demo in the current tab: one sub-tab per experiment."""
    with gr.Tabs():
        with gr.Tab("Watermark", id="ethics-watermark"):
            build_watermark()
        with gr.Tab("Detection", id="ethics-detection"):
            build_detection()
        with gr.Tab("Bias", id="ethics-bias"):
            build_bias()
        with gr.Tab("Provenance", id="ethics-provenance"):
            build_provenance()
        with gr.Tab("Deepfake", id="ethics-deepfake"):
            build_deepfake()
        with gr.Tab("Memorisation", id="ethics-memorisation"):
            build_memorisation()
        with gr.Tab("Oversight", id="ethics-oversight"):
            build_oversight()
        with gr.Tab("Model cards", id="ethics-model-cards"):
            build_model_cards()
