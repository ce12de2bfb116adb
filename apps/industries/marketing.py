"""Marketing: personalised product copy from a visible prompt template, checked against the facts.

A prompt template is a fixed instruction with slots ({product}, {facts}, {audience}, {tone}) filled
from structured inputs; changing one slot conditions the model on something else, so the distribution
p(text | prompt) shifts (personalisation). The model is the course's language model, run through
the course's own sampling loop (``shared.generation``): nothing here re-implements decoding.

A fluent draft can state things that are not in the facts (hallucination; Ji et al. 2023). The check
below is the simple one the lesson describes: every number and every capitalised name in a variant
must appear somewhere in the inputs; the rest is flagged for a person to look at. It is a filter, not
a proof: it misses invented claims without numbers or names ("waterproof") and numbers written as words.
"""
from __future__ import annotations

import re
import string
from collections.abc import Iterator
from dataclasses import dataclass

import gradio as gr

from shared import limits
from shared.checks import as_int
from shared.generation import (
    DEFAULT_MODEL,
    MODEL_CHOICES,
    MODEL_MIN_WIDTH,
    encode_prompt,
    generate_tokens,
    generation_queue,
    make_settings,
    validate_prompt,
)
from shared.stopping import StopFlags

SLOTS = ("product", "facts", "audience", "tone")
TONES = ("friendly", "professional", "playful", "luxurious", "urgent")

DEFAULT_TEMPLATE = """Write a short product description (two or three sentences) of {product} for {audience}.
Tone: {tone}.
Use only these facts, and no other numbers or names:
{facts}"""

DEFAULTS = dict(
    product="the TrailFlask steel water bottle",
    facts="750 ml capacity\nkeeps drinks cold for 12 hours\nweighs 300 g\nmade by Nordvik",
    audience="cyclists",
    tone="friendly",
)

EXAMPLE_LABELS = ["Water bottle for cyclists", "Same bottle for hikers", "Running shoes, playful",
                  "Coffee subscription, professional"]
EXAMPLES = [
    [DEFAULTS["product"], DEFAULTS["facts"], "cyclists", "friendly"],
    [DEFAULTS["product"], DEFAULTS["facts"], "hikers on multi-day trips", "friendly"],
    ["the Swiftstride 3 running shoes", "weight 240 g\n8 mm heel drop\nrecycled mesh upper\nsizes 36 to 47",
     "people training for their first 10 km race", "playful"],
    ["the Morning Ritual coffee subscription", "2 bags of fresh beans a month\nroasted in Porto\n"
     "cancel any time\n18 EUR a month", "busy office managers", "professional"],
]

SUPPORTED, FLAGGED = "in the inputs", "not in the inputs"
COLOR_MAP = {SUPPORTED: "green", FLAGGED: "red"}

_NUMBER = re.compile(r"(?<![A-Za-z\d])\d+(?:[.,]\d+)*")
# A run of capitalised words (names: "Nordvik", "New York", "BPA"), apostrophes and hyphens allowed inside.
_NAME = re.compile(r"[A-Z][\w’'-]*(?:[ \t]+[A-Z][\w’'-]*)*")
_ACRONYM = re.compile(r"[A-Z\d]{2,}")  # "BPA", "USB-C": a name even where it starts a sentence
_SENTENCE_START = re.compile(r"(?:^|[.!?:;]\s|\n)[^\w]*$")  # then only quotes, bullets, "**", spaces


def fill_template(template: str, product: str, facts: str, audience: str, tone: str) -> str:
    """The prompt: ``template`` with its slots filled.

    Raises:
        ValueError: empty product facts, a field over its length limit, or a template that is empty,
            too long, uses an unknown slot or has an unmatched brace.
    """
    if not facts or not facts.strip():
        raise ValueError("Enter the product facts: the copy must be built from them (and is checked against them).")
    for name, value, limit in (("Product", product, limits.MARKETING_FIELD_MAX_CHARS),
                               ("Audience", audience, limits.MARKETING_FIELD_MAX_CHARS),
                               ("Tone", tone, limits.MARKETING_FIELD_MAX_CHARS),
                               ("Product facts", facts, limits.MARKETING_FACTS_MAX_CHARS),
                               ("Template", template, limits.MARKETING_TEMPLATE_MAX_CHARS)):
        if value is not None and len(value) > limit:
            raise ValueError(f"{name} has {len(value):,} characters; the limit is {limit:,}. "
                             "Shorten it (nothing is cut off for you).")
    if not template or not template.strip():
        raise ValueError("The prompt template is empty: write the instruction, with slots such as {facts}.")
    try:
        used = {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}
    except ValueError as e:
        raise ValueError(f"The template has an unmatched brace ({e}). Slots look like {{facts}}; "
                         "write a literal brace as {{ or }}.") from e
    unknown = sorted(used - set(SLOTS))
    if unknown:
        raise ValueError(f"The template uses an unknown slot {{{unknown[0]}}}; the slots are "
                         + ", ".join("{" + s + "}" for s in SLOTS) + ".")
    return template.format(product=(product or "").strip(), facts=facts.strip(),
                           audience=(audience or "").strip(), tone=(tone or "").strip())


def _word(word: str) -> str:
    """A word without a possessive or surrounding hyphens: "Nordvik's" -> "Nordvik"."""
    return re.sub(r"[’']s$", "", word).strip("’'-")


def _number_key(text: str) -> str:
    """'1,000' -> '1000', '12.0' -> '12', '2,5' -> '2.5' (a decimal comma): numbers compare by value."""
    if re.fullmatch(r"\d{1,3}(,\d{3})+", text):
        text = text.replace(",", "")
    text = text.replace(",", ".")
    try:
        return f"{float(text):g}"
    except ValueError:
        return text


@dataclass(frozen=True)
class Claim:
    """A number or name found in a variant: where it is (``start``, ``end``) and whether the inputs contain it."""

    text: str
    start: int
    end: int
    supported: bool


def find_claims(text: str, sources: list[str]) -> list[Claim]:
    """Every number and capitalised name in ``text``, each marked supported if it appears in ``sources``.

    Numbers compare by value ("1,000" = "1000"). A name is supported if each of its words appears in the
    sources, ignoring case. A capitalised word that only starts a sentence ("Stay cool") is not a name.
    """
    source_text = "\n".join(s for s in sources if s)
    numbers = {_number_key(m.group()) for m in _NUMBER.finditer(source_text)}
    cased = {_word(w) for w in re.findall(r"[\w’'-]+", source_text)}
    words = {w.lower() for w in cased}
    claims = []
    for m in _NUMBER.finditer(text):
        claims.append(Claim(m.group(), m.start(), m.end(), _number_key(m.group()) in numbers))
    for m in _NAME.finditer(text):
        parts = [(w.group(), m.start() + w.start(), m.start() + w.end()) for w in re.finditer(r"\S+", m.group())]
        head = parts[0][0]
        if _SENTENCE_START.search(text[: m.start()]) and _word(head) not in cased and not _ACRONYM.match(head):
            parts = parts[1:]  # capitalised perhaps only because it starts a sentence: no evidence of a name
        parts = [p for p in parts if p[0] != "I"]
        if not parts:
            continue
        ok = all(_word(word).lower() in words or _word(word).lower().removesuffix("s") in words
                 for word, _, _ in parts)
        claims.append(Claim(text[parts[0][1]:parts[-1][2]], parts[0][1], parts[-1][2], ok))
    return sorted(claims, key=lambda c: c.start)


def highlight(text: str, sources: list[str]) -> tuple[list[tuple[str, str | None]], list[Claim]]:
    """``(segments, claims)``: ``text`` cut into ``(piece, label)`` for ``gr.HighlightedText`` (label
    ``SUPPORTED``, ``FLAGGED`` or ``None``), and the claims found (see :func:`find_claims`)."""
    claims = find_claims(text, sources)
    segments, position = [], 0
    for claim in claims:
        if claim.start < position:  # a number inside a name, already covered
            continue
        if claim.start > position:
            segments.extend(_plain(text[position:claim.start]))
        segments.append((text[claim.start:claim.end], SUPPORTED if claim.supported else FLAGGED))
        position = claim.end
    if position < len(text):
        segments.extend(_plain(text[position:]))
    return segments, claims


def _plain(text: str) -> list[tuple[str, None]]:
    """Unlabelled text, one segment per word, so the highlighted view wraps lines between words."""
    return [(word, None) for word in re.findall(r"\S+\s*|\s+", text)]


def generate_variants(bundle, prompt: str, n_variants, temperature, max_new_tokens, seed) -> Iterator[tuple[int, str]]:
    """Write ``n_variants`` drafts for ``prompt`` with the language model, streaming.

    Variant ``i`` is sampled with seed ``seed + i`` (the course's loop: ``shared.generation.generate_tokens``, chat
    template, top-p 0.95, repetition penalty 1.1).

    Yields:
        ``(variant_index, text_so_far)`` after every token.
    Raises:
        ValueError: a setting outside ``shared.limits``.
    """
    n_variants = as_int("Variants", n_variants, 1, limits.MARKETING_VARIANTS_MAX)
    max_new_tokens = as_int("Max new tokens", max_new_tokens, 1, limits.MARKETING_MAX_NEW_TOKENS)
    settings = make_settings(temperature, 50, 0.95, 1.1, max_new_tokens, seed)
    input_ids = encode_prompt(bundle.tokenizer, validate_prompt(prompt), "Chat")
    for i in range(n_variants):
        variant_settings = make_settings(settings.temperature, settings.top_k, settings.top_p,
                                         settings.repetition_penalty, max_new_tokens, (settings.seed + i) % limits.SEED_MAX)
        ids: list[int] = []
        yield i, ""
        for step in generate_tokens(bundle, input_ids, variant_settings):
            ids.append(step.token_id)
            yield i, bundle.tokenizer.decode(ids, skip_special_tokens=True)


# ---------------------------------------------------------------------------------------------
# The sub-tab
# ---------------------------------------------------------------------------------------------

def _segments(variants: list[str], sources: list[str]) -> tuple[list[tuple[str, str | None]], list[list[Claim]]]:
    segments, all_claims = [], []
    for i, text in enumerate(variants):
        segments.append((f"{'' if i == 0 else chr(10) + chr(10)}Variant {i + 1}\n", None))
        parts, claims = highlight(text.strip(), sources)
        segments.extend(parts)
        all_claims.append(claims)
    return segments, all_claims


def _summary(all_claims: list[list[Claim]]):
    import pandas as pd

    return pd.DataFrame([
        {"variant": i + 1,
         "numbers and names": len(claims),
         "in the inputs": sum(c.supported for c in claims),
         "flagged": ", ".join(dict.fromkeys(c.text for c in claims if not c.supported)) or "none"}
        for i, claims in enumerate(all_claims)
    ])


# Said beside every result: the check reads numbers and names only, so a clean result is not a verdict.
CHECK_LIMITS = ("It cannot see an invented claim in plain words (\"fun to drive on\", \"keeps ice for a week\") "
                "or a number spelled out: read every variant yourself.")


def check_result(all_claims: list[list[Claim]]) -> str:
    """The status line's account of the check: what it found, then what it cannot catch (:data:`CHECK_LIMITS`)."""
    flagged = sum(not c.supported for claims in all_claims for c in claims)
    found = (f"**Numbers and names: {flagged} not in your inputs** (red), to check by hand." if flagged
             else "**Numbers and names: all in your inputs** (green).")
    return f"{found} {CHECK_LIMITS}"


STOPS = StopFlags()  # the Stop button's flags, one per session


def _status(verdict: str, n_written: int, n_variants: int, stopped: bool) -> str:
    """The status line once writing ends: the fact check's verdict, and whether Stop cut it short."""
    if not stopped:
        return verdict
    if not n_written:
        return "**Stopped by you** before the first variant."
    return f"**Stopped by you** during variant {n_written} of {n_variants}. {verdict}"


def build_marketing() -> None:
    from shared.ui import escape_markdown, friendly_errors, load_model

    @friendly_errors
    def write_copy(template, product, facts, audience, tone, model, n_variants, temperature, max_new_tokens, seed,
                   request: gr.Request | None = None, progress=gr.Progress()):
        prompt = fill_template(template, product, facts, audience, tone)
        sources = [product, facts, audience, tone]
        n_variants = as_int("Variants", n_variants, 1, limits.MARKETING_VARIANTS_MAX)
        variants: list[str] = []
        with STOPS.running(request) as stop:
            bundle = load_model(model, progress=progress)
            for i, text in generate_variants(bundle, prompt, n_variants, temperature, max_new_tokens, seed):
                if stop.is_set():
                    break
                if i == len(variants):
                    variants.append("")
                variants[i] = text
                segments, _ = _segments(variants, sources)
                yield prompt, segments, gr.skip(), f"Writing variant {i + 1} of {n_variants} with {bundle.backend} …"
        segments, claims = _segments(variants, sources)
        status = _status(check_result(claims), len(variants), n_variants, stop.is_set())
        yield prompt, segments, _summary(claims), f"{status} · {escape_markdown(bundle.spec.label)} · {bundle.backend}"

    def show_prompt(template, product, facts, audience, tone):
        try:
            return fill_template(template, product, facts, audience, tone)
        except ValueError as e:
            return f"(not a valid prompt yet: {e})"

    gr.Markdown("Your inputs fill the slots of a **prompt template**.")
    with gr.Row():
        product = gr.Textbox(label="Product", value=DEFAULTS["product"], max_length=limits.MARKETING_FIELD_MAX_CHARS,
                             scale=2, min_width=120)
        audience = gr.Textbox(label="Audience persona", value=DEFAULTS["audience"],
                              max_length=limits.MARKETING_FIELD_MAX_CHARS, min_width=110)
        tone = gr.Dropdown(list(TONES), value=DEFAULTS["tone"], label="Tone", allow_custom_value=True, min_width=175)
    with gr.Row():
        write = gr.Button("Write variants", variant="primary", elem_classes="cm-main-action")
        stop = gr.Button("Stop", variant="stop")
    gr.Markdown("The language model writes several variants; every number and capitalised name in them is checked "
                "against your inputs.", elem_classes="cm-header")
    facts = gr.Textbox(label="Product facts (one per line)", value=DEFAULTS["facts"], lines=3,
                       max_length=limits.MARKETING_FACTS_MAX_CHARS)
    with gr.Accordion("Prompt template (editable) and the prompt the model receives", open=False):
        template = gr.Textbox(label="Prompt template", value=DEFAULT_TEMPLATE, lines=5,
                              info="Slots: {product}, {facts}, {audience}, {tone}. Try deleting the facts line.")
        prompt_view = gr.Textbox(label="Prompt the model receives", lines=6, interactive=False,
                                 value=fill_template(DEFAULT_TEMPLATE, **DEFAULTS))
    with gr.Row():
        n_variants = gr.Slider(1, limits.MARKETING_VARIANTS_MAX, value=3, step=1, label="Variants")
        temperature = gr.Slider(0, limits.TEMPERATURE_MAX, value=0.8, step=0.05, label="Temperature",
                                info="0 = greedy: every variant the same")
        max_new_tokens = gr.Slider(16, limits.MARKETING_MAX_NEW_TOKENS, value=96, step=8, label="Max new tokens")
    with gr.Row():
        seed = gr.Number(value=1, precision=0, minimum=0, maximum=limits.SEED_MAX, label="Seed")
        model = gr.Dropdown(MODEL_CHOICES, value=DEFAULT_MODEL, label="Model", allow_custom_value=True,
                            min_width=MODEL_MIN_WIDTH)
    status = gr.Markdown(elem_classes="cm-header")
    checked = gr.HighlightedText(label="Variants: numbers and names checked against your inputs (red = not found)",
                                 color_map=COLOR_MAP, combine_adjacent=False, show_legend=True,
                                 elem_id="industries-copy")
    summary = gr.Dataframe(label="Numbers and names per variant (nothing else is checked)", interactive=False,
                           wrap=True)
    gr.Examples(EXAMPLES, inputs=[product, facts, audience, tone], example_labels=EXAMPLE_LABELS,
                label="Examples: change one slot, keep the seed, compare")

    fields = [template, product, facts, audience, tone]
    STOPS.wire(write, stop)
    write.click(write_copy, inputs=[*fields, model, n_variants, temperature, max_new_tokens, seed],
                outputs=[prompt_view, checked, summary, status], api_name="industries_write_copy",
                **generation_queue())
    for box in fields:
        box.change(show_prompt, inputs=fields, outputs=[prompt_view], api_visibility="private",
                   trigger_mode="always_last", queue=False)
