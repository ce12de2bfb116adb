"""Text watermarking with green and red lists (Kirchenbauer et al. 2023, "A Watermark for Large Language Models").

Before each token is sampled, the previous token seeds a random generator that splits the vocabulary: a share
``gamma`` of it is "green", the rest "red". The watermark adds ``delta`` to every green token's logit, so the text
drifts towards green tokens without any token being forbidden. A detector that knows the hashing rule (not the
model) counts the green tokens ``|s|_G`` among ``T`` scored tokens and computes

    z = (|s|_G - gamma * T) / sqrt(T * gamma * (1 - gamma))

Human text is green by chance (``z`` near 0); watermarked text is far above (``z > 4`` is the paper's threshold).

The green lists, the bias and the detector are transformers' own (``WatermarkLogitsProcessor`` and
``WatermarkDetector``, the paper's "lefthash" scheme with a context of one token). Generation is the course's
sampling loop (``shared.generation.generate_tokens``) with the watermark added as one more logits processor, where
``generate()`` puts it: after repetition penalty, temperature, top-k and top-p.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import gradio as gr
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from apps.ethics.common import CONCURRENCY_ID, lm_bundle, text_token_ids
from shared import limits
from shared.checks import as_float, as_int
from shared.device import torch_threads
from shared.generation import MODES, encode_prompt, generate_tokens, make_settings, validate_prompt
from shared.sampling import SamplingSettings, Step, show_token
from shared.tokens import read_tokens
from shared.ui import friendly_errors

HASHING_KEY = 15485863  # transformers' default (the millionth prime); a real deployment keeps its key secret
ATTACK_SHARES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)

DEFAULTS = dict(
    prompt="The old lighthouse keeper climbed the stairs one last time. At the top, he",
    mode="Raw continuation",
    temperature=0.7,
    top_k=0,
    top_p=1.0,
    max_new_tokens=200,
    seed=1,
    gamma=0.25,
    delta=2.0,
)


@dataclass(frozen=True)
class WatermarkSettings:
    """The watermark's secret and strength: ``gamma`` (green share of the vocabulary), ``delta`` (logit bias)."""

    gamma: float = 0.25
    delta: float = 2.0
    hashing_key: int = HASHING_KEY


@dataclass
class Detection:
    """What the detector found in a text.

    Attributes:
        tokens: the text's ``T`` tokens, readable (see ``shared.sampling.show_token``).
        green: per token ``True`` (green), ``False`` (red) or ``None`` for the first token, which has no
            previous token to seed its list.
        num_scored: tokens scored (``T - 1``); num_green: of those, green.
        z_score: ``(num_green - gamma T) / sqrt(T gamma (1 - gamma))``; p_value: one-sided normal tail of ``z``.
    """

    tokens: list[str]
    green: list[bool | None]
    num_scored: int
    num_green: int
    z_score: float
    p_value: float
    gamma: float

    def verdict(self, threshold: float = limits.WATERMARK_Z_THRESHOLD) -> str:
        found = self.z_score > threshold
        return (f"z = **{self.z_score:.2f}**, p = {self.p_value:.2g} · {self.num_green} of {self.num_scored} tokens green "
                f"({self.num_green / max(self.num_scored, 1):.0%}; chance: {self.gamma:.0%}) · "
                + ("**watermark detected**" if found else "no watermark detected") + f" (threshold z > {threshold:g})")


def make_watermark(gamma, delta) -> WatermarkSettings:
    """Check ``gamma`` and ``delta`` from the UI or the API.

    Raises:
        ValueError: a value is missing, not a number, or out of its range (see ``shared.limits``).
    """
    return WatermarkSettings(
        gamma=as_float("Gamma (green share)", gamma, limits.WATERMARK_GAMMA_MIN, limits.WATERMARK_GAMMA_MAX),
        delta=as_float("Delta (green bias)", delta, 0.0, limits.WATERMARK_DELTA_MAX),
    )


def watermark_processor(tokenizer, watermark: WatermarkSettings):
    """transformers' ``WatermarkLogitsProcessor`` for this tokenizer's vocabulary (lefthash, one token of context).

    The green lists are drawn over ``len(tokenizer)`` ids; a model's padded logits beyond them stay red.
    The processor re-seeds its own generator at every call: make one per generation, never share it across threads.
    """
    from transformers import WatermarkLogitsProcessor

    return WatermarkLogitsProcessor(
        vocab_size=len(tokenizer), device="cpu", greenlist_ratio=watermark.gamma, bias=watermark.delta,
        hashing_key=watermark.hashing_key, seeding_scheme="lefthash", context_width=1,
    )


def generate(bundle, prompt: str, mode: str, settings: SamplingSettings,
             watermark: WatermarkSettings | None) -> tuple[str, list[Step]]:
    """Generate a reply with the course's sampling loop, with the watermark if ``watermark`` is given.

    Same prompt, settings and seed with and without the watermark: the two texts differ only by the bias.
    Returns ``(text, steps)``; each step's ``p_model`` is the unwatermarked model's probability of its token.
    """
    input_ids = encode_prompt(bundle.tokenizer, validate_prompt(prompt), mode)
    extra = [watermark_processor(bundle.tokenizer, watermark)] if watermark is not None else None
    steps = list(generate_tokens(bundle, input_ids, settings, extra))
    return bundle.tokenizer.decode([s.token_id for s in steps], skip_special_tokens=True), steps


def perplexity(steps: list[Step]) -> float:
    """``exp(-mean log p_model)`` of the generated tokens under the unwatermarked model (the quality cost)."""
    if not steps:
        return float("nan")
    return float(math.exp(-np.mean([math.log(max(s.p_model, 1e-12)) for s in steps])))


def detect(tokenizer, text: str, watermark: WatermarkSettings) -> Detection:
    """Look for the watermark in ``text``: per-token colours, green count, z-score and p-value.

    Only the tokenizer and the hashing rule are needed, not the model. The z-score and p-value come from
    transformers' ``WatermarkDetector``; the per-token colours from the same green lists
    (``WatermarkLogitsProcessor`` applied to zero logits: green ids receive the bias).

    Raises:
        ValueError: the text is empty, too long, or has fewer than 2 tokens the tokenizer knows.
    """
    from transformers import PreTrainedConfig, WatermarkDetector

    ids = text_token_ids(tokenizer, text, min_tokens=2)
    # The detector drops a leading BOS token. Our ids are text only (special tokens split into text), so the
    # tokenizer's BOS id never appears among them.
    bos = next((i for i in (tokenizer.bos_token_id, tokenizer.eos_token_id) if i is not None), 0)
    config = PreTrainedConfig(vocab_size=len(tokenizer), bos_token_id=bos)
    wm_config = dict(greenlist_ratio=watermark.gamma, bias=watermark.delta, hashing_key=watermark.hashing_key,
                     seeding_scheme="lefthash", context_width=1)
    # One small random permutation per token: on one thread (on 2 busy cores, 2 threads were 10x slower).
    with torch_threads(1):
        detector = WatermarkDetector(model_config=config, device="cpu", watermarking_config=wm_config)
        out = detector(torch.tensor([ids]), z_threshold=limits.WATERMARK_Z_THRESHOLD, return_dict=True)
        green = [None] + green_mask(tokenizer, ids, watermark)
    return Detection(
        tokens=[show_token(t) for t in read_tokens(tokenizer, ids)],  # a split character reads <0xE6>, not U+FFFD
        green=green,
        num_scored=int(out.num_tokens_scored[0]),
        num_green=int(out.num_green_tokens[0]),
        z_score=float(out.z_score[0]),
        p_value=float(out.p_value[0]),
        gamma=watermark.gamma,
    )


def green_mask(tokenizer, ids: list[int], watermark: WatermarkSettings) -> list[bool]:
    """For tokens ``1 .. T-1`` of ``ids``, whether each is on the green list seeded by the token before it."""
    processor = watermark_processor(tokenizer, dataclasses.replace(watermark, delta=1.0))
    zeros = torch.zeros(1, len(tokenizer))
    return [bool(processor(torch.tensor([ids[i - 1:i]]), zeros)[0, ids[i]] > 0) for i in range(1, len(ids))]


def replace_tokens(tokenizer, text: str, share: float, seed: int) -> str:
    """``text`` with a ``share`` of its tokens replaced by random tokens (an editor's changes, simulated).

    Each replaced token can turn two green checks red: its own and the next token's, whose list it seeds.
    Positions and replacements come from a ``numpy`` generator seeded with ``seed``.
    """
    share = as_float("Share of tokens replaced", share, 0.0, 1.0)
    ids = np.array(text_token_ids(tokenizer, text))
    rng = np.random.default_rng(as_int("Seed", seed, 0, limits.SEED_MAX))
    n = round(share * len(ids))
    positions = rng.choice(len(ids), size=n, replace=False)
    special = set(tokenizer.all_special_ids)
    for pos in positions:
        token = int(rng.integers(len(tokenizer)))
        while token in special:
            token = int(rng.integers(len(tokenizer)))
        ids[pos] = token
    return tokenizer.decode(ids.tolist(), skip_special_tokens=True)


def attack_curve(tokenizer, text: str, watermark: WatermarkSettings, seed: int,
                 shares=ATTACK_SHARES) -> pd.DataFrame:
    """The z-score after replacing each share of tokens: columns ``share replaced``, ``z-score``, ``green``."""
    rows = []
    for share in shares:
        found = detect(tokenizer, replace_tokens(tokenizer, text, share, seed), watermark)
        rows.append({"share replaced": share, "z-score": round(found.z_score, 2),
                     "green": round(found.num_green / max(found.num_scored, 1), 3)})
    return pd.DataFrame(rows)


def quality_cost(bundle, prompt: str, mode: str, settings: SamplingSettings, gamma: float,
                 deltas=limits.WATERMARK_QUALITY_DELTAS, report=lambda f, m: None) -> pd.DataFrame:
    """Generate once per ``delta`` (same prompt and seed) and measure the watermark's strength and its cost.

    Returns a table with ``delta``, ``z-score`` and ``perplexity`` (under the unwatermarked model: lower means the
    text is what the model itself would write; Kirchenbauer et al. 2023, fig. 2, trade the two off).
    """
    rows = []
    for i, delta in enumerate(deltas):
        report(i / len(deltas), f"Generating with delta = {delta:g}")
        watermark = WatermarkSettings(gamma=gamma, delta=delta)
        text, steps = generate(bundle, prompt, mode, settings, watermark)
        z = detect(bundle.tokenizer, text, watermark).z_score if len(steps) > 2 else float("nan")
        rows.append({"delta": delta, "tokens": len(steps), "z-score": round(z, 2), "perplexity": round(perplexity(steps), 2)})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# The demo
# ---------------------------------------------------------------------------------------------

COLOURS = {"green": "#3fb950", "red": "#f47067"}


def _highlighted(found: Detection) -> list[tuple[str, str | None]]:
    labels = {True: "green", False: "red", None: None}
    return [(tok.replace("↵", "↵\n"), labels[g]) for tok, g in zip(found.tokens, found.green)]


def _curve_figure(curve: pd.DataFrame) -> Figure:
    fig = Figure(figsize=(5.6, 3.4), tight_layout=True)
    ax = fig.subplots()
    ax.plot(curve["share replaced"] * 100, curve["z-score"], "o-", color="#3fb950")
    ax.axhline(limits.WATERMARK_Z_THRESHOLD, color="#888", ls="--", lw=1, label=f"threshold z = {limits.WATERMARK_Z_THRESHOLD:g}")
    ax.axhline(0, color="#ccc", lw=1)
    ax.set_title("Edits dilute the watermark", fontsize=10)
    ax.set_xlabel("tokens replaced at random (%)")
    ax.set_ylabel("z-score")
    ax.legend(fontsize=8)
    return fig


def _quality_figure(table: pd.DataFrame) -> Figure:
    fig = Figure(figsize=(5.6, 3.4), tight_layout=True)
    ax = fig.subplots()
    ax.plot(table["delta"], table["perplexity"], "o-", color="#e4572e", label="perplexity (left)")
    ax.set_title("Stronger watermark, less natural text", fontsize=10)
    ax.set_xlabel("delta (bias added to green logits)")
    ax.set_ylabel("perplexity under the model", color="#e4572e")
    right = ax.twinx()
    right.plot(table["delta"], table["z-score"], "s--", color="#3fb950", label="z-score (right)")
    right.axhline(limits.WATERMARK_Z_THRESHOLD, color="#888", ls=":", lw=1)
    right.set_ylabel("z-score", color="#3fb950")
    fig.legend(loc="upper left", fontsize=8, bbox_to_anchor=(0.12, 0.88))
    return fig


def _settings(temperature, top_k, top_p, max_new_tokens, seed) -> SamplingSettings:
    return make_settings(temperature, top_k, top_p, 1.0, max_new_tokens, seed)


@friendly_errors
def generate_ui(prompt, mode, temperature, top_k, top_p, max_new_tokens, seed, gamma, delta, progress=gr.Progress()):
    """Generate from one prompt and seed without and with the watermark; detect both."""
    settings = _settings(temperature, top_k, top_p, max_new_tokens, seed)
    watermark = make_watermark(gamma, delta)
    prompt = validate_prompt(prompt)
    bundle = lm_bundle(progress)
    outputs = []
    for label, wm in (("without", None), ("with", watermark)):
        progress(0.5 if wm else 0.1, desc=f"Generating {label} the watermark")
        text, steps = generate(bundle, prompt, mode, settings, wm)
        if len(steps) < 2:
            raise ValueError("The model stopped after fewer than 2 tokens; try another seed or prompt.")
        found = detect(bundle.tokenizer, text, watermark)
        info = found.verdict() + f" · {len(steps)} tokens, perplexity {perplexity(steps):.1f}"
        outputs += [text, info, _highlighted(found)]
    return (*outputs, outputs[3])


@friendly_errors
def detect_ui(text, gamma, delta, progress=gr.Progress()):
    """Check any text for the watermark (same gamma and key as the generator)."""
    watermark = make_watermark(gamma, delta)
    bundle = lm_bundle(progress)
    found = detect(bundle.tokenizer, text, watermark)
    return found.verdict(), _highlighted(found)


@friendly_errors
def replace_ui(text, share, seed, gamma, delta, progress=gr.Progress()):
    """Replace a share of the text's tokens at random, then check again."""
    watermark = make_watermark(gamma, delta)
    bundle = lm_bundle(progress)
    edited = replace_tokens(bundle.tokenizer, text, float(share) / 100, seed)
    found = detect(bundle.tokenizer, edited, watermark)
    return edited, found.verdict(), _highlighted(found)


PARAPHRASE_PROMPT = "Rewrite the following text in your own words, keeping its meaning:\n\n{text}"


@friendly_errors
def paraphrase_ui(text, seed, gamma, delta, progress=gr.Progress()):
    """Ask the same model (without the watermark) to paraphrase the text, then check the paraphrase."""
    watermark = make_watermark(gamma, delta)
    bundle = lm_bundle(progress)
    n = len(text_token_ids(bundle.tokenizer, text))
    settings = make_settings(0.7, 50, 0.95, 1.1, min(limits.MAX_NEW_TOKENS, int(n * 1.3) + 8), seed)
    paraphrase, steps = generate(bundle, PARAPHRASE_PROMPT.format(text=text), "Chat", settings, None)
    if len(steps) < 2:
        raise ValueError("The model returned an empty paraphrase; try another seed.")
    found = detect(bundle.tokenizer, paraphrase, watermark)
    return paraphrase, found.verdict(), _highlighted(found)


@friendly_errors
def curve_ui(text, seed, gamma, delta, progress=gr.Progress()):
    watermark = make_watermark(gamma, delta)
    bundle = lm_bundle(progress)
    curve = attack_curve(bundle.tokenizer, text, watermark, as_int("Seed", seed, 0, limits.SEED_MAX))
    return _curve_figure(curve), curve


@friendly_errors
def quality_ui(prompt, mode, temperature, top_k, top_p, seed, gamma, progress=gr.Progress()):
    """Generate once per delta with the same prompt and seed; chart perplexity and z-score against delta."""
    settings = _settings(temperature, top_k, top_p, limits.WATERMARK_QUALITY_MAX_NEW_TOKENS, seed)
    gamma = make_watermark(gamma, 0.0).gamma
    bundle = lm_bundle(progress)
    table = quality_cost(bundle, validate_prompt(prompt), mode, settings, gamma,
                         report=lambda f, m: progress(f, desc=m))
    return _quality_figure(table), table


def build_watermark() -> None:
    """The text-watermark sub-tab."""
    gr.Markdown("One prompt and seed, **without** and **with** the green-list watermark (Kirchenbauer et al. 2023).")
    prompt = gr.Textbox(label="Prompt", value=DEFAULTS["prompt"], lines=2)
    generate_button = gr.Button("Generate with and without the watermark", variant="primary",
                                elem_classes="cm-main-action")
    gr.Markdown("Green tokens were on the list seeded by the token before them; a detector that knows the key counts "
                "them, no model needed.", elem_classes="cm-header")
    with gr.Row():
        mode = gr.Radio(list(MODES), value=DEFAULTS["mode"], label="Mode")
        seed = gr.Number(value=DEFAULTS["seed"], precision=0, minimum=0, maximum=limits.SEED_MAX, label="Seed")
    with gr.Row():
        gamma = gr.Slider(limits.WATERMARK_GAMMA_MIN, limits.WATERMARK_GAMMA_MAX, value=DEFAULTS["gamma"], step=0.05,
                          label="Gamma (green share of the vocabulary)")
        delta = gr.Slider(0, limits.WATERMARK_DELTA_MAX, value=DEFAULTS["delta"], step=0.25,
                          label="Delta (bias added to green logits)")
    with gr.Accordion("Sampling settings", open=False):
        with gr.Row():
            temperature = gr.Slider(0, limits.TEMPERATURE_MAX, value=DEFAULTS["temperature"], step=0.05,
                                    label="Temperature", info="0 = greedy")
            top_k = gr.Slider(0, limits.TOP_K_MAX, value=DEFAULTS["top_k"], step=1, label="Top-k", info="0 = off")
            top_p = gr.Slider(limits.TOP_P_MIN, 1.0, value=DEFAULTS["top_p"], step=0.01, label="Top-p", info="1 = off")
            max_new_tokens = gr.Slider(2, limits.MAX_NEW_TOKENS, value=DEFAULTS["max_new_tokens"], step=1,
                                       label="Max new tokens")
    with gr.Row(equal_height=False):
        with gr.Column():
            plain_text = gr.Textbox(label="Without watermark", lines=5, interactive=False, buttons=["copy"])
            plain_info = gr.Markdown()
            plain_tokens = gr.HighlightedText(label="Green and red tokens (no watermark)", color_map=COLOURS,
                                              show_legend=True, show_inline_category=False,
                                              combine_adjacent=False)
        with gr.Column():
            marked_text = gr.Textbox(label="With watermark", lines=5, interactive=False, buttons=["copy"])
            marked_info = gr.Markdown()
            marked_tokens = gr.HighlightedText(label="Green and red tokens (watermarked)", color_map=COLOURS,
                                               show_legend=True, show_inline_category=False,
                                              combine_adjacent=False)

    gr.Markdown("### Edit it and watch the z-score fall")
    check_text = gr.Textbox(label="Text to check (edit it freely; the watermarked text lands here)", lines=5,
                            elem_id="ethics-check-text")
    with gr.Row():
        check = gr.Button("Check for the watermark", variant="primary")
        paraphrase = gr.Button("Paraphrase with the model (no watermark)")
    with gr.Row():
        share = gr.Slider(0, 100, value=20, step=5, label="Replace this % of tokens at random")
        replace = gr.Button("Replace tokens")
    check_info = gr.Markdown(elem_id="ethics-check-info")
    check_tokens = gr.HighlightedText(label="Green and red tokens", color_map=COLOURS, show_legend=True,
                                      show_inline_category=False, combine_adjacent=False)
    with gr.Row(equal_height=False):
        with gr.Column():
            curve = gr.Button("z-score against the share of tokens replaced")
            curve_plot = gr.Plot(label="Edits dilute the watermark", show_label=False, format="png")
            curve_table = gr.Dataframe(headers=["share replaced", "z-score", "green"], interactive=False)
        with gr.Column():
            deltas = ", ".join(f"{d:g}" for d in limits.WATERMARK_QUALITY_DELTAS)
            quality = gr.Button(f"Quality cost: generate once per delta ({deltas})")
            quality_plot = gr.Plot(label="Stronger watermark, less natural text", show_label=False, format="png")
            quality_table = gr.Dataframe(headers=["delta", "tokens", "z-score", "perplexity"], interactive=False)

    lm = dict(concurrency_id=CONCURRENCY_ID, concurrency_limit=1)
    generate_button.click(
        generate_ui, inputs=[prompt, mode, temperature, top_k, top_p, max_new_tokens, seed, gamma, delta],
        outputs=[plain_text, plain_info, plain_tokens, marked_text, marked_info, marked_tokens, check_text],
        api_name="ethics_watermark_generate", **lm,
    )
    check.click(detect_ui, inputs=[check_text, gamma, delta], outputs=[check_info, check_tokens],
                api_name="ethics_watermark_detect")
    replace.click(replace_ui, inputs=[check_text, share, seed, gamma, delta], outputs=[check_text, check_info, check_tokens],
                  api_visibility="private")
    paraphrase.click(paraphrase_ui, inputs=[check_text, seed, gamma, delta], outputs=[check_text, check_info, check_tokens],
                     api_visibility="private", **lm)
    curve.click(curve_ui, inputs=[check_text, seed, gamma, delta], outputs=[curve_plot, curve_table],
                api_visibility="private")
    quality.click(quality_ui, inputs=[prompt, mode, temperature, top_k, top_p, seed, gamma],
                  outputs=[quality_plot, quality_table], api_name="ethics_watermark_quality", **lm)
