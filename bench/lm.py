"""Speed of topic 4's generation path against plain ``model.generate`` on the same weights, same run.

    python bench/lm.py [--tokens 64] [--repeats 3]

Prints tokens/s and time to first token (TTFT) for: our streaming loop (``apps.language.generate_tokens``,
which also computes every step's probabilities), ``model.generate`` on the same model, and, when
``llama-cpp-python`` is installed, llama.cpp on the same GGUF. Figures are ratios within this run, so the
machine's load affects both sides alike. Goal: ours / generate >= 0.95.
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

import torch  # noqa: E402

from apps import language as L  # noqa: E402
from shared.catalog import EMBEDDED_LM, get  # noqa: E402
from shared.loader import _wheel_dir, load  # noqa: E402

PROMPT = "The history of the printing press begins"


def ours(bundle, ids, settings):
    start = time.perf_counter()
    ttft, n = None, 0
    for _ in L.generate_tokens(bundle, ids, settings):
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


def llama_cpp(tokens: int):
    try:
        from llama_cpp import Llama
    except ImportError:
        return None
    spec = get(EMBEDDED_LM)
    llm = Llama(model_path=str(_wheel_dir(spec.repo_id) / spec.gguf_file), n_threads=torch.get_num_threads(),
                verbose=False, n_ctx=512)
    start = time.perf_counter()
    llm(PROMPT, max_tokens=1, temperature=0)
    ttft = time.perf_counter() - start
    start = time.perf_counter()
    out = llm(PROMPT, max_tokens=tokens, temperature=0)
    n = out["usage"]["completion_tokens"]
    return n / (time.perf_counter() - start), ttft, n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    bundle = load(EMBEDDED_LM)
    ids = L.encode_prompt(bundle.tokenizer, PROMPT, "Raw continuation")
    print(f"model {bundle.spec.label}, {bundle.dtype}, {bundle.device}, torch threads {torch.get_num_threads()}, "
          f"{a.tokens} tokens, {a.repeats} repeats (median)")
    for name, s in [
        ("greedy", L.make_settings(0, 0, 1.0, 1.0, a.tokens, 0)),
        ("sampled T=0.7 k=50 p=0.95", L.make_settings(0.7, 50, 0.95, 1.0, a.tokens, 0)),
    ]:
        ours(bundle, ids, L.make_settings(0, 0, 1.0, 1.0, 4, 0))  # warm-up
        rows = {"ours": [], "generate": []}
        for _ in range(a.repeats):  # interleaved, so load drifts hit both alike
            rows["ours"].append(ours(bundle, ids, s))
            rows["generate"].append(plain_generate(bundle, ids, s))
        med = {k: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v), v[0][2]) for k, v in rows.items()}
        print(f"\n[{name}]")
        for k, (tps, ttft, n) in med.items():
            print(f"  {k:10s} {tps:6.1f} tok/s   TTFT {ttft * 1000:6.0f} ms   ({n} tokens)")
        print(f"  ratio ours/generate: {med['ours'][0] / med['generate'][0]:.3f} (tok/s)   "
              f"{med['generate'][1] / med['ours'][1]:.3f} (TTFT, >1 = ours faster)")
        if name == "greedy":
            ref = med["ours"][0]
    cpp = llama_cpp(a.tokens)
    if cpp is None:
        print("\nllama-cpp-python not installed: no llama.cpp figure (pip install llama-cpp-python to add it).")
    else:
        print(f"\n[llama.cpp, same GGUF, greedy] {cpp[0]:.1f} tok/s, TTFT {cpp[1] * 1000:.0f} ms; "
              f"ours/llama.cpp = {ref / cpp[0]:.3f}")


if __name__ == "__main__":
    main()
