"""The melody model's event vocabulary: a melody as a sequence of tokens, and back.

A melody is written as conditioning tokens, then one ``bar`` token at the start of every measure and, for
every note, a pitch token (or ``rest``) followed by a duration token. This is the "event" encoding of
music language models (Oore et al. 2018, *This time with feeling*; Huang & Yang 2020, REMI), reduced to a
single monophonic line::

    <bos> style:folk key:G mode:major time:6/8 bar pitch:67 dur:12 pitch:71 dur:12 ... bar ... <eos>

Durations are counted in ``TICKS_PER_QUARTER`` ticks (24 per quarter note, so sixteenths, 32nds and
triplets are all whole numbers). Pure Python: no torch, no music21, no gradio.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

TICKS_PER_QUARTER = 24
STYLES = ("chorale", "folk")
MODES = ("major", "minor", "dorian", "mixolydian")
# Scale steps (semitones above the tonic) of each mode: the notes "in key".
MODE_STEPS: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
}
# Tonic names by pitch class (the spelling used in menus and in ABC).
TONICS = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
TIME_SIGNATURES = ("2/4", "3/4", "4/4", "2/2", "3/2", "6/8", "9/8", "12/8")
# Allowed durations in ticks (24 = a quarter note): 32nd .. whole-and-a-half, dotted values and triplets.
DURATIONS = (3, 4, 6, 8, 9, 12, 16, 18, 21, 24, 30, 32, 36, 42, 48, 60, 72, 84, 96, 120, 144)
PITCH_MIN, PITCH_MAX = 36, 96  # MIDI C2 .. C7: the token range (the UI accepts a narrower range)
SPECIALS = ("<pad>", "<bos>", "<eos>")
BAR, REST = "bar", "rest"


def _build_vocabulary() -> tuple[str, ...]:
    words = list(SPECIALS)
    words += [f"style:{s}" for s in STYLES]
    words += [f"key:{t}" for t in TONICS]
    words += [f"mode:{m}" for m in MODES]
    words += [f"time:{t}" for t in TIME_SIGNATURES]
    words += [BAR, REST]
    words += [f"pitch:{p}" for p in range(PITCH_MIN, PITCH_MAX + 1)]
    words += [f"dur:{d}" for d in DURATIONS]
    return tuple(words)


VOCABULARY: tuple[str, ...] = _build_vocabulary()
TOKEN_ID: dict[str, int] = {w: i for i, w in enumerate(VOCABULARY)}
PAD_ID, BOS_ID, EOS_ID = (TOKEN_ID[s] for s in SPECIALS)
BAR_ID, REST_ID = TOKEN_ID[BAR], TOKEN_ID[REST]
PITCH_IDS = tuple(TOKEN_ID[f"pitch:{p}"] for p in range(PITCH_MIN, PITCH_MAX + 1))
DURATION_IDS = tuple(TOKEN_ID[f"dur:{d}"] for d in DURATIONS)
HEADER_LENGTH = 5  # <bos> style key mode time


@dataclass(frozen=True)
class Note:
    """One note (or rest) of a melody.

    Attributes:
        pitch: MIDI note number (60 = middle C, C4), or ``None`` for a rest.
        ticks: duration in ticks, ``TICKS_PER_QUARTER`` (24) per quarter note.
        bar: index of the measure the note starts in (0 = the first, possibly a pick-up).
    """

    pitch: int | None
    ticks: int
    bar: int

    @property
    def quarters(self) -> float:
        """Duration in quarter notes."""
        return self.ticks / TICKS_PER_QUARTER


@dataclass
class Tune:
    """A melody with its conditioning: style, key (tonic pitch class 0-11 + mode), time signature, notes."""

    style: str
    tonic: int
    mode: str
    time_signature: str
    notes: list[Note] = field(default_factory=list)

    @property
    def bars(self) -> int:
        return 1 + max((n.bar for n in self.notes), default=-1)


def header_tokens(style: str, tonic: int, mode: str, time_signature: str) -> list[int]:
    """Token ids of ``<bos> style key mode time`` (length ``HEADER_LENGTH``). Raises ValueError if unknown."""
    if style not in STYLES:
        raise ValueError(f"Unknown style {style!r}: choose one of {', '.join(STYLES)}.")
    if mode not in MODES:
        raise ValueError(f"Unknown mode {mode!r}: choose one of {', '.join(MODES)}.")
    if time_signature not in TIME_SIGNATURES:
        raise ValueError(f"Unknown time signature {time_signature!r}: choose one of {', '.join(TIME_SIGNATURES)}.")
    return [BOS_ID, TOKEN_ID[f"style:{style}"], TOKEN_ID[f"key:{TONICS[tonic % 12]}"], TOKEN_ID[f"mode:{mode}"],
            TOKEN_ID[f"time:{time_signature}"]]


def note_tokens(notes: list[Note], first_bar: int = 0) -> list[int]:
    """Token ids for ``notes``: ``bar`` whenever a new measure starts, then pitch (or rest) and duration.

    Raises ValueError naming the note if a pitch or a duration has no token.
    """
    ids: list[int] = []
    bar = first_bar - 1
    for i, n in enumerate(notes):
        while bar < n.bar:
            ids.append(BAR_ID)
            bar += 1
        if n.pitch is None:
            ids.append(REST_ID)
        elif PITCH_MIN <= n.pitch <= PITCH_MAX:
            ids.append(TOKEN_ID[f"pitch:{n.pitch}"])
        else:
            raise ValueError(f"Note {i + 1}: MIDI pitch {n.pitch} is outside {PITCH_MIN}-{PITCH_MAX}.")
        if n.ticks not in DURATIONS:
            raise ValueError(f"Note {i + 1}: a duration of {n.ticks / TICKS_PER_QUARTER:g} quarter notes "
                             "is not one the model knows.")
        ids.append(TOKEN_ID[f"dur:{n.ticks}"])
    return ids


def encode(tune: Tune) -> list[int]:
    """The whole tune as token ids: header, notes, ``<eos>``."""
    return header_tokens(tune.style, tune.tonic, tune.mode, tune.time_signature) + note_tokens(tune.notes) + [EOS_ID]


def decode(ids: list[int]) -> Tune:
    """Token ids back to a :class:`Tune`. Tolerates a missing ``<eos>`` and a pitch without its duration
    (dropped). Raises ValueError if the header is not ``<bos> style key mode time``."""
    words = [VOCABULARY[i] for i in ids]
    if len(words) < HEADER_LENGTH or words[0] != "<bos>":
        raise ValueError("A melody's tokens start with <bos> style key mode time.")
    style, key, mode, ts = (w.split(":", 1)[1] for w in words[1:HEADER_LENGTH])
    tune = Tune(style=style, tonic=TONICS.index(key), mode=mode, time_signature=ts)
    bar, pitch, pending = -1, None, False
    for w in words[HEADER_LENGTH:]:
        if w == "<eos>":
            break
        if w == BAR:
            bar += 1
        elif w == REST or w.startswith("pitch:"):
            pitch, pending = (None if w == REST else int(w[6:])), True
        elif w.startswith("dur:") and pending:
            tune.notes.append(Note(pitch, int(w[4:]), max(bar, 0)))
            pending = False
    return tune


def save_vocabulary(folder: Path) -> Path:
    """Write ``vocab.json`` (token -> id) beside the model weights."""
    path = Path(folder) / "vocab.json"
    path.write_text(json.dumps(TOKEN_ID, indent=0) + "\n")
    return path


def check_vocabulary(folder: Path) -> None:
    """Raise ValueError if the ``vocab.json`` in ``folder`` is not this module's vocabulary."""
    saved = json.loads((Path(folder) / "vocab.json").read_text())
    if saved != TOKEN_ID:
        raise ValueError(f"{folder}/vocab.json does not match this version's melody vocabulary: retrain the model.")


def bar_ticks(time_signature: str) -> int:
    """Length of one measure in ticks, e.g. 6/8 -> 72."""
    num, den = (int(x) for x in time_signature.split("/"))
    return num * TICKS_PER_QUARTER * 4 // den
