"""Topic 6: music and creativity. A melody model you can hear, see and continue; MusicGen one click away.

Two sub-tabs:
  * **Melody transformer** (offline): the project's own small transformer (``train/melody.py``) writes a
    melody event by event in a chosen style, key, mode and metre, optionally continuing an opening typed
    as note names or ABC. Output: audio (a numpy synthesiser), a piano roll, ABC text and a MIDI file;
    *look inside* shows, for every note, the candidates the model weighed and how temperature and top-k
    reshaped them.
  * **MusicGen** (hub): text to audio with Meta's MusicGen (Copet et al. 2023) through ``transformers``.

Model-side code lives in ``apps/music/events.py`` (vocabulary), ``notation.py`` (note names, ABC),
``melody.py`` (generation and rendering) and ``musicgen.py``; this file lays out the demo and wires it.
Public functions for other topics: :func:`generate_melody`, :func:`render_audio` (re-exported here).
"""
from __future__ import annotations

import math
import time

import gradio as gr

from apps.music.events import MODES, STYLES, TIME_SIGNATURES, TONICS
from apps.music.melody import (
    Melody,
    figure_image,
    generate_melody,
    opening_text,
    piano_roll,
    read_melody_model,
    render_audio,
    write_midi,
)
from apps.music.musicgen import generate_music, read_musicgen
from shared import limits, plots
from shared.catalog import models_for
from shared.checks import as_int
from shared.loader import ModelUnavailable
from shared.ui import friendly_errors, inform, warn

__all__ = ["Melody", "build", "generate_melody", "generate_music", "read_melody_model", "read_musicgen",
           "render_audio"]

CONCURRENCY_ID = "melody-transformer"
DEFAULTS = dict(style="folk", key="G", mode="major", time_signature="6/8", bars=limits.MELODY_DEFAULT_BARS,
                temperature=1.0, top_k=0, seed=0, opening="", tempo_bpm=110, chords=False)

# Each example shows one point of the lesson.
EXAMPLE_LABELS = [
    "Jig in G, temperature 1.0",
    "Same jig, cold (temperature 0.3)",
    "Same jig, hot (temperature 1.8)",
    "Chorale in F major",
    "Continue Frère Jacques (note names)",
    "Continue a reel opening (ABC, A dorian)",
]
EXAMPLES = [
    ["folk", "G", "major", "6/8", 8, 1.0, 0, 7, "", 110, False],
    ["folk", "G", "major", "6/8", 8, 0.3, 0, 7, "", 110, False],
    ["folk", "G", "major", "6/8", 8, 1.8, 0, 7, "", 110, False],
    ["chorale", "F", "major", "4/4", 8, 0.8, 0, 3, "", 72, True],
    ["folk", "C", "major", "4/4", 8, 1.0, 0, 1, "C4 D4 E4 C4 | C4 D4 E4 C4 | E4 F4 G4:2", 100, True],
    ["folk", "A", "dorian", "4/4", 8, 1.0, 0, 5, "X:1\nM:4/4\nL:1/8\nK:Ador\nEA A2 BAGB | AGEF G2 FG", 120, False],
]
MUSICGEN_CHOICES = [(m.label, m.id) for m in models_for("text-to-audio")]
MUSICGEN_EXAMPLES = [
    "a calm lo-fi piano melody with soft drums",
    "an upbeat Irish jig on fiddle and tin whistle",
    "a slow, sad cello solo",
    "80s synth-pop with a driving bassline",
]
MUSICGEN_OFFLINE = ("MusicGen could not be loaded: {error} It comes from the Hugging Face hub (about 2.4 GB for "
                    "the small model): connect this machine to the internet and unset HF_HUB_OFFLINE, or run "
                    "`huggingface-cli download facebook/musicgen-small` once where there is internet and copy the "
                    "cache here. The melody transformer in the other sub-tab works offline.")


# --- callbacks ------------------------------------------------------------------------------------------
def _summary(melody: Melody, tempo_bpm: int, ready_s: float) -> str:
    """``ready_s``: seconds from the start of the request until its results were ready (the wait, not only the model)."""
    share = melody.in_key_share()
    generated = len(melody.notes) - melody.opening_notes
    lines = [f"**{generated} notes generated** ({melody.opening_notes} from your opening), ready after {ready_s:.1f} s "
             f"({melody.seconds:.1f} s writing the notes, the rest synthesising the sound and drawing); "
             f"{melody.duration_s(tempo_bpm):.1f} s of music at {tempo_bpm} beats per minute.",
             f"In the key: {share:.0%} of the generated pitched notes belong to {melody.key} {melody.mode}'s scale "
             "(random pitches: about 58%)." if not math.isnan(share) else ""]
    lines += [f"Note: {n}" for n in melody.notices]
    return "\n\n".join(x for x in lines if x)


def _candidates_figure(melody: Melody, index: int):
    """Two horizontal bar charts: the pitch and duration candidates of generated note ``index`` (0-based)."""
    from matplotlib.figure import Figure

    step = melody.steps[index]
    fig = Figure(figsize=(9, 3.6), dpi=100)
    fig.subplots_adjust(left=0.1, right=0.98, wspace=0.42, top=0.9, bottom=0.22)  # fixed: tight_layout draws twice
    for k, (title, cands) in enumerate((("next pitch (or rest)", step.pitch_candidates),
                                        ("its duration", step.duration_candidates))):
        ax = fig.add_subplot(1, 2, k + 1)
        labels = [c.label for c in cands][::-1]
        y = range(len(labels))
        ax.barh([i + 0.2 for i in y], [c.p_model for c in cands][::-1], height=0.4, color="#9aa0a6",
                label="model (temperature 1)")
        ax.barh([i - 0.2 for i in y], [c.p_sampled for c in cands][::-1], height=0.4, color="#3b6fd8",
                label="sampled from (after rules, temperature, top-k)")
        ax.set_yticks(list(y), labels, fontsize=11)
        ax.tick_params(axis="x", labelsize=10)
        ax.set_xlim(0, 1)
        ax.set_title(title, fontsize=12)
    fig.legend(*ax.get_legend_handles_labels(), loc="lower center", ncol=2, fontsize=10, frameon=False)
    return fig


def _step_text(melody: Melody, index: int) -> str:
    from apps.music.notation import pitch_name

    step = melody.steps[index]
    note = melody.notes[step.note_index]
    chosen = "a rest" if note.pitch is None else pitch_name(note.pitch, melody.tonic, melody.mode)
    top = step.pitch_candidates[0] if step.pitch_candidates else None
    p_chosen = next((c.p_sampled for c in step.pitch_candidates if c.label == chosen.replace("a rest", "rest")), None)
    bits = [f"Generated note {index + 1} of {len(melody.steps)} (bar {note.bar + 1}): **{chosen}**"]
    if p_chosen is not None:
        bits.append(f"drawn with probability {p_chosen:.2f}")
    if top is not None:
        bits.append(f"the model's favourite was {top.label} ({top.p_model:.2f} before temperature)")
    return "; ".join(bits) + "."


def _reporter(progress):
    return (lambda f, m: progress(f, desc=m)) if progress is not None else None


@friendly_errors
def melody_ui(style, key, mode, time_signature, bars, temperature, top_k, seed, opening, tempo_bpm, chords,
              progress=gr.Progress()):
    start = time.perf_counter()
    tempo_bpm = as_int("Tempo", tempo_bpm, limits.MELODY_TEMPO_MIN, limits.MELODY_TEMPO_MAX)
    try:
        melody = generate_melody(style, key, mode, time_signature, bars, temperature, top_k, seed, opening,
                                 progress=_reporter(progress))
    except ModelUnavailable as e:
        raise ValueError(f"The melody model could not be loaded: {e}") from e
    for n in melody.notices:
        inform(n)
    audio = render_audio(melody, tempo_bpm, chords=bool(chords))
    midi = str(write_midi(melody, tempo_bpm))
    n_steps = len(melody.steps)
    last = max(n_steps, 1)
    slider = gr.Slider(minimum=1, maximum=last, value=1, step=1, interactive=n_steps > 1,
                       label=f"Step: generated note (1-{last})")
    inside = (figure_image(_candidates_figure(melody, 0)), _step_text(melody, 0)) if n_steps else (None, "No notes were generated.")
    roll = figure_image(piano_roll(melody, melody.steps[0].note_index if n_steps else None))
    summary = _summary(melody, tempo_bpm, time.perf_counter() - start)
    return (melody, audio, roll, melody.abc, midi, summary, slider, *inside)


@friendly_errors
def keep_ui(melody: Melody | None, bars):
    """The melody's first bars into the opening box (with its key, mode and metre), for the learner to edit and
    continue: the model proposes, the person edits, the model continues."""
    if melody is None:
        raise ValueError("Generate a melody first; then keep its first bars as your opening.")
    bars = as_int("Bars to keep", bars, 1, limits.MELODY_BARS_MAX)
    return opening_text(melody, bars), melody.key, melody.mode, melody.time_signature


def step_ui(melody: Melody | None, step):
    if melody is None or not melody.steps:
        return gr.skip(), gr.skip(), gr.skip()
    index = min(max(int(step or 1), 1), len(melody.steps)) - 1
    return (figure_image(piano_roll(melody, melody.steps[index].note_index)),
            figure_image(_candidates_figure(melody, index)),
            _step_text(melody, index))


@friendly_errors
def musicgen_ui(model_id, prompt, duration_s, guidance_scale, seed, progress=gr.Progress()):
    try:
        sr, pcm, info = generate_music(prompt, duration_s, guidance_scale, seed, model_id=model_id,
                                       progress=_reporter(progress))
    except ModelUnavailable as e:
        warn(MUSICGEN_OFFLINE.format(error=e), duration=None)
        return None, "MusicGen is not available here (see the warning). The melody transformer works offline."
    return (sr, pcm), (f"{info['audio_seconds']:.1f} s of audio in {info['seconds']:.1f} s "
                       f"({info['seconds_per_audio_second']:.1f} s per second of audio, {info['tokens']} steps).")


# --- layout ---------------------------------------------------------------------------------------------
def build() -> None:
    """Lay out the topic 6 demo in the current tab and wire its events."""
    with gr.Tabs():
        with gr.Tab("Melody transformer (offline)", id="music-melody"):
            _build_melody()
        with gr.Tab("MusicGen: text to audio (hub)", id="music-musicgen"):
            _build_musicgen()


def _build_melody() -> None:
    gr.Markdown("A small transformer this project trained on Bach chorales and Irish and Scottish folk tunes writes "
                "a melody one note at a time.")
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            with gr.Row():
                style = gr.Radio(list(STYLES), value=DEFAULTS["style"], label="Style")
                time_signature = gr.Dropdown(list(TIME_SIGNATURES), value=DEFAULTS["time_signature"],
                                             label="Time signature")
            generate = gr.Button("Generate melody", variant="primary", elem_classes="cm-main-action")
            with gr.Row():
                key = gr.Dropdown(list(TONICS), value=DEFAULTS["key"], label="Key")
                mode = gr.Dropdown(list(MODES), value=DEFAULTS["mode"], label="Mode")
            bars = gr.Slider(1, limits.MELODY_BARS_MAX, value=DEFAULTS["bars"], step=1, label="Bars")
            with gr.Row():
                temperature = gr.Slider(0, limits.MELODY_TEMPERATURE_MAX, value=DEFAULTS["temperature"], step=0.05,
                                        label="Temperature", info="0 = always the most likely note")
                top_k = gr.Slider(0, 40, value=DEFAULTS["top_k"], step=1, label="Top-k", info="0 = off")
            with gr.Row():
                seed = gr.Number(value=DEFAULTS["seed"], precision=0, minimum=0, maximum=limits.SEED_MAX, label="Seed")
                tempo = gr.Slider(limits.MELODY_TEMPO_MIN, limits.MELODY_TEMPO_MAX, value=DEFAULTS["tempo_bpm"], step=1,
                                  label="Tempo (beats per minute)")
            chords = gr.Checkbox(value=DEFAULTS["chords"], label="Add simple chords (one triad per bar)")
            opening = gr.Textbox(label="Opening to continue (optional)", lines=3, max_length=limits.MELODY_OPENING_MAX_CHARS,
                                 placeholder="Note names: C4 D4 E4:2 r G4 (a :number is beats; r = rest)\n"
                                             "or ABC: X:1 / M:6/8 / L:1/8 / K:G then the notes")
            with gr.Row(equal_height=True):
                keep_bars = gr.Slider(1, limits.MELODY_BARS_MAX, value=2, step=1, label="Bars to keep", scale=2)
                keep = gr.Button("Keep as opening", size="sm", scale=1)
            gr.Markdown("Listen, then step through **Look inside** to see what the model weighed at every note. "
                        "To co-write: **Keep as opening** copies the melody's first bars here; change a note, "
                        "then **Generate melody** again and the model continues your version.",
                        elem_classes="cm-header")
        with gr.Column(scale=2):
            audio = gr.Audio(label="Listen", type="numpy", interactive=False, elem_id="music-audio")
            summary = gr.Markdown(elem_classes="cm-header", elem_id="music-summary")
            abc = gr.Textbox(label="ABC notation", lines=6, interactive=False, buttons=["copy"], elem_id="music-abc")
            midi = gr.File(label="MIDI file", interactive=False, elem_id="music-midi")
    gr.Markdown("**Examples** (same seed; one control changed between the first three):")
    controls = [style, key, mode, time_signature, bars, temperature, top_k, seed, opening, tempo, chords]
    example_buttons = []
    with gr.Row():
        for label in EXAMPLE_LABELS:
            example_buttons.append(gr.Button(label, size="sm"))
    with gr.Accordion("Look inside: what the model weighed at each note", open=True):
        # Full width, to be read from the back of a room; the figure carries its own title (a floating label
        # would cover it)
        roll = gr.Image(label="Piano roll", show_label=False, type="pil", format="png", interactive=False,
                        elem_id="music-roll", elem_classes=plots.PLOT)
        step = gr.Slider(1, 2, value=1, step=1, label="Step: generated note", interactive=False, elem_id="music-step")
        step_info = gr.Markdown(elem_id="music-step-info")
        candidates = gr.Image(label="Top candidates", show_label=False, type="pil", format="png", interactive=False,
                              elem_id="music-candidates", elem_classes=plots.PLOT)
    melody_state = gr.State(None)

    outputs = [melody_state, audio, roll, abc, midi, summary, step, candidates, step_info]
    generate.click(melody_ui, inputs=controls, outputs=outputs, api_name="music_generate_melody",
                   concurrency_id=CONCURRENCY_ID, concurrency_limit=2)
    for button, values in zip(example_buttons, EXAMPLES, strict=True):
        button.click(lambda v=values: v, outputs=controls, api_visibility="private").then(
            melody_ui, inputs=controls, outputs=outputs, api_visibility="private",
            concurrency_id=CONCURRENCY_ID, concurrency_limit=2)
    keep.click(keep_ui, inputs=[melody_state, keep_bars], outputs=[opening, key, mode, time_signature],
               api_visibility="private")
    step.change(step_ui, inputs=[melody_state, step], outputs=[roll, candidates, step_info],
                api_visibility="private", trigger_mode="always_last")


def _build_musicgen() -> None:
    gr.Markdown("MusicGen (Meta, 2023) writes audio directly: a transformer predicts the codes of a neural audio codec "
                "(EnCodec), four codebooks per 20 ms, conditioned on your text. It needs the Hugging Face hub once "
                "(about 2.4 GB for the small model) and is slow on a CPU: start with 3-5 seconds.")
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            model = gr.Dropdown(MUSICGEN_CHOICES, value=MUSICGEN_CHOICES[0][1] if MUSICGEN_CHOICES else None,
                                label="Model")
            prompt = gr.Textbox(label="Describe the music", value=MUSICGEN_EXAMPLES[0], lines=2,
                                max_length=limits.MUSICGEN_PROMPT_MAX_CHARS)
            duration = gr.Slider(limits.MUSICGEN_DURATION_MIN_S, limits.MUSICGEN_DURATION_MAX_S, value=4, step=0.5,
                                 label="Duration (s)")
            with gr.Row():
                guidance = gr.Slider(1, limits.MUSICGEN_GUIDANCE_MAX, value=3.0, step=0.5, label="Guidance scale",
                                     info="1 = no classifier-free guidance")
                seed = gr.Number(value=0, precision=0, minimum=0, maximum=limits.SEED_MAX, label="Seed")
            generate = gr.Button("Generate audio", variant="primary")
            gr.Examples([[p] for p in MUSICGEN_EXAMPLES], inputs=[prompt], label="Prompts")
        with gr.Column(scale=1):
            audio = gr.Audio(label="MusicGen's audio", type="numpy", interactive=False, elem_id="musicgen-audio")
            info = gr.Markdown(elem_classes="cm-header", elem_id="musicgen-info")
    generate.click(musicgen_ui, inputs=[model, prompt, duration, guidance, seed], outputs=[audio, info],
                   api_name="music_generate_audio", concurrency_id="musicgen", concurrency_limit=1)
