"""How tokens read when one character is split over several of them.

Byte-level BPE (GPT-2's tokenizer, Radford et al. 2019, sec. 2.2; SmolLM2 and Qwen2.5 use it) works on
the UTF-8 bytes of the text: a character outside ASCII is 2 to 4 bytes, and the tokenizer may split them
over several tokens ("日" is ``E6 97 A5``; SmolLM2 makes it two tokens, ``E6 97`` and ``A5``). Such a token
on its own is no text: ``tokenizer.decode([id])`` gives "�" (U+FFFD). Here it reads as its bytes, and the
token that completes the character also shows it: ``<0xE6><0x97>``, then ``<0xA5>→日``. Bytes that never
become a character (a reply cut mid-character) stay bytes, in token views and in the text.

The bytes are the tokenizer's own: ``convert_ids_to_tokens`` gives a token as GPT-2's byte-to-unicode
characters, and the inverse of that table (``bytes_to_unicode``) gives back the bytes, as the tokenizer's
``ByteLevel`` decoder does. Other tokenizers (character-level, word-level) are read with ``decode``.
"""
from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence

MAX_CHAR_BYTES = 4  # the longest UTF-8 encoding of one character


@functools.cache
def _byte_of_char() -> dict[str, int]:
    """GPT-2's table inverted: the character that stands for each of the 256 byte values -> the byte."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    return {char: byte for byte, char in bytes_to_unicode().items()}


def is_byte_level(tokenizer) -> bool:
    """Whether the tokenizer decodes with the ``tokenizers`` library's ``ByteLevel`` decoder (GPT-2's)."""
    from tokenizers import decoders

    backend = getattr(tokenizer, "backend_tokenizer", None)
    return isinstance(getattr(backend, "decoder", None), decoders.ByteLevel)


def token_bytes(tokenizer, token_id: int) -> bytes | None:
    """The bytes a token stands for, or ``None`` for a tokenizer that is not byte-level.

    An added token (``<|im_end|>``) is stored as text, not as byte characters: its bytes are its UTF-8.
    """
    if not is_byte_level(tokenizer):
        return None
    added = tokenizer.added_tokens_decoder.get(int(token_id))
    if added is not None:
        return added.content.encode("utf-8")
    byte_of = _byte_of_char()
    return bytes(byte_of[char] for char in tokenizer.convert_ids_to_tokens(int(token_id)))


def characters(data: bytes) -> Iterator[tuple[int, int, str | None]]:
    """Each character of UTF-8 ``data`` as ``(start, end, character)``, its byte span and itself.

    A byte that is part of no character (a lone or broken sequence, or one cut off at the end) comes
    as ``(i, i + 1, None)``.
    """
    pos = 0
    while pos < len(data):
        try:
            text, bad = data[pos:].decode("utf-8"), None
        except UnicodeDecodeError as e:
            text, bad = data[pos:pos + e.start].decode("utf-8"), range(pos + e.start, pos + e.end)
        for char in text:
            n = len(char.encode("utf-8"))
            yield pos, pos + n, char
            pos += n
        for i in bad or ():
            yield i, i + 1, None
            pos = i + 1


def _hex(data: bytes) -> str:
    return "".join(f"<0x{b:02X}>" for b in data)


def byte_labels(chunks: Sequence[bytes]) -> list[str]:
    """How each of a sequence of tokens reads, given each token's bytes: one label per chunk.

    A character inside one token is itself; a character split over tokens is each token's bytes in hex,
    and ``→character`` after the token that completes it; bytes that make no character stay hex.
    """
    data = b"".join(chunks)
    owner = [i for i, chunk in enumerate(chunks) for _ in chunk]  # the token each byte came from
    labels = [""] * len(chunks)
    for start, end, char in characters(data):
        if char is not None and owner[start] == owner[end - 1]:
            labels[owner[start]] += char
            continue
        for i in range(start, end):
            labels[owner[i]] += _hex(data[i:i + 1])
        if char is not None:
            labels[owner[end - 1]] += f"→{char}"
    return labels


def read_tokens(tokenizer, ids: Sequence[int]) -> list[str]:
    """Each token of a sequence as a learner can read it (see :func:`byte_labels`)."""
    chunks = [token_bytes(tokenizer, i) for i in ids]
    if any(chunk is None for chunk in chunks):
        return [tokenizer.decode([int(i)]) for i in ids]
    return byte_labels(chunks)


def read_candidates(tokenizer, ids_before: Sequence[int], candidates: Sequence[int]) -> list[str]:
    """How each candidate for the next token would read after ``ids_before``.

    A candidate may complete a character the tokens before it began (``<0xA5>→日``); only the last
    ``MAX_CHAR_BYTES - 1`` bytes before it can belong to such a character.
    """
    if not is_byte_level(tokenizer):
        return [tokenizer.decode([int(i)]) for i in candidates]
    recent = ids_before[-(MAX_CHAR_BYTES - 1):]  # every token holds at least one byte
    before = b"".join(token_bytes(tokenizer, i) for i in recent)[-(MAX_CHAR_BYTES - 1):]
    return [byte_labels([before, token_bytes(tokenizer, i)])[1] for i in candidates]


def read_text(tokenizer, ids: Sequence[int]) -> str:
    """``tokenizer.decode(ids, skip_special_tokens=True)``, except that bytes making no character read as ``<0xE6>``."""
    text = tokenizer.decode(ids, skip_special_tokens=True)
    if "\ufffd" not in text or not is_byte_level(tokenizer):
        return text
    special = set(tokenizer.all_special_ids)
    data = b"".join(token_bytes(tokenizer, i) for i in ids if i not in special)
    return "".join(char if char is not None else _hex(data[start:end]) for start, end, char in characters(data))
