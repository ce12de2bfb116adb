"""The sampling loop of ``shared.sampling.sample`` with speed shortcuts, for the app's backends.

Same interface, same distributions (``tests/test_fast_sampling.py`` holds it equal to the plain loop),
less work per token:

- Greedy decoding reads the model's in-graph summary of its logits (their log-sum-exp and top-k, see
  ``shared.decoding.add_step_summary``): the 49,152 logits are not even copied out of the runtime.
- With ``top_k > 0`` the temperature, top-k and top-p warpers run on the k candidates alone (no sort of the
  whole vocabulary for top-p). Where few candidates are left (top-k, or a tight top-p), the token is drawn
  among them: the same distribution as drawing over the whole vocabulary, but the seeded generator is used
  differently, so one seed gives other tokens than the plain loop does.
- Token texts are decoded once per tokenizer.
- The reshaping runs on one thread: one ``(V,)`` vector is too small to share.

``shared.generation.generate_tokens`` runs it on both backends (transformers and onnxruntime-genai).
"""
from __future__ import annotations

import functools
import math
import weakref
from collections.abc import Container, Iterator, Sequence
from dataclasses import replace

import torch

from shared import limits
from shared.decoding import StepSummary
from shared.device import torch_threads
from shared.sampling import Decoder, SamplingSettings, Step, logits_processors, show_token


def fast_sample(decoder: Decoder, input_ids: torch.Tensor, settings: SamplingSettings, tokenizer,
                extra_processors: Sequence | None = None, stop_ids: Container[int] = ()) -> Iterator[Step]:
    """:func:`shared.sampling.sample`, faster. ``decoder.summary(k)``, where the decoder has it, gives the
    step's log-sum-exp and top ``k`` logits (``shared.decoding.StepSummary``) computed inside the model."""
    generator = torch.Generator().manual_seed(settings.seed)
    n_prompt = input_ids.shape[1]
    tokens = torch.empty((1, n_prompt + settings.max_new_tokens), dtype=torch.long)  # every token so far
    tokens[:, :n_prompt] = input_ids.cpu()
    processors = (*_settings_processors(settings), *(extra_processors or ()))
    plain_greedy = settings.temperature == 0 and not processors
    summarise = getattr(decoder, "summary", lambda k: None)
    decoder.prefill(input_ids)
    for i in range(settings.max_new_tokens):
        summary = summarise(limits.STEP_TOP_N)
        # (1, V), on all the threads the model wants; plain greedy needs only the summary, where there is one.
        logits = None if plain_greedy and summary is not None else decoder.next_logits()
        # Set per step, never across a yield: a streaming callback may resume on another thread.
        with torch_threads(1):
            step = next_step(logits, tokens[:, :n_prompt + i], settings, generator, tokenizer,
                             processors=processors, summary=summary)
        if step.token_id in stop_ids:
            return
        yield step
        decoder.append(step.token_id)
        tokens[0, n_prompt + i] = step.token_id


@functools.lru_cache(maxsize=64)
def _settings_processors(settings: SamplingSettings) -> tuple:
    """The settings' own processors (stateless, so built once per distinct settings)."""
    return tuple(logits_processors(settings))


def _apply(processors, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """``processors`` one after another, as ``LogitsProcessorList`` runs them (without its per-call signature checks)."""
    for processor in processors:
        scores = processor(input_ids, scores)
    return scores


def sampling_candidates(logits: torch.Tensor, context: torch.Tensor, settings: SamplingSettings,
                        extra: Sequence | None = None, processors=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The tokens the next one can be drawn from, and their probabilities: ``(ids, probs)``, both ``(n,)``.

    The same as ``shared.sampling.sampling_distribution`` restricted to its non-zero entries. With
    ``top_k > 0`` (and no ``extra`` processors) it is computed on the top-k candidates alone: the repetition
    penalty first, on all logits, then temperature, top-k and top-p (transformers' own warpers) on the
    candidates, which gives the same numbers (the other tokens have probability 0 either way) without
    sorting the whole vocabulary for top-p.
    """
    if settings.temperature > 0 and settings.top_k > 0 and not extra:
        scores = logits.clone()
        if settings.repetition_penalty != 1.0:  # at temperature 0 the settings' processors are the penalty alone
            scores = _apply(_settings_processors(replace(settings, temperature=0)), context, scores)
        kth = scores[0].topk(min(settings.top_k, scores.shape[1])).values[-1]
        ids = (scores[0] >= kth).nonzero().squeeze(1)  # the top k, ties included, as TopKLogitsWarper keeps them
        warped = _apply(_settings_processors(replace(settings, repetition_penalty=1.0)), context, scores[:, ids])
        probs = torch.softmax(warped, dim=-1)[0]
    else:  # shared.sampling.sampling_distribution, with the processors built once
        if processors is None:
            processors = (*_settings_processors(settings), *(extra or ()))
        scores = _apply(processors, context, logits.clone())
        if settings.temperature == 0:
            probs = torch.nn.functional.one_hot(scores.argmax(-1), scores.shape[-1]).float()[0]
        else:
            probs = torch.softmax(scores, dim=-1)[0]
        ids = probs.nonzero().squeeze(1)
        probs = probs[ids]
    keep = probs > 0
    return ids[keep], probs[keep]


def next_step(logits: torch.Tensor | None, context: torch.Tensor, settings: SamplingSettings,
              generator: torch.Generator, tokenizer, extra: Sequence | None = None, processors=None,
              summary: StepSummary | None = None) -> Step:
    """Choose the next token from ``logits`` ``(1, V)`` given the ``context`` ``(1, T)``, and record why.

    ``processors``: the settings' processors and ``extra`` in one tuple, built once per generation by the caller.
    ``summary``: the logits' log-sum-exp and top ``limits.STEP_TOP_N``, when the backend computed them.
    With a summary, plain greedy decoding (temperature 0, no processors) needs nothing else: ``logits``
    may then be ``None``. When the settings leave few tokens (top-k), the token is drawn from those alone.

    Raises:
        ValueError: ``logits`` is ``None`` where they are needed.
    """
    if processors is None:
        processors = (*_settings_processors(settings), *(extra or ()))
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
        else:  # the whole vocabulary, as the plain loop draws
            token_id = int(torch.multinomial(full[None], 1, generator=generator))
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
