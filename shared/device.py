"""Where models run: the device (CUDA, then MPS, then CPU) and the dtype for each task.

The environment variable ``CM_DEVICE`` (``cuda``, ``mps`` or ``cpu``) overrides the automatic choice.
Dtypes follow what was measured on each kind of device: CUDA uses bfloat16 where
the GPU supports it, else float16; MPS float16, with float32 for tasks whose ops need it; CPU float32.
On a 2-core AVX2 CPU, SmolLM2-135M decoded 64 greedy tokens at 21.2 / 19.6 tokens/s in float32 and
19.7 / 17.0 in bfloat16 (two runs each, same process), and bfloat16 rounds the probabilities the demos
show; CPUs with AVX-512 BF16 may differ, which ``CPU_BF16_TASKS`` is there to record.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

DEVICES = ("cuda", "mps", "cpu")

# Tasks measured faster in bfloat16 than float32 on a CPU: none so far (see the module docstring).
CPU_BF16_TASKS: frozenset[str] = frozenset()
# Tasks whose ops need float32 on Apple's MPS backend.
FP32_ON_MPS = frozenset({"sentence-embedding", "inspect"})


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def pick_device() -> str:
    """Return ``"cuda"``, ``"mps"`` or ``"cpu"``: the first available, or ``CM_DEVICE`` if set.

    Raises:
        ValueError: ``CM_DEVICE`` names an unknown device, or one this machine does not have.
    """
    override = os.environ.get("CM_DEVICE", "").strip().lower()
    if override:
        if override not in DEVICES:
            raise ValueError(f"CM_DEVICE={override!r} is not one of {', '.join(DEVICES)}.")
        available = {"cuda": torch.cuda.is_available(), "mps": _mps_available(), "cpu": True}
        if not available[override]:
            raise ValueError(f"CM_DEVICE={override} but this machine has no {override.upper()} device.")
        return override
    if torch.cuda.is_available():
        return "cuda"
    if _mps_available():
        return "mps"
    return "cpu"


def pick_dtype(device: str, task: str) -> torch.dtype:
    """Return the dtype to load a model for ``task`` on ``device``.

    ``task`` is a catalog task (``"text-generation"``, ``"sentence-embedding"``) or ``"inspect"``
    (a model loaded to show its attention weights, always float32 for faithful numbers on CPU/MPS).
    """
    if device == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device == "mps":
        return torch.float32 if task in FP32_ON_MPS else torch.float16
    return torch.bfloat16 if task in CPU_BF16_TASKS else torch.float32


# Read once, on the importing (main) thread: a worker thread's count can be lowered by ``torch_threads``.
CPU_THREADS = torch.get_num_threads()


def describe_device(device: str) -> str:
    """A short human label for the header line, e.g. ``"CPU (2 threads)"`` or ``"CUDA (NVIDIA H200)"``."""
    if device == "cuda":
        return f"CUDA ({torch.cuda.get_device_name(0)})"
    if device == "mps":
        return "MPS (Apple GPU)"
    return f"CPU ({CPU_THREADS} thread{'s' if CPU_THREADS != 1 else ''})"


# CPU features that change which int8/bfloat16 kernels run (and so a benchmark's figures).
CPU_FEATURES = ("avx512_vnni", "avx_vnni", "avx512_bf16", "avx512f", "avx2")


def describe_cpu() -> str:
    """The CPU's model name and its kernel-relevant features, e.g. ``"AMD EPYC (avx2), 2 cores"``.

    Read from ``/proc/cpuinfo`` (Linux); elsewhere the platform's processor string. Benchmarks print
    it with their figures, since int8 kernels differ by CPU (AVX-512 VNNI or AVX2 only).
    """
    import platform

    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")),
                platform.machine())
    flags = set(next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), []))
    features = ", ".join(f for f in CPU_FEATURES if f in flags) or "no AVX2"
    return f"{name} ({features}), {os.cpu_count()} cores"


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run torch ops on ``n`` threads for the duration, then restore the calling thread's setting.

    For small tensors, splitting work across threads costs more than it saves, above all on a busy
    2-core machine. OpenMP's thread count is per calling thread, so other requests keep theirs.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
