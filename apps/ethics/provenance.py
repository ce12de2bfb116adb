"""Image provenance: an invisible watermark in the pixels, and provenance metadata beside them.

**Invisible watermark.** ``invisible-watermark`` (the library Stable Diffusion's reference scripts use to mark their
outputs) hides a 32-bit message in an image in one of three ways:

- ``dwtDct``: a one-level Haar wavelet transform (DWT) of a colour channel, then each 4x4 block's largest
  coefficient is quantised so that its remainder encodes one bit (Stable Diffusion's default; fast, fragile);
- ``dwtDctSvd``: the same DWT, then each block's discrete cosine transform (DCT) and the largest singular value of
  it carry the bit (more robust to JPEG);
- ``rivaGan``: a small neural encoder and decoder trained to survive compression and cropping (Zhang et al. 2019,
  "Robust Invisible Video Watermarking with Attention"), run with onnxruntime.

The table puts each method through JPEG compression, resizing and cropping: bit accuracy near 100% means the
message survived; near 50% is chance (the watermark is gone).

**Provenance metadata.** PNG files carry text chunks (``tEXt``/``iTXt``): who made the image, with what, and the
IPTC "digital source type" that marks AI-generated media. Pillow writes them with ``PngInfo``. They cost nothing to
write and nothing to strip: re-saving as JPEG or taking a screenshot drops them, and anyone can forge them. C2PA
(the lesson) adds a cryptographic signature over the content's hash, so tampering is detectable, but stripping is not.
"""
from __future__ import annotations

import hashlib
import io
import tempfile
import time
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from apps.ethics.common import IMAGE_CONCURRENCY_ID
from shared import limits
from shared.ui import friendly_errors, warn

METHODS = {
    "dwtDct": "DWT + quantised block coefficient (Stable Diffusion's default)",
    "dwtDctSvd": "DWT + DCT + SVD",
    "rivaGan": "RivaGAN, a learned watermark (slower)",
}
DEFAULT_METHOD = "dwtDctSvd"
DEFAULT_MESSAGE = "CM08"
MIN_PIXELS = 256 * 256  # invisible-watermark refuses smaller images
MAX_DECODED_PIXELS = 40_000_000  # refused before decoding: a small file can unpack into gigabytes
FOUND_AT = 0.9  # bit accuracy from which the message counts as recovered (29 of 32 bits by chance: p < 1e-5)
SOURCE_TYPE_AI = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
DEFAULT_FIELDS = (
    "Title: Evening over the temple\n"
    "Creator: A Creative Machines learner\n"
    "Software: Creative Machines, topic 8\n"
    f"DigitalSourceType: {SOURCE_TYPE_AI}"
)
PIXEL_HASH_KEY = "PixelSHA256"
EXPORTS_KEPT = 12
EXPORT_DIR = Path(tempfile.gettempdir()) / "creative-machines-ethics"


def default_image() -> np.ndarray:
    """scikit-learn's sample photo ``china.jpg`` (a temple, 640 x 427; CC-BY, shipped with scikit-learn): ``(H, W, 3)`` uint8."""
    from sklearn.datasets import load_sample_image

    return load_sample_image("china.jpg")


def load_image(path: str | Path | None) -> tuple[np.ndarray, str | None]:
    """Read an uploaded picture as RGB ``(H, W, 3)`` uint8, shrunk to ``limits.PROVENANCE_MAX_SIDE_PX``.

    Returns ``(rgb, notice)``; ``notice`` says what was changed (shrunk), else ``None``. ``None`` gives the sample photo.

    Raises:
        ValueError: the file is not an image Pillow can read, is a decompression bomb, or is too small.
    """
    if path is None:
        return default_image(), None
    try:
        with Image.open(path) as im:
            if im.width * im.height > MAX_DECODED_PIXELS:
                raise ValueError(f"The image is {im.width}x{im.height} pixels; upload one under "
                                 f"{MAX_DECODED_PIXELS // 10**6} megapixels.")
            im.load()
            image = im.convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:
        raise ValueError(f"{Path(path).name} is not an image this demo can read: upload a PNG, JPEG or WebP file.") from e
    notice = None
    if max(image.size) > limits.PROVENANCE_MAX_SIDE_PX:
        before = image.size
        image.thumbnail((limits.PROVENANCE_MAX_SIDE_PX, limits.PROVENANCE_MAX_SIDE_PX), Image.LANCZOS)
        notice = f"The image was shrunk from {before[0]}x{before[1]} to {image.size[0]}x{image.size[1]} pixels first."
    if image.size[0] * image.size[1] < MIN_PIXELS:
        raise ValueError(f"The image is {image.size[0]}x{image.size[1]} pixels; the watermark needs at least 256x256 pixels.")
    return np.asarray(image), notice


def message_bits(message: str | None) -> np.ndarray:
    """The 32 bits of a 4-character ASCII message, uint8 ``(32,)``.

    Raises:
        ValueError: the message is not exactly 4 printable ASCII characters.
    """
    n = limits.PROVENANCE_MESSAGE_CHARS
    if message is None or len(message) != n or not all(32 <= ord(c) < 127 for c in message):
        raise ValueError(f"The message must be exactly {n} plain characters (letters, digits, punctuation), e.g. 'CM08'.")
    return np.unpackbits(np.frombuffer(message.encode("ascii"), dtype=np.uint8))


def _check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"Method must be one of {', '.join(METHODS)}, not {method!r}.")
    return method


def embed_watermark(rgb: np.ndarray, message: str, method: str = DEFAULT_METHOD) -> np.ndarray:
    """Hide ``message`` (4 ASCII characters, 32 bits) in ``rgb`` ``(H, W, 3)`` uint8; returns the same shape.

    Raises:
        ValueError: bad message or method. ImportError: invisible-watermark (or, for rivaGan, onnxruntime) is missing.
    """
    from imwatermark import WatermarkEncoder

    bits = message_bits(message)
    encoder = WatermarkEncoder()
    if _check_method(method) == "rivaGan":
        WatermarkEncoder.loadModel()  # the two onnx networks, once per process
    encoder.set_watermark("bits", bits.tolist())
    bgr = encoder.encode(np.ascontiguousarray(rgb[:, :, ::-1]), method)  # the library works in OpenCV's BGR order
    return np.ascontiguousarray(bgr[:, :, ::-1])


def decode_bits(rgb: np.ndarray, method: str = DEFAULT_METHOD) -> np.ndarray:
    """The 32 bits read back from ``rgb`` ``(H, W, 3)`` uint8: uint8 ``(32,)``.

    Raises:
        ValueError: the image has fewer than 256 x 256 pixels (the decoder refuses it).
    """
    from imwatermark import WatermarkDecoder

    if rgb.shape[0] * rgb.shape[1] < MIN_PIXELS:
        raise ValueError("the decoder needs at least 256x256 pixels")
    if _check_method(method) == "rivaGan":
        WatermarkDecoder.loadModel()
    bits = WatermarkDecoder("bits", 32).decode(np.ascontiguousarray(rgb[:, :, ::-1]), method)
    return np.asarray(bits, dtype=np.uint8)


def bits_to_text(bits: np.ndarray) -> str:
    """The message the bits spell, with unprintable bytes shown as '·'."""
    return "".join(chr(b) if 32 <= b < 127 else "·" for b in np.packbits(bits))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB between two uint8 images (above ~40 dB the difference is invisible)."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def jpeg_bytes(rgb: np.ndarray, quality: int = 90) -> bytes:
    """The image re-saved as a JPEG, as a screenshot tool or a website's upload would do."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(jpeg_bytes(rgb, quality))).convert("RGB"))


def _resize(rgb: np.ndarray, scale: float, back: bool) -> np.ndarray:
    image = Image.fromarray(rgb)
    small = image.resize((round(image.width * scale), round(image.height * scale)), Image.BICUBIC)
    return np.asarray(small.resize(image.size, Image.BICUBIC) if back else small)


def _crop(rgb: np.ndarray, share: float) -> np.ndarray:
    h, w = rgb.shape[:2]
    dy, dx = round(h * share / 2), round(w * share / 2)
    return rgb[dy:h - dy, dx:w - dx]


ATTACKS = (
    ("none", "the watermarked image as it is", lambda x: x),
    ("JPEG quality 90", "saved as JPEG, mild compression", lambda x: _jpeg(x, 90)),
    ("JPEG quality 75", "a typical web JPEG", lambda x: _jpeg(x, 75)),
    ("JPEG quality 50", "strong compression", lambda x: _jpeg(x, 50)),
    ("resize to 50% and back", "shrunk, then enlarged to the original size", lambda x: _resize(x, 0.5, True)),
    ("resize to 75%", "shrunk and kept small", lambda x: _resize(x, 0.75, False)),
    ("crop 8 px", "8 pixels cut from the top and the left", lambda x: x[8:, 8:]),
    ("crop 10% border", "5% cut from every side", lambda x: _crop(x, 0.1)),
)


def robustness_table(marked: np.ndarray, message: str, method: str = DEFAULT_METHOD,
                     report=lambda f, m: None) -> pd.DataFrame:
    """Attack the watermarked image and read the message back after each attack.

    Returns:
        one row per attack: ``attack``, ``found?`` (bit accuracy >= 0.9), ``bit accuracy`` (share of the
        32 bits right), ``message read``, ``size``, ``what it does``.
    """
    want = message_bits(message)
    rows = []
    for i, (name, what, attack) in enumerate(ATTACKS):
        report(0.3 + 0.7 * i / len(ATTACKS), f"Attack: {name}")
        attacked = attack(marked)
        size = f"{attacked.shape[1]}x{attacked.shape[0]}"
        try:
            bits = decode_bits(attacked, method)
        except ValueError as e:
            rows.append({"attack": name, "found?": "no", "bit accuracy": None, "message read": f"({e})",
                         "size": size, "what it does": what})
            continue
        accuracy = float((bits == want).mean())
        rows.append({"attack": name, "found?": "yes" if accuracy >= FOUND_AT else "no",
                     "bit accuracy": round(accuracy, 3), "message read": bits_to_text(bits), "size": size,
                     "what it does": what})
    return pd.DataFrame(rows)


def pixel_hash(rgb: np.ndarray) -> str:
    """SHA-256 of the raw pixel values and shape: changes if any pixel changes (not signed: anyone can recompute it)."""
    return hashlib.sha256(f"{rgb.shape}".encode() + np.ascontiguousarray(rgb).tobytes()).hexdigest()


def parse_fields(text: str | None) -> dict[str, str]:
    """``Key: value`` lines to a dict. Keys are PNG chunk keywords: 1-79 Latin-1 characters.

    Raises:
        ValueError: a line without ``:``, a bad key, or more than ``limits.PNG_METADATA_MAX_CHARS`` characters.
    """
    text = text or ""
    if len(text) > limits.PNG_METADATA_MAX_CHARS:
        raise ValueError(f"The metadata has {len(text):,} characters; the limit is {limits.PNG_METADATA_MAX_CHARS:,}.")
    fields = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"Write each field as 'Key: value', not {line.strip()[:40]!r}.")
        if len(key) > 79 or not all(32 <= ord(c) < 256 for c in key):
            raise ValueError(f"A PNG key is 1-79 Latin-1 characters: {key[:40]!r} is not.")
        fields[key] = value.strip()
    return fields


def png_with_metadata(rgb: np.ndarray, fields: dict[str, str]) -> bytes:
    """A PNG of ``rgb`` whose ``iTXt`` chunks hold ``fields`` plus the pixels' SHA-256 (``PixelSHA256``)."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    for key, value in {**fields, PIXEL_HASH_KEY: pixel_hash(rgb)}.items():
        info.add_itxt(key, value)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


def read_metadata(data: bytes | str | Path) -> tuple[dict[str, str], str]:
    """The text metadata of an image file (PNG text chunks) and a line on its pixel hash.

    Returns ``(fields, check)`` where ``check`` says whether a stored ``PixelSHA256`` matches the pixels.

    Raises:
        ValueError: the data is not an image.
    """
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    try:
        with Image.open(source) as im:
            im.load()
            fields = {k: str(v) for k, v in getattr(im, "text", {}).items()}
            kind = im.format
            rgb = np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError("This file is not an image this demo can read: upload a PNG, JPEG or WebP file.") from e
    if not fields:
        return {}, f"No text metadata in this {kind} file: nothing says where it came from (which proves nothing)."
    stored = fields.get(PIXEL_HASH_KEY)
    if stored is None:
        check = "No pixel hash stored."
    elif stored == pixel_hash(rgb):
        check = ("The stored pixel hash matches: the pixels are unchanged since it was written "
                 "(but anyone could have rewritten both).")
    else:
        check = "The stored pixel hash does NOT match: the pixels were changed after the metadata was written."
    return fields, check


def _export(data: bytes, stem: str) -> str:
    """Write a download into the demo's temporary folder, keeping only the newest ``EXPORTS_KEPT`` files."""
    EXPORT_DIR.mkdir(parents=True, exist_ok=True)
    old = sorted(EXPORT_DIR.glob("*.png"), key=lambda p: p.stat().st_mtime)
    for path in old[:max(0, len(old) - EXPORTS_KEPT + 1)]:
        path.unlink(missing_ok=True)
    path = EXPORT_DIR / f"{stem}-{time.time_ns()}.png"
    path.write_bytes(data)
    return str(path)


# ---------------------------------------------------------------------------------------------
# The demo
# ---------------------------------------------------------------------------------------------

def _upload_path(upload) -> str | None:
    if upload is None:
        return None
    return upload if isinstance(upload, str) else getattr(upload, "path", None) or upload.get("path")


def _metadata_table(fields: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame([{"key": k, "value": v} for k, v in fields.items()], columns=["key", "value"])


@friendly_errors
def watermark_ui(upload, method, message, fields_text, progress=gr.Progress()):
    """Embed the watermark, attack it, and write a PNG with provenance metadata."""
    fields = parse_fields(fields_text)
    message_bits(message)
    _check_method(method)
    rgb, notice = load_image(_upload_path(upload))
    if notice:
        warn(notice)
    progress(0.05, desc=f"Embedding the watermark ({method})")
    try:
        marked = embed_watermark(rgb, message, method)
    except ImportError as e:  # OpenCV needs the system's libGL on Linux
        raise ValueError(f"The image watermark library cannot start here ({e}). Install it with `pip install "
                         "invisible-watermark`; on Debian or Ubuntu OpenCV also needs `apt-get install libgl1`.") from e
    difference = np.clip(np.abs(marked.astype(np.int16) - rgb.astype(np.int16)) * 20, 0, 255).astype(np.uint8)
    table = robustness_table(marked, message, method, lambda f, m: progress(f, desc=m))
    fields["Watermark"] = f"invisible-watermark {method}, 32 bits"
    png = png_with_metadata(marked, fields)
    read_back, check = read_metadata(png)
    jpeg_fields, _ = read_metadata(jpeg_bytes(marked))
    found = (table["found?"] == "yes").sum()
    summary = (f"PSNR {psnr(rgb, marked):.1f} dB (35-40 dB: hard to see; above 40 dB: invisible) · the message survived "
               f"**{found} of {len(table)}** attacks · the PNG carries {len(read_back)} metadata fields; re-saved as "
               f"JPEG it carries **{len(jpeg_fields)}**. {check}")
    return rgb, marked, difference, summary, table, _export(png, "watermarked"), _metadata_table(read_back)


@friendly_errors
def read_ui(upload):
    """Read the text metadata of an uploaded file (its original bytes, nothing re-encoded)."""
    path = _upload_path(upload)
    if path is None:
        raise ValueError("Upload an image first (for example the PNG this demo wrote).")
    fields, check = read_metadata(Path(path))
    return _metadata_table(fields), check


def build_provenance() -> None:
    """The image-provenance sub-tab."""
    gr.Markdown("Hide a 4-character message in a picture with **invisible-watermark** (the library Stable "
                "Diffusion's scripts use), then attack it. Without an upload, scikit-learn's sample photo is used.")
    with gr.Row(equal_height=False):
        with gr.Column():
            upload = gr.File(label=f"Your image (optional; PNG, JPEG or WebP, up to {limits.MAX_UPLOAD_SIZE})",
                             file_types=["image"], type="filepath")
            method = gr.Radio([(f"{k}: {v}", k) for k, v in METHODS.items()], value=DEFAULT_METHOD, label="Method")
            message = gr.Textbox(label="Message (exactly 4 characters = 32 bits)", value=DEFAULT_MESSAGE,
                                 max_length=limits.PROVENANCE_MESSAGE_CHARS)
            fields = gr.Textbox(label="Provenance metadata for the PNG (Key: value per line)", value=DEFAULT_FIELDS,
                                lines=4)
            run = gr.Button("Embed, attack, and write the PNG", variant="primary")
        with gr.Column():
            summary = gr.Markdown(elem_id="ethics-provenance-summary")
            table = gr.Dataframe(label="Does the message survive?", headers=["attack", "found?", "bit accuracy"],
                                 interactive=False, wrap=True)
    with gr.Row():
        original = gr.Image(label="Original", format="png", interactive=False)
        marked = gr.Image(label="Watermarked", format="png", interactive=False)
        difference = gr.Image(label="Difference × 20", format="png", interactive=False)
    with gr.Row(equal_height=False):
        download = gr.File(label="The watermarked PNG, with its metadata")
        metadata = gr.Dataframe(label="Metadata read back from that PNG", headers=["key", "value"], interactive=False,
                                    wrap=True)
    gr.Markdown("### Read the metadata of any image\nUpload a file above (for example the PNG just written, or the "
                "same picture after a screenshot) and read what it says about itself.")
    read = gr.Button("Read the uploaded file's metadata")
    read_check = gr.Markdown()
    read_table = gr.Dataframe(label="Text metadata in the file", headers=["key", "value"], interactive=False, wrap=True)

    run.click(watermark_ui, inputs=[upload, method, message, fields],
              outputs=[original, marked, difference, summary, table, download, metadata],
              api_name="ethics_image_watermark", concurrency_id=IMAGE_CONCURRENCY_ID, concurrency_limit=1)
    read.click(read_ui, inputs=[upload], outputs=[read_table, read_check], api_name="ethics_read_metadata")
