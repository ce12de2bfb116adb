"""The fast loop (shared/fast_sampling.py) is the plain loop (shared/sampling.py) with shortcuts: same numbers."""
import numpy as np
import pytest
import torch

from shared import decoding
from shared.catalog import EMBEDDED_LM
from shared.fast_sampling import fast_sample, next_step, sampling_candidates
from shared.generation import encode_prompt, generate_text, make_settings
from shared.loader import load
from shared.look_inside import next_token_logits
from shared.sampling import sample, sampling_distribution

PROMPT = "The best thing about learning to code is"


@pytest.fixture(scope="module")
def onnx_lm():
    pytest.importorskip("onnxruntime_genai")
    bundle = load(EMBEDDED_LM, backend="onnx")
    assert bundle.backend.startswith(decoding.ONNX_LABEL), bundle.notice
    return bundle


@pytest.fixture(scope="module", params=["onnx", "transformers"])
def bundle(request, embedded_lm_transformers):
    return request.getfixturevalue("onnx_lm") if request.param == "onnx" else embedded_lm_transformers


def run(loop, bundle, settings):
    ids = encode_prompt(bundle.tokenizer, PROMPT, "Raw continuation")
    return list(loop(decoding.start_decoding(bundle, ids.shape[1] + settings.max_new_tokens), ids, settings,
                     bundle.tokenizer))


@pytest.mark.parametrize("temperature, top_k, top_p, penalty", [
    (0.0, 0, 1.0, 1.0), (0.0, 0, 1.0, 1.3), (1.0, 0, 1.0, 1.0), (1.5, 0, 1.0, 1.2)])
def test_the_fast_loop_yields_the_plain_loops_steps(bundle, temperature, top_k, top_p, penalty):
    """Greedy (from the in-graph summary on onnx) and sampling over many candidates: the same tokens and numbers.

    (Where the settings leave few candidates the fast loop draws among them alone: the same distribution,
    see the next test, but other draws from the same seed.)"""
    settings = make_settings(temperature, top_k, top_p, penalty, 8, 3)
    plain, fast = run(sample, bundle, settings), run(fast_sample, bundle, settings)
    assert [s.token_id for s in fast] == [s.token_id for s in plain] and len(plain) == 8
    for f, p in zip(fast, plain, strict=True):
        assert f.token == p.token and f.top_ids == p.top_ids and [t for t, _, _ in f.top] == [t for t, _, _ in p.top]
        assert f.p_model == pytest.approx(p.p_model, abs=1e-5) and f.p_sampled == pytest.approx(p.p_sampled, abs=1e-5)
        np.testing.assert_allclose([x[1:] for x in f.top], [x[1:] for x in p.top], atol=1e-5)


@pytest.mark.parametrize("temperature, top_k, top_p, penalty", [
    (0.7, 50, 0.95, 1.0), (1.3, 5, 1.0, 1.2), (1.0, 200, 0.5, 1.0), (0.0, 0, 1.0, 1.3), (1.0, 0, 0.9, 1.0)])
def test_candidates_are_the_sampling_distribution_without_its_zeros(onnx_lm, temperature, top_k, top_p, penalty):
    """The top-k shortcut (warpers run on the k candidates only) gives transformers' full-vocabulary numbers."""
    logits, ids = next_token_logits(onnx_lm, PROMPT, "Raw continuation")
    logits, context = torch.from_numpy(logits)[None], torch.from_numpy(ids)[None]
    settings = make_settings(temperature, top_k, top_p, penalty, 8, 0)
    full = sampling_distribution(logits, context, settings)[0]
    ids, probs = sampling_candidates(logits, context, settings)
    order = ids.argsort()
    assert torch.equal(ids[order], full.nonzero().squeeze(1))
    torch.testing.assert_close(probs[order], full[ids[order]], rtol=0, atol=1e-6)
    assert 1 <= len(ids) <= (top_k or len(full))
    assert float(probs.sum()) == pytest.approx(1.0, abs=1e-5)


def test_the_step_table_comes_from_the_models_own_summary(onnx_lm):
    """The top-10 table and p(model) use the model's in-graph log-sum-exp and top-k: they match the logits."""
    logits, _ = next_token_logits(onnx_lm, PROMPT, "Raw continuation")
    p = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    step = generate_text(onnx_lm, PROMPT, "Raw continuation", make_settings(0, 0, 1.0, 1.0, 1, 0))[1][0]
    assert step.token_id == int(p.argmax()) and step.p_model == pytest.approx(float(p.max()), abs=1e-5)
    shown = [row[1] for row in step.top]
    np.testing.assert_allclose(shown, np.sort(p)[::-1][:len(shown)], atol=1e-5)


def test_greedy_needs_only_the_step_summary(onnx_lm):
    """Plain greedy decoding reads the in-graph summary alone; with the logits it takes the same token, same numbers."""
    ids = encode_prompt(onnx_lm.tokenizer, "def add(a, b):", "Raw continuation")
    decoder = decoding.start_decoding(onnx_lm, ids.shape[1] + 2)
    decoder.prefill(ids)
    summary, logits = decoder.summary(10), decoder.next_logits()
    greedy = make_settings(0, 0, 1.0, 1.0, 2, 0)
    rng = torch.Generator().manual_seed(0)
    from_summary = next_step(None, ids, greedy, rng, onnx_lm.tokenizer, summary=summary)
    from_logits = next_step(logits, ids, greedy, rng, onnx_lm.tokenizer)
    assert from_summary.token_id == from_logits.token_id == int(logits.argmax())
    assert from_summary.p_model == pytest.approx(from_logits.p_model, abs=1e-6) and from_summary.p_sampled == 1.0
    assert [t for t, _, _ in from_summary.top] == [t for t, _, _ in from_logits.top]
    np.testing.assert_allclose([p for _, p, _ in from_summary.top], [p for _, p, _ in from_logits.top], atol=1e-6)
    with pytest.raises(ValueError, match="needs the logits"):  # sampling reshapes every logit
        next_step(None, ids, make_settings(0.7, 50, 0.95, 1.0, 2, 0), rng, onnx_lm.tokenizer, summary=summary)
