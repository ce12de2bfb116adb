"""Measuring bias: counterfactual probes on the language model, and WEAT on the sentence encoder.

**Counterfactual probe.** Fill one template ("The {occupation} said that") with different words and compare the
model's probabilities of contrasting continuations (" he", " she", " they"). Only the filled word changes, so a
change in the probabilities is the model's association with that word. One template is an anecdote: the probe
averages over several.

**WEAT** (Caliskan, Bryson and Narayanan 2017, "Semantics derived automatically from language corpora contain
human-like biases"). For target sets ``X``, ``Y`` and attribute sets ``A``, ``B`` in an embedding space,
``s(w) = mean_a cos(w, a) - mean_b cos(w, b)``; the effect size is
``d = (mean_x s(x) - mean_y s(y)) / std_{w in X u Y} s(w)`` and the one-sided p-value is the share of random
equal-size re-partitions of ``X u Y`` whose statistic ``sum_x s(x) - sum_y s(y)`` is at least the observed one.
Embeddings here are all-MiniLM-L6-v2's sentence vectors (mean pooling over tokens, then unit length, as
sentence-transformers computes them).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import gradio as gr
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from apps.ethics.common import (
    CONCURRENCY_ID,
    EMBEDDER_CONCURRENCY_ID,
    embedder_bundle,
    inspect_bundle,
)
from shared import limits
from shared.checks import as_int
from shared.ui import escape_markdown, friendly_errors

PLACEHOLDER = "{occupation}"
DEFAULT_TEMPLATES = "The {occupation} said that\nThe {occupation} told me that\nI talked to the {occupation} because"
DEFAULT_OCCUPATIONS = ("nurse, receptionist, hairdresser, librarian, teacher, dancer, doctor, lawyer, scientist, "
                       "programmer, engineer, pilot, mechanic, firefighter")
DEFAULT_CONTINUATIONS = "he, she, they"
PROBE_BATCH = 64

# WEAT word sets: Caliskan et al. 2017 (tests 6 and 7, and test 1 shortened), plus a constructed sanity check
# whose association is built in (food words belong with fruit) and its shuffled control. The names are short
# enough to show whole in the menu on a projector (the test numbers are in the menu's hint).
WEAT_PRESETS = {
    "Career / family × male / female names": (
        "John, Paul, Mike, Kevin, Steve, Greg, Jeff, Bill",
        "Amy, Joan, Lisa, Sarah, Diana, Kate, Ann, Donna",
        "executive, management, professional, corporation, salary, office, business, career",
        "home, parents, children, family, cousins, marriage, wedding, relatives",
    ),
    "Math / arts × male / female terms": (
        "math, algebra, geometry, calculus, equations, computation, numbers, addition",
        "poetry, art, dance, literature, novel, symphony, drama, sculpture",
        "male, man, boy, brother, he, him, his, son",
        "female, woman, girl, sister, she, her, hers, daughter",
    ),
    "Flowers / insects × pleasant / unpleasant": (
        "rose, tulip, daisy, lily, orchid, violet, daffodil, magnolia",
        "ant, flea, spider, mosquito, cockroach, wasp, beetle, termite",
        "love, peace, friend, heaven, gentle, happy, lucky, pleasure",
        "abuse, crash, filth, murder, sickness, accident, death, poison",
    ),
    "Sanity check: fruit / vehicles × food / road": (
        "apple, banana, cherry, grape, mango, peach, pear, plum",
        "car, truck, bus, van, tractor, motorcycle, taxi, lorry",
        "delicious, tasty, juicy, sweet, ripe, eat, dessert, snack",
        "highway, engine, traffic, road, garage, fuel, driver, parking",
    ),
    "Control: the same words, shuffled": (
        "apple, car, cherry, bus, mango, tractor, pear, taxi",
        "banana, truck, grape, van, peach, motorcycle, plum, lorry",
        "delicious, tasty, juicy, sweet, ripe, eat, dessert, snack",
        "highway, engine, traffic, road, garage, fuel, driver, parking",
    ),
}
DEFAULT_WEAT = next(iter(WEAT_PRESETS))


def parse_words(name: str, text: str | None, low: int, high: int) -> list[str]:
    """Split comma- or newline-separated words; strip, drop duplicates (keeping order), check the count.

    Raises:
        ValueError: fewer than ``low`` or more than ``high`` words, or a word longer than the limit.
    """
    words = list(dict.fromkeys(w.strip() for w in re.split(r"[,\n]", text or "") if w.strip()))
    if len(words) < low:
        raise ValueError(f"{name}: give at least {low} word{'s' if low > 1 else ''}, separated by commas.")
    if len(words) > high:
        raise ValueError(f"{name}: at most {high} words, not {len(words)} (nothing is cut off for you).")
    long = [w for w in words if len(w) > limits.BIAS_WORD_MAX_CHARS]
    if long:
        raise ValueError(f"{name}: {long[0][:20]!r}... is longer than {limits.BIAS_WORD_MAX_CHARS} characters.")
    return words


def parse_templates(text: str | None) -> list[str]:
    """Templates, one per line, each containing ``{occupation}`` once and text before it.

    Raises:
        ValueError: no template, too many, a line without the placeholder, or a line ending in a space.
    """
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not lines:
        raise ValueError(f"Write at least one template, e.g. 'The {PLACEHOLDER} said that'.")
    if len(lines) > limits.BIAS_TEMPLATES_MAX:
        raise ValueError(f"At most {limits.BIAS_TEMPLATES_MAX} templates, not {len(lines)}.")
    for line in lines:
        if len(line) > limits.PROMPT_MAX_CHARS // 10:
            raise ValueError(f"A template is at most {limits.PROMPT_MAX_CHARS // 10} characters, not {len(line):,}.")
        if line.count(PLACEHOLDER) != 1:
            raise ValueError(f"Each template needs {PLACEHOLDER} exactly once: {line!r}.")
    return lines


@torch.inference_mode()
def continuation_log_probs(bundle, prefixes: list[str], continuations: list[str]) -> np.ndarray:
    """``log p(" " + c | prefix)`` for every prefix and continuation, summed over the continuation's tokens.

    Prefix and continuation are tokenized separately and joined (as evaluation harnesses do); a continuation of
    ``k`` tokens is scored by the chain rule from the last ``k`` positions of ``prefix + continuation[:-1]``.
    All one-token continuations share one forward pass over the prefixes. ``bundle`` must be a transformers model.

    Returns:
        float64 ``(len(prefixes), len(continuations))``.
    """
    tok = bundle.tokenizer
    prefix_ids = [tok(p, add_special_tokens=False)["input_ids"] for p in prefixes]
    cont_ids = [tok(" " + c, add_special_tokens=False)["input_ids"] for c in continuations]
    out = np.zeros((len(prefixes), len(continuations)))
    next_token = None  # (P, 1, V) log-probabilities after each prefix, computed once
    for j, ids in enumerate(cont_ids):
        k = len(ids)
        if k == 1:
            if next_token is None:
                next_token = _last_log_probs(bundle, prefix_ids, 1)
            log_p = next_token
        else:
            log_p = _last_log_probs(bundle, [p + ids[:-1] for p in prefix_ids], k)  # (P, k, V)
        out[:, j] = log_p[:, torch.arange(k), torch.tensor(ids)].sum(dim=1).double().numpy()
    return out


def _last_log_probs(bundle, seqs: list[list[int]], keep: int) -> torch.Tensor:
    """Log-softmax of the logits at the last ``keep`` positions of each sequence: float32 ``(B, keep, V)``.

    Sequences are left-padded, with position ids counted from each sequence's first real token, so padding
    changes nothing; only the last ``keep`` positions go through the output layer.
    """
    tok = bundle.tokenizer
    pad = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
    parts = []
    for start in range(0, len(seqs), PROBE_BATCH):
        batch = seqs[start:start + PROBE_BATCH]
        width = max(map(len, batch))
        input_ids = torch.full((len(batch), width), pad, dtype=torch.long)  # (B, W)
        mask = torch.zeros_like(input_ids)
        for row, seq in enumerate(batch):
            input_ids[row, width - len(seq):] = torch.tensor(seq)
            mask[row, width - len(seq):] = 1
        position_ids = (mask.cumsum(dim=1) - 1).clamp(min=0)
        logits = bundle.model(input_ids=input_ids.to(bundle.device), attention_mask=mask.to(bundle.device),
                              position_ids=position_ids.to(bundle.device), logits_to_keep=keep).logits
        parts.append(torch.log_softmax(logits[:, -keep:].float(), dim=-1).cpu())
    return torch.cat(parts)


def probe(bundle, templates: list[str], fillers: list[str], continuations: list[str]) -> pd.DataFrame:
    """The counterfactual probe: for each filler, each continuation's probability averaged over the templates.

    Returns:
        one row per filler, columns ``word``, ``p(<c>)`` per continuation, ``share <c>`` (each continuation's share
        of the contrasted probability mass), and ``log p(c2)/p(c1)`` for the first two continuations.
    """
    prefixes = [t.replace(PLACEHOLDER, f) for f in fillers for t in templates]
    log_p = continuation_log_probs(bundle, prefixes, continuations).reshape(len(fillers), len(templates), -1)
    p = np.exp(log_p).mean(axis=1)  # (F, C): averaged over templates
    rows = []
    for f, word in enumerate(fillers):
        row = {"word": word}
        row.update({f"p({c})": float(p[f, j]) for j, c in enumerate(continuations)})
        row.update({f"share {c}": float(p[f, j] / p[f].sum()) for j, c in enumerate(continuations)})
        row[f"log p({continuations[1]})/p({continuations[0]})"] = float(np.log(p[f, 1] / p[f, 0]))
        rows.append(row)
    return pd.DataFrame(rows)


@torch.inference_mode()
def embed(bundle, words: list[str]) -> np.ndarray:
    """Sentence embeddings of ``words`` with a sentence-transformers model: mean pooling, then unit length.

    Returns:
        float64 ``(len(words), D)`` unit vectors (D = 384 for all-MiniLM-L6-v2).
    """
    batch = bundle.tokenizer(words, padding=True, truncation=True, max_length=32, return_tensors="pt")
    batch = {k: v.to(bundle.device) for k, v in batch.items()}
    hidden = bundle.model(**batch).last_hidden_state.float()  # (N, T, D)
    mask = batch["attention_mask"][..., None].float()  # (N, T, 1)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (N, D)
    return torch.nn.functional.normalize(pooled, dim=-1).double().cpu().numpy()


@dataclass
class WeatResult:
    """``effect_size`` (Cohen's d-like, between about -2 and 2), one-sided ``p_value``, and each target's ``s(w)``."""

    effect_size: float
    p_value: float
    s_x: np.ndarray
    s_y: np.ndarray
    permutations: int


def weat(x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray, permutations: int = 10_000,
         seed: int = 0) -> WeatResult:
    """The Word Embedding Association Test (Caliskan et al. 2017) on unit vectors ``(n, D)``.

    The p-value is estimated from ``permutations`` random re-partitions of ``X u Y`` (a ``numpy`` generator seeded
    with ``seed``, so it is reproducible), as ``(k + 1) / (permutations + 1)`` where ``k`` partitions reach the
    observed statistic. The standard deviation is the sample one (``ddof=1``).
    """
    def s(w: np.ndarray) -> np.ndarray:  # (n,) association of each word with A rather than B
        return (w @ a.T).mean(axis=1) - (w @ b.T).mean(axis=1)

    s_x, s_y = s(x), s(y)
    s_all = np.concatenate([s_x, s_y])
    effect = float((s_x.mean() - s_y.mean()) / s_all.std(ddof=1))
    observed = s_x.sum() - s_y.sum()
    rng = np.random.default_rng(seed)
    order = np.argsort(rng.random((permutations, len(s_all))), axis=1)  # (P, n) random re-partitions
    shuffled = s_all[order]
    stats = shuffled[:, :len(s_x)].sum(axis=1) - shuffled[:, len(s_x):].sum(axis=1)
    p_value = float((np.sum(stats >= observed - 1e-12) + 1) / (permutations + 1))
    return WeatResult(effect, p_value, s_x, s_y, permutations)


# ---------------------------------------------------------------------------------------------
# The demo
# ---------------------------------------------------------------------------------------------

PALETTE = ("#4c78a8", "#e4572e", "#72b7b2", "#b279a2")


def _probe_figure(table: pd.DataFrame, continuations: list[str]) -> Figure:
    order = table.sort_values(f"share {continuations[0]}")
    fig = Figure(figsize=(6.4, 0.9 + 0.32 * len(order)), tight_layout=True)
    ax = fig.subplots()
    left = np.zeros(len(order))
    y = np.arange(len(order))
    for j, c in enumerate(continuations):
        share = order[f"share {c}"].to_numpy()
        ax.barh(y, share, left=left, color=PALETTE[j % len(PALETTE)], label=f'" {c}"')
        left += share
    ax.axvline(0.5, color="#fff", lw=0.8, ls=":")
    ax.set_yticks(y, order["word"])
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the contrasted probability, averaged over templates")
    ax.set_title("Continuation shares per word", fontsize=10, loc="left")
    ax.legend(ncol=len(continuations), fontsize=8, loc="lower right", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return fig


def _weat_figure(x_words, y_words, result: WeatResult) -> Figure:
    words = list(x_words) + list(y_words)
    values = np.concatenate([result.s_x, result.s_y])
    colours = [PALETTE[0]] * len(x_words) + [PALETTE[1]] * len(y_words)
    fig = Figure(figsize=(6.4, 0.9 + 0.22 * len(words)), tight_layout=True)
    ax = fig.subplots()
    y = np.arange(len(words))[::-1]
    ax.barh(y, values, color=colours)
    ax.axvline(0, color="#888", lw=1)
    ax.set_yticks(y, words, fontsize=8)
    ax.set_xlabel("s(w): closer to A (right) or to B (left)")
    ax.set_title("Association s(w) of each target word: X (blue), Y (orange)", fontsize=10)
    return fig


@friendly_errors
def probe_ui(templates, occupations, continuations, progress=gr.Progress()):
    """Run the counterfactual probe and chart each continuation's share per word."""
    templates = parse_templates(templates)
    fillers = parse_words("Occupations", occupations, 1, limits.BIAS_FILLERS_MAX)
    conts = parse_words("Continuations", continuations, 2, limits.BIAS_CONTINUATIONS_MAX)
    bundle = inspect_bundle(progress)
    table = probe(bundle, templates, fillers, conts)
    ratio = table.columns[-1]
    top, bottom = table.sort_values(ratio).iloc[-1], table.sort_values(ratio).iloc[0]
    md = escape_markdown  # the words are the learner's
    summary = (f"{len(templates)} template(s) × {len(fillers)} words × {len(conts)} continuations. "
               f"Most \" {md(conts[1])}\" rather than \" {md(conts[0])}\": **{md(top['word'])}** "
               f"({md(ratio)} = {top[ratio]:+.2f}); least: **{md(bottom['word'])}** ({bottom[ratio]:+.2f}). "
               "Equal association would give 0 for every word.")
    shown = table.round({c: 4 for c in table.columns if c != "word"})
    return _probe_figure(table, conts), shown, summary


@friendly_errors
def weat_ui(x_text, y_text, a_text, b_text, permutations, seed, progress=gr.Progress()):
    """Embed the four word sets with all-MiniLM-L6-v2 and run WEAT."""
    sets = [parse_words(name, text, limits.WEAT_WORDS_MIN, limits.WEAT_WORDS_MAX)
            for name, text in (("Targets X", x_text), ("Targets Y", y_text),
                               ("Attributes A", a_text), ("Attributes B", b_text))]
    permutations = as_int("Permutations", permutations, limits.WEAT_PERMUTATIONS_MIN, limits.WEAT_PERMUTATIONS_MAX)
    seed = as_int("Seed", seed, 0, limits.SEED_MAX)
    bundle = embedder_bundle(progress)
    vectors = [embed(bundle, words) for words in sets]
    result = weat(*vectors, permutations=permutations, seed=seed)
    size = abs(result.effect_size)
    strength = "large" if size >= 0.8 else "medium" if size >= 0.5 else "small" if size >= 0.2 else "negligible"
    summary = (f"Effect size d = **{result.effect_size:+.2f}** ({strength}; positive: X is closer to A than Y is) · "
               f"p = **{result.p_value:.4f}** ({result.permutations:,} random re-partitions, seed {seed}) · "
               f"embeddings: {bundle.spec.label}")
    return _weat_figure(sets[0], sets[1], result), summary


def build_bias() -> None:
    """The bias sub-tab: a counterfactual probe on the language model, WEAT on the sentence encoder."""
    gr.Markdown("### Counterfactual probe on the language model\n"
                f"Each template is filled with each word (`{PLACEHOLDER}` marks the spot); the model's probability of "
                "each continuation is read, averaged over the templates, and shown as shares.")
    with gr.Row():
        templates = gr.Textbox(label=f"Templates (one per line, with {PLACEHOLDER})", value=DEFAULT_TEMPLATES, lines=3)
        with gr.Column():
            occupations = gr.Textbox(label=f"Occupations or other words (up to {limits.BIAS_FILLERS_MAX}, comma-separated)",
                                     value=DEFAULT_OCCUPATIONS, lines=2)
            continuations = gr.Textbox(label=f"Contrasting continuations (2 to {limits.BIAS_CONTINUATIONS_MAX})",
                                       value=DEFAULT_CONTINUATIONS)
    probe_button = gr.Button("Run the probe", variant="primary")
    probe_summary = gr.Markdown(elem_id="ethics-probe-summary")
    probe_plot = gr.Plot(label="Continuation shares per word", show_label=False, format="png")
    with gr.Accordion("Probabilities, per word", open=False):
        probe_table = gr.Dataframe(label="Probabilities", headers=["word", "p(he)", "p(she)", "p(they)"],
                                   interactive=False, wrap=True)

    gr.Markdown("### WEAT on the sentence encoder (Caliskan et al. 2017)\n"
                "Do target words X sit closer to attribute words A than targets Y do? all-MiniLM-L6-v2 embeds every "
                "word; the permutation test asks how often a random split of X and Y does as well.")
    x_words, y_words, a_words, b_words = WEAT_PRESETS[DEFAULT_WEAT]
    preset = gr.Dropdown(list(WEAT_PRESETS), value=DEFAULT_WEAT, label="Word sets",
                         info="Caliskan et al.'s tests 6, 7 and 1 (shortened), a sanity check whose association is "
                              "built in, and its shuffled control")
    with gr.Row():
        x_text = gr.Textbox(label="Targets X", value=x_words, lines=2)
        y_text = gr.Textbox(label="Targets Y", value=y_words, lines=2)
    with gr.Row():
        a_text = gr.Textbox(label="Attributes A", value=a_words, lines=2)
        b_text = gr.Textbox(label="Attributes B", value=b_words, lines=2)
    with gr.Row():
        permutations = gr.Slider(limits.WEAT_PERMUTATIONS_MIN, limits.WEAT_PERMUTATIONS_MAX, value=10_000, step=100,
                                 label="Permutations")
        seed = gr.Number(value=0, precision=0, minimum=0, maximum=limits.SEED_MAX, label="Seed")
    weat_button = gr.Button("Run WEAT", variant="primary")
    weat_summary = gr.Markdown(elem_id="ethics-weat-summary")
    weat_plot = gr.Plot(label="Association s(w) of each target word", show_label=False, format="png")

    probe_button.click(probe_ui, inputs=[templates, occupations, continuations],
                       outputs=[probe_plot, probe_table, probe_summary], api_name="ethics_bias_probe",
                       concurrency_id=CONCURRENCY_ID, concurrency_limit=1)
    preset.change(lambda name: WEAT_PRESETS[name], inputs=[preset], outputs=[x_text, y_text, a_text, b_text],
                  api_visibility="private")
    weat_button.click(weat_ui, inputs=[x_text, y_text, a_text, b_text, permutations, seed],
                      outputs=[weat_plot, weat_summary], api_name="ethics_weat",
                      concurrency_id=EMBEDDER_CONCURRENCY_ID, concurrency_limit=1)
