"""Topic 4: natural language generation with a real language model, looked inside.

A decoder-only transformer predicts a probability distribution over its vocabulary for the next token;
generation samples one token from it, appends it, and repeats (Radford et al. 2019). The loop itself,
with transformers' own logits processors, is ``shared/sampling.py``: read it there. This module is the
demo around it: stream a reply, colour each token by its probability, show each step's candidates, and
the next-token explorer and attention view of ``shared/look_inside.py``.
"""
from __future__ import annotations

import time
from dataclasses import asdict

import gradio as gr

from shared import limits
from shared.generation import (
    DEFAULT_MODEL,
    MODEL_CHOICES,
    MODEL_MIN_WIDTH,
    MODES,
    encode_prompt,
    generate_tokens,
    generation_queue,
    make_settings,
    validate_prompt,
)
from shared.lm_server import NO_SAMPLED_DISTRIBUTION, ServerLM
from shared.look_inside import (
    highlighted,
    label_steps,
    look_inside,
    select_token,
    show_step,
    steps_table,
    token_view,
)
from shared.stopping import StopFlags
from shared.tokens import read_text
from shared.ui import escape_markdown, friendly_errors, load_model, warn

DEFAULTS = dict(
    prompt="Write a four-line poem about the moon.",  # one the small model does well: four rhyming lines at seed 42
    mode="Chat",
    temperature=0.7,
    top_k=50,
    top_p=0.95,
    repetition_penalty=1.1,
    max_new_tokens=limits.DEFAULT_MAX_NEW_TOKENS,
    seed=42,
)

# Each example shows one point of the lesson; same prompt and seed, one control changed.
EXAMPLE_LABELS = [
    "Story, cold (temperature 0.2)",
    "Same story, hot (temperature 1.5)",
    "A fact, greedy (temperature 0)",
    "Chat: tips, default sampling",
    "Loop, greedy, no penalty",
    "Same loop, repetition penalty 1.8",
    "Translate to French, greedy",
]
EXAMPLES = [
    ["Once upon a time, in a quiet village,", "Raw continuation", 0.2, 0, 1.0, 1.0, 48, 7],
    ["Once upon a time, in a quiet village,", "Raw continuation", 1.5, 0, 1.0, 1.0, 48, 7],
    ["The capital of France is", "Raw continuation", 0.0, 0, 1.0, 1.0, 16, 0],
    ["Give three tips for learning to play the guitar.", "Chat", 0.7, 50, 0.95, 1.1, 96, 42],
    ["I like apples, apples, apples and", "Raw continuation", 0.0, 0, 1.0, 1.0, 24, 0],
    ["I like apples, apples, apples and", "Raw continuation", 0.0, 0, 1.0, 1.8, 24, 0],
    ["Translate into French: I love cats.", "Chat", 0.0, 0, 1.0, 1.0, 32, 0],
]


# Screen updates while a reply streams. Each one costs the server and the browser ~10 ms of a 2-core
# laptop's CPU, which the model then lacks: 64 tokens through the app in a local chromium ran at 17 tokens/s
# updating on every token, 27 at 20 updates/s and 34 at 5 (the loop alone: about 75).
STREAM_UPDATES_PER_S = 10
STOPS = StopFlags()  # the Stop button's flags, one per session (see shared/stopping.py)


@friendly_errors
def generate_ui(prompt, mode, model, temperature, top_k, top_p, repetition_penalty, max_new_tokens, seed,
                request: gr.Request | None = None, progress=gr.Progress()):
    """Stream the reply, then show each token coloured by its probability and step 1's candidates.

    The Stop button ends the loop between two tokens; the reply so far then gets the same views.
    """
    settings = make_settings(temperature, top_k, top_p, repetition_penalty, max_new_tokens, seed)
    prompt = validate_prompt(prompt)
    with STOPS.running(request) as stop:
        bundle = load_model(model, progress=progress)
        input_ids = encode_prompt(bundle.tokenizer, prompt, mode)
        steps: list[dict] = []
        ids: list[int] = []
        start = shown = time.perf_counter()
        for step in generate_tokens(bundle, input_ids, settings):
            if stop.is_set():
                break
            steps.append(asdict(step))
            ids.append(step.token_id)
            # The first token at once, then at most STREAM_UPDATES_PER_S screen updates a second (see there).
            if len(ids) == 1 or time.perf_counter() - shown >= 1 / STREAM_UPDATES_PER_S:
                shown = time.perf_counter()
                yield (read_text(bundle.tokenizer, ids), f"Generating with {escape_markdown(bundle.backend)} …",
                       gr.skip(), gr.skip(), gr.skip(), gr.skip())
    seconds = time.perf_counter() - start
    about = f"{escape_markdown(bundle.spec.label)} · backend: {escape_markdown(bundle.backend)}"
    if isinstance(bundle.model, ServerLM):
        about += f"  \n{NO_SAMPLED_DISTRIBUTION}"
    if stop.is_set():
        info = f"**Stopped by you** after {len(steps)} tokens ({seconds:.1f} s) · {about}"
    else:
        info = f"{len(steps)} tokens in {seconds:.1f} s ({len(steps) / max(seconds, 1e-6):.1f} tokens/s) · {about}"
    if not steps:
        if not stop.is_set():
            warn("The model ended its reply at once (it chose the end-of-text token). Try another seed or prompt.")
        yield "", info, [], [], gr.Slider(visible=False), None
        return
    label_steps(bundle.tokenizer, steps)
    step_slider = gr.Slider(minimum=1, maximum=max(2, len(steps)), value=1, step=1, visible=len(steps) > 1)
    yield read_text(bundle.tokenizer, ids), info, highlighted(steps), steps, step_slider, steps_table(steps, 0)


def build() -> None:
    """Lay out the topic 4 demo in the current tab and wire its events."""
    gr.Markdown("### Generate, then look inside")
    prompt = gr.Textbox(label="Prompt", value=DEFAULTS["prompt"], lines=2)
    with gr.Row():
        generate = gr.Button("Generate", variant="primary", elem_classes="cm-main-action")
        stop = gr.Button("Stop", variant="stop")
    with gr.Row():
        mode = gr.Radio(list(MODES), value=DEFAULTS["mode"], label="Mode")
        model = gr.Dropdown(
            MODEL_CHOICES, value=DEFAULT_MODEL, label="Model", allow_custom_value=True, min_width=MODEL_MIN_WIDTH,
            info="Embedded models work offline; hub models (or any hub id you type) need the hub once.",
        )
    with gr.Accordion("Sampling settings", open=True):
        with gr.Row():
            temperature = gr.Slider(0, limits.TEMPERATURE_MAX, value=DEFAULTS["temperature"], step=0.05,
                                    label="Temperature", info="0 = greedy (always the most likely token)")
            top_k = gr.Slider(0, limits.TOP_K_MAX, value=DEFAULTS["top_k"], step=1, label="Top-k", info="0 = off")
        with gr.Row():
            top_p = gr.Slider(limits.TOP_P_MIN, 1.0, value=DEFAULTS["top_p"], step=0.01, label="Top-p", info="1 = off")
            repetition_penalty = gr.Slider(1.0, limits.REPETITION_PENALTY_MAX, value=DEFAULTS["repetition_penalty"],
                                           step=0.05, label="Repetition penalty", info="1 = off")
        with gr.Row():
            max_new_tokens = gr.Slider(1, limits.MAX_NEW_TOKENS, value=DEFAULTS["max_new_tokens"], step=1,
                                       label="Max new tokens")
            seed = gr.Number(value=DEFAULTS["seed"], precision=0, minimum=0, maximum=limits.SEED_MAX, label="Seed")
    output = gr.Textbox(label="Output", lines=5, interactive=False, buttons=["copy"], elem_id="language-output")
    generation_info = gr.Markdown(elem_classes="cm-header")
    tokens = token_view(elem_id="language-tokens")
    gr.Markdown("Colour = the probability the token had when it was sampled, from blue (the model was sure) to red "
                "(a rare draw). Click a token, or move **Step**, to see the candidates the model weighed at that "
                "step.", elem_classes="cm-header")
    steps_state = gr.State([])
    step = gr.Slider(1, 2, value=1, step=1, label="Step", visible=False)
    step_table = gr.Dataframe(label="Top-10 candidates at this step, and the sampled token if not among them",
                              interactive=False, wrap=True, elem_id="language-steps")

    examples = gr.Examples(
        EXAMPLES,
        inputs=[prompt, mode, temperature, top_k, top_p, repetition_penalty, max_new_tokens, seed],
        label="Examples: the same prompt and seed, one control changed (a click generates)",
        example_labels=EXAMPLE_LABELS,
    )

    sampling = [temperature, top_k, top_p, repetition_penalty]
    STOPS.wire(generate, stop)
    generation = dict(
        inputs=[prompt, mode, model, *sampling, max_new_tokens, seed],
        outputs=[output, generation_info, tokens, steps_state, step, step_table],
        **generation_queue(),
    )
    generate.click(generate_ui, api_name="language_generate", **generation)
    # An example sets the controls, then generates: what it changed shows in the reply, not only in the sliders.
    examples.load_input_event.then(generate_ui, api_visibility="private", **generation)
    tokens.select(select_token, inputs=[steps_state], outputs=[step], api_visibility="private")
    step.change(show_step, inputs=[steps_state, step], outputs=[step_table], api_visibility="private")
    look_inside(prompt, mode, model, sampling, api_prefix="language")
