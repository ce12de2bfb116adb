"""The sampling loop (shared/sampling.py) behaves the same on every backend, through the one entry point.

Each backend is one entry of ``BACKENDS``: how to get its bundle, and its engine's own greedy search to
compare against. Another backend (an OpenAI-compatible server) joins by adding one entry.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch

from shared import limits
from shared.catalog import EMBEDDED_LM
from shared.generation import encode_prompt, generate_tokens, make_settings
from shared.loader import load
from shared.sampling import SamplingSettings, Step, sample

PROMPTS = ["The capital of France is", "Once upon a time, in a quiet village,"]


@dataclass(frozen=True)
class Backend:
    """A way to run the embedded model, and its engine's own greedy search: ``(bundle, input_ids, n) -> ids``."""

    load: Callable
    greedy_reference: Callable[..., list[int]]


@torch.inference_mode()
def transformers_generate(bundle, input_ids: torch.Tensor, n: int) -> list[int]:
    out = bundle.model.generate(input_ids, max_new_tokens=n, do_sample=False)
    return out[0, input_ids.shape[1]:].tolist()


def onnxruntime_genai_generate(bundle, input_ids: torch.Tensor, n: int) -> list[int]:
    """onnxruntime-genai's own greedy search on the same model."""
    og, model = bundle.model.og, bundle.model.model
    params = og.GeneratorParams(model)
    params.set_search_options(do_sample=False, max_length=input_ids.shape[1] + n)
    generator = og.Generator(model, params)
    generator.append_tokens(input_ids[0].tolist())
    ids = []
    while not generator.is_done() and len(ids) < n:
        generator.generate_next_token()
        ids.append(int(generator.get_next_tokens()[0]))
    return ids


def load_onnx():
    pytest.importorskip("onnxruntime_genai")
    bundle = load(EMBEDDED_LM, backend="onnx")
    if bundle.backend.startswith("transformers"):
        pytest.skip(f"the onnx backend did not start: {bundle.notice}")
    return bundle


BACKENDS = {
    "transformers": Backend(lambda: load(EMBEDDED_LM, backend="transformers"), transformers_generate),
    "onnx": Backend(load_onnx, onnxruntime_genai_generate),
}


@pytest.fixture(scope="module", params=list(BACKENDS))
def backend(request) -> tuple[object, Backend]:
    entry = BACKENDS[request.param]
    return entry.load(), entry


def tokens(bundle, prompt: str, settings: SamplingSettings) -> list[Step]:
    return list(generate_tokens(bundle, encode_prompt(bundle.tokenizer, prompt, "Raw continuation"), settings))


@pytest.mark.parametrize("prompt", PROMPTS)
def test_greedy_equals_the_engines_own_greedy_search(backend, prompt):
    bundle, entry = backend
    steps = tokens(bundle, prompt, make_settings(0, 0, 1.0, 1.0, 10, 0))
    reference = entry.greedy_reference(bundle, encode_prompt(bundle.tokenizer, prompt, "Raw continuation"), 10)
    assert len(steps) >= 3
    assert [s.token_id for s in steps] == reference[: len(steps)]
    assert all(s.p_sampled == 1.0 for s in steps)  # greedy: the chosen token had all the mass


def test_the_same_seed_gives_the_same_tokens_and_another_seed_others(backend):
    bundle, _ = backend
    for top_k in (0, 50):  # the whole vocabulary, and few candidates
        settings = make_settings(1.0, top_k, 0.95, 1.1, 12, 7)
        a = [s.token_id for s in tokens(bundle, PROMPTS[1], settings)]
        b = [s.token_id for s in tokens(bundle, PROMPTS[1], settings)]
        c = [s.token_id for s in tokens(bundle, PROMPTS[1], make_settings(1.0, top_k, 0.95, 1.1, 12, 8))]
        assert len(a) >= 3 and a == b and a != c


def test_each_steps_probabilities_sum_to_one(backend):
    """With top-k 5 every candidate is among the step's top 10: their sampling probabilities hold all the mass."""
    bundle, _ = backend
    steps = tokens(bundle, PROMPTS[1], make_settings(0.8, 5, 1.0, 1.0, 8, 0))
    assert len(steps) >= 3
    for step in steps:
        assert len(step.top) == len(step.top_ids) == limits.STEP_TOP_N
        assert sum(ps for _, _, ps in step.top) == pytest.approx(1.0, abs=1e-4)
        assert sum(pm for _, pm, _ in step.top) <= 1.0 + 1e-4
        assert sum(ps > 0 for _, _, ps in step.top) == 5
        assert 0 < step.p_model <= 1 and 0 < step.p_sampled <= 1
        assert step.token_id in step.top_ids[:5]


def test_generation_leaves_the_global_random_state_alone(backend):
    bundle, _ = backend
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    tokens(bundle, PROMPTS[1], make_settings(1.0, 0, 1.0, 1.0, 4, 0))
    assert torch.rand(1) == expected


# --- the plain loop on any decoder --------------------------------------------------------------------

class CountingDecoder:
    """A toy decoder over a vocabulary of 4: the logits always favour the token after the last one."""

    def prefill(self, input_ids):
        self.last = int(input_ids[0, -1])

    def next_logits(self):
        logits = torch.zeros(1, 4)
        logits[0, (self.last + 1) % 4] = 5.0
        return logits

    def append(self, token_id):
        self.last = token_id


class DigitTokenizer:
    def decode(self, ids):
        return "".join(str(i) for i in ids)


def test_the_plain_loop_runs_on_any_decoder_and_stops_at_a_stop_token():
    settings = SamplingSettings(temperature=0, top_k=0, top_p=1.0, max_new_tokens=6)
    steps = list(sample(CountingDecoder(), torch.tensor([[0]]), settings, DigitTokenizer(), stop_ids={0}))
    assert [s.token_id for s in steps] == [1, 2, 3]  # then 0, a stop token, ends it
    assert [s.token for s in steps] == ["1", "2", "3"]
    assert steps[0].top_ids[0] == 1 and steps[0].p_sampled == 1.0
