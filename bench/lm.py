"""Speed of topic 4's generation path on each backend, against plain ``model.generate``, in one run.

    python bench/lm.py [--tokens 64] [--repeats 5] [--fast-only]

Prints tokens/s and time to first token (TTFT) for: our streaming loop (``shared.generation.generate_tokens``,
which also computes every step's probabilities, with the shortcuts of ``shared.fast_sampling``) on the onnxruntime-genai backend (the GGUF's own 4/8-bit
weights, see ``shared/block_quant.py``) and on the transformers float32 backend; ``model.generate`` on
the same transformers model; onnxruntime-genai's bare loop (argmax of ``get_logits``, no probabilities:
the ceiling for our loop); and, when ``llama-cpp-python`` is installed, llama.cpp on the same GGUF,
greedy, in the same interleaved repeats, twice: through llama-cpp-python's completion API (as an app
would call it) and as its bare ``eval`` loop (argmax of its logits: the engine without its wrapper).
Also the memory (RSS) each backend adds and the quality guard: total-variation distance of each fast
path's first-token distribution from float32 transformers (llama.cpp's own too, as a yardstick). Figures are ratios within this run, so the machine's load
affects all sides alike. Goals: transformers loop / generate >= 0.95; default (onnx) path >= 1.2x llama.cpp.

To time the AVX2 kernels on an AVX-512 machine, see ``bench/force_avx2.py``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import psutil  # noqa: E402
import torch  # noqa: E402

from shared import decoding, look_inside  # noqa: E402
from shared import generation as G  # noqa: E402
from shared.block_quant import llama_cpp_activations  # noqa: E402
from shared.catalog import EMBEDDED_LM, get  # noqa: E402
from shared.loader import _wheel_dir, load  # noqa: E402

PROMPT = "The history of the printing press begins"
SETTLE_S = 0.3  # a pause before each timed path, for the previous runtime's spinning threads to sleep
QUALITY_PROMPTS = ["The capital of France is", "Once upon a time,", "def add(a, b):", "The best way to learn is",
                   "Write a poem about the sea.", "I like apples, apples, apples and", "The weather today is",
                   "In 1492, Columbus", "My favourite food is", "import numpy as np\n", "The mitochondria is",
                   "Dear Sir or Madam,", "2 + 2 =", "The quick brown fox", "To be or not to be,", "Machine learning is",
                   "She opened the door and", "The largest planet in the solar system is", "Paris is a city in",
                   "Water boils at"]


def ours(bundle, ids, settings):
    start = time.perf_counter()
    ttft, n = None, 0
    for _ in G.generate_tokens(bundle, ids, settings):
        n += 1
        if ttft is None:
            ttft = time.perf_counter() - start
    return n / (time.perf_counter() - start), ttft, n


@torch.inference_mode()
def plain_generate(bundle, ids, settings):
    kw = dict(do_sample=False) if settings.temperature == 0 else dict(
        do_sample=True, temperature=settings.temperature, top_k=settings.top_k, top_p=settings.top_p)
    start = time.perf_counter()
    bundle.model.generate(ids, max_new_tokens=1, **kw)
    ttft = time.perf_counter() - start
    start = time.perf_counter()
    out = bundle.model.generate(ids, max_new_tokens=settings.max_new_tokens, min_new_tokens=settings.max_new_tokens, **kw)
    n = out.shape[1] - ids.shape[1]
    return n / (time.perf_counter() - start), ttft, n


def bare_onnx(bundle, ids, settings):
    """onnxruntime-genai alone: greedy argmax of ``get_logits``, no probabilities, no sampler."""
    start = time.perf_counter()
    decoder = decoding.start_decoding(bundle, ids.shape[1] + settings.max_new_tokens)
    decoder.prefill(ids)  # runs the prompt
    ttft = None
    for _ in range(settings.max_new_tokens):
        token = int(np.asarray(decoder.generator.get_logits()).argmax())
        ttft = ttft or time.perf_counter() - start
        decoder.append(token)
    return settings.max_new_tokens / (time.perf_counter() - start), ttft, settings.max_new_tokens


def llama_cpp_model():
    """llama-cpp-python on the embedded GGUF, or ``None`` when it is not installed."""
    try:
        from llama_cpp import Llama
    except ImportError:
        return None
    spec = get(EMBEDDED_LM)
    # logits_all=False, llama-cpp-python's default: it keeps the last position's logits only (all the quality
    # guard reads); logits_all=True cost llama.cpp about 4% a token here (9.21 against 8.87 ms).
    return Llama(model_path=str(_wheel_dir(spec.repo_id) / spec.gguf_file), n_threads=torch.get_num_threads(),
                 verbose=False, n_ctx=512, logits_all=False)


def llama_cpp(llm, ids, settings):
    """Greedy completion of the same prompt tokens, timed like ours (the 1-token call gives TTFT)."""
    prompt = ids[0].tolist()
    llm.reset()  # forget the evaluated prompt: llama-cpp-python would otherwise reuse its cache, skipping prefill
    start = time.perf_counter()
    llm(prompt, max_tokens=1, temperature=0)
    ttft = time.perf_counter() - start
    llm.reset()
    start = time.perf_counter()
    out = llm(prompt, max_tokens=settings.max_new_tokens, temperature=0)
    n = out["usage"]["completion_tokens"]
    return n / (time.perf_counter() - start), ttft, n


def llama_cpp_loop(llm, ids, settings):
    """llama.cpp's own decode loop, greedy: ``eval`` one token at a time and take the argmax of its logits.

    No sampler chain, no stop checks, no detokenising, no probabilities: what the bare onnxruntime-genai
    loop is to ours, this is to llama-cpp-python's completion API, so the engines also meet without their
    wrappers (on a 2-core Zen 4 the two llama.cpp paths ran within 2% of each other).
    """
    llm.reset()
    start = time.perf_counter()
    llm.eval(ids[0].tolist())
    ttft = None
    for _ in range(settings.max_new_tokens):
        token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        ttft = ttft or time.perf_counter() - start
        llm.eval([token])
    return settings.max_new_tokens / (time.perf_counter() - start), ttft, settings.max_new_tokens


def llama_cpp_first_token(llm, ids: np.ndarray) -> np.ndarray:
    llm.reset()
    llm.eval(ids.tolist())
    return np.array(llm.scores[len(ids) - 1], dtype=np.float64)


def machine_load() -> str:
    """The 1-minute load average against the core count: other processes' share of the CPUs during a run."""
    return f"{os.getloadavg()[0]:.1f} runnable threads on {os.cpu_count()} cores (1-minute average)"


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def total_variation(logits_a: np.ndarray, logits_b: np.ndarray) -> float:
    p, q = (np.exp(x - x.max()) / np.exp(x - x.max()).sum() for x in (logits_a, logits_b))
    return 0.5 * float(np.abs(p - q).sum())


def quality_guard(onnx_bundle, torch_bundle, llm) -> None:
    rows = {"ours, onnx": [], "llama.cpp": [], "llama.cpp's arithmetic, emulated in float32": []}
    for prompt in QUALITY_PROMPTS:
        reference, ids = look_inside.next_token_logits(torch_bundle, prompt, "Raw continuation")
        with llama_cpp_activations(torch_bundle.model):
            rows["llama.cpp's arithmetic, emulated in float32"].append(
                total_variation(look_inside.next_token_logits(torch_bundle, prompt, "Raw continuation")[0], reference))
        rows["ours, onnx"].append(total_variation(look_inside.next_token_logits(onnx_bundle, prompt, "Raw continuation")[0],
                                                  reference))
        if llm is not None:
            rows["llama.cpp"].append(total_variation(llama_cpp_first_token(llm, ids), reference))
    print(f"\nquality guard: first-token total variation from transformers float32, {len(QUALITY_PROMPTS)} prompts")
    for name, tvs in rows.items():
        if tvs:
            print(f"  {name:44s} {', '.join(f'{x:.3f}' for x in tvs[:6])}, ... (max {max(tvs):.3f}, "
                  f"mean {statistics.mean(tvs):.3f}; first six: max {max(tvs[:6]):.3f})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--fast-only", action="store_true",
                    help="time only the onnx and llama.cpp paths (greedy), e.g. for many repeats on a noisy machine")
    a = ap.parse_args()
    base = rss_mb()
    torch_bundle = load(EMBEDDED_LM, backend="transformers")
    after_torch = rss_mb()
    onnx_bundle = load(EMBEDDED_LM, backend="onnx")
    after_onnx = rss_mb()
    ids = G.encode_prompt(torch_bundle.tokenizer, PROMPT, "Raw continuation")
    print(f"model {torch_bundle.spec.label}, torch threads {torch.get_num_threads()}, {a.tokens} tokens, "
          f"{a.repeats} repeats (median)")
    print(f"machine load before timing: {machine_load()}")
    print(f"RSS: {base:.0f} MB before loading; transformers float32 adds {after_torch - base:.0f} MB; "
          f"{onnx_bundle.backend} adds {after_onnx - after_torch:.0f} MB")
    llm = llama_cpp_model()
    fast = isinstance(onnx_bundle.model, decoding.OnnxLM)
    if not fast:
        print(f"onnx backend unavailable ({onnx_bundle.notice}); timing transformers only")
    greedy = {}
    for name, s in [
        ("greedy", G.make_settings(0, 0, 1.0, 1.0, a.tokens, 0)),
        ("sampled T=0.7 k=50 p=0.95", G.make_settings(0.7, 50, 0.95, 1.0, a.tokens, 0)),
    ]:
        paths = {"ours, onnx": (ours, onnx_bundle), "ours, transformers": (ours, torch_bundle),
                 "model.generate": (plain_generate, torch_bundle)}
        if name == "greedy":  # the references: no probabilities shown, greedy only
            paths |= {"bare onnxruntime-genai": (bare_onnx, onnx_bundle), "llama.cpp": (llama_cpp, llm),
                      "llama.cpp eval loop": (llama_cpp_loop, llm)}
        if a.fast_only:
            if name != "greedy":
                continue
            paths = {k: v for k, v in paths.items() if "transformers" not in k and k != "model.generate"}
        paths = {k: v for k, v in paths.items() if v[1] is not None and (fast or "onnx" not in k)}
        for fn, bundle in paths.values():  # warm-up
            fn(bundle, ids, G.make_settings(0, 0, 1.0, 1.0, 4, 0))
        rows = {k: [] for k in paths}
        names = list(paths)
        for r in range(a.repeats):  # interleaved, so load drifts hit every path alike
            for k in names[r % len(names):] + names[:r % len(names)]:  # each repeat starts one path later
                fn, bundle = paths[k]
                # The previous path's worker threads (torch, ORT, ggml) may still spin: let them settle. Then
                # warm this path up just before timing it, as a path that sat idle starts slow.
                time.sleep(SETTLE_S)
                fn(bundle, ids, G.make_settings(0, 0, 1.0, 1.0, 16, 0))
                rows[k].append(fn(bundle, ids, s))
        med = {k: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v), v[0][2]) for k, v in rows.items()}
        print(f"\n[{name}]")
        for k, (tps, ttft, n) in med.items():
            versus = f"x{tps / med['model.generate'][0]:.2f} of model.generate" if "model.generate" in med else ""
            print(f"  {k:22s} {tps:6.1f} tok/s   TTFT {ttft * 1000:6.0f} ms   ({n} tokens)   {versus}")
        if name == "greedy":
            greedy = med
    print(f"\nmachine load after timing: {machine_load()}")
    if fast and not a.fast_only:
        quality_guard(onnx_bundle, torch_bundle, llm)
    if llm is None:
        print("\nllama-cpp-python not installed: no llama.cpp figure (pip install llama-cpp-python to add it).")
    else:
        print("\n[greedy, against llama.cpp on the same GGUF: its completion API | its bare eval loop]")
        for k, (tps, _, _) in greedy.items():
            print(f"  {k:22s} x{tps / greedy['llama.cpp'][0]:.2f} | x{tps / greedy['llama.cpp eval loop'][0]:.2f}")


if __name__ == "__main__":
    from shared.device import describe_cpu

    print(f"CPU: {describe_cpu()}")
    main()
