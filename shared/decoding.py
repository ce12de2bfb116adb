"""Step-by-step decoding for causal language models: the backends behind the sampling loop.

A decoder (the ``shared.sampling.Decoder`` interface) holds one generation's state (its key/value
cache) and answers three calls: ``prefill(input_ids)`` takes the prompt, ``next_logits()`` gives the
logits for the next token, and ``append(token_id)`` feeds the chosen token back. The sampling loop
(``shared.sampling.sample``) is the same whichever backend computes the logits:

- ``transformers``: the PyTorch model, one forward pass per token with a ``DynamicCache``.
- ``onnxruntime-genai``: the same model exported by onnxruntime-genai's model builder (float32), then
  re-encoded by :mod:`shared.block_quant`: the embedded SmolLM2's weights are already llama.cpp
  ``Q4_1``/``Q8_0`` blocks, and they become ``MatMulNBits`` int4/int8 holding exactly the same numbers;
  any other weight is quantised to int8. About 4x faster than transformers on a laptop CPU and close
  in probabilities (see ``bench/lm.py``). The build runs once per model, into the loader's cache.
  Its model also computes a summary of each step's logits (:func:`add_step_summary`), which the fast
  loop (``shared.fast_sampling``) reads instead of the logits where it can.
  Docs: https://onnxruntime.ai/docs/genai/ (model builder, ``Generator.get_logits``).

``CM_LM_BACKEND`` (``onnx`` or ``transformers``) chooses; ``onnx`` is the default where
onnxruntime-genai is installed, and anything that fails there falls back to transformers.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from shared import limits

BACKENDS = ("onnx", "transformers")
ONNX_LABEL = "onnxruntime-genai"
TRANSFORMERS_LABEL = "transformers, float32"
BUILD_NAME = "onnx-blockq4"  # the cache folder's suffix; change it when the build changes
SUMMARY_OUTPUTS = ("logits_logsumexp", "top_logits", "top_ids")


def requested_backend() -> str:
    """``CM_LM_BACKEND``, else ``"onnx"`` where onnxruntime-genai is installed, else ``"transformers"``.

    Raises:
        ValueError: ``CM_LM_BACKEND`` is not one of ``BACKENDS``.
    """
    value = os.environ.get("CM_LM_BACKEND", "").strip().lower()
    if value and value not in BACKENDS:
        raise ValueError(f"CM_LM_BACKEND={value!r} is not one of {', '.join(BACKENDS)}.")
    return value or ("onnx" if onnx_available() else "transformers")


def onnx_available() -> bool:
    return importlib.util.find_spec("onnxruntime_genai") is not None


class StepSummary(NamedTuple):
    """What the screen shows of one step's logits: ``log_z`` (their log-sum-exp, so ``p = exp(logit - log_z)``),
    and the ``k`` largest logits with their token ids, ``(k,)`` each, largest first."""

    log_z: float
    top_logits: torch.Tensor
    top_ids: torch.Tensor


class TransformersDecoder:
    """Decode with a ``transformers`` causal LM: the prompt in one forward pass, then one token at a time."""

    backend = TRANSFORMERS_LABEL

    def __init__(self, model: torch.nn.Module, device: str):
        from transformers import (
            DynamicCache,  # transformers loads in ~0.5 s: not at app start-up
        )

        self.model = model
        self.cache = DynamicCache(config=model.config)
        self.device = device
        self.pending = None  # (1, T) tokens not yet run through the model

    def prefill(self, input_ids: torch.Tensor) -> None:
        """Take the prompt ``(1, T)``; it runs through the model at the first :meth:`next_logits`."""
        self.pending = input_ids.to(self.device)

    @torch.inference_mode()
    def next_logits(self) -> torch.Tensor:
        """``(1, V)`` float32 logits for the next token."""
        out = self.model(input_ids=self.pending, cache=self.cache, use_cache=True, logits_to_keep=1)
        return out.logits[:, -1, :].float().cpu()

    def summary(self, k: int) -> None:
        """Computed by the caller from the logits on this backend."""
        return None

    def append(self, token_id: int) -> None:
        self.pending = torch.tensor([[token_id]], device=self.device)


class OnnxLM:
    """A causal LM exported for onnxruntime-genai, with the Hugging Face tokenizer of the original model.

    Args:
        folder: the builder's output (``model.onnx``, ``genai_config.json``, ...).
        hf_folder: the original model's folder, for its generation config (end-of-sequence ids).
    """

    def __init__(self, folder: Path, hf_folder: Path):
        import onnxruntime_genai as og
        from transformers import GenerationConfig

        self.og = og
        self.folder = Path(folder)
        self.model = og.Model(str(folder))
        self.generation_config = GenerationConfig.from_pretrained(hf_folder)
        self.nbytes = sum(p.stat().st_size for p in self.folder.glob("model.onnx*"))
        weights = json.loads((self.folder / "weights.json").read_text()) if (self.folder / "weights.json").exists() else {}
        self.backend = f"{ONNX_LABEL}, {weights.get('summary', 'quantised weights')}"
        extra = self.folder / "step_summary.json"
        self.summary_k = json.loads(extra.read_text())["top_k"] if extra.exists() else 0


class OnnxDecoder:
    """Decode with onnxruntime-genai. Its KV buffer holds ``max_length`` tokens (prompt + new tokens)."""

    def __init__(self, lm: OnnxLM, max_length: int):
        self.backend = lm.backend
        self.summary_k = lm.summary_k
        og = lm.og
        params = og.GeneratorParams(lm.model)
        # The default max_length (the model's context, 8192) preallocates about 380 MB of cache.
        params.set_search_options(max_length=max_length + 1)  # + 1: the loop appends its last token too
        self.generator = og.Generator(lm.model, params)

    def prefill(self, input_ids: torch.Tensor) -> None:
        """Run the prompt ``(1, T)`` through the model."""
        self.generator.append_tokens(input_ids[0].tolist())

    def next_logits(self) -> torch.Tensor:
        """``(1, V)`` float32 logits for the next token."""
        logits = np.asarray(self.generator.get_logits())  # (1, 1, V)
        return torch.from_numpy(logits.reshape(1, -1).astype(np.float32, copy=True))

    def summary(self, k: int) -> StepSummary | None:
        """The model's own summary of the last position's logits (see :func:`add_step_summary`), or ``None``."""
        if self.summary_k < k:
            return None
        get = self.generator.get_output  # outputs of the last run: (1, T, ...) for a prompt, T = 1 after
        log_z = float(np.asarray(get(SUMMARY_OUTPUTS[0])).reshape(-1)[-1])
        values = np.asarray(get(SUMMARY_OUTPUTS[1])).reshape(-1, self.summary_k)[-1, :k]
        ids = np.asarray(get(SUMMARY_OUTPUTS[2])).reshape(-1, self.summary_k)[-1, :k]
        return StepSummary(log_z, torch.from_numpy(values.astype(np.float32)), torch.from_numpy(ids.astype(np.int64)))

    def append(self, token_id: int) -> None:
        self.generator.append_tokens([token_id])


def start_decoding(bundle, max_length: int):
    """A fresh decoder (``shared.sampling.Decoder``) for ``bundle`` (a ``shared.loader.Bundle``), for up to
    ``max_length`` tokens in all; call its ``prefill`` with the prompt next."""
    if isinstance(bundle.model, OnnxLM):
        return OnnxDecoder(bundle.model, max_length)
    return TransformersDecoder(bundle.model, bundle.device)


def logits_after(bundle, input_ids: torch.Tensor) -> torch.Tensor:
    """The ``(1, V)`` float32 next-token logits after ``input_ids`` ``(1, T)``: a prefill, nothing generated."""
    decoder = start_decoding(bundle, input_ids.shape[1] + 1)
    decoder.prefill(input_ids)
    return decoder.next_logits()


_build_lock = threading.Lock()


def build_onnx(hf_folder: Path, out_folder: Path, num_threads: int, report=lambda f, m: None) -> Path:
    """Export ``hf_folder`` (a ``save_pretrained`` folder) for onnxruntime-genai, once.

    Two subprocesses (their output goes to ``build.log`` beside the result): onnxruntime-genai's model
    builder writes a float32 model, then :mod:`shared.block_quant` re-encodes its weights in 4/8 bits
    (``weights.json`` records how). Then sets the session's thread count in ``genai_config.json``.
    Returns ``out_folder``.

    Raises:
        RuntimeError: a step failed; the message names the log.
    """
    out_folder = Path(out_folder)
    with _build_lock:
        if (out_folder / "genai_config.json").exists():
            return out_folder
        tmp = out_folder.with_name(f"{out_folder.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "float32").mkdir(parents=True)
        log = tmp.parent / f"{out_folder.name}.build.log"
        steps = [
            (0.15, "First use: exporting the model to ONNX (about 10 s, once)",
             [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(hf_folder), "-o",
              str(tmp / "float32"), "-p", "fp32", "-e", "cpu", "-c", str(tmp / "_cache")]),
            (0.4, "First use: writing its weights in 4/8 bits (about 15 s, once)",
             [sys.executable, "-m", "shared.block_quant", str(tmp / "float32" / "model.onnx"), str(tmp / "model.onnx")]),
        ]
        with open(log, "w") as f:
            for fraction, message, cmd in steps:
                report(fraction, message)
                f.write(f"$ {' '.join(cmd)}\n")
                f.flush()
                done = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, check=False,
                                      cwd=Path(__file__).resolve().parent.parent)
                if done.returncode != 0:
                    shutil.rmtree(tmp, ignore_errors=True)
                    raise RuntimeError(f"building the onnxruntime-genai model failed (exit {done.returncode}); see {log}")
        add_step_summary(tmp / "model.onnx", limits.STEP_TOP_N)
        for extra in (tmp / "float32").iterdir():
            if not extra.name.startswith("model.onnx"):
                shutil.move(str(extra), tmp / extra.name)
        shutil.rmtree(tmp / "float32", ignore_errors=True)
        shutil.rmtree(tmp / "_cache", ignore_errors=True)
        config_path = tmp / "genai_config.json"
        config = json.loads(config_path.read_text())
        session = config["model"]["decoder"].setdefault("session_options", {})
        session["intra_op_num_threads"] = num_threads
        config_path.write_text(json.dumps(config, indent=2))
        try:
            tmp.rename(out_folder)
        except OSError:  # another process finished first
            shutil.rmtree(tmp, ignore_errors=True)
        return out_folder


def remove_stale_builds(cache_dir: Path, model_id: str) -> list[str]:
    """Delete this app's earlier builds of ``model_id`` (``<id>-onnx-*`` folders other than :data:`BUILD_NAME`).

    A build from an older version of the app is never read again; the int8 one of the previous version
    took about 300 MB. Returns the names removed.
    """
    removed = []
    for old in Path(cache_dir).glob(f"{model_id}-onnx-*"):
        if old.is_dir() and old.name != f"{model_id}-{BUILD_NAME}" and ".tmp-" not in old.name:
            shutil.rmtree(old, ignore_errors=True)
            removed.append(old.name)
    return removed


def add_step_summary(model_path: Path, k: int) -> None:
    """Add three outputs to the ONNX model at ``model_path``: the log-sum-exp and the top ``k`` of its logits.

    They are what the demo shows of each step (the chosen token's probability and the top-``k`` table),
    computed inside onnxruntime right after the logits, instead of two more passes over 49,152 logits in
    Python (about 0.5 ms a token on this CPU). ``TopK`` gives the largest logit ``M``; the log-sum-exp is
    ``M + log(sum(exp(logits - M)))``, the exponentials in float32 and their sum in float64 (2e-12 from a
    float64 reference here, in 0.09 ms; ``ReduceLogSumExp`` in float32 was 7e-5 off, and in float64
    took 0.32 ms a step). Writes ``step_summary.json`` (``{"top_k": k}``) beside it.
    Ops: https://onnx.ai/onnx/operators/onnx__TopK.html, https://onnx.ai/onnx/operators/onnx__ReduceSum.html
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(model_path), load_external_data=False)  # the weights stay where they are
    graph = model.graph
    lse, values, ids = SUMMARY_OUTPUTS
    graph.initializer.extend([numpy_helper.from_array(np.array([-1], np.int64), "summary/axes"),
                              numpy_helper.from_array(np.array([k], np.int64), "summary/k"),
                              numpy_helper.from_array(np.array([0], np.int64), "summary/zero"),
                              numpy_helper.from_array(np.array([1], np.int64), "summary/one")])
    node = helper.make_node
    graph.node.extend([
        node("TopK", ["logits", "summary/k"], [values, ids], name="/summary/TopK", axis=-1),
        node("Slice", [values, "summary/zero", "summary/one", "summary/axes"], ["summary/max"], name="/summary/Max"),
        node("Sub", ["logits", "summary/max"], ["summary/shifted"], name="/summary/Sub"),
        node("Exp", ["summary/shifted"], ["summary/exp"], name="/summary/Exp"),
        node("Cast", ["summary/exp"], ["summary/exp64"], name="/summary/Cast", to=TensorProto.DOUBLE),
        node("ReduceSum", ["summary/exp64", "summary/axes"], ["summary/sum"], name="/summary/Sum", keepdims=1),
        node("Log", ["summary/sum"], ["summary/log_sum"], name="/summary/Log"),
        node("Cast", ["summary/max"], ["summary/max64"], name="/summary/CastMax", to=TensorProto.DOUBLE),
        node("Add", ["summary/log_sum", "summary/max64"], [lse], name="/summary/LogSumExp"),
    ])
    graph.output.extend([helper.make_tensor_value_info(lse, TensorProto.DOUBLE, None),
                         helper.make_tensor_value_info(values, TensorProto.FLOAT, None),
                         helper.make_tensor_value_info(ids, TensorProto.INT64, None)])
    onnx.save(model, str(model_path))
    (Path(model_path).parent / "step_summary.json").write_text(json.dumps({"top_k": k}))
