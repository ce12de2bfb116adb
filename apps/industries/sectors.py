"""One model, many sectors: the same language model, prompted for five sectors, and scored.

Adaptation by prompting is the cheapest of the three (prompting, retrieval, fine-tuning): one task template with
a ``{sector}`` slot conditions the course's language model on each sector in turn (the course's sampling loop,
``shared.generation``). The outputs are then scored with all-MiniLM-L6-v2 (Reimers and Gurevych 2019): the cosine
similarity of each output to a short description of every sector. An output that is closest to its own sector's
description was steered by the prompt.

The score measures what a text is about, not whether it is true, useful or safe: a wrong dosage scores as
"healthcare" as well as a right one.
"""
from __future__ import annotations

import string
from collections.abc import Iterator

import gradio as gr
import numpy as np
import pandas as pd
import torch

from shared import limits
from shared.catalog import EMBEDDED_EMBEDDER
from shared.checks import as_int
from shared.generation import (
    DEFAULT_MODEL,
    MODEL_CHOICES,
    MODEL_MIN_WIDTH,
    encode_prompt,
    generate_tokens,
    generation_queue,
    make_settings,
    validate_prompt,
)
from shared.stopping import StopFlags
from shared.ui import escape_markdown, friendly_errors, load_model

# Each sector's description: what its texts are about, for the similarity score.
SECTORS = {
    "healthcare": "hospitals, patients, doctors and nurses, diagnosis, treatment and medicine",
    "finance": "banks, money, payments, loans, investments, markets and financial risk",
    "law": "lawyers, courts, judges, contracts, legal cases and regulations",
    "education": "schools, teachers, students, lessons, homework and exams",
    "manufacturing": "factories, production lines, machines, engineering parts and supply chains",
}
DEFAULT_TASK = "In two sentences, say how an AI assistant could save time for people who work in {sector}."


def fill_task(task: str | None, sector: str) -> str:
    """The prompt for one sector: ``task`` with ``{sector}`` filled.

    Raises:
        ValueError: an empty or too long task, no ``{sector}`` slot, another slot, or an unmatched brace.
    """
    task = validate_prompt(task)
    if len(task) > limits.SECTORS_TASK_MAX_CHARS:
        raise ValueError(f"The task has {len(task):,} characters; the limit is {limits.SECTORS_TASK_MAX_CHARS:,}. "
                         "Shorten it (nothing is cut off for you).")
    try:
        slots = {field for _, field, _, _ in string.Formatter().parse(task) if field is not None}
    except ValueError as e:
        raise ValueError(f"The task has an unmatched brace ({e}); write a literal brace as {{{{ or }}}}.") from e
    if slots != {"sector"}:
        raise ValueError("The task needs the slot {sector} (and no other), e.g. 'Write a tip for people in {sector}.'")
    return task.format(sector=sector)


def generate_for_sectors(bundle, task: str, temperature, max_new_tokens, seed) -> Iterator[tuple[str, str]]:
    """Prompt the model once per sector (chat mode, the same seed each time, so only the prompt differs).

    Yields:
        ``(sector, text_so_far)`` after every token.
    """
    max_new_tokens = as_tokens(max_new_tokens)
    settings = make_settings(temperature, 50, 0.95, 1.1, max_new_tokens, seed)
    for sector in SECTORS:
        input_ids = encode_prompt(bundle.tokenizer, fill_task(task, sector), "Chat")
        ids: list[int] = []
        yield sector, ""
        for step in generate_tokens(bundle, input_ids, settings):
            ids.append(step.token_id)
            yield sector, bundle.tokenizer.decode(ids, skip_special_tokens=True)


def as_tokens(max_new_tokens) -> int:
    """``max_new_tokens`` as a checked whole number (``ValueError`` outside 8 .. ``limits.SECTORS_MAX_NEW_TOKENS``)."""
    return as_int("Max new tokens", max_new_tokens, 8, limits.SECTORS_MAX_NEW_TOKENS)


@torch.inference_mode()
def embed(bundle, texts: list[str]) -> np.ndarray:
    """Sentence embeddings (mean pooling over tokens, then unit length), float64 ``(len(texts), 384)``."""
    batch = bundle.tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
    batch = {k: v.to(bundle.device) for k, v in batch.items()}
    hidden = bundle.model(**batch).last_hidden_state.float()  # (N, T, D)
    mask = batch["attention_mask"][..., None].float()  # (N, T, 1)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (N, D)
    return torch.nn.functional.normalize(pooled, dim=-1).double().cpu().numpy()


def similarity_matrix(embedder, outputs: dict[str, str]) -> pd.DataFrame:
    """Cosine similarity of each sector's output (rows) to every sector's description (columns), in [-1, 1]."""
    out = embed(embedder, [outputs[s] or " " for s in outputs])
    desc = embed(embedder, [SECTORS[s] for s in SECTORS])
    return pd.DataFrame(out @ desc.T, index=list(outputs), columns=list(SECTORS))


def score_table(outputs: dict[str, str], similarity: pd.DataFrame) -> pd.DataFrame:
    """One row per sector prompted: the output, its similarity to every sector, the closest, and whether it matches."""
    rows = []
    for sector, text in outputs.items():
        scores = similarity.loc[sector]
        closest = str(scores.idxmax())
        rows.append({"prompted for": sector, "output": text.strip(),
                     **{f"sim. {s}": round(float(scores[s]), 2) for s in SECTORS},
                     "closest": closest, "on topic?": "yes" if closest == sector else "no"})
    return pd.DataFrame(rows)


def verdict(table: pd.DataFrame) -> str:
    """The status line: how many outputs are closest to their own sector, and what the score cannot tell."""
    hits = int((table["on topic?"] == "yes").sum())
    return (f"**{hits} of {len(table)} outputs are closest to the sector they were prompted for**: one model, "
            "steered by one word of the prompt. The score says what a text is *about*, not whether it is true, "
            "useful or safe: a wrong dosage scores as healthcare as well as a right one.")


STOPS = StopFlags()  # the Stop button's flags, one per session


def build_sectors() -> None:
    @friendly_errors
    def prompt_sectors(task, model, temperature, max_new_tokens, seed, request: gr.Request | None = None,
                       progress=gr.Progress()):
        for sector in SECTORS:
            fill_task(task, sector)
        as_tokens(max_new_tokens)
        make_settings(temperature, 50, 0.95, 1.1, 1, seed)
        outputs: dict[str, str] = {}
        with STOPS.running(request) as stop:
            bundle = load_model(model, progress=progress)
            for sector, text in generate_for_sectors(bundle, task, temperature, max_new_tokens, seed):
                if stop.is_set():
                    break
                outputs[sector] = text
                rows = pd.DataFrame([{"prompted for": s, "output": t} for s, t in outputs.items()])
                yield f"Writing for {sector} …", rows
        if not outputs:
            yield "**Stopped by you** before the first sector.", None
            return
        embedder = load_model(EMBEDDED_EMBEDDER, progress=progress)
        table = score_table(outputs, similarity_matrix(embedder, outputs))
        stopped = "**Stopped by you**: only the sectors written are scored. " if stop.is_set() else ""
        yield f"{stopped}{verdict(table)} · {escape_markdown(bundle.spec.label)} · {bundle.backend}", table

    gr.Markdown("One model, one task, five sectors: only the word in `{sector}` changes. Each output is scored by "
                "its similarity (all-MiniLM-L6-v2) to a description of every sector.")
    task = gr.Textbox(label="Task (the slot {sector} is filled five times)", value=DEFAULT_TASK, lines=2,
                      max_length=limits.SECTORS_TASK_MAX_CHARS)
    with gr.Row():
        run = gr.Button("Prompt five sectors", variant="primary", elem_classes="cm-main-action")
        stop = gr.Button("Stop", variant="stop")
    with gr.Row():
        temperature = gr.Slider(0, limits.TEMPERATURE_MAX, value=0.7, step=0.05, label="Temperature")
        max_new_tokens = gr.Slider(8, limits.SECTORS_MAX_NEW_TOKENS, value=48, step=8, label="Max new tokens")
        seed = gr.Number(value=1, precision=0, minimum=0, maximum=limits.SEED_MAX, label="Seed")
        model = gr.Dropdown(MODEL_CHOICES, value=DEFAULT_MODEL, label="Model", allow_custom_value=True,
                            min_width=MODEL_MIN_WIDTH)
    status = gr.Markdown(elem_classes="cm-header")
    table = gr.Dataframe(label="Each sector's output and its similarity to every sector's description",
                         interactive=False, wrap=True, elem_id="industries-sectors")
    gr.Dataframe(pd.DataFrame({"sector": list(SECTORS), "description used for the score": list(SECTORS.values())}),
                 label="Sector descriptions", interactive=False, wrap=True)

    STOPS.wire(run, stop)
    run.click(prompt_sectors, inputs=[task, model, temperature, max_new_tokens, seed], outputs=[status, table],
              api_name="industries_prompt_sectors", **generation_queue())
