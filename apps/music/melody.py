"""The project's melody model: generate, look inside, render (audio, piano roll, ABC, MIDI).

A small decoder-only transformer (GPT-2 architecture, Radford et al. 2019; trained by ``train/melody.py``)
predicts the next melody event (``apps.music.events``) given the style, key, mode and time signature
tokens and the events so far, as Music Transformer (Huang et al. 2019) and Magenta's melody models do
for larger data. Generation is written out as a loop (one forward pass per event, key/value cache) so the
demo can keep, for every note, the distribution it was drawn from.

Two rules keep the output well formed, applied as masks before sampling: a pitch (or rest) is followed by
a duration, and a note may not run past the bar line (a bar is closed when full; only the first bar may
be a short pick-up). The model's own probabilities are kept beside the masked, tempered ones.

Public functions (another topic calls them):
  ``generate_melody(style, key, mode, time_signature, bars, temperature, top_k, seed, opening="") -> Melody``
  ``render_audio(melody, tempo_bpm=100) -> (sample_rate_hz, int16 samples)``
"""
from __future__ import annotations

import functools
import math
import re
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from apps.music import events as ev
from apps.music.notation import (
    looks_like_note_names,
    parse_abc,
    parse_note_names,
    pitch_name,
    scale_pitch_classes,
    to_abc,
)
from shared import files, limits
from shared.device import torch_threads

MELODY_MODEL = "melody-transformer"
MUSICGEN_TASK = "text-to-audio"
SAMPLE_RATE_HZ = 22_050
DURATION_NAMES = {3: "32nd", 4: "triplet 16th", 6: "16th", 8: "triplet 8th", 9: "dotted 16th", 12: "8th",
                  16: "triplet quarter", 18: "dotted 8th", 21: "double-dotted 8th", 24: "quarter",
                  30: "quarter + 16th", 32: "triplet half", 36: "dotted quarter", 42: "double-dotted quarter",
                  48: "half", 60: "half + 8th", 72: "dotted half", 84: "double-dotted half", 96: "whole",
                  120: "whole + quarter", 144: "dotted whole"}
TONIC_ALIASES = {"Db": 1, "C#": 1, "D#": 3, "Eb": 3, "Gb": 6, "F#": 6, "G#": 8, "Ab": 8, "A#": 10, "Bb": 10,
                 "Cb": 11, "E#": 5, "Fb": 4, "B#": 0}


@dataclass
class Candidate:
    """One possible next event: its label, the model's own probability, and the probability it was drawn with."""

    label: str
    p_model: float
    p_sampled: float


@dataclass
class NoteStep:
    """What the model considered for one generated note: top pitches (or rest) and top durations."""

    note_index: int
    bar: int
    pitch_candidates: list[Candidate]
    duration_candidates: list[Candidate]


@dataclass
class Melody:
    """A generated melody and everything the demo shows about it.

    Attributes:
        style, key, mode, time_signature: the conditioning used (key = tonic name, e.g. ``"G"``).
        notes: all notes, opening first (:class:`apps.music.events.Note`: MIDI pitch or None, ticks, bar).
        opening_notes: how many of ``notes`` came from the opening the user gave.
        abc: the melody as ABC text.
        steps: for each generated note, the candidates the model weighed (:class:`NoteStep`).
        temperature, top_k, seed: the sampling settings.
        seconds: wall time of generation.
        notices: sentences for the user (e.g. the ABC's own key was used).
    """

    style: str
    key: str
    mode: str
    time_signature: str
    notes: list[ev.Note]
    opening_notes: int
    abc: str
    steps: list[NoteStep] = field(default_factory=list)
    temperature: float = 1.0
    top_k: int = 0
    seed: int = 0
    seconds: float = 0.0
    notices: list[str] = field(default_factory=list)

    @property
    def tonic(self) -> int:
        return tonic_pitch_class(self.key)

    @property
    def total_quarters(self) -> float:
        """Length of the melody in quarter notes (rests included)."""
        return sum(n.ticks for n in self.notes) / ev.TICKS_PER_QUARTER

    def duration_s(self, tempo_bpm: int = 100) -> float:
        """Length in seconds at ``tempo_bpm`` quarter notes per minute."""
        return self.total_quarters * 60.0 / tempo_bpm

    def in_key_share(self) -> float:
        """Share of the generated (not the opening's) pitched notes that belong to the key's scale."""
        return in_key_share(self.notes[self.opening_notes :], self.tonic, self.mode)


def tonic_pitch_class(key: str) -> int:
    """``"G"``, ``"F#"``, ``"Bb"`` ... -> pitch class 0-11. Raises ValueError for anything else."""
    name = (key or "").strip()
    name = name[:1].upper() + name[1:]
    if name in ev.TONICS:
        return ev.TONICS.index(name)
    if name in TONIC_ALIASES:
        return TONIC_ALIASES[name]
    raise ValueError(f"Unknown key {key!r}: choose one of {', '.join(ev.TONICS)}.")


def in_key_share(notes: list[ev.Note], tonic: int, mode: str) -> float:
    """Share of pitched notes whose pitch class is in the scale of ``mode`` on ``tonic`` (NaN if none)."""
    scale = scale_pitch_classes(tonic, mode)
    pitched = [n.pitch for n in notes if n.pitch is not None]
    return sum(p % 12 in scale for p in pitched) / len(pitched) if pitched else float("nan")


# --- the model -------------------------------------------------------------------------------------------
def read_melody_model(source, *, dtype, device, local_only, revision, report):
    """Loader reader (``ModelSpec.reader``) for the melody transformer: ``(model, vocabulary)``.

    ``source`` is the folder ``weights/melody-transformer`` (safetensors + ``config.json`` + ``vocab.json``).
    Raises ValueError if the folder's vocabulary is not this code's.
    """
    import torch
    from transformers import GPT2LMHeadModel

    report(0.3, "Reading the melody transformer")
    folder = Path(source)
    ev.check_vocabulary(folder)
    model = GPT2LMHeadModel.from_pretrained(folder, dtype=torch.float32 if device == "cpu" else dtype,
                                            local_files_only=True, use_safetensors=True)
    return model.to(device).eval(), dict(ev.TOKEN_ID)


def load_melody_model(progress=None):
    """The melody transformer, through the shared loader (cached)."""
    from shared.loader import load

    return load(MELODY_MODEL, progress=progress)


def parse_opening(text: str, time_signature: str, max_notes: int = limits.MELODY_OPENING_MAX_NOTES) -> dict:
    """The user's opening -> ``{"notes": [Note], "tonic", "mode", "time_signature", "format"}``.

    Note names (``C4 D4 E4:2 r G4``) are laid into bars of ``time_signature`` from the first beat; ABC keeps
    its own bar lines (a short first bar is a pick-up) and may set the key and metre with ``K:`` and ``M:``.
    Raises ValueError saying what is wrong and where (unknown note, out of range, malformed ABC, a note that
    crosses a bar line, too many notes).
    """
    text = (text or "").strip()
    if not text:
        return {"notes": [], "tonic": None, "mode": None, "time_signature": None, "format": "none"}
    if len(text) > limits.MELODY_OPENING_MAX_CHARS:
        raise ValueError(f"The opening is {len(text)} characters long; the limit is {limits.MELODY_OPENING_MAX_CHARS}.")
    lo, hi = limits.MELODY_PITCH_MIN, limits.MELODY_PITCH_MAX
    has_abc_header = re.search(r"^\s*[A-Za-z]:", text, re.MULTILINE) is not None
    named = any(re.match(r"^[A-Za-z][#b♯♭]*-?\d", w) for w in text.split())
    if looks_like_note_names(text) or (named and not has_abc_header):
        raw = parse_note_names(text, (lo, hi), max_notes)
        length = ev.bar_ticks(time_signature)
        notes, filled = [], 0
        for i, (pitch, ticks) in enumerate(raw, 1):
            if ticks not in ev.DURATIONS:
                raise ValueError(f"Opening note {i}: a duration of {ticks / ev.TICKS_PER_QUARTER:g} beats is not one "
                                 "the model knows (use 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, triplets 1/3 and 2/3 ...).")
            bar, pos = divmod(filled, length)
            if pos + ticks > length:
                raise ValueError(f"Opening note {i} ({pitch_name(pitch) if pitch else 'rest'}) starts at beat "
                                 f"{pos / ev.TICKS_PER_QUARTER + 1:g} of bar {bar + 1} and runs past its bar line "
                                 f"in {time_signature}: shorten it or start the next bar.")
            notes.append(ev.Note(pitch, ticks, bar))
            filled += ticks
        return {"notes": notes, "tonic": None, "mode": None, "time_signature": None, "format": "note names"}
    parsed = parse_abc(text, max_notes)
    ts = parsed["time_signature"] or time_signature
    length = ev.bar_ticks(ts)
    notes = []
    bar_fill: dict[int, int] = {}
    for i, (pitch, ticks, bar) in enumerate(parsed["notes"], 1):
        where = pitch_name(pitch) if pitch is not None else "rest"
        if pitch is not None and not lo <= pitch <= hi:
            raise ValueError(f"ABC note {i} ({where}) is out of range: notes go from {pitch_name(lo)} to {pitch_name(hi)}.")
        if ticks not in ev.DURATIONS:
            raise ValueError(f"ABC note {i} ({where}): a length of {ticks / ev.TICKS_PER_QUARTER:g} quarter notes is "
                             "not one the model knows.")
        bar_fill[bar] = bar_fill.get(bar, 0) + ticks
        if bar_fill[bar] > length:
            raise ValueError(f"ABC bar {bar + 1} holds more than one bar of {ts} (at note {i}, {where}): "
                             "check the lengths or add a bar line.")
        notes.append(ev.Note(pitch, ticks, bar))
    return {**parsed, "notes": notes, "time_signature": parsed["time_signature"], "format": "ABC"}


def opening_text(melody: Melody, bars: int) -> str:
    """The first ``bars`` full bars of ``melody`` as text for the opening box, so a learner can edit the model's
    notes and let it continue (the human-machine loop of lesson 6).

    Note names, one bar per ``|`` (``"G4:0.5 A4:0.5 B4 | ..."``, a duration in beats after ``:``, 1 by default;
    ``r`` a rest), in the melody's key spelling. A melody that starts with a pick-up bar comes back as ABC
    instead, which keeps the pick-up (note names are laid out from the first beat).

    Raises:
        ValueError: ``bars`` is not 1 .. the melody's number of full bars, or the bars hold more notes than an
            opening may (``limits.MELODY_OPENING_MAX_NOTES``).
    """
    if not melody.notes:
        raise ValueError("The melody has no notes to keep.")
    length = ev.bar_ticks(melody.time_signature)
    pickup = sum(n.ticks for n in melody.notes if n.bar == 0) < length and melody.notes[-1].bar > 0
    full_bars = melody.notes[-1].bar + 1 - int(pickup)
    if not isinstance(bars, int) or not 1 <= bars <= full_bars:
        raise ValueError(f"Keep from 1 to {full_bars} bars: the melody has {full_bars}.")
    kept = [n for n in melody.notes if n.bar < bars + int(pickup)]
    if len(kept) > limits.MELODY_OPENING_MAX_NOTES:
        raise ValueError(f"Those bars hold {len(kept)} notes; an opening may have {limits.MELODY_OPENING_MAX_NOTES}. "
                         "Keep fewer bars.")
    if pickup:
        return to_abc(kept, melody.tonic, melody.mode, melody.time_signature, title="Your opening")
    bars_text: dict[int, list[str]] = {}
    for n in kept:
        beats = Fraction(n.ticks, ev.TICKS_PER_QUARTER)
        duration = "" if beats == 1 else ":" + (f"{float(beats):g}" if beats.denominator in (1, 2, 4, 8)
                                                   else f"{beats.numerator}/{beats.denominator}")
        name = "r" if n.pitch is None else pitch_name(n.pitch, melody.tonic, melody.mode)
        bars_text.setdefault(n.bar, []).append(name + duration)
    return " | ".join(" ".join(words) for _, words in sorted(bars_text.items()))


def _validate(style, key, mode, time_signature, bars, temperature, top_k, seed) -> tuple:
    from shared.checks import as_float, as_int

    if style not in ev.STYLES:
        raise ValueError(f"Unknown style {style!r}: choose one of {', '.join(ev.STYLES)}.")
    if mode not in ev.MODES:
        raise ValueError(f"Unknown mode {mode!r}: choose one of {', '.join(ev.MODES)}.")
    if time_signature not in ev.TIME_SIGNATURES:
        raise ValueError(f"Unknown time signature {time_signature!r}: choose one of {', '.join(ev.TIME_SIGNATURES)}.")
    return (tonic_pitch_class(key),
            as_int("Bars", bars, 1, limits.MELODY_BARS_MAX),
            as_float("Temperature", temperature, 0.0, limits.MELODY_TEMPERATURE_MAX),
            as_int("Top-k", top_k, 0, len(ev.VOCABULARY)),
            as_int("Seed", seed, 0, limits.SEED_MAX))


def generate_melody(style: str, key: str, mode: str, time_signature: str, bars: int, temperature: float,
                    top_k: int, seed: int, opening: str = "", *, model=None, progress=None) -> Melody:
    """Write a melody of ``bars`` full bars with the melody transformer, continuing ``opening`` if given.

    Args:
        style: ``"chorale"`` or ``"folk"``.
        key: tonic name, ``"C"`` .. ``"B"`` (``"F#"``, ``"Bb"`` ...).
        mode: ``"major"``, ``"minor"``, ``"dorian"`` or ``"mixolydian"``.
        time_signature: one of ``events.TIME_SIGNATURES`` (``"4/4"``, ``"6/8"`` ...).
        bars: full bars in the result, opening included (1 .. ``limits.MELODY_BARS_MAX``); a pick-up bar
            is extra.
        temperature: divides the logits before sampling; 0 = always the most likely event (greedy).
        top_k: sample among the k most likely events only; 0 = all.
        seed: random seed; same inputs and seed give the same melody.
        opening: optional notes the melody starts with: note names (``"C4 D4 E4 G4"``, ``"C4:2"`` for two
            beats, ``r`` a rest) or ABC (its ``K:`` and ``M:`` then replace ``key``/``mode``/``time_signature``).
        model: an already loaded ``GPT2LMHeadModel`` (default: the catalog's, through the shared loader).
        progress: optional ``progress(fraction, message)`` callback.

    Returns:
        :class:`Melody`: notes, ABC text, per-note candidates, settings.

    Raises:
        ValueError: an unknown style/key/mode/time signature, a number out of range, or a bad opening (the
            message says what and where).
    """
    import torch

    tonic, bars, temperature, top_k, seed = _validate(style, key, mode, time_signature, bars, temperature, top_k, seed)
    start = time.perf_counter()
    opening_info = parse_opening(opening, time_signature)
    notices = []
    if opening_info["format"] == "ABC":
        if opening_info["tonic"] is not None and (opening_info["tonic"], opening_info["mode"]) != (tonic, mode):
            tonic, mode = opening_info["tonic"], opening_info["mode"]
            notices.append(f"Using the key of your ABC (K:): {ev.TONICS[tonic]} {mode}.")
        if opening_info["time_signature"] and opening_info["time_signature"] != time_signature:
            time_signature = opening_info["time_signature"]
            notices.append(f"Using the time signature of your ABC (M:): {time_signature}.")
    opening_notes: list[ev.Note] = opening_info["notes"]
    if model is None:
        model = load_melody_model(progress).model
    length = ev.bar_ticks(time_signature)
    # Where the opening leaves off: the bar we are in and how full it is.
    pickup = bool(opening_notes) and opening_info["format"] == "ABC" and \
        sum(n.ticks for n in opening_notes if n.bar == 0) < length and opening_notes[-1].bar > 0
    full_bars_in_opening = 1 + opening_notes[-1].bar - int(pickup) if opening_notes else 0
    if opening_notes and full_bars_in_opening > bars:
        raise ValueError(f"The opening already fills {full_bars_in_opening} bars; ask for at least that many bars.")
    header = ev.header_tokens(style, tonic, mode, time_signature)
    ids = header + ev.note_tokens(opening_notes)
    notes = list(opening_notes)
    if notes:
        bar = notes[-1].bar
        filled = sum(n.ticks for n in notes if n.bar == bar)
    else:
        ids.append(ev.BAR_ID)
        bar, filled = 0, 0
    target_last_bar = bars - 1 + int(pickup)  # index of the last bar to fill

    generator = torch.Generator().manual_seed(seed)
    steps: list[NoteStep] = []
    pitch_mask = _mask([ev.REST_ID] + [ev.TOKEN_ID[f"pitch:{p}"] for p in
                                        range(limits.MELODY_PITCH_MIN, limits.MELODY_PITCH_MAX + 1)])
    device = next(model.parameters()).device
    window = ev_max_length(model)
    context = _Context(model, header, ids, device)
    max_events = (bars + 2) * 64
    with torch_threads(1):  # one small matrix per step: extra threads only wait for each other
        notes, steps, stopped = _generate_loop(
            context, notes, steps, bar, filled, length, target_last_bar, window, pitch_mask, max_events,
            temperature, top_k, generator, tonic, mode, progress)
    if stopped:
        notices.append("Generation stopped at its event limit before the last bar was full.")
    title = f"{style.capitalize()} in {ev.TONICS[tonic]} {mode}, {time_signature}"
    return Melody(style=style, key=ev.TONICS[tonic], mode=mode, time_signature=time_signature, notes=notes,
                  opening_notes=len(opening_notes), abc=to_abc(notes, tonic, mode, time_signature, title=title),
                  steps=steps, temperature=temperature, top_k=top_k, seed=seed,
                  seconds=time.perf_counter() - start, notices=notices)


def _generate_loop(context, notes, steps, bar, filled, length, target_last_bar, window, pitch_mask, max_events,
                   temperature, top_k, generator, tonic, mode, progress):
    """The event-by-event loop of :func:`generate_melody`; returns (notes, steps, stopped at the event limit)."""
    import torch

    pending: int | None | str = "none"  # the pitch (or None for a rest) waiting for its duration
    pitch_cands: list[Candidate] = []
    for _ in range(max_events):
        if filled >= length or length - filled not in FILLABLE:  # the bar is full: close it, or stop
            if bar >= target_last_bar:
                break
            context.append(ev.BAR_ID)
            bar, filled = bar + 1, 0
            continue
        if len(context.ids) >= window - 1:  # the model's window is full: restart from a recent bar line
            context.restart(window // 2)
        logits = context.next_logits()
        p_model = torch.softmax(logits, -1)
        if pending == "none":  # a pitch or a rest
            allowed = pitch_mask
        else:  # a duration that fits in the bar and leaves a remainder that can still be filled
            allowed = _duration_mask(length - filled)
        token, p_sampled = _sample(logits, allowed, temperature, top_k, generator)
        context.append(token)
        if pending == "none":
            pitch_cands = _top(p_model, p_sampled, allowed, tonic, mode)
            pending = None if token == ev.REST_ID else int(ev.VOCABULARY[token][6:])
            continue
        ticks = int(ev.VOCABULARY[token][4:])
        notes.append(ev.Note(pending, ticks, bar))
        steps.append(NoteStep(len(notes) - 1, bar, pitch_cands, _top(p_model, p_sampled, allowed, tonic, mode)))
        filled += ticks
        pending = "none"
        if progress:
            progress(min(0.99, (bar + filled / length) / (target_last_bar + 1)), f"bar {bar + 1} of {target_last_bar + 1}")
    else:
        return notes, steps, True
    return notes, steps, False


class _Context:
    """The token ids fed to the model so far, with its key/value cache (one forward pass per new token)."""

    def __init__(self, model, header: list[int], ids: list[int], device):
        from transformers import DynamicCache

        self.model, self.header, self.device = model, header, device
        self.ids = list(ids)
        self.cache = DynamicCache(config=model.config)
        self.fed = 0

    def append(self, token: int) -> None:
        self.ids.append(token)

    def restart(self, keep: int) -> None:
        """Keep the header and the latest ``keep`` tokens, cut at a bar line (as in training)."""
        from transformers import DynamicCache

        tail = self.ids[-keep:]
        cut = tail.index(ev.BAR_ID) if ev.BAR_ID in tail else 0
        self.ids = self.header + tail[cut:]
        self.cache = DynamicCache(config=self.model.config)
        self.fed = 0

    def next_logits(self):
        import torch

        with torch.inference_mode():
            new = torch.tensor([self.ids[self.fed :]], device=self.device)
            out = self.model(input_ids=new, cache=self.cache, use_cache=True, logits_to_keep=1)
        self.fed = len(self.ids)
        return out.logits[0, -1].float().cpu()


def _fillable() -> frozenset[int]:
    """Remainders of a bar (in ticks) that some sum of allowed durations fills exactly."""
    reach = {0}
    for r in range(1, 4 * 144 + 1):
        if any(r - d in reach for d in ev.DURATIONS if d <= r):
            reach.add(r)
    return frozenset(reach)


FILLABLE = _fillable()


@functools.lru_cache(maxsize=256)
def _duration_mask(remaining: int):
    return _mask([i for i, d in zip(ev.DURATION_IDS, ev.DURATIONS, strict=True)
                  if d <= remaining and remaining - d in FILLABLE])


def ev_max_length(model) -> int:
    return int(getattr(model.config, "n_positions", 512))


def _mask(ids: list[int]):
    import torch

    m = torch.zeros(len(ev.VOCABULARY), dtype=torch.bool)
    m[list(ids)] = True
    return m


def _sample(logits, allowed, temperature: float, top_k: int, generator):
    """Pick one token among ``allowed``: temperature, then top-k, then a draw. Returns (id, probabilities)."""
    import torch

    masked = logits.masked_fill(~allowed, float("-inf"))
    if temperature == 0:
        token = int(torch.argmax(masked))
        p = torch.zeros_like(logits)
        p[token] = 1.0
        return token, p
    scaled = masked / temperature
    if top_k and top_k < int(allowed.sum()):
        kth = torch.topk(scaled, top_k).values[-1]
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    p = torch.softmax(scaled, -1)
    token = int(torch.multinomial(p, 1, generator=generator))
    return token, p


def _label(token: int, tonic: int, mode: str) -> str:
    word = ev.VOCABULARY[token]
    if word.startswith("pitch:"):
        return pitch_name(int(word[6:]), tonic, mode)
    if word.startswith("dur:"):
        return DURATION_NAMES.get(int(word[4:]), word[4:])
    return word


def _top(p_model, p_sampled, allowed, tonic: int, mode: str, n: int = limits.MELODY_CANDIDATES) -> list[Candidate]:
    import torch

    p_allowed = p_model.masked_fill(~allowed, 0)
    order = torch.argsort(torch.maximum(p_sampled, p_allowed), descending=True)[:n]
    return [Candidate(_label(int(t), tonic, mode), float(p_model[t]), float(p_sampled[t])) for t in order
            if allowed[t]]


# --- rendering -------------------------------------------------------------------------------------------
def midi_to_hz(pitch: float) -> float:
    return 440.0 * 2 ** ((pitch - 69) / 12)


def chord_roots(melody: Melody) -> list[tuple[int, int]]:
    """One triad per bar for the optional accompaniment: ``[(root pitch class, third in semitones), ...]``.

    The chord is the scale triad (on degrees I, IV, V, vi, ii) that shares the most beats with the bar's notes."""
    steps = ev.MODE_STEPS[melody.mode]
    scale = [(melody.tonic + s) % 12 for s in steps]
    triads = []
    for degree in (0, 3, 4, 5, 1):
        root, third, fifth = scale[degree], scale[(degree + 2) % 7], scale[(degree + 4) % 7]
        triads.append((root, (third - root) % 12, {root, third, fifth}))
    out = []
    for b in range(melody.notes[-1].bar + 1 if melody.notes else 0):
        weights: dict[int, int] = {}
        for n in melody.notes:
            if n.bar == b and n.pitch is not None:
                weights[n.pitch % 12] = weights.get(n.pitch % 12, 0) + n.ticks
        best = max(triads, key=lambda t: sum(w for pc, w in weights.items() if pc in t[2]) + (1 if t is triads[0] else 0))
        out.append((best[0], best[1]))
    return out


def render_audio(melody: Melody, tempo_bpm: int = 100, *, chords: bool = False,
                 sample_rate_hz: int = SAMPLE_RATE_HZ) -> tuple[int, np.ndarray]:
    """Synthesise the melody: a soft organ-like tone per note (additive sine partials, attack/release envelope).

    Args:
        melody: a :class:`Melody` (or anything with ``notes`` of MIDI pitch/ticks/bar, ``tonic``, ``mode``).
        tempo_bpm: quarter notes per minute, ``limits.MELODY_TEMPO_MIN`` .. ``MELODY_TEMPO_MAX``.
        chords: add a quiet triad per bar (see :func:`chord_roots`).
        sample_rate_hz: samples per second.

    Returns:
        ``(sample_rate_hz, samples)``: int16 mono, ``len(samples) == round(total quarters * 60 / tempo *
        sample_rate_hz)`` (rests are silence); peak at about half of full scale.

    Raises:
        ValueError: tempo out of range or no notes.
    """
    from shared.checks import as_int

    tempo_bpm = as_int("Tempo", tempo_bpm, limits.MELODY_TEMPO_MIN, limits.MELODY_TEMPO_MAX)
    if not melody.notes:
        raise ValueError("The melody has no notes to play.")
    sec_per_tick = 60.0 / tempo_bpm / ev.TICKS_PER_QUARTER
    total = int(round(sum(n.ticks for n in melody.notes) * sec_per_tick * sample_rate_hz))
    out = np.zeros(total, dtype=np.float64)
    t0 = 0
    bar_starts: dict[int, int] = {}
    for n in melody.notes:
        bar_starts.setdefault(n.bar, t0)
        count = int(round(n.ticks * sec_per_tick * sample_rate_hz))
        count = min(count, total - t0)
        if n.pitch is not None and count > 0:
            out[t0 : t0 + count] += 0.5 * _tone(midi_to_hz(n.pitch), count, sample_rate_hz)
        t0 += count
    if chords:
        ends = sorted(bar_starts.items())
        for i, ((b, s), (root, third)) in enumerate(zip(ends, chord_roots(melody), strict=False)):
            e = ends[i + 1][1] if i + 1 < len(ends) else total
            base = 48 + root  # around C3
            for interval in (0, third, 7):
                out[s:e] += 0.12 * _tone(midi_to_hz(base + interval), e - s, sample_rate_hz, partials=(1.0, 0.3))
    peak = np.max(np.abs(out)) or 1.0
    scale = 0.5 * 32767 / max(peak, 0.5)  # keep loudness comparable between melodies
    return sample_rate_hz, np.clip(out * scale, -32767, 32767).astype(np.int16)


def _tone(hz: float, count: int, sr: int, partials=(1.0, 0.5, 0.25, 0.12)) -> np.ndarray:
    t = np.arange(count) / sr
    wave = sum(a * np.sin(2 * math.pi * hz * (k + 1) * t) for k, a in enumerate(partials)) / sum(partials)
    attack, release = min(count, int(0.01 * sr)), min(count, int(0.04 * sr))
    env = np.ones(count)
    env[:attack] = np.linspace(0, 1, attack, endpoint=False) if attack else env[:attack]
    if release:
        env[-release:] *= np.linspace(1, 0, release)
    env *= np.exp(-1.2 * t)  # a gentle decay, like a plucked or bowed note dying away
    return wave * env


def piano_roll(melody: Melody, highlight: int | None = None):
    """A piano-roll figure (matplotlib ``Figure``): time in beats across, pitch up; the opening grey, the
    generated notes blue, bar lines dotted, note ``highlight`` (an index into ``notes``) orange."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 4.2), dpi=100)
    fig.subplots_adjust(left=0.07, right=0.99, top=0.85, bottom=0.13)  # fixed margins: tight_layout draws twice
    ax = fig.add_subplot()
    t = 0.0
    pitches = [n.pitch for n in melody.notes if n.pitch is not None] or [60]
    bar_seen = set()
    for i, n in enumerate(melody.notes):
        beats = n.ticks / ev.TICKS_PER_QUARTER
        if n.bar not in bar_seen:
            bar_seen.add(n.bar)
            ax.axvline(t, color="#999", lw=0.6, ls=":")
            ax.text(t + 0.05, max(pitches) + 1.6, str(n.bar + 1), fontsize=10, color="#6b7280")
        if n.pitch is not None:
            colour = "#ff8c00" if i == highlight else ("#9aa0a6" if i < melody.opening_notes else "#3b6fd8")
            ax.add_patch(_rect((t, n.pitch - 0.4), beats * 0.95, 0.8, colour))
        t += beats
    ax.set_xlim(0, max(t, 1))
    ax.set_ylim(min(pitches) - 2, max(pitches) + 3)
    ticks = [p for p in range(min(pitches) - 1, max(pitches) + 2) if p % 12 in (0, 4, 7)]
    ax.set_yticks(ticks, [pitch_name(p, melody.tonic, melody.mode) for p in ticks], fontsize=11)
    ax.tick_params(axis="x", labelsize=11)
    ax.set_xlabel("beats (quarter notes)", fontsize=11)
    ax.set_title(f"{melody.style} in {melody.key} {melody.mode}, {melody.time_signature}\n"
                 "grey = your opening, blue = generated" + (", orange = selected step" if highlight is not None else ""),
                 fontsize=12)
    return fig


def figure_image(fig):
    """A matplotlib ``Figure`` as an RGBA PIL image, its background transparent as drawn (shared/plots.py),
    rendered once by Agg (no PNG round trip: ``gr.Image(format="png")`` encodes it, exact pixels)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return Image.fromarray(np.asarray(canvas.buffer_rgba()).copy())


def _rect(xy, w, h, colour):
    from matplotlib.patches import Rectangle

    return Rectangle(xy, w, h, color=colour)


def write_midi(melody: Melody, tempo_bpm: int = 100, folder: Path | None = None) -> Path:
    """Write the melody as a one-track MIDI file (pretty_midi, piano) in a fresh temporary folder (only the newest
    are kept: ``shared.files.fresh_folder``); return its path."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=float(tempo_bpm))
    num, den = (int(x) for x in melody.time_signature.split("/"))
    pm.time_signature_changes.append(pretty_midi.TimeSignature(num, den, 0.0))
    inst = pretty_midi.Instrument(program=0, name="melody")
    sec_per_tick = 60.0 / tempo_bpm / ev.TICKS_PER_QUARTER
    t = 0
    for n in melody.notes:
        if n.pitch is not None:
            inst.notes.append(pretty_midi.Note(velocity=90, pitch=n.pitch, start=t * sec_per_tick,
                                               end=(t + n.ticks) * sec_per_tick))
        t += n.ticks
    pm.instruments.append(inst)
    folder = Path(folder or files.fresh_folder("melody"))
    path = folder / f"melody-{melody.key}-{melody.mode}-seed{melody.seed}.mid"
    pm.write(str(path))
    return path
