"""Text to music with MusicGen (Copet et al. 2023, *Simple and Controllable Music Generation*).

MusicGen is a decoder-only transformer over the discrete codes of the EnCodec audio codec (Défossez et
al. 2022): four codebooks per 20 ms frame (50 frames a second at 32 kHz), predicted with a "delay" pattern
so one forward pass emits one code of every codebook. A T5 text encoder (Raffel et al. 2020) conditions it
through cross-attention; classifier-free guidance (Ho & Salimans 2022) mixes conditional and unconditional
logits (``guidance_scale``). It runs here through ``transformers``' ``MusicgenForConditionalGeneration``,
not Meta's ``audiocraft`` package, whose pinned torch 2.1 and xformers builds cannot be installed beside
this project's torch (see ``../shared/ARCHITECTURE.md`` section 4). The checkpoints are the same.
"""
from __future__ import annotations

import threading
import time

import numpy as np

from shared import limits

_SEED_LOCK = threading.Lock()  # torch's global generator: one seeded generation at a time


def read_musicgen(source, *, dtype, device, local_only, revision, report):
    """Loader reader (``ModelSpec.reader``) for MusicGen: ``(MusicgenForConditionalGeneration, processor)``.

    ``source`` is a hub repo id (``facebook/musicgen-small``) or a folder saved with ``save_pretrained``.
    Safetensors only, no remote code. Raises ``OSError`` when the files are neither local nor downloadable.
    """
    import torch
    from transformers import AutoProcessor, MusicgenForConditionalGeneration

    kwargs = dict(revision=revision, local_files_only=local_only)
    report(0.2, "Reading MusicGen's processor (T5 tokenizer, EnCodec feature extractor)")
    processor = AutoProcessor.from_pretrained(source, **kwargs)
    report(0.4, "Reading MusicGen's weights (text encoder, decoder, EnCodec)")
    model = MusicgenForConditionalGeneration.from_pretrained(
        source, dtype=torch.float32 if device == "cpu" else dtype, use_safetensors=True, **kwargs)
    return model.to(device).eval(), processor


class _StepCounter:
    """A logits processor that changes nothing and counts generation steps, to drive a progress bar.

    (A ``streamer`` would be the usual hook, but MusicGen's ``generate`` in transformers 5 passes it to the
    sampling loop as ``None``: it only ever receives the prompt.)"""

    def __init__(self, total: int, progress):
        self.total, self.progress, self.steps = total, progress, 0

    def __call__(self, input_ids, scores):
        self.steps += 1
        if self.progress:
            self.progress(min(0.99, self.steps / self.total), f"MusicGen step {self.steps} of {self.total}")
        return scores


def generate_music(prompt: str, duration_s: float, guidance_scale: float, seed: int, *,
                   model_id: str = "hub:musicgen-small", bundle=None, progress=None) -> tuple[int, np.ndarray, dict]:
    """Make ``duration_s`` seconds of music from a text ``prompt`` with MusicGen.

    Args:
        prompt: a description, e.g. ``"calm lo-fi piano with soft drums"`` (1 .. ``MUSICGEN_PROMPT_MAX_CHARS``).
        duration_s: seconds of audio, ``MUSICGEN_DURATION_MIN_S`` .. ``MUSICGEN_DURATION_MAX_S``; becomes
            ``round(duration_s * frame_rate)`` new tokens per codebook (50 a second for the real models).
        guidance_scale: classifier-free guidance; 1 = off (conditional logits only), 3 is MusicGen's default.
        seed: random seed for sampling.
        model_id: a catalog id of task ``"text-to-audio"``.
        bundle: an already loaded :class:`shared.loader.Bundle` (tests); default: load ``model_id``.
        progress: optional ``progress(fraction, message)``.

    Returns:
        ``(sample_rate_hz, samples, info)``: int16 mono samples (not rescaled, so loudness is kept) and a dict
        with ``seconds`` (wall time), ``tokens`` and ``seconds_per_audio_second``.

    Raises:
        ValueError: empty or too long prompt, numbers out of range;
        shared.loader.ModelUnavailable (a ValueError): MusicGen cannot be loaded (e.g. offline, not cached).
    """
    import torch
    from transformers import LogitsProcessorList

    from shared.checks import as_float, as_int

    prompt = (prompt or "").strip()
    if not prompt:
        raise ValueError("Describe the music you want, e.g. 'calm lo-fi piano with soft drums'.")
    if len(prompt) > limits.MUSICGEN_PROMPT_MAX_CHARS:
        raise ValueError(f"The prompt is {len(prompt)} characters long; the limit is {limits.MUSICGEN_PROMPT_MAX_CHARS}.")
    duration_s = as_float("Duration (s)", duration_s, limits.MUSICGEN_DURATION_MIN_S, limits.MUSICGEN_DURATION_MAX_S)
    guidance_scale = as_float("Guidance scale", guidance_scale, 1.0, limits.MUSICGEN_GUIDANCE_MAX)
    seed = as_int("Seed", seed, 0, limits.SEED_MAX)
    if bundle is None:
        from shared.loader import load

        bundle = load(model_id, progress=progress)
    model, processor = bundle.model, bundle.tokenizer
    frame_rate = model.config.audio_encoder.frame_rate
    tokens = max(1, round(duration_s * frame_rate))
    inputs = processor(text=[prompt], padding=True, return_tensors="pt").to(model.device)
    start = time.perf_counter()
    with _SEED_LOCK, torch.inference_mode():
        torch.manual_seed(seed)
        audio = model.generate(**inputs, do_sample=True, guidance_scale=guidance_scale, max_new_tokens=tokens,
                               logits_processor=LogitsProcessorList([_StepCounter(tokens, progress)]))
    seconds = time.perf_counter() - start
    samples = audio[0, 0].float().cpu().numpy()
    sample_rate_hz = int(model.config.audio_encoder.sampling_rate)
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
    audio_s = len(pcm) / sample_rate_hz
    return sample_rate_hz, pcm, {"seconds": seconds, "tokens": tokens, "audio_seconds": audio_s,
                                 "seconds_per_audio_second": seconds / max(audio_s, 1e-9)}
