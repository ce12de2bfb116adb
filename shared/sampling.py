"""The sampling loop's vocabulary: how the next token is chosen, and one generated token with its distribution.

Shared by every topic that generates text (topics 2, 4, 7, 8, 9, 10) and by every backend behind them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from shared import limits


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



def show_token(text: str) -> str:
    """A token as a learner can read it: a leading space as '␣', a newline as '↵'."""
    if text.startswith(" "):
        text = "␣" + text[1:]
    return text.replace("\n", "↵")
