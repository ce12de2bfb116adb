"""Extract the melody model's training data from music21's bundled corpus, once, into a compact file.

Sources (all inside the ``music21`` wheel; nothing is downloaded):
  * Bach chorales (``corpus/bach``): the soprano line of every four-part chorale; key by music21's
    Krumhansl-Schmuckler analysis (major / minor).
  * Folk tunes in ABC: O'Neill's *Music of Ireland* (1903, ``oneills1850``), *Ryan's Mammoth Collection*
    (1883, ``ryansMammoth``) and Aird's *Selection of Scotch, English, Irish and Foreign Airs*
    (1778-1803, ``airdsAirs``); key and mode from the tune's ``K:`` field.
  The Essen folk-song collection is left out on purpose: it is licensed for non-commercial use only.

Each tune becomes one JSON line: source, title, style, tonic (pitch class 0-11), mode, time signature and
notes as ``[midi pitch or -1 for a rest, duration in ticks (24 per quarter), bar index]``. Tunes that
change key or metre, use a mode or metre outside the vocabulary, or hold a duration the vocabulary cannot
write are skipped (counts printed). Run::

    python -m train.melody_data            # writes train/data/melodies.jsonl.gz (about 5 minutes on 2 cores)
"""
from __future__ import annotations

import argparse
import collections
import gzip
import json
import re
import time
from multiprocessing import Pool
from pathlib import Path

from apps.music.events import (
    DURATIONS,
    MODES,
    TICKS_PER_QUARTER,
    TIME_SIGNATURES,
    TONICS,
)

OUT = Path(__file__).parent / "data" / "melodies.jsonl.gz"
FOLK_SOURCES = ("oneills1850", "ryansMammoth", "airdsAirs")
LETTER_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
MODE_WORDS = {"": "major", "maj": "major", "ion": "major", "m": "minor", "min": "minor", "aeo": "minor",
              "dor": "dorian", "mix": "mixolydian"}


def abc_key(field: str) -> tuple[int, str] | None:
    """``K:`` field -> (tonic pitch class, mode) or None if not a supported key (e.g. ``HP``, ``Phr``)."""
    m = re.match(r"\s*([A-G])([#b]?)\s*([A-Za-z]*)", field)
    if not m:
        return None
    pc = (LETTER_PC[m.group(1)] + {"#": 1, "b": -1, "": 0}[m.group(2)]) % 12
    word = m.group(3).lower()
    mode = MODE_WORDS.get(word[:3] if len(word) > 1 else word)
    return (pc, mode) if mode in MODES else None


def abc_meter(field: str) -> str | None:
    f = field.strip().split()[0] if field.strip() else ""
    f = {"C": "4/4", "C|": "2/2"}.get(f, f)
    return f if f in TIME_SIGNATURES else None


def split_abc(text: str) -> list[str]:
    """An ABC book -> one text per tune (each starts with ``X:``)."""
    chunks, current = [], None
    for line in text.splitlines():
        if line.startswith("X:"):
            if current:
                chunks.append("\n".join(current))
            current = [line]
        elif current is not None:
            current.append(line)
    if current:
        chunks.append("\n".join(current))
    return chunks


def part_notes(part) -> list[list[int]] | str:
    """The notes of a music21 part as ``[pitch|-1, ticks, bar]``, or a reason string for skipping it."""
    from music21 import harmony

    part = part.stripTies()
    notes, bar = [], -1
    for measure in part.getElementsByClass("Measure"):
        started = False
        for el in measure.notesAndRests:
            if isinstance(el, harmony.ChordSymbol) or el.duration.isGrace or el.quarterLength == 0:
                continue
            ticks = el.quarterLength * TICKS_PER_QUARTER
            if abs(ticks - round(ticks)) > 1e-6 or round(ticks) not in DURATIONS:
                return "duration"
            if el.isRest:
                pitch = -1
            elif el.isChord:
                pitch = max(p.midi for p in el.pitches)
            else:
                pitch = el.pitch.midi
            if not started:
                bar, started = bar + 1, True
            notes.append([pitch, round(ticks), bar])
    while notes and notes[-1][0] == -1:  # trailing rests say nothing
        notes.pop()
    while notes and notes[0][0] == -1:
        notes.pop(0)
    if notes:
        first = notes[0][2]
        notes = [[p, t, b - first] for p, t, b in notes]
    return notes if len(notes) >= 8 else "short"


def folk_tune(job: tuple[str, int, str]) -> dict | str:
    source, index, text = job
    header = [ln for ln in text.splitlines() if re.match(r"^[A-Za-z]:", ln)]
    keys = [ln[2:] for ln in header if ln.startswith("K:")]
    meters = [ln[2:] for ln in header if ln.startswith("M:")]
    if len(set(k.strip() for k in keys)) != 1 or len(set(m.strip() for m in meters)) != 1 or "[K:" in text or "[M:" in text:
        return "key or metre change"
    key, meter = abc_key(keys[0]), abc_meter(meters[0])
    if key is None:
        return "mode"
    if meter is None:
        return "metre"
    titles = [ln[2:].strip() for ln in header if ln.startswith("T:")]
    try:
        from music21 import converter

        score = converter.parse(text, format="abc")
    except Exception:  # noqa: BLE001 - a malformed tune in the book: skip it
        return "unparsable"
    parts = list(score.parts) if hasattr(score, "parts") and len(score.parts) else [score]
    notes = part_notes(parts[0])
    if isinstance(notes, str):
        return notes
    return {"source": source, "index": index, "title": titles[0] if titles else "", "style": "folk",
            "tonic": key[0], "mode": key[1], "time": meter, "notes": notes}


def chorale(job: tuple[str, int, str]) -> dict | str:
    source, index, path = job
    from music21 import converter

    try:
        score = converter.parse(path)
    except Exception:  # noqa: BLE001
        return "unparsable"
    parts = list(score.parts)
    sopranos = [p for p in parts if "soprano" in (p.partName or p.id or "").lower()]
    if len(parts) < 4 or not sopranos:
        return "not a chorale"
    meters = {ts.ratioString for ts in sopranos[0].recurse().getElementsByClass("TimeSignature")}
    if len(meters) != 1 or next(iter(meters)) not in TIME_SIGNATURES:
        return "metre"
    k = score.analyze("key")
    if k.mode not in ("major", "minor"):
        return "mode"
    notes = part_notes(sopranos[0])
    if isinstance(notes, str):
        return notes
    title = score.metadata.title if score.metadata and score.metadata.title else Path(path).stem
    return {"source": "bach", "index": index, "title": Path(path).stem + ": " + title, "style": "chorale",
            "tonic": k.tonic.pitchClass, "mode": k.mode, "time": next(iter(meters)), "notes": notes}


def run(job):
    kind = job[0]
    return (chorale if kind == "bach" else folk_tune)(job)


def jobs(max_per_source: int) -> list[tuple[str, int, str]]:
    import music21

    root = Path(music21.__file__).parent / "corpus"
    out = []
    bach = sorted(p for p in (root / "bach").iterdir() if p.suffix in (".mxl", ".xml", ".musicxml"))
    out += [("bach", i, str(p)) for i, p in enumerate(bach[:max_per_source])]
    for source in FOLK_SOURCES:
        tunes = []
        for book in sorted((root / source).glob("*.abc")):
            tunes += split_abc(book.read_text(encoding="utf-8", errors="replace"))
        out += [(source, i, t) for i, t in enumerate(tunes[:max_per_source])]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--max-per-source", type=int, default=2500, help="cap on pieces read from each collection")
    ap.add_argument("--processes", type=int, default=2)
    args = ap.parse_args()
    start = time.time()
    todo = jobs(args.max_per_source)
    print(f"{len(todo)} pieces to read", flush=True)
    kept, skipped = [], collections.Counter()
    with Pool(args.processes) as pool:
        for i, result in enumerate(pool.imap_unordered(run, todo, chunksize=8)):
            if isinstance(result, str):
                skipped[result] += 1
            else:
                kept.append(result)
            if (i + 1) % 500 == 0:
                print(f"{i + 1}/{len(todo)} read, {len(kept)} kept, {time.time() - start:.0f} s", flush=True)
    kept.sort(key=lambda r: (r["source"], r["index"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(args.out, "wt", encoding="utf-8", compresslevel=9) as f:
        for r in kept:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")
    by_source = collections.Counter(r["source"] for r in kept)
    print(f"kept {len(kept)} tunes {dict(by_source)}; skipped {dict(skipped)}; "
          f"{sum(len(r['notes']) for r in kept)} notes; {args.out} {args.out.stat().st_size / 1e6:.2f} MB; "
          f"{time.time() - start:.0f} s; keys {collections.Counter(TONICS[r['tonic']] for r in kept).most_common(4)}")


if __name__ == "__main__":
    main()
