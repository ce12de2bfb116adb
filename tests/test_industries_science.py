"""Topic 7, key ideas 3 and 5: generate-then-verify on arithmetic; one model prompted for five sectors, scored."""
import itertools

import pandas as pd
import pytest

from apps.industries import science as SC
from apps.industries import sectors as SE
from shared import limits

# --- science: sample candidates, then test them --------------------------------------------------------


def test_problems_depend_on_the_seed_and_have_the_asked_digits():
    a = SC.make_problems("Addition", 3, 5, seed=1)
    assert len(a) == 5 and a == SC.make_problems("Addition", 3, 5, seed=1)
    assert a != SC.make_problems("Addition", 3, 5, seed=2)
    assert all(100 <= p.a <= 999 and 100 <= p.b <= 999 and p.op == "+" for p in a)
    m = SC.make_problems("Multiplication", 1, 3, seed=0)
    assert all(p.answer == p.a * p.b for p in m)


@pytest.mark.parametrize("args, message", [
    (("Division", 2, 4, 0), "Problem type"),
    (("Addition", limits.SCIENCE_DIGITS_MAX + 1, 4, 0), "Digits"),
    (("Addition", 2, 0, 0), "Problems"),
    (("Addition", 2, 4, "x"), "Seed"),
])
def test_bad_settings_are_refused_with_a_sentence(args, message):
    with pytest.raises(ValueError, match=message):
        SC.make_problems(*args)


def test_the_checker_reads_one_leading_whole_number_and_nothing_else():
    p = SC.Problem(59, 63, "+")
    assert SC.verify(p, "122") and SC.verify(p, " 122\n") and SC.verify(p, "122 (")
    assert not SC.verify(p, "12.2") and not SC.verify(p, "one hundred and twenty-two") and not SC.verify(p, "")
    assert not SC.verify(p, "121") and not SC.verify(p, "__import__('os') 122")


def test_the_checker_decides_where_the_models_favourite_is_wrong():
    problems = [SC.Problem(61, 48, "+"), SC.Problem(84, 5, "*")]
    replies = [["121", "109", "121", "121"], ["405", "400", "408", "408"]]
    assert SC.majority_answer(replies[0]) == 121
    table = SC.results_table(problems, replies)
    assert list(table["checker's pick"]) == ["109", "nothing passes: report nothing"]
    assert list(table["passed"]) == ["1/4", "0/4"]
    assert SC.majority_accuracy(problems, replies) == 0.0
    curve = SC.hit_rate_curve(problems, replies)
    assert [k for k, _ in curve] == [1, 2, 3, 4]
    assert curve[0][1] == pytest.approx(0.125) and curve[-1][1] == pytest.approx(0.5)
    assert all(b >= a for (_, a), (_, b) in itertools.pairwise(curve))  # more candidates never lower the hit rate
    text = SC.summary(problems, replies)
    assert "1 of 2 problems" in text and "cannot make a right one" in text


def test_the_curve_figure_draws():
    fig = SC.curve_figure([(1, 0.2), (2, 0.35), (3, 0.5)], 0.25)
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 2


def test_the_language_model_proposes_k_answers_that_depend_on_the_seed(embedded_lm):
    problem = SC.Problem(23, 45, "+")
    first = [r for _, r in SC.sample_answers(embedded_lm, problem, 3, 1.0, seed=0)]
    again = [r for _, r in SC.sample_answers(embedded_lm, problem, 3, 1.0, seed=0)]
    assert len(first) == 3 and first == again
    assert all("\n" not in r for r in first)
    greedy = [r for _, r in SC.sample_answers(embedded_lm, problem, 2, 0.0, seed=0)]
    assert greedy[0] == greedy[1]
    with pytest.raises(ValueError, match="Candidates"):
        list(SC.sample_answers(embedded_lm, problem, limits.SCIENCE_SAMPLES_MAX + 1, 1.0, 0))


# --- one model, many sectors ----------------------------------------------------------------------------


def test_the_task_fills_the_sector_slot_and_refuses_other_slots():
    assert SE.fill_task(SE.DEFAULT_TASK, "law").endswith("people who work in law.")
    for task, message in [("Write about AI.", r"\{sector\}"), ("{sector} and {price}", r"\{sector\}"),
                          ("{sector", "unmatched brace"), ("  ", "Type a prompt"),
                          ("{sector}" + "x" * limits.SECTORS_TASK_MAX_CHARS, "limit")]:
        with pytest.raises(ValueError, match=message):
            SE.fill_task(task, "law")


def test_the_score_table_marks_outputs_closest_to_their_own_sector():
    outputs = {s: f"text for {s}" for s in SE.SECTORS}
    similarity = pd.DataFrame(0.1, index=list(SE.SECTORS), columns=list(SE.SECTORS))
    for i, s in enumerate(SE.SECTORS):
        similarity.loc[s, s] = 0.5 if i else 0.0  # the first output drifted off its sector
    table = SE.score_table(outputs, similarity)
    assert list(table["on topic?"]) == ["no", "yes", "yes", "yes", "yes"]
    assert "4 of 5 outputs" in SE.verdict(table) and "not whether it is true" in SE.verdict(table)


def test_minilm_puts_a_sector_text_closest_to_its_own_description():
    from shared.catalog import EMBEDDED_EMBEDDER
    from shared.loader import load

    embedder = load(EMBEDDED_EMBEDDER)
    outputs = {"healthcare": "Nurses could spend less time on patient records and more time at the bedside.",
               "finance": "It could check loan applications and flag risky payments for the bank."}
    similarity = SE.similarity_matrix(embedder, outputs)
    assert similarity.shape == (2, len(SE.SECTORS))
    assert similarity.loc["healthcare"].idxmax() == "healthcare" and similarity.loc["finance"].idxmax() == "finance"


def test_the_language_model_writes_one_output_per_sector_with_the_same_seed(embedded_lm):
    final = {}
    for sector, text in SE.generate_for_sectors(embedded_lm, SE.DEFAULT_TASK, 0.7, 16, 1):
        final[sector] = text
    assert list(final) == list(SE.SECTORS) and all(final.values())
    assert len(set(final.values())) > 1
