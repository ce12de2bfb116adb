"""Topic 8, key ideas 1, 2 and 5: memorisation (ownership), a fake picture's checks (deepfakes), human oversight."""
import numpy as np
import pytest

from apps.ethics import deepfake as D
from apps.ethics import memorisation as M
from apps.ethics import oversight as O
from shared import limits

# --- oversight: the model drafts, a check routes, a person decides ---------------------------------------


def draft(text="You can change the date for 50 CAD.", flags=None):
    return O.Draft(text, "model", 1, O.route(text, O.DEFAULT_POLICY) if flags is None else flags, drafted_at=100.0)


def test_the_check_flags_numbers_not_in_the_policy_and_promises_of_money():
    assert O.route("You can change the date for 50 CAD.", O.DEFAULT_POLICY) == []
    flags = O.route("You are entitled to a full refund within 90 days.", O.DEFAULT_POLICY)
    assert flags == ["the number 90 is not in the policy", "it promises something: “entitled”",
                     "it promises something: “refund”"]
    assert O.route("We will make an exception for you.", "")[0].endswith("“exception”")


def test_an_approval_publishes_and_records_who_decided_what_on_which_output():
    d = draft()
    record = O.decide(d, "  Ada  ", True, "", d.text, now=112.34)
    assert record.reviewer == "Ada" and record.decision == O.APPROVE and record.automatic_check == "no flag"
    assert record.model_output_sha256 == O.sha256(d.text)[:16] == record.published_sha256
    assert record.edited_by_reviewer == "no" and record.seconds_reviewing == pytest.approx(12.3)
    assert d.decided_by == "Ada"
    with pytest.raises(ValueError, match="already decided by Ada"):
        O.decide(d, "Bob", False, "too late", d.text)


def test_an_edited_approval_records_both_texts_and_a_rejection_publishes_nothing():
    d = draft()
    record = O.decide(d, "Ada", True, "", "Changing the date costs 50 CAD.")
    assert record.edited_by_reviewer == "yes" and record.published_sha256 != record.model_output_sha256
    rejected = O.decide(draft(), "Bob", False, "not our policy", "whatever")
    assert rejected.decision == O.REJECT and rejected.published_sha256 == "(nothing published)"


@pytest.mark.parametrize("kwargs, message", [
    (dict(d=None), "Draft a reply first"),
    (dict(reviewer="  "), "Type your name"),
    (dict(approve=False, reason=""), "Give a reason"),
    (dict(d="flagged", reason=""), "Give a reason"),
    (dict(final_text="  "), "empty"),
    (dict(reviewer="x" * (limits.OVERSIGHT_NAME_MAX_CHARS + 1)), "Shorten"),
])
def test_a_decision_needs_a_draft_a_name_and_a_reason_where_it_matters(kwargs, message):
    d = kwargs.pop("d", draft())
    if d == "flagged":
        d = draft("Full refund, guaranteed.")
    args = dict(reviewer="Ada", approve=True, reason="", final_text="Fine.") | kwargs
    with pytest.raises(ValueError, match=message):
        O.decide(d, **args)


def test_the_audit_log_keeps_the_newest_records_only():
    log = []
    for i in range(limits.OVERSIGHT_LOG_MAX + 3):
        log = O.append(log, O.decide(draft(), f"R{i}", True, "", "ok"))
    assert len(log) == limits.OVERSIGHT_LOG_MAX and log[-1]["reviewer"] == f"R{limits.OVERSIGHT_LOG_MAX + 2}"


def test_the_prompt_holds_the_policy_and_the_question_and_refuses_empty_ones():
    prompt = O.build_prompt(O.DEFAULT_QUESTION, O.DEFAULT_POLICY)
    assert O.DEFAULT_QUESTION in prompt and "50 CAD" in prompt
    with pytest.raises(ValueError, match="policy"):
        O.build_prompt("Hi?", " ")
    with pytest.raises(ValueError, match="limit"):
        O.build_prompt("x" * (limits.OVERSIGHT_TEXT_MAX_CHARS + 1), O.DEFAULT_POLICY)


def test_the_routing_note_says_a_person_decides_with_or_without_a_flag():
    assert "a person still reads and decides" in O.routing_note([])
    assert "1 flag(s)" in O.routing_note(["x"]) and "reviewer" in O.routing_note(["x"])


# --- deepfake: what the checks can say about a fake ------------------------------------------------------


def test_the_checks_follow_the_fake_until_a_crop_and_a_new_label_make_it_look_real():
    from sklearn.datasets import load_sample_image

    fake = D.enlarge(D.square(load_sample_image("flower.jpg"), 32))  # a 32-pixel picture, as the model makes
    assert fake.shape == (256, 256, 3)
    table = D.check_table(D.versions(fake, D.square(D.default_image(), 256)))
    said = list(table["what the checks can say"])
    assert said[0].startswith("AI-made") and said[1].startswith("AI-made")  # the watermark survives re-saving
    assert said[2].startswith("nothing") and said[4].startswith("nothing")  # a cropped fake = a real photo
    assert said[3].startswith("labelled a camera photo")
    assert list(table["label in the file"]) == ["AI-made", "none", "none", "camera photo", "none"]
    assert table["pixel hash"][0] == "matches" and table["pixel hash"][3] == "matches"  # a forged label hashes fine
    assert "2 of 4 versions" in D.summary(table) and "neither can show that a picture is real" in D.summary(table)


def test_the_fake_comes_from_the_course_image_model_and_depends_on_the_seed():
    from apps.images import generate
    from shared.loader import load

    bundle = load(D.image_model_id())
    a, b = (generate(bundle, "red heart", seed=s, record_steps=False).images[0] for s in (0, 1))
    assert a.dtype == np.uint8 and a.ndim == 3 and not np.array_equal(a, b)


# --- memorisation: does the model store its training text? -----------------------------------------------


def test_compare_counts_the_exact_prefix_and_tokens_in_place():
    same, prefix = M.compare([1, 2, 9, 4], [1, 2, 3, 4, 5])
    assert same == [True, True, False, True, False] and prefix == 2
    assert M.compare([], [1, 2]) == ([False, False], 0)
    assert "reproduced the next 2 tokens" in M.verdict(2, same) and "No exact copy" in M.verdict(0, [False])


def test_the_text_is_split_between_words_and_bad_input_is_refused(embedded_lm):
    tokenizer = embedded_lm.tokenizer
    prompt, original = M.split_text(tokenizer, "one two three four five six", 2)
    assert tokenizer.decode(prompt) == "one two" and tokenizer.decode(original) == " three four five six"
    for text, words, message in [("one two", 2, "more than the 2"), ("  ", 2, "Type or paste"),
                                 ("a b c", limits.MEMORISATION_PROMPT_WORDS_MAX + 1, "Prompt words")]:
        with pytest.raises(ValueError, match=message):
            M.split_text(tokenizer, text, words)


def test_lorem_ipsum_comes_back_word_for_word_and_a_new_sentence_does_not(embedded_lm):
    def copied(text):
        prompt, original = M.split_text(embedded_lm.tokenizer, text, 5)
        return M.compare(M.continue_greedily(embedded_lm, prompt, len(original)), original)[1]

    texts = list(M.EXAMPLES.values())
    assert copied(texts[0]) >= 3
    assert copied(texts[-1]) == 0
