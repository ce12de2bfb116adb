"""Every input is checked against its component before a callback runs; a bad one gets a sentence naming its field.

Gradio turns each input into Python with its component's ``preprocess`` before it calls the function. Values the
page never sends, but a script or an edited request can (text or nothing for a slider, NaN or infinity, a fraction
for a seed, a lone surrogate, a path outside the upload folder, a file that is not a picture, a picture of 400
million pixels), make that step fail with Python's own error, and the learner sees Gradio's generic "Error".
:class:`CourseBlocks` checks each input first and answers with ``gr.Error`` and a sentence. It changes no value:
what passes the checks reaches ``preprocess`` exactly as it was sent. It also keeps every error message sendable
(a message with a lone surrogate cannot be encoded as UTF-8, and would never arrive).

Model-side checks stay where they are (``shared/checks.py``, each topic's own limits): this layer only guarantees
that a callback receives what its components promise.
"""
from __future__ import annotations

import html
import math
import re
from pathlib import Path

import gradio as gr
from gradio import utils as gradio_utils
from gradio.exceptions import Error
from gradio_client.utils import is_http_url_like, is_valid_file

from shared import limits
from shared.checks import as_float, as_int

SURROGATE = re.compile("[\ud800-\udfff]")  # half of a UTF-16 pair, alone: not valid text, not encodable as UTF-8
SHOWN_CHARS = 40  # how much of a refused value a message repeats
CHOICES_SHOWN = 8


def shown(value) -> str:
    """A refused value as a message may show it: short, without lone surrogates, escaped for HTML."""
    text = repr(value)
    if len(text) > SHOWN_CHARS:
        text = text[:SHOWN_CHARS] + "…"
    return html.escape(sendable(text), quote=False)


def number(x: float) -> str:
    """``2,147,483,647`` for a whole number, ``0.001`` or ``1e-05`` otherwise."""
    return f"{int(x):,}" if math.isfinite(x) and float(x).is_integer() else f"{x:g}"


def sendable(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD, so it encodes as UTF-8."""
    return SURROGATE.sub("\ufffd", text)


def has_surrogate(text: str) -> bool:
    return SURROGATE.search(text) is not None


def field_name(block) -> str:
    """The field as the page labels it: ``Seed``, or ``The field "See how a sentence is split"`` for a long label."""
    label = getattr(block, "label", None)
    if not label:
        return f"The {block.get_block_name()} field"
    return label if len(label.split()) <= 3 else f'The field "{label}"'


# ---------------------------------------------------------------------------------------------
# One check per kind of component; each raises ValueError with a sentence
# ---------------------------------------------------------------------------------------------

def check_number(name: str, payload, minimum, maximum, whole: bool) -> None:
    """A number in ``[minimum, maximum]``; a whole one where the field asks for one. Never rounded."""
    low = -math.inf if minimum is None else minimum
    high = math.inf if maximum is None else maximum
    if payload is None:
        kind = "a whole number" if whole else "a number"
        raise ValueError(f"{name} is empty: give {kind} from {number(low)} to {number(high)}.")
    if isinstance(payload, bool) or not isinstance(payload, (int, float)):
        raise ValueError(f"{name} must be a number, not {shown(payload)}.")
    if whole:
        as_int(name, payload, low, high)
    else:
        as_float(name, payload, low, high)


def check_text(name: str, payload, max_chars: int | None) -> None:
    """Text within the field's own length limit, or ``limits.TEXT_MAX_CHARS`` for a field without one."""
    if payload is None:
        return
    if not isinstance(payload, str):
        raise ValueError(f"{name} must be text, not {shown(payload)}.")
    if max_chars is not None and len(payload) > max_chars:
        raise ValueError(f"{name} is {len(payload):,} characters long; the limit is {max_chars:,}.")
    if len(payload) > limits.TEXT_MAX_CHARS:  # each demo's own, lower limit applies to shorter text
        raise ValueError(f"{name} is {len(payload):,} characters long; no text box in this app takes more than "
                         f"{limits.TEXT_MAX_CHARS:,}.")


def check_choice(name: str, payload, choices: list, multiselect: bool) -> None:
    """Each selected value is one of the field's options."""
    if payload is None:
        return
    values = payload if multiselect and isinstance(payload, list) else [payload]
    for value in values:
        if isinstance(value, (list, dict)) or value not in choices:
            offered = ", ".join(html.escape(str(c), quote=False) for c in choices[:CHOICES_SHOWN])
            more = " …" if len(choices) > CHOICES_SHOWN else ""
            raise ValueError(f"{name} has no option {shown(value)}; the options are: {offered}{more}.")


def check_flag(name: str, payload) -> None:
    if payload is not None and not isinstance(payload, bool):
        raise ValueError(f"{name} must be true or false, not {shown(payload)}.")


def check_files(name: str, payload, in_upload_folder: bool, file_types: list[str], picture: bool) -> None:
    """Files uploaded through the page (when asked), of the field's types, and for a picture field, pictures of
    a sane size."""
    if payload is None:
        return
    files = payload if isinstance(payload, list) else [payload]
    for file in files:
        if not isinstance(file, dict) or not isinstance(file.get("path"), str) or not isinstance(file.get("meta"), dict):
            raise ValueError(f"{name} must be a file uploaded through the page, not {shown(file)}.")
        path = file["path"]
        if is_http_url_like(path):
            continue  # gradio fetches a URL into its own cache; nothing local is read
        if in_upload_folder and not gradio_utils.is_in_or_equal(path, gradio_utils.get_upload_folder()):
            raise ValueError(f"{name}: the app reads only files uploaded through the page, so it refused "
                             f"{shown(Path(path).name)}.")
        file_name = file.get("orig_name") or Path(path).name
        if file_types and not is_valid_file(path, file_types):
            raise ValueError(f"{name} takes {' or '.join(file_types)} files; {shown(file_name)} is not one.")
        if picture:
            check_picture(name, path, file_name)


def check_picture(name: str, path: str, shown_name: str) -> None:
    """A file Pillow recognises as a picture, of at most ``limits.PICTURE_MAX_PIXELS`` pixels.

    Only the header is read: a decompression bomb (a tiny file that decodes to gigabytes) is refused before it
    is decoded.
    """
    from PIL import Image, UnidentifiedImageError

    shown_file = shown(shown_name)
    try:
        with Image.open(path) as picture:
            width, height = picture.size
    except UnidentifiedImageError as e:
        raise ValueError(f"{name}: {shown_file} is not a picture (PNG, JPEG, WebP, GIF ...). Upload an image file.") from e
    except Image.DecompressionBombError as e:
        raise ValueError(f"{name}: {shown_file} is far too large to open safely; the limit is "
                         f"{limits.PICTURE_MAX_PIXELS:,} pixels.") from e
    except OSError as e:
        raise ValueError(f"{name}: {shown_file} could not be read as a picture.") from e
    if width * height > limits.PICTURE_MAX_PIXELS:
        raise ValueError(f"{name}: {shown_file} is {width} x {height} pixels; the limit is "
                         f"{limits.PICTURE_MAX_PIXELS:,} pixels. Use a smaller picture.")


def is_picture_input(block) -> bool:
    if isinstance(block, gr.Image):
        return True
    file_types = getattr(block, "file_types", None) or []
    return isinstance(block, gr.File) and bool(file_types) and all(t == "image" for t in file_types)


def whole_numbers_only(block) -> bool:
    """Whether the field holds whole numbers: precision 0, or a slider whose minimum and step are whole."""
    if getattr(block, "precision", None) == 0:
        return True
    return isinstance(block, gr.Slider) and all(float(v).is_integer() for v in (block.minimum, block.step))


def check_input(block, payload, in_upload_folder: bool = True) -> None:
    """Raise ``ValueError`` with a sentence if ``payload`` is not something ``block`` accepts from the page."""
    name = field_name(block)
    surrogate = next((s for s in strings_in(payload) if has_surrogate(s)), None)
    if surrogate is not None:
        bad = SURROGATE.search(surrogate).group()
        raise ValueError(f"{name} contains a broken character (a lone UTF-16 surrogate, U+{ord(bad):04X}) that is "
                         "not valid text: delete it or type the text again.")
    if isinstance(block, (gr.Slider, gr.Number)):
        check_number(name, payload, block.minimum, block.maximum, whole_numbers_only(block))
    elif isinstance(block, (gr.Textbox, gr.Code)):
        check_text(name, payload, getattr(block, "max_length", None))
    elif isinstance(block, (gr.Radio, gr.Dropdown, gr.CheckboxGroup)):
        if not getattr(block, "allow_custom_value", False):
            choices = [value for _label, value in block.choices]
            multiselect = isinstance(block, gr.CheckboxGroup) or bool(getattr(block, "multiselect", False))
            check_choice(name, payload, choices, multiselect)
    elif isinstance(block, gr.Checkbox):
        check_flag(name, payload)
    elif isinstance(block, (gr.File, gr.Image)):
        file_types = [] if isinstance(block, gr.Image) else list(getattr(block, "file_types", None) or [])
        check_files(name, payload, in_upload_folder, file_types, is_picture_input(block))
    elif isinstance(block, gr.Dataframe) and payload is not None and not isinstance(payload, dict):
        raise ValueError(f"{name} must be a table (headers and rows), not {shown(payload)}.")


def strings_in(payload):
    """Every string inside ``payload`` (nested lists and dicts included)."""
    if isinstance(payload, str):
        yield payload
    elif isinstance(payload, (list, tuple)):
        for item in payload:
            yield from strings_in(item)
    elif isinstance(payload, dict):
        for key, item in payload.items():
            yield from strings_in(key)
            yield from strings_in(item)


# ---------------------------------------------------------------------------------------------
# The app's Blocks
# ---------------------------------------------------------------------------------------------

class CourseBlocks(gr.Blocks):
    """``gr.Blocks`` that checks every input before Gradio preprocesses it, and keeps error messages sendable."""

    async def preprocess_data(self, block_fn, inputs, state, explicit_call=False):
        prop_inputs = getattr(block_fn, "component_prop_inputs", ())
        for i, (block, payload) in enumerate(zip(block_fn.inputs, inputs)):
            if block.stateful or i in prop_inputs:
                continue
            current = state[block._id] if state is not None and block._id in state else block
            try:
                check_input(current, payload, in_upload_folder=not explicit_call)
            except ValueError as e:
                raise gr.Error(str(e), print_exception=False) from e  # a refused input is not a bug: no traceback
        return await super().preprocess_data(block_fn, inputs, state, explicit_call)

    async def process_api(self, *args, **kwargs):
        try:
            return await super().process_api(*args, **kwargs)
        except Error as e:
            if isinstance(e.message, str):
                e.message = sendable(e.message)
            raise
