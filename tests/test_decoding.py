"""The two generation backends (shared/decoding.py): same tokens, close probabilities, safe fallback."""
import numpy as np
import pytest

from apps import language as L
from shared import decoding
from shared.catalog import EMBEDDED_LM
from shared.loader import Loader, default_cache_dir

PROMPTS = ["The capital of France is", "Once upon a time,", "def add(a, b):", "The best way to learn is"]
# Quality guard: first-token distributions of the fast backend stay this close (total variation) to float32.
# Measured 0.022-0.057 on these prompts (the GGUF's own weights, int8 activations; mean 0.037 over 20 prompts);
# llama.cpp itself is at 0.013-0.110 on the same prompts, and re-quantising the weights to int4 moved the
# distribution by 0.2-0.39.
MAX_TOTAL_VARIATION = 0.06


@pytest.fixture(scope="module")
def onnx_lm():
    pytest.importorskip("onnxruntime_genai")
    bundle = Loader(budget_bytes=2**32).load(EMBEDDED_LM, backend="onnx")
    assert bundle.backend.startswith(decoding.ONNX_LABEL), bundle.notice
    return bundle


@pytest.mark.parametrize("prompt", PROMPTS)
def test_fast_backend_keeps_the_first_token_distribution(onnx_lm, embedded_lm_transformers, prompt):
    fast, _ = L.next_token_logits(onnx_lm, prompt, "Raw continuation")
    exact, _ = L.next_token_logits(embedded_lm_transformers, prompt, "Raw continuation")
    p_fast, p_exact = (np.exp(x - x.max()) / np.exp(x - x.max()).sum() for x in (fast, exact))
    assert fast.argmax() == exact.argmax()  # the same greedy first token
    assert 0.5 * np.abs(p_fast - p_exact).sum() < MAX_TOTAL_VARIATION


def test_fast_backend_step_table_comes_from_its_own_logits(onnx_lm):
    """The top-10 table and p(model) use the model's in-graph log-sum-exp and top-k: they match the logits."""
    logits, _ = L.next_token_logits(onnx_lm, PROMPTS[0], "Raw continuation")
    p = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    step = L.generate_text(onnx_lm, PROMPTS[0], "Raw continuation", L.make_settings(0, 0, 1.0, 1.0, 1, 0))[1][0]
    assert step.token_id == int(p.argmax()) and step.p_model == pytest.approx(float(p.max()), abs=1e-5)
    shown = [row[1] for row in step.top]
    np.testing.assert_allclose(shown, np.sort(p)[::-1][:len(shown)], atol=1e-5)


def test_greedy_needs_only_the_step_summary(onnx_lm):
    """Plain greedy decoding reads the in-graph summary alone; with the logits it takes the same token, same numbers."""
    import torch

    ids = L.encode_prompt(onnx_lm.tokenizer, PROMPTS[2], "Raw continuation")
    decoder = decoding.start_decoding(onnx_lm, ids, 2)
    summary, logits = decoder.summary(10), decoder.next_logits()
    greedy = L.make_settings(0, 0, 1.0, 1.0, 2, 0)
    rng = torch.Generator().manual_seed(0)
    from_summary = L.next_step(None, ids, greedy, rng, onnx_lm.tokenizer, summary=summary)
    from_logits = L.next_step(logits, ids, greedy, rng, onnx_lm.tokenizer)
    assert from_summary.token_id == from_logits.token_id == int(logits.argmax())
    assert from_summary.p_model == pytest.approx(from_logits.p_model, abs=1e-6) and from_summary.p_sampled == 1.0
    assert [t for t, _, _ in from_summary.top] == [t for t, _, _ in from_logits.top]
    np.testing.assert_allclose([p for _, p, _ in from_summary.top], [p for _, p, _ in from_logits.top], atol=1e-6)
    with pytest.raises(ValueError, match="needs the logits"):  # sampling reshapes every logit
        L.next_step(None, ids, L.make_settings(0.7, 50, 0.95, 1.0, 2, 0), rng, onnx_lm.tokenizer, summary=summary)


def test_fast_backend_greedy_starts_like_transformers(onnx_lm, embedded_lm_transformers):
    s = L.make_settings(0, 0, 1.0, 1.0, 4, 0)
    fast = [st.token_id for st in L.generate_text(onnx_lm, PROMPTS[0], "Raw continuation", s)[1]]
    exact = [st.token_id for st in L.generate_text(embedded_lm_transformers, PROMPTS[0], "Raw continuation", s)[1]]
    assert fast[:2] == exact[:2]


def test_fast_backend_seeds_reproduce_and_probabilities_sum_to_one(onnx_lm):
    s = L.make_settings(1.0, 50, 0.95, 1.0, 10, 5)
    a, steps = L.generate_text(onnx_lm, PROMPTS[1], "Raw continuation", s)
    b, _ = L.generate_text(onnx_lm, PROMPTS[1], "Raw continuation", s)
    c, _ = L.generate_text(onnx_lm, PROMPTS[1], "Raw continuation", L.make_settings(1.0, 50, 0.95, 1.0, 10, 6))
    assert a == b and a != c
    logits, ids = L.next_token_logits(onnx_lm, PROMPTS[1], "Raw continuation")
    for p in L.reshape(logits, ids, s):
        assert p.sum() == pytest.approx(1.0, abs=1e-4)


def test_falls_back_to_transformers_when_the_fast_backend_is_not_installed(monkeypatch):
    monkeypatch.delenv("CM_LM_BACKEND", raising=False)
    monkeypatch.setattr(decoding, "onnx_available", lambda: False)
    assert decoding.requested_backend() == "transformers"
    bundle = Loader(budget_bytes=2**32).load(EMBEDDED_LM)
    assert bundle.backend == decoding.TRANSFORMERS_LABEL and bundle.notice is None


def test_falls_back_to_transformers_with_a_notice_when_the_build_fails(monkeypatch, tmp_path):
    def broken_build(*args, **kwargs):
        raise RuntimeError("the onnxruntime-genai builder failed (exit 1)")

    monkeypatch.setattr(decoding, "build_onnx", broken_build)
    loader = Loader(budget_bytes=2**32, cache_dir=default_cache_dir())
    bundle = loader.load(EMBEDDED_LM, backend="onnx")
    assert bundle.backend == decoding.TRANSFORMERS_LABEL
    assert "fast backend could not start" in bundle.notice
    assert loader.load(EMBEDDED_LM, backend="onnx").notice is None  # said once, not on every request
    text, _ = L.generate_text(bundle, PROMPTS[0], "Raw continuation", L.make_settings(0, 0, 1.0, 1.0, 3, 0))
    assert text.strip()


def test_an_unknown_backend_is_refused(monkeypatch):
    monkeypatch.setenv("CM_LM_BACKEND", "llamacpp")
    with pytest.raises(ValueError, match="CM_LM_BACKEND"):
        decoding.requested_backend()


def test_only_this_versions_build_is_kept(tmp_path):
    for name in ("lm-onnx-int8-fp32head", f"lm-{decoding.BUILD_NAME}", "lm-onnx-blockq.tmp-123", "other-onnx-int8"):
        (tmp_path / name).mkdir()
    (tmp_path / "lm-onnx-int8.build.log").write_text("log")
    assert decoding.remove_stale_builds(tmp_path, "lm") == ["lm-onnx-int8-fp32head"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"lm-{decoding.BUILD_NAME}", "lm-onnx-blockq.tmp-123", "other-onnx-int8", "lm-onnx-int8.build.log"])
