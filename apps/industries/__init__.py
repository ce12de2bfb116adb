"""Topic 7: generative AI at work, one runnable application per sector, each showing where it fails.

One sub-tab per application:

- Marketing (``marketing.py``): personalised copy from a visible prompt template, fact-checked against
  the inputs (numbers and names not in them are flagged for a person; claims in plain words are not checked);
- Software (``coding.py``): a coding assistant whose k samples are parsed (``ast``) and linted (ruff),
  never executed, with pass@k (Chen et al. 2021) on those proxy criteria;
- Engineering (``topology.py``): generative design by SIMP topology optimisation (Bendsøe and
  Sigmund 2003; Andreassen et al. 2011), the structure drawn live, iteration by iteration;
- Healthcare and finance (``synthetic_data.py``): synthetic tables from a Gaussian copula or a small
  tabular VAE, with fidelity (distributions, correlations, train-on-synthetic) and privacy
  (distance to the closest real record) measured;
- Science (``science.py``): generate-then-verify, the model proposing k answers and an exact checker deciding,
  with pass@k against the model's own majority vote (as FunSearch, Romera-Paredes et al. 2024, pairs a model
  with an evaluator);
- Every sector (``sectors.py``): one model prompted for five sectors, each output scored by its similarity
  (all-MiniLM-L6-v2) to every sector's description.

Marketing, coding, science and sectors use the course's language model through the shared loader and sampling loop
(``shared.generation``, as topic 4 does). No model loads until a learner acts.
"""
from __future__ import annotations

import gradio as gr

from apps.industries.coding import build_coding
from apps.industries.marketing import build_marketing
from apps.industries.science import build_science
from apps.industries.sectors import build_sectors
from apps.industries.synthetic_data import build_synthetic
from apps.industries.topology import build_topology


def build() -> None:
    """Lay out the topic 7 demo in the current tab: one sub-tab per application."""
    with gr.Tabs():
        with gr.Tab("Marketing copy", id="marketing"):
            build_marketing()
        with gr.Tab("Coding assistant", id="coding"):
            build_coding()
        with gr.Tab("Generative design", id="design"):
            build_topology()
        with gr.Tab("Synthetic data", id="synthetic"):
            build_synthetic()
        with gr.Tab("Science: verify", id="science"):
            build_science()
        with gr.Tab("Every sector", id="sectors"):
            build_sectors()
