"""shared/text_encoders.py: MiniLM's sentence vector in the [CLS] place, shapes as Stable Diffusion expects."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def minilm():
    from transformers import AutoModel, AutoTokenizer

    from shared.text_encoders import MiniLMWithSentenceToken
    from train.images import minilm_folder

    folder = minilm_folder()
    return (AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder).eval(),
            MiniLMWithSentenceToken.from_pretrained(folder).eval())


def test_position_zero_is_the_mean_of_the_unmasked_tokens_and_the_rest_are_minilms(minilm):
    tokenizer, plain, with_sentence = minilm
    t = tokenizer(["a green apple", "a photo of a cup of hot coffee"], padding="max_length", max_length=16,
                  return_tensors="pt")
    with torch.no_grad():
        tokens = plain(t.input_ids, attention_mask=t.attention_mask).last_hidden_state
        (out,) = with_sentence(t.input_ids, attention_mask=t.attention_mask)
    assert out.shape == tokens.shape == (2, 16, 384)
    n = int(t.attention_mask[0].sum())
    torch.testing.assert_close(out[0, 0], tokens[0, :n].mean(dim=0), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out[:, 1:], tokens[:, 1:])


def test_sentences_of_one_meaning_get_closer_sentence_vectors_than_cls_vectors(minilm):
    """Why the sentence vector: a paraphrase lands nearer its caption than an unrelated caption does."""
    tokenizer, _plain, with_sentence = minilm
    texts = ["green apple", "a photo of a green apple on a table", "flag of japan"]
    t = tokenizer(texts, padding="max_length", max_length=16, return_tensors="pt")
    with torch.no_grad():
        sentence = with_sentence(t.input_ids, attention_mask=t.attention_mask)[0][:, 0]
    cos = torch.nn.functional.cosine_similarity
    assert cos(sentence[0], sentence[1], dim=0) > cos(sentence[0], sentence[2], dim=0)
