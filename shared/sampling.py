"""The sampling loop: how a language model writes, one token at a time (Radford et al. 2019).

A decoder-only transformer gives, for the tokens so far, the logits of the next token. The loop turns
them into a distribution, draws one token from it, appends it, and asks again, as nanoGPT's
``generate()`` does. The distribution is reshaped exactly as ``transformers``' ``generate()`` does,
with its own logits processors in its order: repetition penalty (Keskar et al. 2019), temperature,
top-k (Fan et al. 2018), top-p / nucleus sampling (Holtzman et al. 2020). Temperature 0 is greedy.

The model runs behind a :class:`Decoder` (``shared.decoding`` has the backends), so the same loop
serves every one of them, and every topic that generates text (topics 2, 4, 7, 8, 9, 10).
The app's topics call ``shared.generation.generate_tokens``, which runs this loop with speed shortcuts
(``shared.fast_sampling``, tested equal to this one); topic 10 runs this one on the learner's own model.
"""
from __future__ import annotations

from collections.abc import Container, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import torch
import torch.nn.functional as F

from shared import limits

if TYPE_CHECKING:
    from transformers import LogitsProcessorList


@dataclass(frozen=True)
class SamplingSettings:
    """How the next token is chosen. ``temperature == 0`` is greedy; ``top_k == 0`` and ``top_p == 1`` are off."""

    temperature: float = 0.7
    top_k: int = 50
    top_p: float = 0.95
    repetition_penalty: float = 1.0
    max_new_tokens: int = limits.DEFAULT_MAX_NEW_TOKENS
    seed: int = 0


@dataclass
class Step:
    """One generated token and the distribution it was sampled from.

    ``p_model`` is the model's own probability (softmax of the logits at temperature 1);
    ``p_sampled`` the probability under the reshaped distribution the token was drawn from, ``None`` where the
    backend does not say (a class server, ``shared.lm_server``).
    ``top`` lists the step's top candidates by model probability as ``(token, p_model, p_sampled)``,
    ``top_ids`` their token ids.
    """

    token_id: int
    token: str
    p_model: float
    p_sampled: float | None
    top: list[tuple[str, float, float | None]]
    top_ids: list[int] = field(default_factory=list)


class Decoder(Protocol):
    """One generation's model state (its key/value cache) on some backend (see ``shared.decoding``)."""

    def prefill(self, input_ids: torch.Tensor) -> None:
        """Take the prompt, ``(1, T)`` int64 token ids."""

    def next_logits(self) -> torch.Tensor:
        """``(1, V)`` float32 logits for the next token."""

    def append(self, token_id: int) -> None:
        """Feed the chosen token back in."""


def sample(decoder: Decoder, input_ids: torch.Tensor, settings: SamplingSettings, tokenizer,
           extra_processors: Sequence | None = None, stop_ids: Container[int] = ()) -> Iterator[Step]:
    """Sample up to ``settings.max_new_tokens`` tokens after ``input_ids`` ``(1, T)``, yielding each as a :class:`Step`.

    ``extra_processors`` (e.g. topic 8's watermark) run after the settings' own and see every token so far.
    Stops early at a token in ``stop_ids``, which is not yielded. The seeded generator is private to this
    call: concurrent learners never disturb each other's streams, nor the global random state.
    """
    generator = torch.Generator().manual_seed(settings.seed)
    processors = logits_processors(settings, extra_processors)
    decoder.prefill(input_ids)
    for _ in range(settings.max_new_tokens):
        logits = decoder.next_logits()                                # (1, V)
        scores = processors(input_ids, logits.clone())                # (1, V) penalty, temperature, top-k, top-p
        if settings.temperature == 0:                                 # greedy: all the mass on the best token
            probs = F.one_hot(scores.argmax(-1), scores.shape[-1]).float()  # (1, V)
        else:
            probs = F.softmax(scores, dim=-1)                         # (1, V)
        next_id = torch.multinomial(probs, num_samples=1, generator=generator)  # (1, 1); one-hot: the argmax
        if int(next_id) in stop_ids:
            return
        yield describe_step(tokenizer, logits, probs, int(next_id))
        decoder.append(int(next_id))
        input_ids = torch.cat([input_ids, next_id], dim=1)           # (1, T + 1)


def logits_processors(settings: SamplingSettings, extra: Sequence | None = None) -> LogitsProcessorList:
    """transformers' own processors, in ``generate()``'s order: repetition penalty (Keskar et al. 2019),
    temperature, top-k (Fan et al. 2018), top-p (Holtzman et al. 2020). Temperature 0 (greedy) keeps the penalty only.

    ``extra`` processors (e.g. topic 8's watermark, ``WatermarkLogitsProcessor``) run last, where ``generate()``
    puts its watermarking processor.
    """
    from transformers import (  # transformers loads in ~0.5 s: imported here, not at app start-up
        LogitsProcessorList,
        RepetitionPenaltyLogitsProcessor,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    procs = LogitsProcessorList()
    if settings.repetition_penalty != 1.0:
        procs.append(RepetitionPenaltyLogitsProcessor(settings.repetition_penalty))
    if settings.temperature > 0:
        if settings.temperature != 1.0:
            procs.append(TemperatureLogitsWarper(settings.temperature))
        if settings.top_k > 0:
            procs.append(TopKLogitsWarper(settings.top_k))
        if settings.top_p < 1.0:
            procs.append(TopPLogitsWarper(settings.top_p))
    procs.extend(extra or ())
    return procs


def sampling_distribution(logits: torch.Tensor, input_ids: torch.Tensor, settings: SamplingSettings,
                          extra: Sequence | None = None) -> torch.Tensor:
    """The distribution the next token is drawn from, as in :func:`sample`.

    Args:
        logits: ``(1, V)`` float32 next-token logits.
        input_ids: ``(1, T)`` the tokens so far (the repetition penalty looks at them).
        extra: more logits processors, applied after the settings' own (see :func:`logits_processors`).
    Returns:
        ``(1, V)`` float32 probabilities summing to 1; one-hot on the argmax when ``temperature == 0``.
    """
    scores = logits_processors(settings, extra)(input_ids, logits.clone())
    if settings.temperature == 0:
        return F.one_hot(scores.argmax(-1), scores.shape[-1]).float()
    return F.softmax(scores, dim=-1)


def describe_step(tokenizer, logits: torch.Tensor, probs: torch.Tensor, token_id: int) -> Step:
    """The :class:`Step` that chose ``token_id``: the model's own distribution (softmax of ``logits`` ``(1, V)``),
    the one it was drawn from (``probs`` ``(1, V)``), and the top ``limits.STEP_TOP_N`` candidates."""
    p_model = F.softmax(logits[0].double(), dim=-1)                   # (V,) at temperature 1
    top = p_model.topk(min(limits.STEP_TOP_N, p_model.numel()))
    top_ids = top.indices.tolist()
    p_sampled = probs[0, top_ids].tolist()
    candidates = [(show_token(tokenizer.decode([i])), p, ps)
                  for i, p, ps in zip(top_ids, top.values.tolist(), p_sampled, strict=True)]
    return Step(token_id, tokenizer.decode([token_id]), float(p_model[token_id]), float(probs[0, token_id]),
                candidates, top_ids)


def show_token(text: str) -> str:
    """A token as a learner can read it: a leading space as '␣', a newline as '↵'."""
    if text.startswith(" "):
        text = "␣" + text[1:]
    return text.replace("\n", "↵")
