"""From a prompt to generated tokens: what every text-generating topic (2, 4, 7, 8, 9, 10) shares.

A prompt is checked (:func:`validate_prompt`), turned into token ids (:func:`encode_prompt`), and
:func:`generate_tokens`, the one entry point, runs the sampling loop (``shared.sampling``) on the
bundle's backend (``shared.decoding``), yielding one ``Step`` per token.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from shared import limits, lm_server
from shared.catalog import EMBEDDED_LM, models_for
from shared.checks import as_float, as_int
from shared.decoding import start_decoding
from shared.fast_sampling import fast_sample
from shared.lm_server import ServerLM
from shared.loader import Bundle
from shared.sampling import SamplingSettings, Step

MODES = ("Chat", "Raw continuation")
MODEL_CHOICES = [m.label for m in models_for("text-generation")]
EMBEDDED_MODEL = next(m.label for m in models_for("text-generation") if m.id == EMBEDDED_LM)
# CSS px: a model dropdown shows its longest label whole ("SmolLM2-135M-Instruct (hub, full precision)": 313 px of
# text at 14 px, and 84 px of frame, padding and arrow); at 320 the menu cut it at 236 px.
MODEL_MIN_WIDTH = 400
DEFAULT_MODEL = MODEL_CHOICES[0]  # the class server's model where one is set (CM_LM_SERVER_URL), else EMBEDDED_MODEL
LM_CONCURRENCY_ID = "language_model"  # every event that runs the course's language model queues here


def generation_queue() -> dict:
    """Where a text-generating event waits (``concurrency_id`` and ``concurrency_limit`` for ``.click``).

    Without a class server, one generation at a time: one 2-core process gains nothing from running
    them side by side. With one, up to ``limits.LM_SERVER_CONCURRENCY`` at once: the engine batches
    concurrent requests (continuous batching), which is what serves a class.
    """
    if lm_server.server_config() is not None:
        return {"concurrency_id": "class_server", "concurrency_limit": limits.LM_SERVER_CONCURRENCY}
    return {"concurrency_id": LM_CONCURRENCY_ID, "concurrency_limit": 1}


def validate_prompt(prompt: str | None) -> str:
    """Return the prompt unchanged, or raise ``ValueError`` if it is empty or over the limit."""
    if prompt is None or not prompt.strip():
        raise ValueError("Type a prompt first: the model needs some text to continue.")
    if len(prompt) > limits.PROMPT_MAX_CHARS:
        raise ValueError(
            f"The prompt has {len(prompt):,} characters; the limit is {limits.PROMPT_MAX_CHARS:,}. "
            "Shorten it (nothing is cut off for you)."
        )
    return prompt


def make_settings(temperature, top_k, top_p, repetition_penalty, max_new_tokens, seed) -> SamplingSettings:
    """Check raw values from the UI or the API and return ``SamplingSettings``.

    Raises:
        ValueError: a value is missing, not a number, or out of its range (see ``shared.limits``).
    """
    return SamplingSettings(
        temperature=as_float("Temperature", temperature, 0.0, limits.TEMPERATURE_MAX),
        top_k=as_int("Top-k", top_k, 0, limits.TOP_K_MAX),
        top_p=as_float("Top-p", top_p, limits.TOP_P_MIN, 1.0),
        repetition_penalty=as_float("Repetition penalty", repetition_penalty, 1.0, limits.REPETITION_PENALTY_MAX),
        max_new_tokens=as_int("Max new tokens", max_new_tokens, 1, limits.MAX_NEW_TOKENS),
        seed=as_int("Seed", seed, 0, limits.SEED_MAX),
    )


def encode_prompt(tokenizer, prompt: str, mode: str) -> torch.Tensor:
    """Token ids of the model input, shape ``(1, T)``, int64.

    ``"Chat"`` wraps the prompt in the model's chat template as one user turn and opens the
    assistant's turn; ``"Raw continuation"`` feeds the text as is, for the model to continue.

    Raises:
        ValueError: an unknown mode, or more than ``limits.PROMPT_MAX_TOKENS`` tokens.
    """
    if mode not in MODES:
        raise ValueError(f"Mode must be one of {', '.join(MODES)}, not {mode!r}.")
    if mode == "Chat" and tokenizer.chat_template:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    else:
        ids = tokenizer(prompt)["input_ids"]
    if len(ids) > limits.PROMPT_MAX_TOKENS:  # a character can be several tokens: 4,000 emoji are 12,000
        raise ValueError(f"The prompt is {len(ids):,} tokens long; the limit is {limits.PROMPT_MAX_TOKENS:,} tokens. "
                         "Shorten it (nothing is cut off for you).")
    return torch.tensor([ids], dtype=torch.long)


def check_context(bundle: Bundle, n_tokens: int) -> None:
    """Refuse an input longer than the model's context (its ``max_position_embeddings``), if it has one.

    A small model trained in topic 10 may read only 64 tokens; SmolLM2 reads 8,192.

    Raises:
        ValueError: ``n_tokens`` exceeds the context.
    """
    context = getattr(getattr(bundle.model, "config", None), "max_position_embeddings", None)
    if context and n_tokens > context:
        raise ValueError(f"This model reads at most {context} tokens at once; this input has {n_tokens}. "
                         "Shorten the prompt.")


def stop_token_ids(bundle: Bundle) -> set[int]:
    """The ids that end a generation: the tokenizer's end-of-sequence and the generation config's."""
    ids = set()
    eos = getattr(bundle.model.generation_config, "eos_token_id", None)
    ids.update(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    if bundle.tokenizer.eos_token_id is not None:
        ids.add(bundle.tokenizer.eos_token_id)
    return ids


def generate_tokens(bundle: Bundle, input_ids: torch.Tensor, settings: SamplingSettings,
                    extra_processors: Sequence | None = None) -> Iterator[Step]:
    """Sample up to ``settings.max_new_tokens`` tokens, yielding each with its distribution: the one entry point.

    The sampling loop of ``shared.sampling`` on the bundle's backend, run with its speed shortcuts
    (``shared.fast_sampling.fast_sample``, tested equal to ``shared.sampling.sample``): on a busy 2-core
    machine the plain loop's reshaping cost 16 ms a token where the shortcuts take 6.

    Args:
        input_ids: ``(1, T)`` int64 prompt tokens (see :func:`encode_prompt`).
        extra_processors: logits processors added after the settings' own, e.g. a watermark (topic 8).
            They see every token so far, prompt included. ``Step.p_model`` stays the model's own probability.
    Yields:
        ``Step`` per token; stops early at an end-of-sequence token (which is not yielded).
    """
    if isinstance(bundle.model, ServerLM):  # the class server samples; its stream has the same Steps
        yield from bundle.model.generate(input_ids[0].tolist(), settings, bundle.tokenizer, stop_token_ids(bundle),
                                         extra_processors)
        return
    decoder = start_decoding(bundle, input_ids.shape[1] + settings.max_new_tokens)
    yield from fast_sample(decoder, input_ids, settings, bundle.tokenizer, extra_processors, stop_token_ids(bundle))


def generate_text(bundle: Bundle, prompt: str, mode: str, settings: SamplingSettings) -> tuple[str, list[Step]]:
    """Generate a whole reply: ``(text, steps)``. The text is decoded from all tokens at once."""
    input_ids = encode_prompt(bundle.tokenizer, validate_prompt(prompt), mode)
    steps = list(generate_tokens(bundle, input_ids, settings))
    return bundle.tokenizer.decode([s.token_id for s in steps], skip_special_tokens=True), steps
