"""Lossless re-encoding of GGUF block-quantised weights as onnxruntime ``MatMulNBits``.

The embedded SmolLM2 ships as a GGUF file whose linear layers are ``Q4_1`` and whose (tied)
embedding / output projection is ``Q8_0`` (llama.cpp's formats, blocks of 32 along the input
dimension). Our float32 safetensors copy holds exactly those values, so every block of 32 sits on
a grid llama.cpp chose:

- ``Q4_1``: ``w = d * q + m``, ``q`` in 0..15, one ``(d, m)`` per block;
- ``Q8_0``: ``w = d * q``, ``q`` in -127..127, one ``d`` per block.

Quantising such weights again (round-to-nearest int4 or int8) adds a second rounding error on top of
the first: int4 round-to-nearest moved the first-token distribution by a total-variation distance of
up to 0.39 here. This module instead finds each tensor's grid and writes the same numbers in the
layout of onnxruntime's contrib op ``MatMulNBits`` (``w = scale * (q - zero_point)``, see
https://github.com/microsoft/onnxruntime/blob/main/docs/ContribOperators.md#com.microsoft.MatMulNBits):

- ``Q8_0`` becomes 8-bit ``MatMulNBits`` with ``scale = d`` and the default zero point 128: exact.
- ``Q4_1`` becomes 4-bit ``MatMulNBits`` with ``scale = d`` and the default zero point 8, so
  ``d * (q - 8)``; the rest of each weight, ``r = m + 8 * d``, is the same for a whole block and is
  added back as ``blocksums(x) @ r``, a small float32 product over the ``K / 32`` block sums of the
  input. The same ``MatMulNBits`` computes those sums, as ``K / 32`` extra output columns whose
  weights are 1 on one block and 0 elsewhere (exact on the int4 grid). This is how llama.cpp itself
  applies ``m``: its ``Q8_1`` activations carry their block sums. The weights are then exact; only the
  activations are rounded, to int8 per block (``accuracy_level=4``), as llama.cpp also does, and the
  block sums are those of the rounded activations, as in llama.cpp's ``Q4_1 x Q8_1`` dot product.
  Without a ``zero_points`` input, onnxruntime's AVX2 kernel for one token at a time takes its
  symmetric path (``zp_is_8`` in MLAS), with less work per block than per-block zero points need;
  the AVX-512 kernels cost the same either way (they add zero points through block sums too).

Each correction is a plain ``MatMul`` and ``Add`` on the model's own ``(batch, sequence, hidden)`` tensors.
(An earlier build flattened the hidden states to 2-D so that each correction and its addition ran as one
``Gemm``: 120 fewer ops a step, yet 4-10% slower a token, on AVX-512 and AVX2 kernels alike.)

A ``MatMul`` whose weight is on no such grid (a hub model in bfloat16, say) is quantised by
onnxruntime's own ``MatMulNBitsQuantizer`` (int8, asymmetric, blocks of 32), the library path.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

BLOCK = 32
ACCURACY_LEVEL = 4  # int8 activations: the fast CPU kernels (MLAS CompInt8)
Q4_ZERO_POINT = 8  # MatMulNBits' default for 4 bits, used when the node has no zero_points input
_GRID_TOLERANCE = 1e-3  # how far from an integer q may be, in units of the block's step d


@dataclass
class Report:
    """What :func:`encode_model` did to each ``MatMul``, by node name."""

    q4_1: list[str] = field(default_factory=list)
    q8_0: list[str] = field(default_factory=list)
    int8_rtn: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """A few words for the UI, e.g. ``"GGUF Q4_1/Q8_0 weights kept exact"``."""
        exact = "/".join(kind for kind, names in (("Q4_1", self.q4_1), ("Q8_0", self.q8_0)) if names)
        if exact and not self.int8_rtn:
            return f"GGUF {exact} weights kept exact"
        if exact:
            return f"{len(self.q4_1) + len(self.q8_0)} GGUF {exact} weights kept exact, {len(self.int8_rtn)} int8"
        return "int8 weights"


def as_q4_1(w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Find the ``Q4_1`` grid of ``w`` ``(N, K)``, if every block of 32 along K has one.

    Returns:
        ``(q, d, m)``: uint8 ``(N, K/32, 32)`` in 0..15, float64 ``(N, K/32)`` steps and minima, with
        ``d * q + m == w`` to within float rounding; ``None`` when some block is off the grid.
    """
    b = w.reshape(w.shape[0], -1, BLOCK).astype(np.float64)
    m = b.min(-1)
    d = (b.max(-1) - m) / 15
    q = (b - m[..., None]) / np.where(d == 0, 1, d)[..., None]
    rq = np.rint(q)
    if np.abs(q - rq).max(initial=0) > _GRID_TOLERANCE or rq.max(initial=0) > 15:
        return None
    return rq.astype(np.uint8), d, m


def as_q8_0(w: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Find the ``Q8_0`` grid of ``w`` ``(N, K)``: ``(q, d)``, int8 ``(N, K/32, 32)`` and ``(N, K/32)``, or ``None``."""
    b = w.reshape(w.shape[0], -1, BLOCK).astype(np.float64)
    d = np.abs(b).max(-1) / 127
    q = b / np.where(d == 0, 1, d)[..., None]
    rq = np.rint(q)
    if np.abs(q - rq).max(initial=0) > _GRID_TOLERANCE:
        return None
    return rq.astype(np.int8), d


def pack_nibbles(values: np.ndarray) -> np.ndarray:
    """Pack 4-bit ``values`` ``(..., 2n)`` two to a byte, the first in the low nibble: ``(..., n)`` uint8."""
    v = values.astype(np.uint8)
    return (v[..., 0::2] | (v[..., 1::2] << 4)).astype(np.uint8)


def _matmul_nbits(name: str, x: str, y: str, k: int, n: int, bits: int, inputs: list[str]):
    from onnx import helper
    return helper.make_node("MatMulNBits", [x, *inputs], [y], name=name, domain="com.microsoft",
                            K=k, N=n, bits=bits, block_size=BLOCK, accuracy_level=ACCURACY_LEVEL)


def encode_model(src: Path, dst: Path, report=lambda f, m: None) -> Report:
    """Rewrite the float32 ONNX model ``src`` (``model.onnx`` + external data) into ``dst`` with 4/8-bit weights.

    Every ``MatMul`` whose second input is a constant float32 weight ``(K, N)`` with ``K % 32 == 0`` is
    replaced: exactly when the weight is ``Q4_1`` or ``Q8_0`` data (see the module docstring), else by
    onnxruntime's int8 round-to-nearest quantiser. ``Q4_1`` layers that read the same input (a
    transformer's gate and up projections) become one ``MatMulNBits`` followed by a ``Split``, so the
    block sums and the correction run once for both. A weight that other nodes also read (a tied
    embedding) stays for them, in float32.

    Returns:
        :class:`Report` of which nodes took which path.
    """
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    readers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            readers[name] = readers.get(name, 0) + 1
    result = Report()
    new_nodes, new_inits, dropped = [], [], set()
    q4_groups: dict[str, list] = {}  # input name -> [(node, q, d, m)] of Q4_1 layers reading it
    matmuls = [nd for nd in graph.node if nd.op_type == "MatMul" and nd.input[1] in inits]
    for i, node in enumerate(matmuls):
        report(i / max(len(matmuls), 1), f"Reading {node.name}")
        weight = numpy_helper.to_array(inits[node.input[1]])
        if weight.ndim != 2 or weight.shape[0] % BLOCK or weight.dtype != np.float32:
            continue
        wt = np.ascontiguousarray(weight.T)  # (N, K): MatMulNBits keeps one row per output
        if (found := as_q4_1(wt)) is not None:
            q4_groups.setdefault(node.input[0], []).append((node, *found))
            result.q4_1.append(node.name)
        elif (found := as_q8_0(wt)) is not None:
            q, d = found
            base = node.input[1].removesuffix(".weight")
            new_inits += [numpy_helper.from_array((q.astype(np.int16) + 128).astype(np.uint8), f"{base}.q8"),
                          numpy_helper.from_array(d.astype(np.float32), f"{base}.scales")]
            new_nodes.append(_matmul_nbits(f"{node.name}_Q8", node.input[0], node.output[0], weight.shape[0],
                                           weight.shape[1], 8, [f"{base}.q8", f"{base}.scales"]))
            result.q8_0.append(node.name)
            # A tied embedding reads the same Q8_0 table through Transpose -> Gather: gather the int8 rows instead.
            for tr in [nd for nd in graph.node if nd.op_type == "Transpose" and nd.input[0] == node.input[1]]:
                for gather in [nd for nd in graph.node if nd.op_type == "Gather" and nd.input[0] == tr.output[0]]:
                    new_inits += [numpy_helper.from_array(
                        (q.astype(np.int16) + 128).astype(np.uint8).reshape(weight.shape[1], -1), f"{base}.rows_q8"),
                        numpy_helper.from_array(np.full(d.shape, 128, np.uint8), f"{base}.rows_zero_points")]
                    new_nodes.append(helper.make_node(
                        "GatherBlockQuantized", [f"{base}.rows_q8", gather.input[1], f"{base}.scales",
                                                 f"{base}.rows_zero_points"], list(gather.output),
                        name=f"{gather.name}_Q8", domain="com.microsoft", bits=8, block_size=BLOCK,
                        gather_axis=0, quantize_axis=1))
                    dropped.add(gather.name)
                    readers[tr.output[0]] -= 1
                if readers[tr.output[0]] == 0:
                    dropped.add(tr.name)
                    readers[node.input[1]] -= 1
        else:
            continue
        dropped.add(node.name)
        if readers[node.input[1]] == 1:
            graph.initializer.remove(inits.pop(node.input[1]))
    for x, group in q4_groups.items():
        nodes, new = _encode_q4_1_group(x, group)
        new_nodes += nodes
        new_inits += new
    kept = [nd for nd in graph.node if nd.name not in dropped]
    del graph.node[:]
    graph.node.extend(kept + new_nodes)
    graph.initializer.extend(new_inits)
    if not any(op.domain == "com.microsoft" for op in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    _topological_sort(graph)
    rest = [nd.name for nd in graph.node if nd.op_type == "MatMul" and nd.input[1] in inits]
    if rest:
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
        report(0.95, f"Quantising {len(rest)} other weights to int8")
        quantizer = MatMulNBitsQuantizer(model, bits=8, block_size=BLOCK, is_symmetric=False,
                                         accuracy_level=ACCURACY_LEVEL, nodes_to_include=rest)
        quantizer.process()
        model = quantizer.model.model
        result.int8_rtn += rest
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dst), save_as_external_data=True, all_tensors_to_one_file=True,
              location=f"{dst.name}.data", size_threshold=1024)
    return result


def _encode_q4_1_group(x: str, group: list) -> tuple[list, list]:
    """Nodes and initializers computing every ``Q4_1`` layer in ``group`` (all read input ``x``) exactly.

    ``[y0, sums] = MatMulNBits(x)`` (``sums``: the ``K / 32`` block sums of ``x``, from extra columns),
    ``y = y0 + sums @ residual``, then split back into the layers' outputs.
    """
    from onnx import helper, numpy_helper

    q = np.concatenate([g[1] for g in group])  # (N, K/32, 32), the layers' rows one after another
    d = np.concatenate([g[2] for g in group])
    m = np.concatenate([g[3] for g in group])
    n, n_blocks, _ = q.shape
    k = n_blocks * BLOCK
    residual = m + Q4_ZERO_POINT * d  # (N, K/32): w = d * (q - 8) + residual
    # Extra output j sums block j of x: weight 1 (q = 9, scale 1) there, 0 (q = 8) elsewhere.
    sums_q = np.full((n_blocks, n_blocks, BLOCK), Q4_ZERO_POINT, np.uint8)
    sums_q[np.arange(n_blocks), np.arange(n_blocks)] = Q4_ZERO_POINT + 1
    q, d = np.concatenate([q, sums_q]), np.concatenate([d, np.ones((n_blocks, n_blocks))])
    name = group[0][0].name if len(group) == 1 else f"{x}/fused"
    outs = [g[0].output[0] for g in group]
    y = outs[0] if len(group) == 1 else f"{name}/output"
    inits = [numpy_helper.from_array(pack_nibbles(q), f"{name}.q4"),
             numpy_helper.from_array(d.astype(np.float32), f"{name}.scales"),
             numpy_helper.from_array(np.array([n, n_blocks], np.int64), f"{name}.split_sums"),
             numpy_helper.from_array(np.ascontiguousarray(residual.T.astype(np.float32)), f"{name}.residual")]
    nodes = [
        _matmul_nbits(f"{name}/MatMulNBits", x, f"{name}/q4_and_sums", k, n + n_blocks, 4,
                      [f"{name}.q4", f"{name}.scales"]),
        helper.make_node("Split", [f"{name}/q4_and_sums", f"{name}.split_sums"], [f"{name}/q4", f"{name}/block_sums"],
                         name=f"{name}/BlockSums", axis=-1),
        helper.make_node("MatMul", [f"{name}/block_sums", f"{name}.residual"], [f"{name}/residual"],
                         name=f"{name}/Residual"),
        helper.make_node("Add", [f"{name}/q4", f"{name}/residual"], [y], name=f"{name}/Add"),
    ]
    if len(group) > 1:
        sizes = np.array([g[1].shape[0] for g in group], np.int64)
        inits.append(numpy_helper.from_array(sizes, f"{name}.split"))
        nodes.append(helper.make_node("Split", [y, f"{name}.split"], outs, name=f"{name}/Split", axis=-1))
    return nodes, inits


def _topological_sort(graph) -> None:
    """Order ``graph.node`` so that every node comes after the nodes whose outputs it reads."""
    available = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        waiting = []
        for nd in pending:
            if all(name in available for name in nd.input):
                ordered.append(nd)
                available.update(nd.output)
            else:
                waiting.append(nd)
        if len(waiting) == len(pending):
            raise ValueError("the graph has a cycle or reads a tensor nothing produces")
        pending = waiting
    del graph.node[:]
    graph.node.extend(ordered)


def round_to_q8_blocks(x):
    """``x`` with each block of 32 along its last axis rounded to int8, as llama.cpp's ``Q8_0``/``Q8_1`` do.

    ``d = max|x| / 127`` per block, ``x' = d * round(x / d)`` (a block of zeros stays zero). A torch
    tensor of any shape whose last dimension is a multiple of 32; returns the same shape and dtype.
    Source: ``quantize_row_q8_1`` in llama.cpp's ``ggml-quants.c``.
    """
    import torch

    blocks = x.reshape(*x.shape[:-1], x.shape[-1] // BLOCK, BLOCK)
    d = blocks.abs().amax(-1, keepdim=True) / 127
    safe = torch.where(d > 0, d, torch.ones_like(d))
    return (torch.round(blocks / safe) * d).reshape(x.shape)


@contextmanager
def llama_cpp_activations(model):
    """Within the block, every ``nn.Linear`` of the PyTorch ``model`` reads int8-rounded activations.

    With the GGUF's own weights in float32, this is llama.cpp's arithmetic (``Q4_1 x Q8_1``,
    ``Q8_0 x Q8_0``: exact weights, activations rounded per block of 32) computed in float, on any
    CPU. The fast backend's int8 kernels differ by CPU (AVX-512 VNNI or AVX2), so its fidelity is
    judged against this reference in the same run, not against a figure taken on one machine.
    """
    import torch

    hooks = [m.register_forward_pre_hook(lambda _, args: (round_to_q8_blocks(args[0]), *args[1:]))
             for m in model.modules() if isinstance(m, torch.nn.Linear) and m.in_features % BLOCK == 0]
    try:
        yield model
    finally:
        for hook in hooks:
            hook.remove()


def main(argv: list[str] | None = None) -> None:
    """``python -m shared.block_quant SRC DST``: :func:`encode_model`, plus ``weights.json`` beside ``DST``."""
    import argparse
    import json

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path, help="float32 model.onnx (with its external data)")
    ap.add_argument("dst", type=Path, help="where to write the re-encoded model.onnx")
    a = ap.parse_args(argv)
    result = encode_model(a.src, a.dst, report=lambda f, m: None)
    (a.dst.parent / "weights.json").write_text(json.dumps(
        {"summary": result.summary(), "q4_1": result.q4_1, "q8_0": result.q8_0, "int8": result.int8_rtn}, indent=1))
    print(result.summary())


if __name__ == "__main__":
    main()
