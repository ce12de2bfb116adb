"""Tokenizers for the learner's model: one token per character, or a byte-level BPE trained on the text.

Both are built with the ``tokenizers`` library and wrapped as ``transformers``' ``PreTrainedTokenizerFast``,
so ``save_pretrained`` writes a ``tokenizer.json`` that ``AutoTokenizer.from_pretrained`` reads anywhere.

- Character level: the vocabulary is the text's distinct characters (plus ``<unk>`` for characters
  never seen), as in nanoGPT's ``shakespeare_char``: 65-80 tokens for Shakespeare, long sequences.
- Byte-level BPE (Sennrich et al. 2016; GPT-2's byte-level variant, Radford et al. 2019): start from the
  256 byte values, merge the most frequent adjacent pair until the vocabulary has the size asked for.
  No text is ever unknown; sequences are about 3-4 times shorter.

``char_tokenizer`` and ``bpe_tokenizer`` are copied into the generated training script: they import
only ``tokenizers`` and ``transformers``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shared import limits
from shared.sampling import show_token

KINDS = ("Characters", "Byte-level BPE")
END_OF_TEXT = "<|endoftext|>"


def char_tokenizer(text: str):
    """A character-level ``PreTrainedTokenizerFast``: id 0 is ``<unk>``, then the text's characters, sorted."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, **{c: i + 1 for i, c in enumerate(sorted(set(text)))}}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")  # every character alone
    core.decoder = decoders.Fuse()  # join the characters back without spaces
    return PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", clean_up_tokenization_spaces=False)


def bpe_tokenizer(text: str, vocab_size: int):
    """A byte-level BPE ``PreTrainedTokenizerFast`` with ``vocab_size`` tokens, trained on ``text``.

    The text is fed to the trainer in chunks of lines; ``<|endoftext|>`` is the one special token.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[END_OF_TEXT], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    lines = text.splitlines(keepends=True)
    core.train_from_iterator(("".join(lines[i: i + 200]) for i in range(0, len(lines), 200)), trainer)
    return PreTrainedTokenizerFast(tokenizer_object=core, eos_token=END_OF_TEXT, bos_token=END_OF_TEXT,
                                   clean_up_tokenization_spaces=False)


def make_tokenizer(text: str, kind: str, vocab_size: int):
    """The tokenizer ``kind`` (one of ``KINDS``) for ``text``.

    Raises:
        ValueError: an unknown kind, a BPE vocabulary size out of range, or (characters) a text with
            more distinct characters than ``limits.BYO_CHAR_VOCAB_MAX``.
    """
    if kind == "Characters":
        distinct = len(set(text))
        if distinct > limits.BYO_CHAR_VOCAB_MAX:
            raise ValueError(f"The text has {distinct:,} different characters; a character-level vocabulary here "
                             f"holds at most {limits.BYO_CHAR_VOCAB_MAX}. Choose Byte-level BPE instead.")
        return char_tokenizer(text)
    if kind == "Byte-level BPE":
        if not limits.BYO_BPE_VOCAB_MIN <= vocab_size <= limits.BYO_BPE_VOCAB_MAX:
            raise ValueError(f"The BPE vocabulary size must be from {limits.BYO_BPE_VOCAB_MIN} to "
                             f"{limits.BYO_BPE_VOCAB_MAX}, not {vocab_size}.")
        return bpe_tokenizer(text, vocab_size)
    raise ValueError(f"Tokenizer must be one of {', '.join(KINDS)}, not {kind!r}.")


def encode_text(tokenizer, text: str) -> np.ndarray:
    """All of ``text`` as token ids: int32 ``(N,)``.

    Encoded in chunks of 200 lines (the ``tokenizers`` library runs them in parallel), so a BPE token
    never spans two chunks; that changes a handful of tokens at chunk edges, nothing else.
    """
    lines = text.splitlines(keepends=True)
    chunks = ["".join(lines[i: i + 200]) for i in range(0, len(lines), 200)]
    encoded = tokenizer.backend_tokenizer.encode_batch(chunks, add_special_tokens=False)
    return np.concatenate([np.asarray(e.ids, dtype=np.int32) for e in encoded])


@dataclass(frozen=True)
class Split:
    """How a sentence splits: the tokens as readable strings, their ids, and characters per token."""

    tokens: list[str]
    ids: list[int]
    chars_per_token: float


def split_sentence(tokenizer, sentence: str) -> Split:
    """Show how ``sentence`` becomes tokens (each token decoded on its own, spaces shown as ``␣``)."""
    if not sentence:
        raise ValueError("Type a sentence to see how it is split into tokens.")
    if len(sentence) > limits.BYO_SENTENCE_MAX_CHARS:
        raise ValueError(f"The sentence is {len(sentence):,} characters long; the limit is "
                         f"{limits.BYO_SENTENCE_MAX_CHARS:,}. Shorten it (nothing is cut off for you).")
    ids = tokenizer(sentence, add_special_tokens=False)["input_ids"]
    tokens = [show_token(tokenizer.decode([i])).replace(" ", "␣") for i in ids]
    return Split(tokens, ids, len(sentence) / max(1, len(ids)))
