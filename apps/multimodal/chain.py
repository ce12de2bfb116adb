"""One idea, every modality: prompt -> image -> caption -> text -> melody -> speech.

Each step is a model the course has already met, and each hands the next one only what it produced:

1. **Image**: topic 5's text-to-image model draws the prompt (a 32 x 32 emoji-style picture).
2. **Caption**: the tiny CLIP names that picture by its nearest caption in the shared space.
3. **Text**: the embedded language model (topic 4) writes one sentence about the caption (stopped at its
   first full stop).
4. **Melody**: the sentence's *mood* sets key, mode and tempo, and topic 6's melody model writes the tune.
5. **Speech**: the sentence, spoken by espeak-ng or a hub voice, when one is available.

The mood mapping, stated (Russell's 1980 circumplex of affect, valence x arousal, made concrete):
``valence`` = mean cosine similarity of the sentence's MiniLM vector to :data:`HAPPY` minus to :data:`SAD`;
``energy`` = the same with :data:`ENERGETIC` and :data:`CALM`. Then

- mode: major if valence >= 0, else minor (the oldest convention of Western music for happy / sad);
- tonic: higher for more energy (:data:`TONICS_BY_ENERGY`: F, C, G, D at the :data:`ENERGY_EDGES`);
- tempo: ``108 + 240 * energy + 80 * valence`` quarter notes per minute, clipped to 60..160;
- style: folk tune if energy >= -0.05, else chorale (everyday sentences score about -0.05).

Like a game of telephone, every hand-off loses something: the caption sees only the picture, the
sentence only the caption. What survives to the end is what the models share.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from apps.images import EMBEDDED_T2I, generate  # topic 5's model, reused as the chain's image step
from shared import limits
from shared.device import torch_threads
from shared.generation import encode_prompt, generate_tokens
from shared.loader import (
    ModelUnavailable as ModelMissing,  # a step whose model is not here
)
from shared.sampling import SamplingSettings

HAPPY = ("a happy, joyful, cheerful day", "I feel glad and full of delight", "bright sunshine, laughter and celebration")
SAD = ("a sad, gloomy, sorrowful day", "I feel lonely and full of grief", "grey rain, tears and loss")
ENERGETIC = ("fast, exciting, energetic action", "running, dancing and shouting at a thrilling race",
             "a loud party full of energy")
CALM = ("slow, calm, peaceful rest", "quiet sleep under a still night sky", "a gentle, relaxed, lazy afternoon")
TONICS_BY_ENERGY = ("F", "C", "G", "D")  # energy below -0.1, below -0.05, below 0, above
ENERGY_EDGES = (-0.1, -0.05, 0.0)  # everyday sentences sit a little on the calm side (about -0.05)
STYLE_EDGE = -0.05  # folk tune from this energy up, chorale below
TEMPO_MIN_BPM, TEMPO_MAX_BPM = 60, 160
TIME_SIGNATURE = "4/4"
MELODY_TEMPERATURE, MELODY_TOP_K = 1.0, 0
IMAGE_STEPS, IMAGE_GUIDANCE = 20, 5.0  # topic 5's model: DDIM steps and classifier-free guidance
LM_INSTRUCTION = "Write one short, vivid sentence about {caption}."
STEPS = ("image", "caption", "text", "melody", "speech")


@dataclass(frozen=True)
class Mood:
    """Where a text sits on two axes, and the music that follows from it (see the module docstring)."""

    valence: float  # > 0 happier, < 0 sadder
    energy: float  # > 0 more energetic, < 0 calmer
    key: str
    mode: str
    tempo_bpm: int
    style: str

    def describe(self) -> str:
        feel = "happy" if self.valence >= 0 else "sad"
        pace = "energetic" if self.energy >= STYLE_EDGE else "calm"
        return (f"valence {self.valence:+.3f} ({feel}) → **{self.key} {self.mode}**; energy {self.energy:+.3f} "
                f"({pace}) → **{self.tempo_bpm} bpm**, {self.style} style")


def mood_from_vectors(text_vector: torch.Tensor, anchors: dict[str, torch.Tensor]) -> Mood:
    """Apply the stated mapping to one MiniLM unit vector ``(384,)`` given the anchors' vectors ``(k, 384)`` each."""
    def closeness(name: str) -> float:
        return float((anchors[name] @ text_vector).mean())

    valence = closeness("happy") - closeness("sad")
    energy = closeness("energetic") - closeness("calm")
    key = TONICS_BY_ENERGY[int(np.searchsorted(ENERGY_EDGES, energy))]
    tempo = int(round(np.clip(108 + 240 * energy + 80 * valence, TEMPO_MIN_BPM, TEMPO_MAX_BPM)))
    return Mood(round(valence, 4), round(energy, 4), key, "major" if valence >= 0 else "minor", tempo,
                "folk" if energy >= STYLE_EDGE else "chorale")


def text_mood(embedder, text: str) -> Mood:
    """The mood of ``text`` (see the module docstring); ``embedder`` is the MiniLM loader bundle."""
    from apps.multimodal.clip import sentence_vectors

    vectors = sentence_vectors(embedder, [text, *HAPPY, *SAD, *ENERGETIC, *CALM])
    anchors, start = {}, 1
    for name, group in (("happy", HAPPY), ("sad", SAD), ("energetic", ENERGETIC), ("calm", CALM)):
        anchors[name] = vectors[start:start + len(group)]
        start += len(group)
    return mood_from_vectors(vectors[0], anchors)


@dataclass
class ChainResult:
    """What the chain made so far; fields fill in step by step.

    ``image``: uint8 ``(H, W, 3)``; ``melody_audio`` and ``speech``: ``(sample_rate_hz, int16 samples)``.
    ``notes`` says, per step, which model made it or why the step is unavailable. ``seconds``: per step.
    """

    prompt: str
    seed: int
    image: np.ndarray | None = None
    caption: str | None = None
    captions: list = field(default_factory=list)
    text: str | None = None
    mood: Mood | None = None
    melody_audio: tuple[int, np.ndarray] | None = None
    melody_abc: str | None = None
    speech: tuple[int, np.ndarray] | None = None
    notes: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def total_s(self) -> float:
        return sum(self.seconds.values())


def run_chain_steps(prompt: str, seed: int = 0, speak: bool = True, progress=None) -> Iterator[ChainResult]:
    """Run the chain, yielding the (same, growing) :class:`ChainResult` after each step.

    Args:
        prompt: the idea, e.g. ``"a happy dog in the sun"`` (1 .. ``limits.MM_TEXT_MAX_CHARS`` characters).
        seed: seeds the image, the sentence and the melody; the same prompt and seed give the same chain.
        speak: run the speech step (``False`` skips it, e.g. in a benchmark of the other steps).
        progress: optional ``progress(fraction, message)`` while models load.
    Raises:
        ValueError: an empty or over-long prompt, or a seed out of range.
    """
    from apps.multimodal import clip as mmclip
    from shared.catalog import EMBEDDED_EMBEDDER, EMBEDDED_LM
    from shared.checks import as_int
    from shared.loader import load

    prompt = mmclip.validate_query(prompt, "a prompt")
    seed = as_int("Seed", seed, 0, limits.SEED_MAX)
    result = ChainResult(prompt, seed)
    clip_bundle = load(mmclip.MODEL_ID, progress=progress)
    embedder = load(EMBEDDED_EMBEDDER, progress=progress)

    # Every step runs its small models on one thread: on 2 busy cores, two threads per tiny tensor were
    # up to 20x slower (a MiniLM sentence vector: 11 ms on one thread, 200-340 ms on two, measured here).
    t = time.perf_counter()
    with torch_threads(1):
        result.image, result.notes["image"] = generate_image(prompt, seed, clip_bundle.model, embedder, progress)
    result.seconds["image"] = time.perf_counter() - t
    yield result

    t = time.perf_counter()
    with torch_threads(1):
        result.captions = mmclip.caption_image(clip_bundle.model, result.image, k=3)
    result.caption = result.captions[0].name
    result.notes["caption"] = "the tiny CLIP's nearest caption"
    result.seconds["caption"] = time.perf_counter() - t
    yield result

    t = time.perf_counter()
    lm = load(EMBEDDED_LM, progress=progress)
    text, n_tokens = one_sentence(lm, LM_INSTRUCTION.format(caption=result.caption), seed)
    result.text = text or result.caption  # an immediate end-of-text still leaves something to carry on
    if not text:
        result.warnings.append("The language model ended at once; the chain carries the caption on instead.")
    result.notes["text"] = f"{lm.spec.label}, {n_tokens} tokens, seed {seed}"
    result.seconds["text"] = time.perf_counter() - t
    yield result

    t = time.perf_counter()
    with torch_threads(1), torch.inference_mode():
        result.mood = text_mood(embedder, result.text)
    try:
        from apps.music.melody import generate_melody, render_audio  # optional: caught below

        with torch_threads(1), torch.inference_mode():
            melody = generate_melody(result.mood.style, result.mood.key, result.mood.mode, TIME_SIGNATURE,
                                     limits.MM_CHAIN_BARS, MELODY_TEMPERATURE, MELODY_TOP_K, seed)
        result.melody_audio = render_audio(melody, tempo_bpm=result.mood.tempo_bpm)
        result.melody_abc = melody.abc
        result.notes["melody"] = f"topic 6's melody transformer, {len(melody.notes)} notes"
    except (ImportError, ModelMissing) as e:  # topic 6's module or weights are not there
        result.notes["melody"] = f"unavailable: {e}"
    result.seconds["melody"] = time.perf_counter() - t
    yield result

    if speak:
        t = time.perf_counter()
        result.speech, result.notes["speech"] = speak_text(result.text, seed, progress)
        result.seconds["speech"] = time.perf_counter() - t
        yield result


def one_sentence(lm, instruction: str, seed: int) -> tuple[str, int]:
    """The language model's reply to ``instruction`` (chat mode), stopped at the end of its first sentence or
    after ``limits.MM_CHAIN_TEXT_TOKENS`` tokens, with the course's sampling loop (temperature 0.7, top-k 50,
    top-p 0.95, repetition penalty 1.1).

    Returns:
        ``(text, tokens generated)``.
    """
    settings = SamplingSettings(temperature=0.7, top_k=50, top_p=0.95, repetition_penalty=1.1,
                                max_new_tokens=limits.MM_CHAIN_TEXT_TOKENS, seed=seed)
    ids, text = [], ""
    for step in generate_tokens(lm, encode_prompt(lm.tokenizer, instruction, "Chat"), settings):
        ids.append(step.token_id)
        text = lm.tokenizer.decode(ids, skip_special_tokens=True).strip()
        if len(text) > 12 and text.endswith((".", "!", "?")):
            break
    return text, len(ids)


def run_chain(prompt: str, seed: int = 0, speak: bool = True) -> ChainResult:
    """The whole chain at once (see :func:`run_chain_steps`)."""
    result = None
    for result in run_chain_steps(prompt, seed, speak):
        pass
    return result



def generate_image(prompt: str, seed: int, clip, embedder, progress=None) -> tuple[np.ndarray, str]:
    """Topic 5's text-to-image model draws ``prompt``; where that model is unavailable, the tiny CLIP's
    closest gallery emoji stands in (and the note says so).

    Returns:
        ``(image, note)``: uint8 ``(H, W, 3)`` and which model made it.
    """
    from apps.multimodal import clip as mmclip

    try:
        image, note = _topic5_image(prompt, seed, progress)
        return image, note
    except (ImportError, ModelMissing) as e:
        best = mmclip.search_images(clip, embedder, prompt, k=1)[0]
        return clip.gallery.images[best.index], (f"topic 5's image model is unavailable ({e}); showing the tiny "
                                                 f"CLIP's closest gallery emoji, '{best.name}', instead")


def _topic5_image(prompt: str, seed: int, progress=None) -> tuple[np.ndarray, str]:
    """Topic 5's embedded text-to-image model (``apps.images.generate``), without recording its steps."""
    from shared.loader import load

    bundle = load(EMBEDDED_T2I, progress=progress)
    made = generate(bundle, prompt, num_inference_steps=IMAGE_STEPS, guidance_scale=IMAGE_GUIDANCE,
                    scheduler="DDIM", seed=seed, batch_size=1, record_steps=False)
    note = f"{bundle.spec.label}, {IMAGE_STEPS} DDIM steps, guidance {IMAGE_GUIDANCE:g}"
    return made.images[0], note + "".join(f" ({n})" for n in made.notes)


def speak_text(text: str, seed: int = 0, progress=None) -> tuple[tuple[int, np.ndarray] | None, str]:
    """Speak ``text`` with the first voice available: espeak-ng if installed, else the hub's MMS-TTS
    (online, or from the local hub cache). Neither: ``(None, "unavailable: <why>")``, never silence."""
    from apps.multimodal import hub
    from shared.loader import load

    if hub.espeak_available():
        try:
            return hub.speak_espeak(text), "espeak-ng (Debian's formant synthesiser)"
        except ValueError as e:
            espeak_note = f"espeak-ng failed ({e})"
    else:
        espeak_note = "espeak-ng is not installed"
    try:
        bundle = load(hub.TTS_ID, progress=progress)
    except ModelMissing as e:
        return None, f"unavailable: {espeak_note}, and the hub voice cannot be loaded ({e})"
    return hub.speak_vits(bundle, text, seed), f"{bundle.spec.label} (a VITS voice)"
