"""shared/tokens.py: a token that holds part of a character reads as its bytes, and the character once complete."""
import pytest

from shared.tokens import byte_labels, read_candidates, read_text, read_tokens, token_bytes

TEXTS = ["日本語", "naïve Zürich", "emoji 😀 and 🤖", "你好，世界！"]


def test_a_character_split_over_tokens_reads_as_bytes_then_the_character():
    assert byte_labels([b"\xe6\x97", b"\xa5", "本".encode()]) == ["<0xE6><0x97>", "<0xA5>→日", "本"]
    # the end of one character and the start of the next in one token
    assert byte_labels([b"\xe6\x97", b"\xa5\xe6", b"\x9c\xac"]) == ["<0xE6><0x97>", "<0xA5>→日<0xE6>", "<0x9C><0xAC>→本"]


def test_bytes_that_make_no_character_stay_bytes():
    assert byte_labels([b"ok", b"\xe6"]) == ["ok", "<0xE6>"]  # cut off at the end
    assert byte_labels([b"\xe6", b" a"]) == ["<0xE6>", " a"]  # never completed
    assert byte_labels([b"\xa5"]) == ["<0xA5>"]  # a continuation byte with no start


@pytest.mark.parametrize("text", TEXTS)
def test_the_bytes_are_the_tokenizers_own(embedded_lm, text):
    tokenizer = embedded_lm.tokenizer
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert b"".join(token_bytes(tokenizer, i) for i in ids) == text.encode("utf-8")
    labels = read_tokens(tokenizer, ids)
    assert not any("\ufffd" in label for label in labels)
    assert read_text(tokenizer, ids) == text


def test_a_candidate_that_completes_a_character_shows_it(embedded_lm):
    tokenizer = embedded_lm.tokenizer
    ids = tokenizer("日本", add_special_tokens=False)["input_ids"]  # E6 97 | A5 | 本
    assert read_candidates(tokenizer, ids[:1], ids[1:]) == ["<0xA5>→日", "本"]
    assert read_candidates(tokenizer, [], ids[:1]) == ["<0xE6><0x97>"]


def test_special_tokens_are_left_out_of_the_text(embedded_lm):
    tokenizer = embedded_lm.tokenizer
    ids = [*tokenizer("日本", add_special_tokens=False)["input_ids"][:1], tokenizer.eos_token_id]
    assert read_text(tokenizer, ids) == "<0xE6><0x97>"


def test_a_tokenizer_that_is_not_byte_level_is_read_with_decode(tiny_llama):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    ids = tokenizer("the cat sat", add_special_tokens=False)["input_ids"]
    assert token_bytes(tokenizer, ids[0]) is None
    assert read_tokens(tokenizer, ids) == [tokenizer.decode([i]) for i in ids]
    assert read_text(tokenizer, ids) == tokenizer.decode(ids)
