"""Reading and writing melodies as text: note names (``C4 D4 E4:2 r G4``) and a subset of ABC notation.

ABC (Walshaw, *abc notation standard 2.1*, 2011) is the plain-text format of the folk-tune books the
model learned from. The reader accepts one melodic line: ``X: T: M: L: K:`` header fields; notes
``A-G a-g`` with ``^ = _`` accidentals and ``' ,`` octave marks; lengths ``2 3/2 /2 /``; broken rhythm
``> <``; rests ``z``; ties ``-``; bar lines ``| || |] [| |: :| ::`` and endings ``[1 [2``; slurs and
decorations are ignored. Anything else is refused with a message that says which character, where.
Pure Python.
"""
from __future__ import annotations

import re
from fractions import Fraction

from apps.music.events import (
    MODE_STEPS,
    MODES,
    TICKS_PER_QUARTER,
    TIME_SIGNATURES,
    TONICS,
    Note,
    bar_ticks,
)

LETTER_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
LETTERS = "CDEFGAB"
NOTE_NAME = re.compile(r"^([A-Ga-g])(#{1,2}|b{1,2}|♯|♭)?(-?\d)(?::(\d+(?:\.\d+)?|\d+/\d+))?$")
REST_NAME = re.compile(r"^[rR](?::(\d+(?:\.\d+)?|\d+/\d+))?$")
# ABC mode words -> our modes; tonic letters of major keys with flats in their signature.
ABC_MODE = {"": "major", "maj": "major", "ion": "major", "m": "minor", "min": "minor", "aeo": "minor",
            "dor": "dorian", "mix": "mixolydian"}
ABC_MODE_SUFFIX = {"major": "", "minor": "m", "dorian": "dor", "mixolydian": "mix"}
FLAT_MAJORS = {"F", "Bb", "Eb", "Ab", "Db", "Gb"}
SHARP_ORDER, FLAT_ORDER = "FCGDAEB", "BEADGCF"


def pitch_name(midi: int, tonic: int = 0, mode: str = "major") -> str:
    """MIDI number -> scientific pitch name spelled for the key, e.g. 61 -> ``C#4`` (in A major) or ``Db4``."""
    spelled = key_spelling(tonic, mode)
    letter, alter = spelled[midi % 12]
    octave = (midi - alter) // 12 - 1
    return letter + {-2: "bb", -1: "b", 0: "", 1: "#", 2: "##"}[alter] + str(octave)


def parse_note_names(text: str, pitch_range: tuple[int, int], max_notes: int) -> list[tuple[int | None, int]]:
    """``"C4 D4 E4:2 r:0.5 G4"`` -> ``[(midi or None, ticks), ...]``.

    Each note is a letter, an optional ``#``/``b``, an octave (C4 = middle C = MIDI 60) and an optional
    ``:duration`` in quarter notes (default 1; ``0.5``, ``1/3``, ``1.5`` ...). ``r`` is a rest; ``|`` is
    allowed and ignored. Raises ValueError naming the first bad note and its position.
    """
    out: list[tuple[int | None, int]] = []
    words = [w for w in text.replace(",", " ").split() if w not in ("|", "||")]
    for i, w in enumerate(words, 1):
        m, r = NOTE_NAME.match(w), REST_NAME.match(w)
        if not (m or r):
            raise ValueError(f"Opening note {i} ({w!r}) is not a note name: write a letter A-G, an optional # or b "
                             "and an octave number, like C4, F#4 or Bb3, optionally :duration in beats (C4:2); "
                             "r for a rest.")
        dur = (m.group(4) if m else r.group(1)) or "1"
        try:
            ticks = Fraction(dur) * TICKS_PER_QUARTER
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"Opening note {i} ({w!r}): {dur!r} is not a duration.") from None
        if ticks.denominator != 1 or ticks <= 0:
            raise ValueError(f"Opening note {i} ({w!r}): a duration of {dur} beats is too fine; "
                             "use multiples of a 32nd (0.125) or triplets (1/3).")
        if m:
            acc = {"#": 1, "##": 2, "b": -1, "bb": -2, "♯": 1, "♭": -1, None: 0}[m.group(2)]
            midi = 12 * (int(m.group(3)) + 1) + LETTER_PC[m.group(1).upper()] + acc
            if not pitch_range[0] <= midi <= pitch_range[1]:
                raise ValueError(f"Opening note {i} ({w}) is out of range: notes go from "
                                 f"{pitch_name(pitch_range[0])} to {pitch_name(pitch_range[1])}.")
            out.append((midi, int(ticks)))
        else:
            out.append((None, int(ticks)))
        if len(out) > max_notes:
            raise ValueError(f"The opening has more than {max_notes} notes; shorten it.")
    return out


def looks_like_note_names(text: str) -> bool:
    """True if every word looks like a note name, a rest or a bar line (so the text is not ABC)."""
    words = [w for w in text.replace(",", " ").split() if w not in ("|", "||")]
    return bool(words) and all(re.match(r"^([A-Ga-g](#|b|♯|♭)*-?\d|[rR])(:\S*)?$", w) for w in words)


def parse_abc_key(field: str) -> tuple[int, str]:
    """ABC ``K:`` field -> (tonic pitch class, mode). Raises ValueError for modes the model does not know."""
    m = re.match(r"^\s*([A-Ga-g])([#b]?)\s*([A-Za-z]*)\s*$", field)
    if not m:
        raise ValueError(f"ABC key K:{field} is not understood: write e.g. K:G, K:Em, K:Ador or K:Dmix.")
    word = m.group(3).lower()
    mode = ABC_MODE.get(word[:3] if len(word) > 1 else word)
    if mode is None:
        raise ValueError(f"ABC key K:{field}: the mode {m.group(3)!r} is not one of {', '.join(MODES)}.")
    pc = (LETTER_PC[m.group(1).upper()] + {"#": 1, "b": -1, "": 0}[m.group(2)]) % 12
    return pc, mode


def key_signature(tonic: int, mode: str) -> dict[str, int]:
    """Letter -> alteration (+1 sharp, -1 flat) of the key signature, e.g. G major -> {"F": 1}."""
    # The relative major's tonic: the mode's scale is the major scale starting elsewhere.
    offset = {"major": 0, "minor": 3, "dorian": 10, "mixolydian": 5}[mode]
    major = (tonic + offset) % 12
    name = TONICS[major]
    sharps = {0: 0, 7: 1, 2: 2, 9: 3, 4: 4, 11: 5, 6: 6}.get(major)
    if name in FLAT_MAJORS or sharps is None:
        flats = {5: 1, 10: 2, 3: 3, 8: 4, 1: 5, 6: 6}[major]
        return {letter: -1 for letter in FLAT_ORDER[:flats]}
    return {letter: 1 for letter in SHARP_ORDER[:sharps]}


def key_spelling(tonic: int, mode: str) -> dict[int, tuple[str, int]]:
    """Pitch class -> (letter, alteration) for writing notes in this key: scale notes as the signature says,
    the others as sharps in sharp keys and flats in flat keys."""
    sig = key_signature(tonic, mode)
    flat_key = any(v < 0 for v in sig.values())
    out: dict[int, tuple[str, int]] = {}
    for letter in LETTERS:
        out[(LETTER_PC[letter] + sig.get(letter, 0)) % 12] = (letter, sig.get(letter, 0))
    for pc in range(12):
        if pc in out:
            continue
        options = [(lt, 0) for lt in LETTERS if LETTER_PC[lt] == pc]
        flats = [(lt, -1) for lt in LETTERS if (LETTER_PC[lt] - 1) % 12 == pc]
        sharps = [(lt, 1) for lt in LETTERS if (LETTER_PC[lt] + 1) % 12 == pc]
        options += flats + sharps if flat_key else sharps + flats
        out[pc] = options[0]
    return out


def abc_unit(time_signature: str) -> int:
    """Ticks of the ABC unit note length ``L:``: 1/8 for most metres, 1/16 for 2/4 (as the tune books do)."""
    return TICKS_PER_QUARTER // 4 if time_signature == "2/4" else TICKS_PER_QUARTER // 2


def _abc_length(ticks: int, unit: int) -> str:
    f = Fraction(ticks, unit)
    if f == 1:
        return ""
    if f.denominator == 1:
        return str(f.numerator)
    if f.numerator == 1:
        return "/" + ("" if f.denominator == 2 else str(f.denominator))
    return f"{f.numerator}/{f.denominator}"


def _abc_pitch(letter: str, octave: int) -> str:
    if octave >= 5:
        return letter.lower() + "'" * (octave - 5)
    return letter + "," * (4 - octave)


def to_abc(notes: list[Note], tonic: int, mode: str, time_signature: str, title: str = "Generated melody") -> str:
    """Notes -> an ABC tune (``X: T: M: L: K:`` and one line of bars, four bars a line).

    Accidentals are written where a note differs from the key signature or from an earlier accidental in
    the same bar (ABC's rule), so the text reads back to the same pitches."""
    sig = key_signature(tonic, mode)
    spell = key_spelling(tonic, mode)
    unit = abc_unit(time_signature)
    head = ["X:1", f"T:{title}", f"M:{time_signature}", f"L:1/{4 * TICKS_PER_QUARTER // unit}",
            f"K:{TONICS[tonic]}{ABC_MODE_SUFFIX[mode]}"]
    bars: list[str] = []
    current, bar, state = [], notes[0].bar if notes else 0, {}
    for n in notes:
        if n.bar != bar:
            bars.append(" ".join(current))
            bars.extend([""] * (n.bar - bar - 1))
            current, bar, state = [], n.bar, {}
        if n.pitch is None:
            current.append("z" + _abc_length(n.ticks, unit))
            continue
        letter, alter = spell[n.pitch % 12]
        octave = (n.pitch - alter) // 12 - 1
        where = (letter, octave)
        in_force = state.get(where, sig.get(letter, 0))
        mark = "" if alter == in_force else {-2: "__", -1: "_", 0: "=", 1: "^", 2: "^^"}[alter]
        state[where] = alter
        current.append(mark + _abc_pitch(letter, octave) + _abc_length(n.ticks, unit))
    if current:
        bars.append(" ".join(current))
    lines = []
    for i in range(0, len(bars), 4):
        lines.append(" | ".join(bars[i : i + 4]) + (" |]" if i + 4 >= len(bars) else " |"))
    return "\n".join(head + lines) + "\n"


ABC_TOKEN = re.compile(
    r"(?P<field>\[[A-Za-z]:[^\]]*\])|(?P<bar>:\|\]|\|\]|\[\||\|\||:\|:|::|\|:|:\||\||\[\d)|"
    r"(?P<note>(?P<acc>\^\^|\^|__|_|=)?(?P<letter>[A-Ga-gzZx])(?P<oct>[',]*)(?P<len>\d*/*\d*))|"
    r"(?P<broken>>+|<+)|(?P<tie>-)|(?P<tuplet>\(\d)|(?P<skip>[\s()~.HLMOPSTuv!]|\"[^\"]*\"|![^!]*!|\{[^}]*\})"
)


def parse_abc(text: str, max_notes: int) -> dict:
    """An ABC tune (one melodic line) -> ``{"notes": [(midi or None, ticks, bar), ...], "tonic", "mode",
    "time_signature"}`` (``None`` where the header does not say).

    Raises ValueError naming the line and column of the first character it cannot read, or a header field
    it does not support.
    """
    tonic, mode, time_signature, unit = None, None, None, None
    body: list[tuple[int, str]] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.split("%", 1)[0].rstrip()
        m = re.match(r"^([A-Za-z]):(.*)$", line)
        if m and m.group(1) in "XTMLKCRQNZBOSIPWw":
            field, value = m.group(1), m.group(2).strip()
            if field == "K":
                tonic, mode = parse_abc_key(value)
            elif field == "M":
                ts = {"C": "4/4", "C|": "2/2"}.get(value, value)
                if ts not in TIME_SIGNATURES:
                    raise ValueError(f"ABC line {lineno}: the metre M:{value} is not one of {', '.join(TIME_SIGNATURES)}.")
                time_signature = ts
            elif field == "L":
                try:
                    unit_f = Fraction(value) * 4 * TICKS_PER_QUARTER
                except (ValueError, ZeroDivisionError):
                    raise ValueError(f"ABC line {lineno}: L:{value} is not a note length like 1/8.") from None
                if unit_f.denominator != 1 or unit_f <= 0:
                    raise ValueError(f"ABC line {lineno}: L:{value} is too short a unit.")
                unit = int(unit_f)
            continue
        if line.strip():
            body.append((lineno, line))
    if not body:
        raise ValueError("The ABC has no notes: write the tune's notes after the K: line, e.g. K:G then GABc dedB.")
    if unit is None:
        unit = abc_unit(time_signature or "4/4")
    sig = key_signature(tonic if tonic is not None else 0, mode or "major")
    notes: list[list] = []
    bar, state, broken, tied, tuplet = 0, {}, None, False, None
    for lineno, line in body:
        pos = 0
        while pos < len(line):
            m = ABC_TOKEN.match(line, pos)
            if not m:
                raise ValueError(f"ABC line {lineno}, column {pos + 1}: {line[pos]!r} is not something this reader "
                                 "understands (notes A-G a-g, ^ _ = accidentals, ' and , octaves, lengths like 2 or "
                                 "/2, z rests, | bar lines).")
            pos = m.end()
            if m.group("bar"):
                if notes and notes[-1][2] == bar:
                    bar, state = bar + 1, {}
                continue
            if m.group("tie"):
                tied = True
                continue
            if m.group("tuplet"):
                tuplet = [int(m.group("tuplet")[1:]), int(m.group("tuplet")[1:])]
                continue
            if m.group("broken"):
                if not notes:
                    raise ValueError(f"ABC line {lineno}, column {m.start() + 1}: > or < needs a note before it.")
                broken = m.group("broken")
                continue
            if not m.group("note"):
                continue
            length = m.group("len")
            try:
                if not length:
                    f = Fraction(1)
                elif set(length) == {"/"}:
                    f = Fraction(1, 2 ** len(length))
                elif length.startswith("/"):
                    f = Fraction(1, int(length.lstrip("/")))
                elif "/" in length:
                    num, den = length.split("/", 1)
                    f = Fraction(int(num), int(den) if den else 2)
                else:
                    f = Fraction(int(length))
            except (ValueError, ZeroDivisionError):
                raise ValueError(f"ABC line {lineno}, column {m.start() + 1}: the length {length!r} is not readable.") from None
            ticks = f * unit
            if tuplet:
                p = tuplet[0]
                ticks = ticks * {2: Fraction(3, 2), 3: Fraction(2, 3), 4: Fraction(3, 4)}.get(p, Fraction(2, 3))
                tuplet[1] -= 1
                if tuplet[1] == 0:
                    tuplet = None
            if broken:
                k = len(broken)
                cut = Fraction(1, 2 ** k)
                prev = notes[-1]
                total = Fraction(prev[1]) + ticks
                if broken[0] == ">":
                    prev[1], ticks = prev[1] * (2 - cut), ticks * cut
                else:
                    prev[1], ticks = prev[1] * cut, ticks * (2 - cut)
                assert prev[1] + ticks == total
                broken = None
            letter = m.group("letter")
            if letter in "zZx":
                pitch = None
                if letter == "Z":
                    ticks = Fraction(bar_ticks(time_signature or "4/4")) * f
            else:
                octave = 5 if letter.islower() else 4
                octave += m.group("oct").count("'") - m.group("oct").count(",")
                up = letter.upper()
                acc = m.group("acc")
                if acc:
                    state[(up, octave)] = {"^^": 2, "^": 1, "=": 0, "_": -1, "__": -2}[acc]
                alter = state.get((up, octave), sig.get(up, 0))
                pitch = 12 * (octave + 1) + LETTER_PC[up] + alter
            if tied and notes and pitch == notes[-1][0]:
                notes[-1][1] += ticks
                tied = False
                continue
            tied = False
            notes.append([pitch, ticks, bar])
            if len(notes) > max_notes:
                raise ValueError(f"The ABC has more than {max_notes} notes; shorten it.")
    out = []
    for i, (p, t, b) in enumerate(notes):
        if Fraction(t).denominator != 1:
            raise ValueError(f"ABC note {i + 1}: its length is too fine to write in 32nds or triplets.")
        out.append((p, int(t), b))
    return {"notes": out, "tonic": tonic, "mode": mode, "time_signature": time_signature}


def scale_pitch_classes(tonic: int, mode: str) -> frozenset[int]:
    """The seven pitch classes of ``mode`` on ``tonic``."""
    return frozenset((tonic + s) % 12 for s in MODE_STEPS[mode])
