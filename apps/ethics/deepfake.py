"""A fake picture in seconds, and what provenance and watermark checks can and cannot say about it.

The course's own image model (topic 5's tiny-emoji-diffusion-2, through ``apps.images.generate``) makes a picture.
A responsible generator then marks it twice, as the EU AI Act's Article 50 asks of providers: an invisible
watermark in the pixels (``invisible-watermark``, dwtDctSvd, as in ``provenance.py``) and a label in the file
(PNG text chunks with the IPTC digital source type "trainedAlgorithmicMedia" and the pixels' SHA-256).

The same picture then goes where pictures go: re-saved as a JPEG (a screenshot or an upload), cropped, and
relabelled as a camera photo. Beside it, a real photo with no label. For each version the table says what the
file's label claims, whether the watermark is found, and what can be concluded. The label disappears with any
re-save and can be forged (it is not signed; C2PA signs it); the watermark survives re-saving but not cropping;
and once both are gone the fake and the real photo look the same to every check: a missing mark proves nothing.
The pictures are 32 pixels wide, enlarged 8 times (nearest neighbour) for the watermark, which needs 256 x 256.
"""
from __future__ import annotations

import io

import gradio as gr
import numpy as np
import pandas as pd
from PIL import Image

from apps.ethics.provenance import (
    FOUND_AT,
    SOURCE_TYPE_AI,
    _crop,
    decode_bits,
    default_image,
    embed_watermark,
    jpeg_bytes,
    message_bits,
    png_with_metadata,
    read_metadata,
)
from apps.images import (
    CONCURRENCY_ID as IMAGES_QUEUE,  # the image pipeline is one shared object: one line
)
from apps.images import generate
from shared import catalog, limits
from shared.checks import as_int
from shared.ui import escape_markdown, friendly_errors, load_model

MESSAGE = "AI26"  # the generator's 32-bit mark
METHOD = "dwtDctSvd"
SOURCE_TYPE_CAMERA = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
GENERATOR_LABEL = {"Software": "Creative Machines tiny-emoji-diffusion-2", "DigitalSourceType": SOURCE_TYPE_AI}
FORGED_LABEL = {"Software": "Phone camera", "DigitalSourceType": SOURCE_TYPE_CAMERA}
WATERMARK_SIDE_PX = 256  # the watermark library refuses smaller images
DEFAULT_PROMPT = "smiling cat face"
CAPTIONS = ("1 generator's file", "2 re-saved", "3 cropped", "4 relabelled", "5 real photo")


def image_model_id() -> str:
    """The catalog id of the course's own (project-trained) text-to-image model."""
    return next(m.id for m in catalog.models_for("text-to-image") if m.source == "project")


def enlarge(rgb: np.ndarray, side: int = WATERMARK_SIDE_PX) -> np.ndarray:
    """``rgb`` (H, W, 3) uint8 enlarged by a whole factor (nearest neighbour) to at least ``side`` pixels a side."""
    factor = max(1, -(-side // min(rgb.shape[:2])))
    return rgb.repeat(factor, axis=0).repeat(factor, axis=1)


def square(rgb: np.ndarray, side: int) -> np.ndarray:
    """The centre square of ``rgb`` (H, W, 3) uint8, resized to ``side`` x ``side``."""
    h, w = rgb.shape[:2]
    n = min(h, w)
    top, left = (h - n) // 2, (w - n) // 2
    return np.asarray(Image.fromarray(rgb[top:top + n, left:left + n]).resize((side, side), Image.LANCZOS))


def _decode_file(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def versions(fake: np.ndarray, real: np.ndarray) -> list[tuple[str, str, bytes]]:
    """The fake as its generator saved it, and where it goes next, plus a real photo: ``(name, truth, file bytes)``.

    ``fake``: the generated picture, uint8 (H, W, 3) of at least 256 x 256; it is watermarked and labelled here.
    """
    marked = embed_watermark(fake, MESSAGE, METHOD)
    cropped = _crop(_decode_file(jpeg_bytes(marked)), 0.1)
    return [
        ("1. as the generator saved it (watermark + label)", "AI-made", png_with_metadata(marked, GENERATOR_LABEL)),
        ("2. re-saved as JPEG (a screenshot, an upload)", "AI-made", jpeg_bytes(marked)),
        ("3. cropped 10% and re-saved", "AI-made", jpeg_bytes(cropped)),
        ("4. cropped, then labelled as a camera photo", "AI-made", png_with_metadata(cropped, FORGED_LABEL)),
        ("5. a real photo, no label", "camera", jpeg_bytes(real)),
    ]


def conclusion(label: str | None, watermark: bool) -> str:
    """What the checks allow one to say, from the file's claimed source and whether the watermark was found."""
    if watermark:
        return "AI-made: the generator's watermark is in the pixels"
    if label == SOURCE_TYPE_AI:
        return "labelled AI-made (an unsigned label: anyone can write or remove it)"
    if label == SOURCE_TYPE_CAMERA:
        return "labelled a camera photo: unsigned, so it proves nothing"
    return "nothing: no label, no watermark (which does not mean real)"


def check_file(data: bytes) -> dict:
    """Read a file as a checker would: its label, its pixel hash, and the watermark."""
    fields, hash_check = read_metadata(data)
    rgb = _decode_file(data)
    try:
        accuracy = float((decode_bits(rgb, METHOD) == message_bits(MESSAGE)).mean())
    except ValueError:  # too small to decode
        accuracy = 0.0
    label = fields.get("DigitalSourceType")
    return {"what the checks can say": conclusion(label, accuracy >= FOUND_AT),
            "label in the file": {SOURCE_TYPE_AI: "AI-made", SOURCE_TYPE_CAMERA: "camera photo"}.get(label, "none"),
            "pixel hash": ("matches" if "matches" in hash_check else "does not match" if "NOT" in hash_check
                           else "none stored"),
            "watermark bits right": round(accuracy, 2),
            "watermark found?": "yes" if accuracy >= FOUND_AT else "no"}


def check_table(files: list[tuple[str, str, bytes]]) -> pd.DataFrame:
    """One row per version: its name, the truth, and what :func:`check_file` reads from its bytes alone."""
    return pd.DataFrame([{"version": name, "truly": truth, **check_file(data)} for name, truth, data in files])


def summary(table: pd.DataFrame) -> str:
    """The status line: which fakes the checks still catch, and the one they cannot tell from a real photo."""
    fakes = table[table["truly"] == "AI-made"]
    caught = int(fakes["what the checks can say"].str.startswith(("AI-made", "labelled AI-made")).sum())
    return (f"**The checks name {caught} of {len(fakes)} versions of the fake as AI-made.** After a crop and a new "
            "label, the fake reads as a camera photo, and the real photo is no different to the checks: a label "
            "shows only who vouches for a file (signed, with C2PA), a watermark only that a cooperating generator "
            "made it; neither can show that a picture is real.")


def build_deepfake() -> None:
    @friendly_errors
    def fake_ui(prompt, seed, progress=gr.Progress()):
        seed = as_int("Seed", seed, 0, limits.SEED_MAX)
        bundle = load_model(image_model_id(), progress=progress)
        progress(0.3, desc="Generating the picture")
        fake = enlarge(generate(bundle, prompt, seed=seed, record_steps=False).images[0])
        progress(0.6, desc="Watermarking, labelling, re-saving, cropping and checking")
        real = square(default_image(), fake.shape[0])
        files = versions(fake, real)
        table = check_table(files)
        pictures = [(_decode_file(data), caption) for (_, _, data), caption in zip(files, CAPTIONS)]
        note = f"{summary(table)} · {escape_markdown(bundle.spec.label)}"
        return pictures, table, note

    gr.Markdown("Make a fake picture with the course's image model (topic 5). The generator marks it twice: a "
                "watermark in the pixels and a label in the file. Then see which checks still know it is fake.")
    with gr.Row():
        prompt = gr.Textbox(label="Prompt", value=DEFAULT_PROMPT, max_length=limits.IMAGES_PROMPT_MAX_CHARS, scale=3)
        seed = gr.Number(value=0, precision=0, minimum=0, maximum=limits.SEED_MAX, label="Seed")
    run = gr.Button("Make a fake and check it", variant="primary", elem_classes="cm-main-action")
    note = gr.Markdown(elem_classes="cm-header", elem_id="ethics-deepfake-summary")
    table = gr.Dataframe(label="What a checker reads from each file's bytes", interactive=False, wrap=True,
                         column_widths=["22%", "9%", "27%", "10%", "11%", "10%", "11%"])
    gr.Markdown("The five versions (the generated pictures are 32 pixels wide, enlarged):")
    gallery = gr.Gallery(label="The five versions", show_label=False, columns=5, height=230, object_fit="contain",
                         format="png")
    run.click(fake_ui, inputs=[prompt, seed], outputs=[gallery, table, note], api_name="ethics_deepfake",
              concurrency_id=IMAGES_QUEUE, concurrency_limit=1)

