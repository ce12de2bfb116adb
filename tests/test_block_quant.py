"""The fast backend's weights: GGUF Q4_1/Q8_0 blocks re-encoded exactly, anything else quantised to int8.

The end-to-end tests build tiny Llama models with the real onnxruntime-genai builder and the real
encoder (``shared.decoding.build_onnx``), then run them in onnxruntime next to transformers.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from shared import block_quant as bq

PROMPT = [1, 3, 4, 5, 6, 3, 7]


def q4_1_matrix(rng, n: int, k: int) -> np.ndarray:
    """``(n, k)`` float32 on a Q4_1 grid, as llama.cpp writes it: each block's min is q=0, its max q=15."""
    q = rng.integers(0, 16, size=(n, k // 32, 32))
    q[..., 0], q[..., 1] = 0, 15
    d = rng.uniform(0.002, 0.02, size=(n, k // 32, 1)).astype(np.float16).astype(np.float32)
    m = (-d * rng.uniform(5, 10, size=d.shape)).astype(np.float16).astype(np.float32)
    return (d * q + m).reshape(n, k).astype(np.float32)


def q8_0_matrix(rng, n: int, k: int) -> np.ndarray:
    q = rng.integers(-127, 128, size=(n, k // 32, 32))
    q[..., 0] = 127
    d = rng.uniform(0.001, 0.01, size=(n, k // 32, 1)).astype(np.float16).astype(np.float32)
    return (d * q).reshape(n, k).astype(np.float32)


def test_each_grid_is_found_only_where_it_is():
    rng = np.random.default_rng(0)
    w4, w8, plain = q4_1_matrix(rng, 8, 64), q8_0_matrix(rng, 8, 64), rng.normal(size=(8, 64)).astype(np.float32)
    q, d, m = bq.as_q4_1(w4)
    assert q.max() == 15 and q.min() == 0
    np.testing.assert_allclose(d[..., None] * q + m[..., None], w4.reshape(8, 2, 32), rtol=0, atol=1e-7)
    q8, d8 = bq.as_q8_0(w8)
    np.testing.assert_allclose(d8[..., None] * q8, w8.reshape(8, 2, 32), rtol=0, atol=1e-7)
    assert bq.as_q4_1(plain) is None and bq.as_q8_0(plain) is None
    assert bq.as_q8_0(w4) is None and bq.as_q4_1(w8) is None


def test_nibbles_pack_low_first():
    assert bq.pack_nibbles(np.array([1, 2, 3, 15])).tolist() == [0x21, 0xF3]


def tiny_llama(folder, grid: bool, seed: int = 0):
    """A 2-layer Llama (hidden 64, grouped-query attention, tied embedding), saved with a word-level tokenizer."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = ["<unk>", "<s>", "</s>"] + "the a cat dog sat on mat ran and it was happy sad big small".split()
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(words), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64,
                         bos_token_id=1, eos_token_id=2, tie_word_embeddings=True)
    model = LlamaForCausalLM(config).eval()
    if grid:  # what a GGUF Q4_1 file holds: Q4_1 linear layers, a Q8_0 embedding
        rng = np.random.default_rng(seed)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if p.ndim == 2:
                    make = q8_0_matrix if "embed" in name else q4_1_matrix
                    p.copy_(torch.from_numpy(make(rng, *p.shape)) * (20 if "embed" in name else 1))
    model.save_pretrained(folder)
    PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", bos_token="<s>",
                            eos_token="</s>").save_pretrained(folder)
    return model


def onnx_logits(folder, accuracy_level: int | None = None) -> np.ndarray:
    """Last-position logits ``(V,)`` of ``folder/model.onnx`` for ``PROMPT``, optionally at another accuracy level."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(folder / "model.onnx"))
    for node in model.graph.node:
        for attr in node.attribute:
            if node.op_type == "MatMulNBits" and attr.name == "accuracy_level" and accuracy_level is not None:
                attr.i = accuracy_level
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {"input_ids": np.array([PROMPT], np.int64), "attention_mask": np.ones((1, len(PROMPT)), np.int64)}
    for i in session.get_inputs():
        if i.name.startswith("past_key_values"):
            feeds[i.name] = np.zeros((1, 1, 0, 32), np.float32)  # (batch, kv heads, past length, head size)
    return session.run(["logits"], feeds)[0][0, -1].astype(np.float64)


def total_variation(a: np.ndarray, b: np.ndarray) -> float:
    p, q = (np.exp(x - x.max()) / np.exp(x - x.max()).sum() for x in (a, b))
    return 0.5 * float(np.abs(p - q).sum())


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """``{grid: (onnx folder, transformers logits)}`` for a GGUF-like and a plain tiny model."""
    pytest.importorskip("onnxruntime_genai")
    from shared.decoding import build_onnx

    out = {}
    for grid in (True, False):
        root = tmp_path_factory.mktemp(f"grid-{grid}")
        model = tiny_llama(root / "hf", grid)
        with torch.no_grad():
            reference = model(torch.tensor([PROMPT])).logits[0, -1].double().numpy()
        messages = []
        folder = build_onnx(root / "hf", root / "onnx", 1, report=lambda f, m, seen=messages: seen.append(m))
        assert any("4/8 bits" in m for m in messages)  # the learner sees the slow first build coming
        out[grid] = folder, reference
    return out


def test_gguf_blocks_become_the_same_numbers_in_int4_and_int8(built):
    import onnx

    folder, reference = built[True]
    weights = json.loads((folder / "weights.json").read_text())
    assert weights["summary"] == "GGUF Q4_1/Q8_0 weights kept exact"
    assert len(weights["q4_1"]) == 2 * 5 and len(weights["q8_0"]) == 1 and weights["int8"] == []
    graph = onnx.load(str(folder / "model.onnx"), load_external_data=False).graph
    bits = sorted(next(a.i for a in n.attribute if a.name == "bits") for n in graph.node if n.op_type == "MatMulNBits")
    assert bits == [4] * 2 * 4 + [8]  # q/k/v packed by the builder, gate and up fused here: 4 per layer, + lm_head
    # No zero_points input: the default zero point (8 for int4, 128 for int8), for the CPUs' symmetric kernels.
    assert all(len(n.input) == 3 for n in graph.node if n.op_type == "MatMulNBits")
    ops = [n.op_type for n in graph.node]
    assert ops.count("GatherBlockQuantized") == 1 and "Transpose" not in ops  # the tied embedding: int8 rows
    # Each Q4_1 group's correction is one small float MatMul (block sums @ residual) and an Add, on the
    # builder's 3-D hidden states (a Gemm on flattened ones was slower).
    assert ops.count("MatMul") == 2 * 4 and "Gemm" not in ops and "Flatten" not in ops
    # With float activations (accuracy level 1) the weights alone decide: the logits are transformers' own.
    np.testing.assert_allclose(onnx_logits(folder, accuracy_level=1), reference, rtol=0, atol=2e-4)
    # As shipped (int8 activations, level 4) they stay close, and not by being constant.
    shipped = onnx_logits(folder)
    assert total_variation(shipped, reference) < 0.02
    assert np.ptp(shipped) > 1.0
    assert int(shipped.argmax()) == int(reference.argmax())


def test_weights_on_no_grid_are_quantised_to_int8(built):
    folder, reference = built[False]
    weights = json.loads((folder / "weights.json").read_text())
    assert weights["summary"] == "int8 weights" and weights["q4_1"] == [] and len(weights["int8"]) == 2 * 5 + 1
    shipped = onnx_logits(folder)
    assert total_variation(shipped, reference) < 0.02
    assert np.abs(shipped - reference).max() > 1e-6  # quantised: not exact, unlike the grid case


def test_a_failed_build_names_its_log(tmp_path):
    pytest.importorskip("onnxruntime_genai")
    from shared.decoding import build_onnx

    (tmp_path / "hf").mkdir()  # no config.json: the builder fails
    with pytest.raises(RuntimeError, match=r"build\.log"):
        build_onnx(tmp_path / "hf", tmp_path / "onnx", 1)
    assert not (tmp_path / "onnx").exists()


def test_the_model_also_outputs_each_steps_log_sum_exp_and_top_k(built):
    import onnxruntime as ort

    from shared import limits
    from shared.decoding import SUMMARY_OUTPUTS

    folder, _ = built[True]
    assert json.loads((folder / "step_summary.json").read_text()) == {"top_k": limits.STEP_TOP_N}
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    feeds = {"input_ids": np.array([PROMPT], np.int64), "attention_mask": np.ones((1, len(PROMPT)), np.int64)}
    for i in session.get_inputs():
        if i.name.startswith("past_key_values"):
            feeds[i.name] = np.zeros((1, 1, 0, 32), np.float32)
    logits, log_z, top, ids = (x[0] for x in session.run(["logits", *SUMMARY_OUTPUTS], feeds))  # (T, ...)
    assert log_z.shape == (len(PROMPT), 1) and top.shape == ids.shape == (len(PROMPT), limits.STEP_TOP_N)
    top1 = logits.max(-1, keepdims=True).astype(np.float64)
    reference = top1[:, 0] + np.log(np.exp(logits - top1).sum(-1))
    np.testing.assert_allclose(log_z[:, 0], reference, rtol=0, atol=1e-6)
    assert (ids == np.argsort(-logits, axis=-1, kind="stable")[:, :limits.STEP_TOP_N]).all()
    np.testing.assert_array_equal(top, np.take_along_axis(logits, ids, -1))
