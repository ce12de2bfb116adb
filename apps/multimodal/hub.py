"""Hub models of topic 9: a vision-language model that answers questions about a picture, and a voice.

A vision-language model such as SmolVLM (Marafioti et al. 2025; the Idefics3 architecture of Laurençon et
al. 2024) cuts a picture into patches, encodes them with a vision transformer (SigLIP), compresses them
(pixel shuffle) and projects them into the language model's token embeddings: the language model then
reads the picture as a few dozen extra "words" (the LLaVA recipe, Liu et al. 2023).

The voice is Meta's MMS-TTS (Pratap et al. 2023), a VITS model (Kim et al. 2021), or Debian's espeak-ng
(a formant synthesiser, no neural network) when it is installed. Both are optional: without them the
chain says that its speech step is unavailable.

Both readers are called by the shared loader (``ModelSpec.reader``); hub weights are read as safetensors
only, never with remote code.
"""
from __future__ import annotations

import io
import shutil
import subprocess
import wave

import numpy as np
import torch

from shared import limits

VLM_ID = "hub:smolvlm-256m-instruct"
TTS_ID = "hub:mms-tts-eng"
ESPEAK = "espeak-ng"


def read_vlm(source, *, dtype=torch.float32, device="cpu", local_only=True, revision=None, report=None):
    """The loader's reader for vision-language models (``AutoModelForImageTextToText`` + ``AutoProcessor``).

    Args:
        source: a hub repo id (e.g. ``HuggingFaceTB/SmolVLM-256M-Instruct``) or a folder saved with ``save_pretrained``.
    Returns:
        ``(model, processor)``, the model in eval mode on ``device``.
    Raises:
        OSError: not in the local cache while offline, or no safetensors weights.
    """
    from transformers import AutoModelForImageTextToText, AutoProcessor

    kwargs = dict(revision=revision, local_files_only=local_only)
    if report:
        report(0.2, "Reading the vision-language model's processor")
    processor = AutoProcessor.from_pretrained(source, **kwargs)
    if report:
        report(0.4, "Reading the vision-language model")
    model = AutoModelForImageTextToText.from_pretrained(source, dtype=dtype, use_safetensors=True, **kwargs)
    return model.to(device), processor


@torch.inference_mode()
def ask_about_image(bundle, image, question: str, max_new_tokens: int = limits.MM_VLM_MAX_NEW_TOKENS) -> str:
    """Ask a vision-language model about a picture; greedy decoding.

    Args:
        bundle: a loader ``Bundle`` from :func:`read_vlm` (model + processor).
        image: a PIL image (RGB).
        question: the learner's question, e.g. ``"Describe this picture in one sentence."``.
    Returns:
        The answer (at most ``max_new_tokens`` tokens), stripped.
    """
    processor, model = bundle.tokenizer, bundle.model
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True)
    inputs = processor(text=prompt, images=[image], return_tensors="pt").to(bundle.device)
    if "pixel_values" in inputs:
        inputs["pixel_values"] = inputs["pixel_values"].to(bundle.dtype)
    out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    new_tokens = out[:, inputs["input_ids"].shape[1]:]
    return processor.batch_decode(new_tokens, skip_special_tokens=True)[0].strip()


def read_tts(source, *, dtype=torch.float32, device="cpu", local_only=True, revision=None, report=None):
    """The loader's reader for VITS text-to-speech models (``VitsModel`` + its tokenizer)."""
    from transformers import AutoTokenizer, VitsModel

    kwargs = dict(revision=revision, local_files_only=local_only)
    tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
    model = VitsModel.from_pretrained(source, dtype=dtype, use_safetensors=True, **kwargs)
    return model.to(device), tokenizer


def espeak_available() -> bool:
    """Whether Debian's ``espeak-ng`` is on the PATH."""
    return shutil.which(ESPEAK) is not None


def speak_espeak(text: str, words_per_minute: int = 150) -> tuple[int, np.ndarray]:
    """Speak ``text`` with espeak-ng in a subprocess (text on stdin, WAV on stdout, killed after
    ``limits.MM_TTS_TIMEOUT_S``).

    Returns:
        ``(sample_rate_hz, samples)``: int16 mono.
    Raises:
        ValueError: espeak-ng is missing, failed, or timed out.
    """
    exe = shutil.which(ESPEAK)
    if exe is None:
        raise ValueError("espeak-ng is not installed (Debian: apt-get install espeak-ng).")
    try:
        done = subprocess.run([exe, "--stdin", "--stdout", "-v", "en", "-s", str(words_per_minute)],
                              input=text.encode("utf-8"), capture_output=True, timeout=limits.MM_TTS_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as e:
        raise ValueError(f"espeak-ng took longer than {limits.MM_TTS_TIMEOUT_S} s and was stopped.") from e
    if done.returncode != 0 or not done.stdout:
        raise ValueError(f"espeak-ng failed: {done.stderr.decode(errors='replace').strip()[:200] or 'no audio'}")
    return wav_to_int16(done.stdout)


def wav_to_int16(data: bytes) -> tuple[int, np.ndarray]:
    """A 16-bit PCM WAV file's bytes -> ``(sample_rate_hz, int16 mono samples)``.

    espeak-ng writing to a pipe cannot seek back to fill in the header's lengths, so the lengths there
    may be wrong: the samples are read from the data chunk's start to the end of the bytes.
    """
    with wave.open(io.BytesIO(data)) as w:
        rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
    if width != 2:
        raise ValueError(f"Expected 16-bit audio from the speech synthesiser, got {8 * width}-bit.")
    start = data.find(b"data") + 8
    samples = np.frombuffer(data[start:start + (len(data) - start) // 2 * 2], dtype="<i2")
    if channels > 1:
        samples = samples[: len(samples) // channels * channels].reshape(-1, channels).mean(1).astype(np.int16)
    return rate, samples.astype(np.int16)


@torch.inference_mode()
def speak_vits(bundle, text: str, seed: int = 0) -> tuple[int, np.ndarray]:
    """Speak ``text`` with a VITS model (``bundle`` from :func:`read_tts`); VITS samples its durations and
    noise, so ``seed`` fixes the voice's take.

    Returns:
        ``(sample_rate_hz, samples)``: int16 mono, peak-normalised to 90% of full scale.
    """
    inputs = bundle.tokenizer(text, return_tensors="pt").to(bundle.device)
    torch.manual_seed(seed)
    waveform = bundle.model(**inputs).waveform[0].float().cpu().numpy()  # (samples,) float in about [-1, 1]
    peak = float(np.abs(waveform).max()) or 1.0
    return int(bundle.model.config.sampling_rate), (waveform / peak * 0.9 * 32767).astype(np.int16)
