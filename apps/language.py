"""Topic 4: natural language generation with a real language model, looked inside.

A decoder-only transformer predicts a probability distribution over its vocabulary for the next token;
generation samples one token from it, appends it, and repeats (Radford et al. 2019). This module
writes that loop out (one forward pass per token with a key/value cache), so the demo can show, for
every generated token, the distribution it was drawn from.

The distribution is reshaped exactly as ``transformers``' ``generate()`` does (its own logits
processors, in its order): repetition penalty (Keskar et al. 2019), temperature, top-k (Fan et al.
2018), top-p / nucleus sampling (Holtzman et al. 2020). Temperature 0 means greedy decoding.

Model-side functions first (plain torch, testable without a browser), then ``build()`` and its callbacks.
"""
from __future__ import annotations

import functools
import math
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import asdict, replace
from typing import TYPE_CHECKING

import gradio as gr
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from shared import catalog, limits, plots
from shared.catalog import EMBEDDED_LM, models_for
from shared.checks import as_float, as_int
from shared.decoding import StepSummary, start_decoding
from shared.device import torch_threads
from shared.lm_server import NO_SAMPLED_DISTRIBUTION, ServerLM
from shared.loader import Bundle
from shared.lru import LRUCache
from shared.sampling import SamplingSettings, Step, show_token
from shared.stopping import StopFlags
from shared.tokens import read_candidates, read_text, read_tokens
from shared.ui import escape_markdown, friendly_errors, load_model, warn

if TYPE_CHECKING:
    from transformers import LogitsProcessorList

MODES = ("Chat", "Raw continuation")

DEFAULTS = dict(
    prompt="Write a four-line poem about the moon.",  # one the small model does well: four rhyming lines at seed 42
    mode="Chat",
    temperature=0.7,
    top_k=50,
    top_p=0.95,
    repetition_penalty=1.1,
    max_new_tokens=limits.DEFAULT_MAX_NEW_TOKENS,
    seed=42,
)

# Each example shows one point of the lesson; same prompt and seed, one control changed.
EXAMPLE_LABELS = [
    "Story, cold (temperature 0.2)",
    "Same story, hot (temperature 1.5)",
    "A fact, greedy (temperature 0)",
    "Chat: tips, default sampling",
    "Loop, greedy, no penalty",
    "Same loop, repetition penalty 1.8",
]
EXAMPLES = [
    ["Once upon a time, in a quiet village,", "Raw continuation", 0.2, 0, 1.0, 1.0, 48, 7],
    ["Once upon a time, in a quiet village,", "Raw continuation", 1.5, 0, 1.0, 1.0, 48, 7],
    ["The capital of France is", "Raw continuation", 0.0, 0, 1.0, 1.0, 16, 0],
    ["Give three tips for learning to play the guitar.", "Chat", 0.7, 50, 0.95, 1.1, 96, 42],
    ["I like apples, apples, apples and", "Raw continuation", 0.0, 0, 1.0, 1.0, 24, 0],
    ["I like apples, apples, apples and", "Raw continuation", 0.0, 0, 1.0, 1.8, 24, 0],
]


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


def logits_processors(settings: SamplingSettings, extra: Sequence | None = None) -> LogitsProcessorList:
    """transformers' own processors, in ``generate()``'s order: repetition penalty, temperature, top-k, top-p.

    ``extra`` processors (e.g. topic 8's watermark, ``WatermarkLogitsProcessor``) run last, where ``generate()``
    puts its watermarking processor.
    """
    # transformers loads in ~0.5 s: imported here, not at app start-up
    from transformers import LogitsProcessorList

    procs = LogitsProcessorList(_settings_processors(settings))
    procs.extend(extra or ())
    return procs


@functools.lru_cache(maxsize=64)
def _settings_processors(settings: SamplingSettings) -> tuple:
    """The settings' own processors (stateless, so built once per distinct settings)."""
    from transformers import (
        RepetitionPenaltyLogitsProcessor,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    procs = []
    if settings.repetition_penalty != 1.0:
        procs.append(RepetitionPenaltyLogitsProcessor(settings.repetition_penalty))
    if settings.temperature > 0:
        if settings.temperature != 1.0:
            procs.append(TemperatureLogitsWarper(settings.temperature))
        if settings.top_k > 0:
            procs.append(TopKLogitsWarper(settings.top_k))
        if settings.top_p < 1.0:
            procs.append(TopPLogitsWarper(settings.top_p))
    return tuple(procs)


def _apply(processors, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """``processors`` one after another, as ``LogitsProcessorList`` runs them (without its per-call signature checks)."""
    for processor in processors:
        scores = processor(input_ids, scores)
    return scores


def sampling_distribution(
    logits: torch.Tensor, input_ids: torch.Tensor, settings: SamplingSettings, extra: Sequence | None = None,
    processors=None,
) -> torch.Tensor:
    """The distribution the next token is drawn from.

    Args:
        logits: ``(1, V)`` float32 next-token logits.
        input_ids: ``(1, T)`` the tokens so far (the repetition penalty looks at them).
        extra: more logits processors, applied after the settings' own (see :func:`logits_processors`).
        processors: ``logits_processors(settings, extra)`` when the caller has built it already.
    Returns:
        ``(1, V)`` float32 probabilities summing to 1; one-hot on the argmax when ``temperature == 0``.
    """
    processors = processors if processors is not None else logits_processors(settings, extra)
    scores = _apply(processors, input_ids, logits.clone())
    if settings.temperature == 0:
        probs = torch.zeros_like(scores)
        probs[0, scores[0].argmax()] = 1.0
        return probs
    return torch.softmax(scores, dim=-1)


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
    """Sample up to ``settings.max_new_tokens`` tokens, yielding each with its distribution.

    The decoder (``shared.decoding``) runs the prompt through the model once, then one token at a time
    with a key/value cache; the same loop serves the transformers and the onnxruntime-genai backends.
    Sampling uses a ``torch.Generator`` seeded with ``settings.seed``, private to this call, so
    concurrent users never disturb each other's streams.

    Args:
        input_ids: ``(1, T)`` int64 prompt tokens (see :func:`encode_prompt`).
        extra_processors: logits processors added after the settings' own, e.g. a watermark (topic 8).
            They see every token so far, prompt included. ``Step.p_model`` stays the model's own probability.
    Yields:
        :class:`Step` per token; stops early at an end-of-sequence token (which is not yielded).
    """
    stops = stop_token_ids(bundle)
    if isinstance(bundle.model, ServerLM):  # the class server samples; its stream has the same Steps
        yield from bundle.model.generate(input_ids[0].tolist(), settings, bundle.tokenizer, stops, extra_processors)
        return
    generator = torch.Generator().manual_seed(settings.seed)
    decoder = start_decoding(bundle, input_ids, settings.max_new_tokens)
    n_prompt = input_ids.shape[1]
    tokens = torch.empty((1, n_prompt + settings.max_new_tokens), dtype=torch.long)  # every token so far
    tokens[:, :n_prompt] = input_ids.cpu()
    processors = logits_processors(settings, extra_processors)
    plain_greedy = settings.temperature == 0 and not processors
    for i in range(settings.max_new_tokens):
        summary = decoder.summary(limits.STEP_TOP_N)  # the fast backend computes it inside the model
        # (1, V): the model's forward pass (transformers), on all the threads it wants. Plain greedy on the
        # fast backend needs only its summary, so the 49,152 logits are not even copied out (0.1 ms a token).
        logits = None if plain_greedy and summary is not None else decoder.next_logits()
        # Reshaping one (V,) vector is fastest on one thread (onnx backend: 48.9 vs 37.9 tokens/s sampled).
        # Set per step, never across a yield: a streaming callback may resume on another thread.
        with torch_threads(1):
            step = next_step(logits, tokens[:, :n_prompt + i], settings, generator, bundle.tokenizer,
                             processors=processors, summary=summary)
        if step.token_id in stops:
            return
        yield step
        decoder.append(step.token_id)
        tokens[0, n_prompt + i] = step.token_id


def sampling_candidates(logits: torch.Tensor, context: torch.Tensor, settings: SamplingSettings,
                        extra: Sequence | None = None, processors=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The tokens the next one can be drawn from, and their probabilities: ``(ids, probs)``, both ``(n,)``.

    The same as :func:`sampling_distribution` restricted to its non-zero entries. With ``top_k > 0``
    (and no ``extra`` processors) it is computed on the top-k candidates alone: the repetition penalty
    first, on all logits, then temperature, top-k and top-p (transformers' own warpers) on the
    candidates, which gives the same numbers (the other tokens have probability 0 either way) without
    sorting 49,152 logits for top-p: 1.3 ms less per token here.
    """
    if settings.temperature > 0 and settings.top_k > 0 and not extra:
        scores = logits.clone()
        if settings.repetition_penalty != 1.0:  # at temperature 0 the settings' processors are the penalty alone
            scores = _apply(_settings_processors(replace(settings, temperature=0)), context, scores)
        kth = scores[0].topk(min(settings.top_k, scores.shape[1])).values[-1]
        ids = (scores[0] >= kth).nonzero().squeeze(1)  # the top k, ties included, as TopKLogitsWarper keeps them
        warped = _apply(_settings_processors(replace(settings, repetition_penalty=1.0)), context, scores[:, ids])
        probs = torch.softmax(warped, dim=-1)[0]
    else:
        probs = sampling_distribution(logits, context, settings, extra, processors)[0]
        ids = probs.nonzero().squeeze(1)
        probs = probs[ids]
    keep = probs > 0
    return ids[keep], probs[keep]


def next_step(logits: torch.Tensor | None, context: torch.Tensor, settings: SamplingSettings,
              generator: torch.Generator, tokenizer, extra: Sequence | None = None, processors=None,
              summary: StepSummary | None = None) -> Step:
    """Choose the next token from ``logits`` ``(1, V)`` given the ``context`` ``(1, T)``, and record why.

    ``processors``: the settings' :func:`logits_processors`, built once per generation by the caller.
    ``summary``: the logits' log-sum-exp and top ``limits.STEP_TOP_N``, when the backend computed them.
    With a summary, plain greedy decoding (temperature 0, no processors) needs nothing else: ``logits``
    may then be ``None``.
    When the settings leave few tokens (top-k), the token is drawn from those alone: the same
    distribution as ``torch.multinomial`` over the whole vocabulary, as ``generate()`` draws (1 ms less
    per token), but the seeded generator is used differently, so one seed gives other tokens than
    ``generate()`` does. Otherwise it is drawn over the whole vocabulary.

    Raises:
        ValueError: ``logits`` is ``None`` where they are needed.
    """
    processors = processors if processors is not None else logits_processors(settings, extra)
    plain_greedy = settings.temperature == 0 and not processors
    if logits is None and (summary is None or not plain_greedy):
        raise ValueError("next_step needs the logits, unless it decodes greedily from a summary")
    if summary is None:
        summary = StepSummary(float(torch.logsumexp(logits[0], dim=0)), *logits[0].topk(limits.STEP_TOP_N))
    log_z, top_logits, top_ids = summary  # the model's own distribution is exp(logits - log_z)
    p_top = torch.exp(top_logits - log_z).tolist()
    top_ids = top_ids.tolist()
    if plain_greedy:  # the top candidate, with certainty
        token_id, p_model, p_sample = top_ids[0], p_top[0], {top_ids[0]: 1.0}
    else:
        ids, probs = sampling_candidates(logits, context, settings, extra, processors)
        full = torch.zeros(logits.shape[1])  # (V,) the distribution the token is drawn from
        full[ids] = probs
        if settings.temperature == 0:
            token_id = int(ids[probs.argmax()])
        elif len(ids) <= 4 * limits.STEP_TOP_N:  # top-k left few: draw among them
            token_id = int(ids[torch.multinomial(probs, 1, generator=generator)])
        else:  # the whole vocabulary, as before and as generate() draws
            token_id = int(torch.multinomial(full, 1, generator=generator))
        shown = [*top_ids, token_id]
        p_sample = dict(zip(shown, full[shown].tolist(), strict=True))
        p_model = math.exp(float(logits[0, token_id]) - log_z)
    top = [(show_token(token_text(tokenizer, i)), p, p_sample.get(i, 0.0)) for p, i in zip(p_top, top_ids)]
    return Step(token_id, token_text(tokenizer, token_id), p_model, p_sample[token_id], top, top_ids)


_token_texts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def token_text(tokenizer, token_id: int) -> str:
    """``tokenizer.decode([token_id])``, remembered per tokenizer (eleven decodes a step cost 0.16 ms)."""
    try:
        texts = _token_texts.setdefault(tokenizer, {})
    except TypeError:  # a tokenizer that cannot be weakly referenced: no cache
        return tokenizer.decode([token_id])
    if (text := texts.get(token_id)) is None:
        text = texts[token_id] = tokenizer.decode([token_id])
    return text


def generate_text(bundle: Bundle, prompt: str, mode: str, settings: SamplingSettings) -> tuple[str, list[Step]]:
    """Generate a whole reply: ``(text, steps)``. The text is decoded from all tokens at once."""
    input_ids = encode_prompt(bundle.tokenizer, validate_prompt(prompt), mode)
    steps = list(generate_tokens(bundle, input_ids, settings))
    return bundle.tokenizer.decode([s.token_id for s in steps], skip_special_tokens=True), steps


def next_token_logits(bundle: Bundle, prompt: str, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """The model's next-token logits after the prompt, computed once so sliders can reshape them.

    Returns:
        ``(logits, input_ids)``: float32 ``(V,)`` and int64 ``(T,)``.
    """
    input_ids = encode_prompt(bundle.tokenizer, validate_prompt(prompt), mode)
    check_context(bundle, input_ids.shape[1])
    logits = start_decoding(bundle, input_ids, 1).next_logits()[0]
    return logits.numpy(), input_ids[0].numpy()


def reshape(logits: np.ndarray, input_ids: np.ndarray, settings: SamplingSettings) -> tuple[np.ndarray, np.ndarray]:
    """``(p_model, p_sampled)``, both ``(V,)`` float32: softmax at temperature 1, and after the settings."""
    t_logits = torch.from_numpy(logits)[None]
    p_model = torch.softmax(t_logits, dim=-1)[0]
    p_sampled = sampling_distribution(t_logits, torch.from_numpy(input_ids)[None], settings)[0]
    return p_model.numpy(), p_sampled.numpy()


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


def entropy_bits(p: np.ndarray) -> float:
    """Shannon entropy of a distribution, in bits."""
    nz = p[p > 0].astype(np.float64)
    return max(0.0, float(-(nz * np.log2(nz)).sum()))  # one certain token: 0, not "-0.00"


@torch.inference_mode()
def attention_maps(bundle: Bundle, prompt: str, mode: str) -> tuple[list[str], np.ndarray]:
    """Attention weights of every layer and head over the model input (Vaswani et al. 2017, eq. 1).

    ``bundle`` must be loaded with eager attention (``purpose="inspect"``): fused kernels never
    materialise the weights.

    Returns:
        ``(tokens, weights)``: ``T`` readable token strings and float32 ``(L, H, T, T)`` where
        ``weights[l, h, i, j]`` is how much position ``i`` attends to position ``j`` (rows sum to 1;
        causal, so ``j <= i``).
    Raises:
        ValueError: the input is longer than ``limits.ATTENTION_MAX_TOKENS`` tokens.
    """
    input_ids = encode_prompt(bundle.tokenizer, validate_prompt(prompt), mode)
    n = input_ids.shape[1]
    if n > limits.ATTENTION_MAX_TOKENS:
        extra = " (chat mode adds the chat template's tokens; try Raw continuation)" if mode == "Chat" else ""
        raise ValueError(
            f"The attention view shows up to {limits.ATTENTION_MAX_TOKENS} tokens; this input has {n}{extra}."
        )
    check_context(bundle, n)
    out = bundle.model(input_ids=input_ids.to(bundle.device), output_attentions=True)
    weights = torch.stack([a[0] for a in out.attentions]).float().cpu().numpy()  # (L, H, T, T)
    tokens = [show_token(text) for text in read_tokens(bundle.tokenizer, input_ids[0].tolist())]
    return tokens, weights


# ---------------------------------------------------------------------------------------------
# The demo
# ---------------------------------------------------------------------------------------------

MODEL_CHOICES = [m.label for m in models_for("text-generation")]
EMBEDDED_MODEL = next(m.label for m in models_for("text-generation") if m.id == EMBEDDED_LM)
DEFAULT_MODEL = MODEL_CHOICES[0]  # the class server's model where one is set (CM_LM_SERVER_URL), else EMBEDDED_MODEL
TRANSFORMERS_INSPECT = "transformers, float32, eager attention"
CONCURRENCY_ID = "language_model"  # every event that runs a language model queues here


_logits_cache = LRUCache(32)  # per-prompt logits, shared by key across sessions
_attention_cache = LRUCache(8)


def label_steps(tokenizer, steps: list[dict]) -> list[dict]:
    """Give each step's token and candidates the text a learner reads, in place (see ``shared.tokens``).

    A token that holds part of a character reads as its bytes (``<0xE6><0x97>``); the token that completes
    the character shows it (``<0xA5>→日``), in the coloured view and among the candidates alike.
    """
    ids = [s["token_id"] for s in steps]
    for i, (step, label) in enumerate(zip(steps, read_tokens(tokenizer, ids), strict=True)):
        candidates = read_candidates(tokenizer, ids[:i], step["top_ids"])
        step["token"] = label
        step["top"] = [(show_token(c), pm, ps) for c, (_, pm, ps) in zip(candidates, step["top"], strict=True)]
    return steps


OUTSIDE_TOP = f"◀ sampled, outside the top {limits.STEP_TOP_N}"  # marks a pale sampled token's own row


def _steps_table(steps: list[dict], index: int) -> pd.DataFrame:
    """Step ``index``'s top-10 candidates, the sampled one marked "◀"; a token sampled from outside the
    top 10 (a pale one, at a high temperature) gets its own row below them, marked :data:`OUTSIDE_TOP`."""
    step = steps[index]
    rows = [
        {
            "token": tok,
            "p (model)": round(pm, 4),
            "p (sampled from)": None if ps is None else round(ps, 4),
            "sampled": "◀" if token_id == step["token_id"] else "",
        }
        for (tok, pm, ps), token_id in zip(step["top"], step["top_ids"], strict=True)
    ]
    if step["token_id"] not in step["top_ids"]:
        rows.append({"token": show_token(step["token"]), "p (model)": _readable(step["p_model"]),
                     "p (sampled from)": _readable(step["p_sampled"]), "sampled": OUTSIDE_TOP})
    table = pd.DataFrame(rows)
    # A class server does not say what its settings left (see shared/lm_server.py): no column, not a guess
    return table.drop(columns="p (sampled from)") if step["p_sampled"] is None else table


def _readable(p: float | None) -> float | None:
    """A probability rounded to 4 decimals, or to 2 significant digits when that would read 0 (p ~ 1e-6)."""
    if p is None:
        return None
    return round(p, 4) if p >= 5e-5 else float(f"{p:.1e}")


def _highlighted(steps: list[dict]) -> list[tuple[str, float]]:
    # A newline token would be an empty coloured box: show it as ↵ (then break the line).
    # Coloured by p (sampled from); by p (model) where a class server does not give it.
    return [(s["token"].replace("\n", "↵\n"), round(s["p_model"] if s["p_sampled"] is None else s["p_sampled"], 3))
            for s in steps]


# Screen updates while a reply streams. Each one costs the server and the browser ~10 ms of a 2-core
# laptop's CPU, which the model then lacks: 64 tokens through the app in a local chromium ran at 17 tokens/s
# updating on every token, 27 at 20 updates/s and 34 at 5 (the loop alone: about 75).
STREAM_UPDATES_PER_S = 10
STOPS = StopFlags()  # the Stop button's flags, one per session (see shared/stopping.py)


@friendly_errors
def generate_ui(prompt, mode, model, temperature, top_k, top_p, repetition_penalty, max_new_tokens, seed,
                request: gr.Request | None = None, progress=gr.Progress()):
    """Stream the reply, then show each token coloured by its probability and step 1's candidates.

    The Stop button ends the loop between two tokens; the reply so far then gets the same views.
    """
    settings = make_settings(temperature, top_k, top_p, repetition_penalty, max_new_tokens, seed)
    prompt = validate_prompt(prompt)
    with STOPS.running(request) as stop:
        bundle = load_model(model, progress=progress)
        input_ids = encode_prompt(bundle.tokenizer, prompt, mode)
        steps: list[dict] = []
        ids: list[int] = []
        start = shown = time.perf_counter()
        for step in generate_tokens(bundle, input_ids, settings):
            if stop.is_set():
                break
            steps.append(asdict(step))
            ids.append(step.token_id)
            # The first token at once, then at most STREAM_UPDATES_PER_S screen updates a second (see there).
            if len(ids) == 1 or time.perf_counter() - shown >= 1 / STREAM_UPDATES_PER_S:
                shown = time.perf_counter()
                yield (read_text(bundle.tokenizer, ids), f"Generating with {escape_markdown(bundle.backend)} …",
                       gr.skip(), gr.skip(), gr.skip(), gr.skip())
    seconds = time.perf_counter() - start
    about = f"{escape_markdown(bundle.spec.label)} · backend: {escape_markdown(bundle.backend)}"
    if isinstance(bundle.model, ServerLM):
        about += f"  \n{NO_SAMPLED_DISTRIBUTION}"
    if stop.is_set():
        info = f"**Stopped by you** after {len(steps)} tokens ({seconds:.1f} s) · {about}"
    else:
        info = f"{len(steps)} tokens in {seconds:.1f} s ({len(steps) / max(seconds, 1e-6):.1f} tokens/s) · {about}"
    if not steps:
        if not stop.is_set():
            warn("The model ended its reply at once (it chose the end-of-text token). Try another seed or prompt.")
        yield "", info, [], [], gr.Slider(visible=False), None
        return
    label_steps(bundle.tokenizer, steps)
    step_slider = gr.Slider(minimum=1, maximum=max(2, len(steps)), value=1, step=1, visible=len(steps) > 1)
    yield read_text(bundle.tokenizer, ids), info, _highlighted(steps), steps, step_slider, _steps_table(steps, 0)


def select_token(steps, evt: gr.SelectData):
    """Clicking a token in the coloured output moves the step slider to it."""
    return evt.index + 1 if steps else gr.skip()


def show_step(steps, step):
    if not steps:
        return None
    index = min(max(int(step) - 1, 0), len(steps) - 1)
    return _steps_table(steps, index)


def _explorer_figure(tokens: list[str], p_model: np.ndarray, p_sampled: np.ndarray) -> Figure:
    fig = Figure(figsize=(6.4, 5.2), tight_layout=True)
    ax = fig.subplots()
    y = np.arange(len(tokens))[::-1]
    ax.barh(y + 0.2, p_model, height=0.4, color="#b0b7c3", label="p (model, temperature 1)")
    ax.barh(y - 0.2, p_sampled, height=0.4, color="#e4572e", label="p (sampled from, your settings)")
    ax.set_yticks(y, tokens)
    ax.tick_params(labelsize=12)  # readable on a projector, where the figure is drawn about 500 px wide
    ax.set_xlabel("probability", fontsize=12)
    ax.set_title(f"Top-{len(tokens)} next tokens", fontsize=13)  # in the figure: Gradio's label covered the first bar
    ax.set_xlim(0, max(1e-3, float(max(p_model.max(), p_sampled.max()))) * 1.08)
    ax.legend(loc="lower right", fontsize=10)
    return fig


def _explorer_view(key, temperature, top_k, top_p, repetition_penalty):
    cached = _logits_cache.get(key)
    if cached is None:
        raise ValueError("Press 'Show next-token probabilities' first.")
    logits, input_ids, vocab, backend = cached
    settings = make_settings(temperature, top_k, top_p, repetition_penalty, 1, 0)
    p_model, p_sampled = reshape(logits, input_ids, settings)
    order = np.argsort(-p_model)[: limits.EXPLORER_TOP_N]
    tokens = [vocab[i] for i in order]
    kept = int((p_sampled > 0).sum())
    stats = (
        f"Entropy: **{entropy_bits(p_sampled):.2f} bits** with your settings "
        f"(model alone: {entropy_bits(p_model):.2f} bits) · candidates left: **{kept:,}** of {len(p_model):,} · "
        f"probabilities shown sum to {p_sampled.sum():.3f} · logits from {backend}"
    )
    return _explorer_figure(tokens, p_model[order], p_sampled[order]), stats


def _catalog_bundle(model: str, purpose: str | None, progress) -> Bundle:
    """The look-inside views' default way to get a model: the catalog, through the shared loader.

    A class server gives no logits of the whole vocabulary and no attention: its views use the embedded model.
    """
    if catalog.get(model).source == "server":
        model = EMBEDDED_LM
    return load_model(model, purpose=purpose, progress=progress)


@friendly_errors
def explore_ui(prompt, mode, model, temperature, top_k, top_p, repetition_penalty, progress=gr.Progress()):
    """Compute the next-token logits once for this prompt and draw the top-20 distribution."""
    return _explore(_catalog_bundle, prompt, mode, model, temperature, top_k, top_p, repetition_penalty, progress)


def _explore(bundle_for, prompt, mode, model, temperature, top_k, top_p, repetition_penalty, progress):
    prompt = validate_prompt(prompt)
    bundle = bundle_for(model, None, progress)
    key = (bundle.spec.id, bundle.backend, mode, prompt)
    if _logits_cache.get(key) is None:
        logits, input_ids = next_token_logits(bundle, prompt, mode)
        top = np.argsort(-logits)[: limits.TOP_K_MAX + limits.EXPLORER_TOP_N].tolist()
        shown = read_candidates(bundle.tokenizer, input_ids.tolist(), top)  # "<0xE6>" for part of a character
        vocab = {i: show_token(text) for i, text in zip(top, shown, strict=True)}
        _logits_cache.put(key, (logits, input_ids, _Vocab(vocab, bundle.tokenizer), bundle.backend))
    figure, stats = _explorer_view(key, temperature, top_k, top_p, repetition_penalty)
    return key, figure, stats


class _Vocab(dict):
    """Readable strings of the tokens a chart may need; decodes any other token on demand."""

    def __init__(self, known: dict[int, str], tokenizer):
        super().__init__(known)
        self._tokenizer = tokenizer

    def __missing__(self, token_id):
        return show_token(read_tokens(self._tokenizer, [int(token_id)])[0])


@friendly_errors
def reshape_ui(key, temperature, top_k, top_p, repetition_penalty):
    """Re-draw the explorer for new slider values, without running the model again."""
    if not key:
        return gr.skip(), gr.skip()
    return _explorer_view(tuple(key), temperature, top_k, top_p, repetition_penalty)


def _attention_figure(tokens: list[str], weights: np.ndarray, layer: int, head: int) -> Figure:
    n = len(tokens)
    size = 3.2 + 0.12 * n
    fig = Figure(figsize=(size, size), tight_layout=True)
    ax = fig.subplots()
    image = ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(n), tokens, rotation=90, fontsize=7 if n > 24 else 9)
    ax.set_yticks(range(n), tokens, fontsize=7 if n > 24 else 9)
    ax.set_xlabel("attends to (key)")
    ax.set_ylabel("token (query)")
    ax.set_title(f"Layer {layer}, head {head}")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return fig


@friendly_errors
def attention_ui(prompt, mode, model, layer, head, progress=gr.Progress()):
    """Run the float32, eager-attention copy of the model once and draw one head's weights."""
    return _attention(_catalog_bundle, prompt, mode, model, layer, head, progress)


def _attention(bundle_for, prompt, mode, model, layer, head, progress):
    prompt = validate_prompt(prompt)
    bundle = bundle_for(model, "inspect", progress)
    key = (bundle.spec.id, mode, prompt)
    if _attention_cache.get(key) is None:
        _attention_cache.put(key, attention_maps(bundle, prompt, mode))
    figure, info, layer_slider, head_slider = _attention_view(key, layer, head)
    return key, figure, info, layer_slider, head_slider


def _attention_view(key, layer, head):
    cached = _attention_cache.get(tuple(key))
    if cached is None:
        raise ValueError("Press 'Show attention' first.")
    tokens, weights = cached
    n_layers, n_heads = weights.shape[:2]
    layer = min(max(int(layer), 0), n_layers - 1)
    head = min(max(int(head), 0), n_heads - 1)
    info = f"{len(tokens)} tokens · {n_layers} layers × {n_heads} heads · backend: {TRANSFORMERS_INSPECT}"
    return (
        _attention_figure(tokens, weights[layer, head], layer, head),
        info,
        # A slider needs maximum > minimum: a one-layer (or one-head) model, e.g. from topic 10, keeps a fixed 0.
        gr.Slider(maximum=max(1, n_layers - 1), value=layer, interactive=n_layers > 1),
        gr.Slider(maximum=max(1, n_heads - 1), value=head, interactive=n_heads > 1),
    )


@friendly_errors
def attention_redraw(key, layer, head):
    if not key:
        return gr.skip(), gr.skip()
    figure, info, _, _ = _attention_view(key, layer, head)
    return figure, info


def build() -> None:
    """Lay out the topic 4 demo in the current tab and wire its events."""
    gr.Markdown("### Generate, then look inside")
    prompt = gr.Textbox(label="Prompt", value=DEFAULTS["prompt"], lines=2)
    with gr.Row():
        generate = gr.Button("Generate", variant="primary", elem_classes="cm-main-action")
        stop = gr.Button("Stop", variant="stop")
    with gr.Row():
        mode = gr.Radio(list(MODES), value=DEFAULTS["mode"], label="Mode")
        model = gr.Dropdown(
            MODEL_CHOICES, value=DEFAULT_MODEL, label="Model", allow_custom_value=True,
            info="Embedded models work offline; hub models (or any hub id you type) need the hub once.",
        )
    with gr.Accordion("Sampling settings", open=True):
        with gr.Row():
            temperature = gr.Slider(0, limits.TEMPERATURE_MAX, value=DEFAULTS["temperature"], step=0.05,
                                    label="Temperature", info="0 = greedy (always the most likely token)")
            top_k = gr.Slider(0, limits.TOP_K_MAX, value=DEFAULTS["top_k"], step=1, label="Top-k", info="0 = off")
        with gr.Row():
            top_p = gr.Slider(limits.TOP_P_MIN, 1.0, value=DEFAULTS["top_p"], step=0.01, label="Top-p", info="1 = off")
            repetition_penalty = gr.Slider(1.0, limits.REPETITION_PENALTY_MAX, value=DEFAULTS["repetition_penalty"],
                                           step=0.05, label="Repetition penalty", info="1 = off")
        with gr.Row():
            max_new_tokens = gr.Slider(1, limits.MAX_NEW_TOKENS, value=DEFAULTS["max_new_tokens"], step=1,
                                       label="Max new tokens")
            seed = gr.Number(value=DEFAULTS["seed"], precision=0, minimum=0, maximum=limits.SEED_MAX, label="Seed")
    output = gr.Textbox(label="Output", lines=5, interactive=False, buttons=["copy"], elem_id="language-output")
    generation_info = gr.Markdown(elem_classes="cm-header")
    tokens = gr.HighlightedText(
        label="Tokens coloured by probability", show_legend=False, combine_adjacent=False, elem_id="language-tokens",
    )
    gr.Markdown("Darker = the token was more probable when it was sampled. Click a token, or move **Step**, to see "
                "the candidates the model weighed at that step.", elem_classes="cm-header")
    steps_state = gr.State([])
    step = gr.Slider(1, 2, value=1, step=1, label="Step", visible=False)
    step_table = gr.Dataframe(label="Top-10 candidates at this step, and the sampled token if not among them",
                              interactive=False, wrap=True, elem_id="language-steps")

    examples = gr.Examples(
        EXAMPLES,
        inputs=[prompt, mode, temperature, top_k, top_p, repetition_penalty, max_new_tokens, seed],
        label="Examples: the same prompt and seed, one control changed (a click generates)",
        example_labels=EXAMPLE_LABELS,
    )

    sampling = [temperature, top_k, top_p, repetition_penalty]
    STOPS.wire(generate, stop)
    generation = dict(
        inputs=[prompt, mode, model, *sampling, max_new_tokens, seed],
        outputs=[output, generation_info, tokens, steps_state, step, step_table],
        concurrency_id=CONCURRENCY_ID,
        concurrency_limit=1,
    )
    generate.click(generate_ui, api_name="language_generate", **generation)
    # An example sets the controls, then generates: what it changed shows in the reply, not only in the sliders.
    examples.load_input_event.then(generate_ui, api_visibility="private", **generation)
    tokens.select(select_token, inputs=[steps_state], outputs=[step], api_visibility="private")
    step.change(show_step, inputs=[steps_state, step], outputs=[step_table], api_visibility="private")
    _look_inside(prompt, mode, model, sampling, api_prefix="language")


def _look_inside(prompt, mode, model, sampling, api_prefix: str | None, bundle_for=None) -> None:
    """The next-token explorer and the attention view, wired to the given inputs.

    ``api_prefix`` names the API endpoints (``<prefix>_next_token``, ``<prefix>_attention``);
    ``None`` keeps them private (for a second copy of the views elsewhere in the course).
    ``bundle_for(model_value, purpose, progress) -> Bundle`` gives the model to look inside; by default
    ``model``'s value is a catalog label loaded through the shared loader (topic 10 passes the learner's
    own trained model instead). ``purpose`` is ``None`` or ``"inspect"`` (eager attention needed).
    """
    api = (lambda name: dict(api_name=f"{api_prefix}_{name}")) if api_prefix else (lambda name: dict(api_visibility="private"))
    explore_fn, attention_fn = explore_ui, attention_ui
    if bundle_for is not None:
        @friendly_errors
        def explore_fn(prompt, mode, model, temperature, top_k, top_p, repetition_penalty, progress=gr.Progress()):
            return _explore(bundle_for, prompt, mode, model, temperature, top_k, top_p, repetition_penalty, progress)

        @friendly_errors
        def attention_fn(prompt, mode, model, layer, head, progress=gr.Progress()):
            return _attention(bundle_for, prompt, mode, model, layer, head, progress)
    with gr.Accordion("Next-token explorer", open=True):
        gr.Markdown("The logits are computed once for the prompt; the sampling sliders above reshape the "
                    "distribution live. Grey: the model's own probabilities. Orange: what your settings leave.")
        explore = gr.Button("Show next-token probabilities")
        explorer_key = gr.State(None)
        explorer_plot = gr.Plot(label="Top-20 next tokens", show_label=False, format="png")
        explorer_stats = gr.Markdown()

    with gr.Accordion("Attention", open=True):
        gr.Markdown(f"One head's attention weights over the input (up to {limits.ATTENTION_MAX_TOKENS} tokens). "
                    "Row = the token doing the looking, column = the token looked at.")
        with gr.Row():
            layer = gr.Slider(0, 29, value=0, step=1, label="Layer")
            head = gr.Slider(0, 8, value=0, step=1, label="Head")
        show_attention = gr.Button("Show attention")
        attention_key = gr.State(None)
        attention_info = gr.Markdown()
        attention_plot = gr.Plot(label="Attention weights", format="png",
                                 elem_classes=plots.KEEP_COLOURS)  # its colour scale, in both themes

    explore.click(
        explore_fn,
        inputs=[prompt, mode, model, *sampling],
        outputs=[explorer_key, explorer_plot, explorer_stats],
        **api("next_token"),
        concurrency_id=CONCURRENCY_ID,
        concurrency_limit=1,
    )
    for slider in sampling:
        slider.change(reshape_ui, inputs=[explorer_key, *sampling], outputs=[explorer_plot, explorer_stats],
                      api_visibility="private", trigger_mode="always_last")
    show_attention.click(
        attention_fn,
        inputs=[prompt, mode, model, layer, head],
        outputs=[attention_key, attention_plot, attention_info, layer, head],
        **api("attention"),
        concurrency_id=CONCURRENCY_ID,
        concurrency_limit=1,
    )
    for slider in (layer, head):
        slider.change(attention_redraw, inputs=[attention_key, layer, head], outputs=[attention_plot, attention_info],
                      api_visibility="private", trigger_mode="always_last")


def build_transformer_view(prompt: str = "The cat sat on the mat because it") -> None:
    """A compact copy of the look-inside views on the embedded model, for topic 2's Transformer sub-tab."""
    gr.Markdown("The transformer below is the course's real language model (SmolLM2-135M-Instruct). "
                "[Open it in the Language tab](?tab=language) to generate text with it.")
    text = gr.Textbox(label="Sentence", value=prompt, lines=1)
    with gr.Row():
        temperature = gr.Slider(0, limits.TEMPERATURE_MAX, value=1.0, step=0.05, label="Temperature")
        top_k = gr.Slider(0, limits.TOP_K_MAX, value=0, step=1, label="Top-k", info="0 = off")
        top_p = gr.Slider(limits.TOP_P_MIN, 1.0, value=1.0, step=0.01, label="Top-p", info="1 = off")
    repetition_penalty = gr.State(1.0)
    _look_inside(text, gr.State("Raw continuation"), gr.State(EMBEDDED_MODEL),
                 [temperature, top_k, top_p, repetition_penalty], api_prefix=None)
