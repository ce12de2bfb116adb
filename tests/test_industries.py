"""Topic 7: four applications. SIMP topology optimisation, synthetic tables, fact-checked copy, checked code."""
import itertools
import os

import numpy as np
import pandas as pd
import pytest

from apps.industries import coding as C
from apps.industries import marketing as M
from apps.industries import synthetic_data as S
from apps.industries import topology as T
from shared import limits

# --- generative design: SIMP --------------------------------------------------------------------------


def test_cantilever_compliance_falls_and_the_volume_constraint_holds_within_one_percent():
    problem = T.preset("Cantilever", max_iterations=40)
    steps = list(T.optimise(problem))
    compliance = [s.compliance for s in steps]
    assert compliance[-1] < 0.3 * compliance[0]
    assert all(b <= a * 1.001 for a, b in itertools.pairwise(compliance))  # falls at every iteration
    for s in steps:
        assert abs(s.volume - problem.volfrac) <= 0.01 * problem.volfrac
        assert s.densities.shape == (problem.nely, problem.nelx)
        assert s.densities.min() >= 0.0 and s.densities.max() <= 1.0


def test_every_preset_is_valid_and_turns_the_grey_start_mostly_black_and_white():
    for name in T.PRESETS:  # every element starts grey, at the volume fraction
        problem = T.preset(name, nelx=40, nely=20, max_iterations=40)
        final = list(T.optimise(problem))[-1]
        grey = float(((final.densities > 0.1) & (final.densities < 0.9)).mean())
        assert grey < 0.5, (name, grey)


def test_penalty_one_leaves_more_grey_material_than_penalty_three():
    def grey(penal):
        final = list(T.optimise(T.preset("MBB beam", nelx=40, nely=14, penal=penal, max_iterations=30)))[-1]
        return float(((final.densities > 0.1) & (final.densities < 0.9)).mean())

    assert grey(1.0) > grey(3.0) + 0.2


def test_both_filters_run_and_give_different_designs():
    a = list(T.optimise(T.preset("Cantilever", nelx=30, nely=15, filter="Density filter", max_iterations=10)))[-1]
    b = list(T.optimise(T.preset("Cantilever", nelx=30, nely=15, filter="Sensitivity filter", max_iterations=10)))[-1]
    assert not np.allclose(a.densities, b.densities)


def test_the_element_stiffness_matrix_is_symmetric_with_three_rigid_body_modes():
    KE = T.element_stiffness()
    assert np.allclose(KE, KE.T)
    eigenvalues = np.linalg.eigvalsh(KE)
    assert int((np.abs(eigenvalues) < 1e-10).sum()) == 3  # two slides and a rotation cost no energy
    assert (eigenvalues > -1e-10).all()


@pytest.mark.parametrize("supports", [
    ["Bottom-left corner pinned"],  # it could rotate about the pin
    ["Left edge on rollers (x fixed)"],  # it could slide up and down
    ["Bottom-right corner on a roller (y fixed)"],
])
def test_supports_that_let_the_structure_move_as_a_rigid_body_are_refused(supports):
    with pytest.raises(ValueError, match="cannot hold the structure still"):
        T.make_problem(60, 30, 0.5, supports, 1.0, 0.5, -90, 3, 1.5, "Density filter", 10)


def test_no_support_at_all_is_refused_and_two_pins_are_enough():
    with pytest.raises(ValueError, match="at least one support"):
        T.make_problem(60, 30, 0.5, [], 1.0, 0.5, -90, 3, 1.5, "Density filter", 10)
    T.make_problem(60, 30, 0.5, ["Bottom-left corner pinned", "Bottom-right corner on a roller (y fixed)"],
                   0.5, 1.0, -90, 3, 1.5, "Density filter", 10)


@pytest.mark.parametrize("volfrac", [0.05, 0.95, "half", None, float("nan")])
def test_a_volume_fraction_out_of_range_is_refused(volfrac):
    with pytest.raises(ValueError, match="Volume fraction"):
        T.make_problem(60, 30, volfrac, ["Left edge clamped"], 1.0, 0.5, -90, 3, 1.5, "Density filter", 10)


@pytest.mark.parametrize("load_x, load_y", [(1.2, 0.5), (0.5, -0.1), ("right", 0.5)])
def test_a_load_outside_the_domain_is_refused(load_x, load_y):
    with pytest.raises(ValueError, match="inside the domain"):
        T.make_problem(60, 30, 0.5, ["Left edge clamped"], load_x, load_y, -90, 3, 1.5, "Density filter", 10)


def test_a_load_that_pushes_only_on_a_support_is_refused():
    with pytest.raises(ValueError, match="sits on a support"):
        T.make_problem(60, 30, 0.5, ["Left edge clamped"], 0.0, 0.5, -90, 3, 1.5, "Density filter", 10)


def test_grid_size_and_iterations_are_bounded():
    with pytest.raises(ValueError, match="Width"):
        T.make_problem(limits.TOPOLOGY_NELX_MAX + 1, 30, 0.5, ["Left edge clamped"], 1, 0.5, -90, 3, 1.5,
                       "Density filter", 10)
    with pytest.raises(ValueError, match="Iterations"):
        T.make_problem(60, 30, 0.5, ["Left edge clamped"], 1, 0.5, -90, 3, 1.5, "Density filter",
                       limits.TOPOLOGY_ITERATIONS_MAX + 1)


def test_the_picture_shows_material_supports_and_the_load():
    problem = T.preset("Cantilever")
    densities = np.zeros((problem.nely, problem.nelx))
    densities[:, : problem.nelx // 2] = 1.0
    image = T.render(problem, densities)
    assert image.dtype == np.uint8 and image.ndim == 3
    assert (image.sum(-1) == 0).any()  # black material
    red = (image[..., 0] > 200) & (image[..., 1] < 80)
    blue = (image[..., 2] > 200) & (image[..., 0] < 80)
    assert red.any() and blue.any()


# --- synthetic data -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cancer():
    return S.load_table(S.DATASETS[0])


@pytest.fixture(scope="module")
def diabetes():
    return S.load_table(S.DATASETS[1])


def test_the_copula_matches_real_column_means_within_a_tenth_of_a_standard_deviation(cancer):
    rows, _ = S.synthesise(cancer, "Gaussian copula", 1000, seed=0)
    report = S.evaluate(cancer, rows)
    assert list(rows.columns) == list(cancer.train.columns)
    assert report.means["difference (real SDs)"].abs().max() < 0.1
    assert report.correlation_gap < 0.1
    assert set(rows["benign"].unique()) <= {0.0, 1.0}  # a label stays a label


def test_training_on_copula_rows_beats_chance_and_comes_within_ten_percent_of_real_data(cancer):
    rows, _ = S.synthesise(cancer, "Gaussian copula", 1000, seed=1)
    report = S.evaluate(cancer, rows)
    assert report.metric == "accuracy"
    assert report.tstr > report.chance + 0.15
    assert report.tstr >= 0.9 * report.trtr


def test_the_vae_matches_column_means_within_a_quarter_standard_deviation_and_beats_chance(diabetes):
    rows, _ = S.synthesise(diabetes, "Tabular VAE", 1000, steps=300, seed=0)
    report = S.evaluate(diabetes, rows)
    assert report.means["difference (real SDs)"].abs().max() < 0.25
    assert report.metric == "R²" and report.tstr > report.chance + 0.2  # R² of the mean is 0
    assert report.tstr >= 0.5 * report.trtr


def test_synthetic_rows_depend_on_the_seed_and_not_on_anything_else(diabetes):
    a, _ = S.synthesise(diabetes, "Gaussian copula", 100, seed=3)
    b, _ = S.synthesise(diabetes, "Gaussian copula", 100, seed=3)
    c, _ = S.synthesise(diabetes, "Gaussian copula", 100, seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_copies_of_real_rows_are_flagged_as_near_copies_and_fresh_real_rows_are_not(cancer):
    copied = S.evaluate(cancer, cancer.train.copy())
    assert copied.near_copy_share == 1.0 and copied.exact_copies == len(cancer.train)
    fresh = S.evaluate(cancer, cancer.holdout.copy())  # the baseline itself: 5% by construction
    assert fresh.near_copy_share <= 2 * S.NEAR_COPY_QUANTILE and fresh.exact_copies == 0


def test_the_csv_download_holds_exactly_the_synthetic_rows(diabetes):
    rows, _ = S.synthesise(diabetes, "Gaussian copula", 60, seed=0)
    path = S.write_csv(rows, "test")
    back = pd.read_csv(path)
    assert list(back.columns) == list(rows.columns) and len(back) == 60
    assert np.allclose(back.to_numpy(), rows.to_numpy(), rtol=1e-5)
    assert os.path.dirname(path) == str(S._DOWNLOADS)


def test_an_uploaded_numeric_csv_becomes_a_table_with_a_holdout(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200), "label": rng.integers(0, 2, 200)})
    frame.to_csv(tmp_path / "mine.csv", index=False)
    table = S.read_csv_table(tmp_path / "mine.csv")
    assert table.task == "classification" and table.target == "label"
    assert len(table.train) + len(table.holdout) == 200


@pytest.mark.parametrize("make, message", [
    (lambda: pd.DataFrame(np.zeros((limits.SYNTH_TABLE_MAX_ROWS + 1, 3))), "more than"),
    (lambda: pd.DataFrame(np.zeros((100, limits.SYNTH_TABLE_MAX_COLUMNS + 1))), "columns"),
    (lambda: pd.DataFrame(np.zeros((10, 3))), "at least"),
    (lambda: pd.DataFrame({"name": ["x"] * 100, "y": range(100)}), "must hold numbers"),
    (lambda: pd.DataFrame({"x": [1.0, None] * 50, "y": range(100)}), "empty cells"),
])
def test_oversized_or_unusable_tables_are_refused_with_a_reason(tmp_path, make, message):
    path = tmp_path / "bad.csv"
    make().to_csv(path, index=False)
    with pytest.raises(ValueError, match=message):
        S.read_csv_table(path)


def test_row_counts_and_generators_are_checked(diabetes):
    with pytest.raises(ValueError, match="Synthetic rows"):
        S.synthesise(diabetes, "Gaussian copula", limits.SYNTH_ROWS_MAX + 1)
    with pytest.raises(ValueError, match="Generator"):
        S.synthesise(diabetes, "GPT", 100)


def test_the_first_view_columns_are_the_breast_cancer_tables(cancer):
    assert S.BREAST_CANCER_COLUMNS == list(cancer.train.columns)


def test_fidelity_and_privacy_figures_draw(diabetes):
    rows, _ = S.synthesise(diabetes, "Gaussian copula", 200, seed=0)
    report = S.evaluate(diabetes, rows)
    for fig in (S.histograms_figure(diabetes.train, rows, list(rows.columns[:4])),
                S.correlations_figure(diabetes.train, rows), S.privacy_figure(report)):
        assert fig.axes


# --- marketing copy -----------------------------------------------------------------------------------

SOURCES = [M.DEFAULTS["product"], M.DEFAULTS["facts"], "cyclists", "friendly"]


def flagged(text):
    return [c.text for c in M.find_claims(text, SOURCES) if not c.supported]


def test_the_fact_check_flags_an_invented_number_and_accepts_a_supplied_one():
    assert flagged("It keeps drinks cold for 24 hours and weighs 300 g.") == ["24"]
    assert flagged("It keeps drinks cold for 12 hours.") == []


def test_the_check_misses_invented_claims_in_plain_words():
    """The limit the demo states beside its result: a water bottle that is "fun to drive on" passes."""
    assert flagged("It is fun to drive on and will fuel your vehicle on long rides.") == []


def test_the_result_says_what_the_check_cannot_catch_whether_or_not_it_flags():
    for text, found in [("Cold for 24 hours.", "1 not in your inputs"), ("Cold for 12 hours.", "all in your inputs")]:
        result = M.check_result([M.find_claims(text, SOURCES)])
        assert f"Numbers and names: {found}" in result
        assert result.endswith(M.CHECK_LIMITS) and "plain words" in M.CHECK_LIMITS
        assert "hallucination" not in result  # a count of unknown names is not a verdict on the text


def test_numbers_compare_by_value():
    sources = ["holds 1000 ml", "costs 2.50 EUR"]
    assert [c.supported for c in M.find_claims("Holds 1,000 ml for 2.5 EUR.", sources)] == [True, True, True]


def test_invented_names_are_flagged_but_capitals_that_only_start_a_sentence_are_not():
    assert flagged("Made in Germany by Nordvik. Stay cool with the TrailFlask.") == ["Germany"]
    assert flagged("BPA-free and USB-C ready.") == ["BPA-free", "USB-C"]  # acronyms count even at a start
    assert flagged("Introducing the AquaPeak Pro.") == ["AquaPeak Pro"]


def test_the_highlighted_segments_rebuild_the_text_with_labels_on_the_claims():
    text = "The TrailFlask holds 900 ml.\nMade by Nordvik."
    segments, claims = M.highlight(text, SOURCES)
    assert "".join(piece for piece, _ in segments) == text
    labels = {piece: label for piece, label in segments if label}
    assert labels == {"TrailFlask": M.SUPPORTED, "900": M.FLAGGED, "Nordvik": M.SUPPORTED}


def test_the_template_fills_every_slot():
    prompt = M.fill_template(M.DEFAULT_TEMPLATE, **M.DEFAULTS)
    for value in M.DEFAULTS.values():
        assert value.strip() in prompt
    assert "{" not in prompt


@pytest.mark.parametrize("change, message", [
    (dict(facts="   "), "product facts"),
    (dict(template="Write about {price}."), "unknown slot"),
    (dict(template="Write {facts"), "unmatched brace"),
    (dict(template=""), "template is empty"),
    (dict(facts="x" * (limits.MARKETING_FACTS_MAX_CHARS + 1)), "limit"),
])
def test_empty_facts_and_broken_templates_are_refused(change, message):
    fields = {"template": M.DEFAULT_TEMPLATE, **M.DEFAULTS, **change}
    with pytest.raises(ValueError, match=message):
        M.fill_template(**fields)


def test_the_language_model_writes_one_variant_per_seed(embedded_lm):
    prompt = M.fill_template(M.DEFAULT_TEMPLATE, **M.DEFAULTS)
    final = {}
    for i, text in M.generate_variants(embedded_lm, prompt, 2, 0.9, 20, 5):
        final[i] = text
    assert sorted(final) == [0, 1]
    assert final[0] and final[1] and final[0] != final[1]
    with pytest.raises(ValueError, match="Variants"):
        list(M.generate_variants(embedded_lm, prompt, limits.MARKETING_VARIANTS_MAX + 1, 0.9, 20, 5))


# --- coding assistant ---------------------------------------------------------------------------------


def test_code_that_does_not_parse_is_reported_with_its_line():
    check = C.check_code("def f(x):\n    return (x +\n")
    assert not check.parses and not check.lint_clean
    assert check.syntax_error.startswith("line 2")


def test_ruff_finds_undefined_names_in_code_that_parses():
    check = C.check_code("def f(x):\n    return x + y\n")
    assert check.parses and check.lint_ran
    assert [f["code"] for f in check.findings] == ["F821"]
    assert C.check_code("def f(x):\n    return x + 1\n").lint_clean


def test_generated_code_is_never_executed(tmp_path):
    marker = tmp_path / "ran.txt"
    code = f"open({str(marker)!r}, 'w').write('x')\nimport os\nos.system('touch {marker}')\n"
    check = C.check_code(code)
    assert check.parses
    assert not marker.exists()


def test_a_missing_linter_is_said_not_hidden(monkeypatch):
    monkeypatch.setattr(C, "ruff_command", lambda: None)
    check = C.check_code("def f():\n    return 1\n")
    assert check.parses and not check.lint_ran and not check.lint_clean
    assert "not installed" in check.lint_error


def test_pass_at_k_is_the_unbiased_estimator_of_chen_et_al():
    assert C.pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert C.pass_at_k(10, 3, 5) == pytest.approx(1 - 21 / 252)  # the lesson's example
    assert C.pass_at_k(10, 2, 3) == pytest.approx(1 - 56 / 120)  # the lesson's check-yourself answer
    assert C.pass_at_k(4, 0, 4) == 0.0 and C.pass_at_k(4, 4, 1) == 1.0
    with pytest.raises(ValueError):
        C.pass_at_k(3, 4, 1)


def test_the_pass_at_k_table_counts_parses_and_lint_clean_samples():
    checks = [C.CodeCheck(parses=True, lint_ran=True), C.CodeCheck(parses=False),
              C.CodeCheck(parses=True, lint_ran=True, findings=[{"code": "F821", "message": "", "line": 1}])]
    table = C.pass_at_k_table(checks)
    assert list(table["k"]) == [1, 2, 3]
    assert table.iloc[0, 1] == pytest.approx(2 / 3, abs=1e-3) and table.iloc[0, 2] == pytest.approx(1 / 3, abs=1e-3)
    assert table.iloc[2, 1] == 1.0


def test_code_is_taken_from_a_fenced_reply_or_cut_where_the_function_ends():
    reply = "Sure:\n```python\ndef is_palindrome(s):\n    return s == s[::-1]\n```\nHope it helps."
    assert C.extract_code(reply, C.DEFAULT_STUB, "Chat") == "def is_palindrome(s):\n    return s == s[::-1]\n"
    body_only = "```python\n    return s == s[::-1]\n```"
    assert C.extract_code(body_only, C.DEFAULT_STUB, "Chat").startswith("def is_palindrome(s: str)")
    raw = "    return s == s[::-1]\n\nprint(is_palindrome('abba'))\n"
    code = C.extract_code(raw, C.DEFAULT_STUB, "Raw continuation")
    assert code.endswith("return s == s[::-1]\n") and "print" not in code


@pytest.mark.parametrize("stub, message", [
    ("", "signature"), ("print('hi')", "def add"), ("def f(x:\n", "not valid Python"),
    ("def f():\n" + "#" * limits.CODE_STUB_MAX_CHARS, "limit"),
])
def test_bad_signatures_are_refused(stub, message):
    with pytest.raises(ValueError, match=message):
        C.validate_stub(stub)


def test_the_embedded_model_writes_k_candidates_that_are_checked(embedded_lm):
    replies = {}
    for i, reply in C.generate_candidates(embedded_lm, C.DEFAULT_STUB, "Raw continuation", 2, 0.8, 48, 0):
        replies[i] = reply
    assert sorted(replies) == [0, 1] and replies[0] != replies[1]
    checks = [C.check_code(C.extract_code(r, C.DEFAULT_STUB, "Raw continuation")) for r in replies.values()]
    assert all(isinstance(c.parses, bool) for c in checks)


# --- the tab ------------------------------------------------------------------------------------------


def test_the_tab_builds_four_sub_tabs_with_named_api_endpoints():
    import gradio as gr

    from apps import industries

    with gr.Blocks() as demo:
        industries.build()
    names = {fn.api_name for fn in demo.fns.values() if fn.api_name}
    assert {"industries_write_copy", "industries_write_code", "industries_optimise", "industries_synthesise"} <= names


def test_the_code_model_is_in_the_catalog_and_falls_back_to_the_embedded_model_offline(embedded_lm):
    from shared import catalog
    from shared.loader import load

    spec = catalog.get("Qwen/Qwen2.5-Coder-0.5B-Instruct")
    assert spec.source == "hub" and spec.task == "text-generation" and spec.fallback == catalog.EMBEDDED_LM
    bundle = load(spec.id)  # HF_HUB_OFFLINE=1 in the tests, and it is not in the hub cache
    assert bundle.spec.id == catalog.EMBEDDED_LM and "could not be loaded" in bundle.notice


def test_the_coding_assistant_runs_on_a_hub_format_model(tiny_llama, tmp_path):
    from shared.catalog import ModelSpec
    from shared.loader import Loader

    spec = ModelSpec(id="tiny-coder", label="tiny coder (test)", task="text-generation", source="hub",
                     repo_id=str(tiny_llama), revision=None, licence="test", ram_gb=0.01, description="tiny")
    bundle = Loader(budget_bytes=2**30, cache_dir=tmp_path).load(spec)
    stub = "def f(x):\n    return x\n"
    replies = {}
    for i, reply in C.generate_candidates(bundle, stub, "Raw continuation", 2, 1.0, 8, 0):
        replies[i] = reply
    assert sorted(replies) == [0, 1]
