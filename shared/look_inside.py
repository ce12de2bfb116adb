"""Looking inside a language model: the views that topics 2, 4 and 10 share.

- Tokens coloured by the probability they were sampled with (:func:`highlighted`), and each step's
  candidates (:func:`steps_table`), from the ``Step`` records of the sampling loop (``shared.sampling``).
- The next-token explorer: the model's logits after a prompt, computed once, reshaped live by the
  sampling settings (:func:`next_token_logits`, :func:`reshape`).
- The attention view: one head's attention weights over the input (:func:`attention_maps`).

Model-side functions first (plain torch and numpy), then the views, then :func:`look_inside`, which lays
out and wires the explorer and the attention view for any prompt, mode, model and sampling controls.
"""
from __future__ import annotations

import gradio as gr
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from shared import catalog, limits, plots
from shared.catalog import EMBEDDED_LM
from shared.decoding import logits_after
from shared.generation import (
    EMBEDDED_MODEL,
    LM_CONCURRENCY_ID,
    check_context,
    encode_prompt,
    make_settings,
    validate_prompt,
)
from shared.loader import Bundle
from shared.lru import LRUCache
from shared.sampling import SamplingSettings, sampling_distribution, show_token
from shared.tokens import read_candidates, read_tokens
from shared.ui import friendly_errors, load_model

TRANSFORMERS_INSPECT = "transformers, float32, eager attention"
OUTSIDE_TOP = f"◀ sampled, outside the top {limits.STEP_TOP_N}"  # marks a rare sampled token's own row

# The probability a token was sampled with, in five bands a decade apart (as GLTR bands tokens by rank, Gehrmann
# et al. 2019): from blue (the model was sure) to red (a rare draw). Colours that stay apart on a projector,
# named in the view's legend; a shade of p itself left most tokens (p 0.1-0.3) nearly white.
PROBABILITY_BANDS = (  # (lowest p in the band, its name in the legend, its colour)
    (0.5, "p ≥ 50%", "#2563eb"),
    (0.1, "10-50%", "#38bdf8"),
    (0.01, "1-10%", "#facc15"),
    (0.001, "0.1-1%", "#fb923c"),
    (0.0, "p < 0.1%", "#dc2626"),
)
BAND_COLOURS = {name: colour for _, name, colour in PROBABILITY_BANDS}

_logits_cache = LRUCache(32)  # per-prompt logits, shared by key across sessions
_attention_cache = LRUCache(8)


def next_token_logits(bundle: Bundle, prompt: str, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """The model's next-token logits after the prompt, computed once so sliders can reshape them.

    Returns:
        ``(logits, input_ids)``: float32 ``(V,)`` and int64 ``(T,)``.
    """
    input_ids = encode_prompt(bundle.tokenizer, validate_prompt(prompt), mode)
    check_context(bundle, input_ids.shape[1])
    logits = logits_after(bundle, input_ids)[0]
    return logits.numpy(), input_ids[0].numpy()


def reshape(logits: np.ndarray, input_ids: np.ndarray, settings: SamplingSettings) -> tuple[np.ndarray, np.ndarray]:
    """``(p_model, p_sampled)``, both ``(V,)`` float32: softmax at temperature 1, and after the settings."""
    t_logits = torch.from_numpy(logits)[None]
    p_model = torch.softmax(t_logits, dim=-1)[0]
    p_sampled = sampling_distribution(t_logits, torch.from_numpy(input_ids)[None], settings)[0]
    return p_model.numpy(), p_sampled.numpy()


def entropy_bits(p: np.ndarray) -> float:
    """Shannon entropy of a distribution, in bits."""
    nz = p[p > 0].astype(np.float64)
    return max(0.0, float(-(nz * np.log2(nz)).sum()))  # one certain token: 0, not "-0.00"


@torch.inference_mode()
def attention_maps(bundle: Bundle, prompt: str, mode: str) -> tuple[list[str], np.ndarray]:
    """Attention weights of every layer and head over the model input (Vaswani et al. 2017, eq. 1).

    ``bundle`` must be loaded with eager attention (``purpose="inspect"``): fused kernels never
    materialise the weights.

    Returns:
        ``(tokens, weights)``: ``T`` readable token strings and float32 ``(L, H, T, T)`` where
        ``weights[l, h, i, j]`` is how much position ``i`` attends to position ``j`` (rows sum to 1;
        causal, so ``j <= i``).
    Raises:
        ValueError: the input is longer than ``limits.ATTENTION_MAX_TOKENS`` tokens.
    """
    input_ids = encode_prompt(bundle.tokenizer, validate_prompt(prompt), mode)
    n = input_ids.shape[1]
    if n > limits.ATTENTION_MAX_TOKENS:
        extra = " (chat mode adds the chat template's tokens; try Raw continuation)" if mode == "Chat" else ""
        raise ValueError(
            f"The attention view shows up to {limits.ATTENTION_MAX_TOKENS} tokens; this input has {n}{extra}."
        )
    check_context(bundle, n)
    out = bundle.model(input_ids=input_ids.to(bundle.device), output_attentions=True)
    weights = torch.stack([a[0] for a in out.attentions]).float().cpu().numpy()  # (L, H, T, T)
    tokens = [show_token(text) for text in read_tokens(bundle.tokenizer, input_ids[0].tolist())]
    return tokens, weights


def label_steps(tokenizer, steps: list[dict]) -> list[dict]:
    """Give each step's token and candidates the text a learner reads, in place (see ``shared.tokens``).

    A token that holds part of a character reads as its bytes (``<0xE6><0x97>``); the token that completes
    the character shows it (``<0xA5>→日``), in the coloured view and among the candidates alike.
    """
    ids = [s["token_id"] for s in steps]
    for i, (step, label) in enumerate(zip(steps, read_tokens(tokenizer, ids), strict=True)):
        candidates = read_candidates(tokenizer, ids[:i], step["top_ids"])
        step["token"] = label
        step["top"] = [(show_token(c), pm, ps) for c, (_, pm, ps) in zip(candidates, step["top"], strict=True)]
    return steps


def steps_table(steps: list[dict], index: int) -> pd.DataFrame:
    """Step ``index``'s top-10 candidates, the sampled one marked "◀"; a token sampled from outside the
    top 10 (a pale one, at a high temperature) gets its own row below them, marked :data:`OUTSIDE_TOP`."""
    step = steps[index]
    rows = [
        {
            "token": tok,
            "p (model)": round(pm, 4),
            "p (sampled from)": None if ps is None else round(ps, 4),
            "sampled": "◀" if token_id == step["token_id"] else "",
        }
        for (tok, pm, ps), token_id in zip(step["top"], step["top_ids"], strict=True)
    ]
    if step["token_id"] not in step["top_ids"]:
        rows.append({"token": show_token(step["token"]), "p (model)": _readable(step["p_model"]),
                     "p (sampled from)": _readable(step["p_sampled"]), "sampled": OUTSIDE_TOP})
    table = pd.DataFrame(rows)
    # A class server does not say what its settings left (see shared/lm_server.py): no column, not a guess
    return table.drop(columns="p (sampled from)") if step["p_sampled"] is None else table


def _readable(p: float | None) -> float | None:
    """A probability rounded to 4 decimals, or to 2 significant digits when that would read 0 (p ~ 1e-6)."""
    if p is None:
        return None
    return round(p, 4) if p >= 5e-5 else float(f"{p:.1e}")


def probability_band(p: float) -> str:
    """The name of the band of :data:`PROBABILITY_BANDS` that probability ``p`` (in [0, 1]) falls in."""
    return next(name for lowest, name, _ in PROBABILITY_BANDS if p >= lowest)


def highlighted(steps: list[dict]) -> list[tuple[str, str]]:
    """``(token, band)`` pairs for ``gr.HighlightedText`` with ``color_map=BAND_COLOURS``: each token coloured by
    the probability it was sampled with (:func:`probability_band`)."""
    # A newline token would be an empty coloured box: show it as ↵ (then break the line).
    # Coloured by p (sampled from); by p (model) where a class server does not give it.
    return [(s["token"].replace("\n", "↵\n"), probability_band(s["p_model"] if s["p_sampled"] is None
                                                                  else s["p_sampled"]))
            for s in steps]


def token_view(**kwargs) -> gr.HighlightedText:
    """The generated tokens coloured by probability band, with the bands' legend (clicking a band in the
    legend shows its tokens alone)."""
    return gr.HighlightedText(label="Tokens coloured by probability", color_map=BAND_COLOURS, show_legend=True,
                              show_inline_category=False, combine_adjacent=False, **kwargs)


def select_token(steps, evt: gr.SelectData):
    """Clicking a token in the coloured output moves the step slider to it."""
    return evt.index + 1 if steps else gr.skip()


def show_step(steps, step):
    """The step table of step ``step`` (1-based), or ``None`` before any generation."""
    if not steps:
        return None
    index = min(max(int(step) - 1, 0), len(steps) - 1)
    return steps_table(steps, index)


def _explorer_figure(tokens: list[str], p_model: np.ndarray, p_sampled: np.ndarray) -> Figure:
    fig = Figure(figsize=(6.4, 5.2), tight_layout=True)
    ax = fig.subplots()
    y = np.arange(len(tokens))[::-1]
    ax.barh(y + 0.2, p_model, height=0.4, color="#b0b7c3", label="p (model, temperature 1)")
    ax.barh(y - 0.2, p_sampled, height=0.4, color="#e4572e", label="p (sampled from, your settings)")
    ax.set_yticks(y, tokens)
    ax.tick_params(labelsize=12)  # readable on a projector, where the figure is drawn about 500 px wide
    ax.set_xlabel("probability", fontsize=12)
    ax.set_title(f"Top-{len(tokens)} next tokens", fontsize=13)  # in the figure: Gradio's label covered the first bar
    ax.set_xlim(0, max(1e-3, float(max(p_model.max(), p_sampled.max()))) * 1.08)
    ax.legend(loc="lower right", fontsize=10)
    return fig


def _explorer_view(key, temperature, top_k, top_p, repetition_penalty):
    cached = _logits_cache.get(key)
    if cached is None:
        raise ValueError("Press 'Show next-token probabilities' first.")
    logits, input_ids, vocab, backend = cached
    settings = make_settings(temperature, top_k, top_p, repetition_penalty, 1, 0)
    p_model, p_sampled = reshape(logits, input_ids, settings)
    order = np.argsort(-p_model)[: limits.EXPLORER_TOP_N]
    tokens = [vocab[i] for i in order]
    kept = int((p_sampled > 0).sum())
    stats = (
        f"Entropy: **{entropy_bits(p_sampled):.2f} bits** with your settings "
        f"(model alone: {entropy_bits(p_model):.2f} bits) · candidates left: **{kept:,}** of {len(p_model):,} · "
        f"probabilities shown sum to {p_sampled.sum():.3f} · logits from {backend}"
    )
    return _explorer_figure(tokens, p_model[order], p_sampled[order]), stats


def _catalog_bundle(model: str, purpose: str | None, progress) -> Bundle:
    """The look-inside views' default way to get a model: the catalog, through the shared loader.

    A class server gives no logits of the whole vocabulary and no attention: its views use the embedded model.
    """
    if catalog.get(model).source == "server":
        model = EMBEDDED_LM
    return load_model(model, purpose=purpose, progress=progress)


@friendly_errors
def explore_ui(prompt, mode, model, temperature, top_k, top_p, repetition_penalty, progress=gr.Progress()):
    """Compute the next-token logits once for this prompt and draw the top-20 distribution."""
    return _explore(_catalog_bundle, prompt, mode, model, temperature, top_k, top_p, repetition_penalty, progress)


def _explore(bundle_for, prompt, mode, model, temperature, top_k, top_p, repetition_penalty, progress):
    prompt = validate_prompt(prompt)
    bundle = bundle_for(model, None, progress)
    key = (bundle.spec.id, bundle.backend, mode, prompt)
    if _logits_cache.get(key) is None:
        logits, input_ids = next_token_logits(bundle, prompt, mode)
        top = np.argsort(-logits)[: limits.TOP_K_MAX + limits.EXPLORER_TOP_N].tolist()
        shown = read_candidates(bundle.tokenizer, input_ids.tolist(), top)  # "<0xE6>" for part of a character
        vocab = {i: show_token(text) for i, text in zip(top, shown, strict=True)}
        _logits_cache.put(key, (logits, input_ids, _Vocab(vocab, bundle.tokenizer), bundle.backend))
    figure, stats = _explorer_view(key, temperature, top_k, top_p, repetition_penalty)
    return key, figure, stats


class _Vocab(dict):
    """Readable strings of the tokens a chart may need; decodes any other token on demand."""

    def __init__(self, known: dict[int, str], tokenizer):
        super().__init__(known)
        self._tokenizer = tokenizer

    def __missing__(self, token_id):
        return show_token(read_tokens(self._tokenizer, [int(token_id)])[0])


@friendly_errors
def reshape_ui(key, temperature, top_k, top_p, repetition_penalty):
    """Re-draw the explorer for new slider values, without running the model again."""
    if not key:
        return gr.skip(), gr.skip()
    return _explorer_view(tuple(key), temperature, top_k, top_p, repetition_penalty)


def _attention_figure(tokens: list[str], weights: np.ndarray, layer: int, head: int) -> Figure:
    n = len(tokens)
    # One size, shown about 1:1 in the demo pane; labels as large as a cell allows: 12 pt (about 16 px) up to
    # 18 tokens, for the back of a room, down to 6 pt at the view's limit
    fig = Figure(figsize=(6.4, 6.4), tight_layout=True)
    ax = fig.subplots()
    image = ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0)
    fontsize = min(12.0, max(6.0, 0.75 * 4.2 * 72 / max(n, 1)))
    ax.set_xticks(range(n), tokens, rotation=90, fontsize=fontsize)
    ax.set_yticks(range(n), tokens, fontsize=fontsize)
    ax.set_xlabel("attends to (key)", fontsize=12)
    ax.set_ylabel("token (query)", fontsize=12)
    ax.set_title(f"Layer {layer}, head {head}", fontsize=13)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return fig


@friendly_errors
def attention_ui(prompt, mode, model, layer, head, progress=gr.Progress()):
    """Run the float32, eager-attention copy of the model once and draw one head's weights."""
    return _attention(_catalog_bundle, prompt, mode, model, layer, head, progress)


def _attention(bundle_for, prompt, mode, model, layer, head, progress):
    prompt = validate_prompt(prompt)
    bundle = bundle_for(model, "inspect", progress)
    key = (bundle.spec.id, mode, prompt)
    if _attention_cache.get(key) is None:
        _attention_cache.put(key, attention_maps(bundle, prompt, mode))
    figure, info, layer_slider, head_slider = _attention_view(key, layer, head)
    return key, figure, info, layer_slider, head_slider


def _attention_view(key, layer, head):
    cached = _attention_cache.get(tuple(key))
    if cached is None:
        raise ValueError("Press 'Show attention' first.")
    tokens, weights = cached
    n_layers, n_heads = weights.shape[:2]
    layer = min(max(int(layer), 0), n_layers - 1)
    head = min(max(int(head), 0), n_heads - 1)
    info = f"{len(tokens)} tokens · {n_layers} layers × {n_heads} heads · backend: {TRANSFORMERS_INSPECT}"
    return (
        _attention_figure(tokens, weights[layer, head], layer, head),
        info,
        # A slider needs maximum > minimum: a one-layer (or one-head) model, e.g. from topic 10, keeps a fixed 0.
        gr.Slider(maximum=max(1, n_layers - 1), value=layer, interactive=n_layers > 1),
        gr.Slider(maximum=max(1, n_heads - 1), value=head, interactive=n_heads > 1),
    )


@friendly_errors
def attention_redraw(key, layer, head):
    if not key:
        return gr.skip(), gr.skip()
    figure, info, _, _ = _attention_view(key, layer, head)
    return figure, info


def look_inside(prompt, mode, model, sampling, api_prefix: str | None, bundle_for=None) -> None:
    """The next-token explorer and the attention view, wired to the given inputs.

    ``api_prefix`` names the API endpoints (``<prefix>_next_token``, ``<prefix>_attention``);
    ``None`` keeps them private (for a second copy of the views elsewhere in the course).
    ``bundle_for(model_value, purpose, progress) -> Bundle`` gives the model to look inside; by default
    ``model``'s value is a catalog label loaded through the shared loader (topic 10 passes the learner's
    own trained model instead). ``purpose`` is ``None`` or ``"inspect"`` (eager attention needed).
    """
    api = (lambda name: dict(api_name=f"{api_prefix}_{name}")) if api_prefix else (lambda name: dict(api_visibility="private"))
    explore_fn, attention_fn = explore_ui, attention_ui
    if bundle_for is not None:
        @friendly_errors
        def explore_fn(prompt, mode, model, temperature, top_k, top_p, repetition_penalty, progress=gr.Progress()):
            return _explore(bundle_for, prompt, mode, model, temperature, top_k, top_p, repetition_penalty, progress)

        @friendly_errors
        def attention_fn(prompt, mode, model, layer, head, progress=gr.Progress()):
            return _attention(bundle_for, prompt, mode, model, layer, head, progress)
    with gr.Accordion("Next-token explorer", open=True):
        gr.Markdown("The logits are computed once for the prompt; the sampling sliders above reshape the "
                    "distribution live. Grey: the model's own probabilities. Orange: what your settings leave.")
        explore = gr.Button("Show next-token probabilities")
        explorer_key = gr.State(None)
        explorer_plot = gr.Plot(label="Top-20 next tokens", show_label=False, format="png")
        explorer_stats = gr.Markdown()

    with gr.Accordion("Attention", open=True):
        gr.Markdown(f"One head's attention weights over the input (up to {limits.ATTENTION_MAX_TOKENS} tokens). "
                    "Row = the token doing the looking, column = the token looked at.")
        with gr.Row():
            layer = gr.Slider(0, 29, value=0, step=1, label="Layer")
            head = gr.Slider(0, 8, value=0, step=1, label="Head")
        show_attention = gr.Button("Show attention")
        attention_key = gr.State(None)
        attention_info = gr.Markdown()
        attention_plot = gr.Plot(label="Attention weights", format="png",
                                 elem_classes=plots.KEEP_COLOURS)  # its colour scale, in both themes

    explore.click(
        explore_fn,
        inputs=[prompt, mode, model, *sampling],
        outputs=[explorer_key, explorer_plot, explorer_stats],
        **api("next_token"),
        concurrency_id=LM_CONCURRENCY_ID,
        concurrency_limit=1,
    )
    for slider in sampling:
        slider.change(reshape_ui, inputs=[explorer_key, *sampling], outputs=[explorer_plot, explorer_stats],
                      api_visibility="private", trigger_mode="always_last")
    show_attention.click(
        attention_fn,
        inputs=[prompt, mode, model, layer, head],
        outputs=[attention_key, attention_plot, attention_info, layer, head],
        **api("attention"),
        concurrency_id=LM_CONCURRENCY_ID,
        concurrency_limit=1,
    )
    for slider in (layer, head):
        slider.change(attention_redraw, inputs=[attention_key, layer, head], outputs=[attention_plot, attention_info],
                      api_visibility="private", trigger_mode="always_last")


def build_transformer_view(prompt: str = "The cat sat on the mat because it") -> None:
    """A compact copy of the look-inside views on the embedded model, for topic 2's Transformer sub-tab."""
    gr.Markdown("The transformer below is the course's real language model (SmolLM2-135M-Instruct). "
                "[Open it in the Language tab](?tab=language) to generate text with it.")
    text = gr.Textbox(label="Sentence", value=prompt, lines=1)
    with gr.Row():
        temperature = gr.Slider(0, limits.TEMPERATURE_MAX, value=1.0, step=0.05, label="Temperature")
        top_k = gr.Slider(0, limits.TOP_K_MAX, value=0, step=1, label="Top-k", info="0 = off")
        top_p = gr.Slider(limits.TOP_P_MIN, 1.0, value=1.0, step=0.01, label="Top-p", info="1 = off")
    repetition_penalty = gr.State(1.0)
    look_inside(text, gr.State("Raw continuation"), gr.State(EMBEDDED_MODEL),
                [temperature, top_k, top_p, repetition_penalty], api_prefix=None)
