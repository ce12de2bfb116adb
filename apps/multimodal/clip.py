"""A tiny CLIP: emoji images and their captions in one embedding space (Radford et al. 2021).

CLIP trains an image encoder and a text encoder so that a picture and its caption land on nearby unit
vectors. Here the text encoder is all-MiniLM-L6-v2 (Reimers & Gurevych 2019), *frozen*: its 384-d
sentence vectors get a learned linear projection, and only a small convolutional image encoder learns to
meet them (the mirror image of Zhai et al. 2022's "locked-image tuning"). The loss is CLIP's symmetric
InfoNCE with a learned temperature. ``train/tiny_clip.py`` trains it on the emoji of topic 5.

The weights folder (``weights/tiny-clip-emoji``) holds the model (``model.safetensors`` + ``config.json``)
and a *gallery*: every emoji as a 256-colour PNG atlas, their names, and both embeddings precomputed
(``gallery.safetensors``), so search and captioning work offline without the training data.

Model-side only (torch, no gradio): the model, its reader for the loader, search, captioning, the map.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from shared import limits

IMAGE_SIZE = 32  # px: the model sees every image at 32 x 32, like topic 5's emoji
MODEL_ID = "tiny-clip-emoji"  # catalog id and folder name under weights/
GALLERY_ATLAS = "gallery.png"
GALLERY_META = "gallery.json"
GALLERY_EMBEDDINGS = "gallery.safetensors"


@dataclass
class TinyCLIPConfig:
    """Sizes of the tiny CLIP. ``channels`` are the image encoder's stages (each halves the resolution)."""

    image_size: int = IMAGE_SIZE
    channels: tuple[int, ...] = (32, 64, 128, 192)
    text_dim: int = 384  # all-MiniLM-L6-v2's sentence vectors
    embed_dim: int = 128  # the shared space
    logit_scale_init: float = math.log(1 / 0.07)  # CLIP's initial temperature 0.07
    logit_scale_max: float = math.log(100.0)  # CLIP clips the scale at 100
    text_model: str = "all-MiniLM-L6-v2"

    @classmethod
    def from_dict(cls, values: dict) -> TinyCLIPConfig:
        known = {f for f in cls.__dataclass_fields__}
        values = {k: (tuple(v) if k == "channels" else v) for k, v in values.items() if k in known}
        return cls(**values)


class TinyCLIP(nn.Module):
    """An image encoder and a projection of frozen sentence vectors into one ``embed_dim`` space.

    ``encode_image``: float32 ``(B, 3, H, W)`` in [-1, 1] -> unit vectors ``(B, embed_dim)``.
    ``encode_text``: float32 ``(B, 384)`` MiniLM sentence vectors -> unit vectors ``(B, embed_dim)``.
    ``forward`` returns the ``(B, B)`` logits ``s_ij = exp(t) u_i . v_j`` of CLIP's loss.
    """

    def __init__(self, config: TinyCLIPConfig):
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        c_in = 3
        for i, c in enumerate(config.channels):
            layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.GELU()]
            if i < len(config.channels) - 1:
                layers.append(nn.MaxPool2d(2))  # 32 -> 16 -> 8 -> 4
            c_in = c
        self.image_encoder = nn.Sequential(*layers)
        self.image_projection = nn.Linear(c_in, config.embed_dim, bias=False)
        self.text_projection = nn.Linear(config.text_dim, config.embed_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(config.logit_scale_init))

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        features = self.image_encoder(pixels).mean(dim=(2, 3))  # (B, C): global average pool
        return F.normalize(self.image_projection(features), dim=-1)  # (B, D)

    def encode_text(self, sentence_vectors: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text_projection(sentence_vectors), dim=-1)  # (B, D)

    def forward(self, pixels: torch.Tensor, sentence_vectors: torch.Tensor) -> torch.Tensor:
        u, v = self.encode_image(pixels), self.encode_text(sentence_vectors)
        scale = self.logit_scale.clamp(max=self.config.logit_scale_max).exp()
        return scale * u @ v.T  # (B, B): image i against caption j


def clip_loss(logits: torch.Tensor) -> torch.Tensor:
    """CLIP's symmetric InfoNCE (Radford et al. 2021, fig. 3): each image picks its caption, each caption its image."""
    targets = torch.arange(logits.shape[0], device=logits.device)
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2


def to_pixels(images: np.ndarray) -> torch.Tensor:
    """uint8 ``(B, H, W, 3)`` RGB -> float32 ``(B, 3, H, W)`` in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


@torch.inference_mode()
def sentence_vectors(embedder, texts: list[str]) -> torch.Tensor:
    """all-MiniLM-L6-v2 sentence vectors, as sentence-transformers computes them: mean of the token
    vectors over the attention mask, then L2-normalised.

    Args:
        embedder: a loader ``Bundle`` of the sentence-embedding model (``catalog.EMBEDDED_EMBEDDER``).
        texts: sentences; each is truncated to the model's 256 tokens.
    Returns:
        float32 ``(len(texts), 384)`` unit vectors on the CPU.
    """
    out = []
    for start in range(0, len(texts), 256):
        batch = embedder.tokenizer(texts[start:start + 256], padding=True, truncation=True, max_length=256,
                                   return_tensors="pt").to(embedder.device)
        hidden = embedder.model(**batch).last_hidden_state.float()  # (B, T, 384)
        mask = batch["attention_mask"].unsqueeze(-1).float()  # (B, T, 1)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        out.append(F.normalize(pooled, dim=-1).cpu())
    return torch.cat(out)


# ---------------------------------------------------------------------------------------------
# The saved model and its gallery
# ---------------------------------------------------------------------------------------------

@dataclass
class Gallery:
    """Every emoji the model knows, with both embeddings precomputed.

    Attributes:
        images: uint8 ``(N, 32, 32, 3)`` (from the 256-colour atlas: for display).
        names: N captions (the emoji's names, e.g. ``"smiling cat face with heart-shaped eyes"``).
        categories: N categories.
        held_out: bool ``(N,)``: True for emoji never seen in training (the zero-shot test set).
        image_embeddings: float32 ``(N, D)`` unit vectors of the original images.
        text_embeddings: float32 ``(N, D)`` unit vectors of the names.
    """

    images: np.ndarray
    names: list[str]
    categories: list[str]
    held_out: np.ndarray
    image_embeddings: torch.Tensor
    text_embeddings: torch.Tensor


@dataclass
class ClipModel:
    """What ``read_clip`` returns as the loader bundle's model: the network and its gallery."""

    net: TinyCLIP
    gallery: Gallery
    card: dict = field(default_factory=dict)  # figures from the model card's config (held-out accuracy, ...)

    @property
    def components(self) -> dict[str, nn.Module]:
        """The torch modules, for the loader's memory count (as a diffusers pipeline lists them)."""
        return {"net": self.net}


def atlas_from_images(images: np.ndarray, columns: int = 64) -> np.ndarray:
    """Tile uint8 ``(N, S, S, 3)`` images into one ``(rows*S, columns*S, 3)`` picture, row-major, white padding."""
    n, s = images.shape[0], images.shape[1]
    rows = -(-n // columns)
    atlas = np.full((rows * s, columns * s, 3), 255, np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        atlas[r * s:(r + 1) * s, c * s:(c + 1) * s] = image
    return atlas


def images_from_atlas(atlas: np.ndarray, n: int, size: int = IMAGE_SIZE) -> np.ndarray:
    """The inverse of :func:`atlas_from_images`: uint8 ``(n, size, size, 3)``."""
    columns = atlas.shape[1] // size
    return np.stack([atlas[(i // columns) * size:(i // columns + 1) * size, (i % columns) * size:(i % columns + 1) * size]
                     for i in range(n)])


def save_clip(folder: Path, net: TinyCLIP, gallery: Gallery, card: dict) -> None:
    """Write the model and its gallery as ``read_clip`` reads them (safetensors, JSON and a PNG; nothing pickled)."""
    from PIL import Image
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    save_file(state, folder / "model.safetensors")
    (folder / "config.json").write_text(json.dumps({**asdict(net.config), **card}, indent=2) + "\n")
    atlas = Image.fromarray(atlas_from_images(gallery.images)).quantize(256, method=Image.Quantize.MEDIANCUT)
    atlas.save(folder / GALLERY_ATLAS, optimize=True)
    meta = {"names": gallery.names, "categories": gallery.categories,
            "held_out": np.flatnonzero(gallery.held_out).tolist(), "image_size": IMAGE_SIZE}
    (folder / GALLERY_META).write_text(json.dumps(meta) + "\n")
    save_file({"image_embeddings": gallery.image_embeddings.half().contiguous(),
               "text_embeddings": gallery.text_embeddings.half().contiguous()}, folder / GALLERY_EMBEDDINGS)


def read_clip(source, *, dtype=torch.float32, device="cpu", local_only=True, revision=None, report=None):
    """The loader's reader for the tiny CLIP (``ModelSpec.reader = "apps.multimodal:read_clip"``).

    Args:
        source: the weights folder (``weights/tiny-clip-emoji``); this model is project-trained, never on the hub.
    Returns:
        ``(ClipModel, None)``: the network in eval mode on ``device``, and its gallery.
    Raises:
        OSError: a file of the folder is missing.
    """
    from PIL import Image
    from safetensors.torch import load_file

    folder = Path(source)
    if report:
        report(0.3, "Reading the tiny CLIP and its emoji gallery")
    values = json.loads((folder / "config.json").read_text())
    config = TinyCLIPConfig.from_dict(values)
    net = TinyCLIP(config)
    net.load_state_dict(load_file(folder / "model.safetensors"), strict=False)  # BatchNorm counters are not saved
    net.eval().to(device=device, dtype=dtype)
    meta = json.loads((folder / GALLERY_META).read_text())
    n = len(meta["names"])
    with Image.open(folder / GALLERY_ATLAS) as atlas:
        images = images_from_atlas(np.asarray(atlas.convert("RGB")), n, meta["image_size"])
    embeddings = load_file(folder / GALLERY_EMBEDDINGS)
    held_out = np.zeros(n, dtype=bool)
    held_out[meta["held_out"]] = True
    gallery = Gallery(images, meta["names"], meta["categories"], held_out,
                      embeddings["image_embeddings"].float(), embeddings["text_embeddings"].float())
    card = {k: v for k, v in values.items() if k not in config.__dataclass_fields__}
    return ClipModel(net, gallery, card), None


# ---------------------------------------------------------------------------------------------
# What the demo does with it
# ---------------------------------------------------------------------------------------------

def prepare_image(image) -> np.ndarray:
    """Any picture -> the model's view of it: uint8 ``(32, 32, 3)`` RGB.

    Accepts a file path, a PIL image, an image editor's value (``{"composite": ...}``), or a numpy array
    ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)`` (uint8, or float in [0, 1]).
    Transparent pixels become white (the emoji were composited on white). The picture is padded to a square
    with white, then resized.

    Raises:
        ValueError: no picture, an empty one, or one over ``limits.MM_IMAGE_MAX_PIXELS`` pixels.
    """
    from PIL import Image

    if image is None:
        raise ValueError("Give a picture first: upload one, draw one, or generate one.")
    if isinstance(image, dict):  # an image editor's value: what is on the canvas
        image = image.get("composite")
        if image is None or not np.asarray(image).size:
            raise ValueError("The canvas is empty: draw something first.")
    if isinstance(image, (str, Path)):
        image = open_picture(image)
    if isinstance(image, Image.Image):
        pil = image
    else:
        array = np.asarray(image)
        if array.ndim not in (2, 3) or array.size == 0 or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
            raise ValueError(f"That is not a picture: expected height x width x colour, got shape {array.shape}.")
        if array.dtype != np.uint8:
            array = (np.clip(array.astype(np.float32), 0, 1) * 255).round().astype(np.uint8) if array.max() <= 1 \
                else np.clip(array, 0, 255).astype(np.uint8)
        pil = Image.fromarray(array.squeeze(-1) if array.ndim == 3 and array.shape[2] == 1 else array)
    w, h = pil.size
    if w * h == 0:
        raise ValueError("The picture is empty (0 pixels).")
    if w * h > limits.MM_IMAGE_MAX_PIXELS:
        raise ValueError(f"The picture is {w} x {h} pixels; the limit is {limits.MM_IMAGE_MAX_PIXELS:,} pixels. "
                         "Use a smaller one.")
    try:
        rgba = pil.convert("RGBA")
    except OSError as e:  # a truncated or corrupt file fails only when decoded
        raise ValueError(f"The picture could not be decoded ({e}).") from e
    if _blank(rgba):
        raise ValueError("The picture is blank (all transparent or all white): draw or upload something.")
    side = max(w, h)
    square = Image.new("RGBA", (side, side), (255, 255, 255, 255))
    square.alpha_composite(rgba, ((side - w) // 2, (side - h) // 2))
    small = square.convert("RGB").resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)
    return np.asarray(small, dtype=np.uint8)


def open_picture(path: str | Path):
    """Open an uploaded file as a picture without decoding it yet (its size is checked first).

    Raises:
        ValueError: the file is not a picture Pillow can read, or it is absurdly large.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        picture = Image.open(path)
    except UnidentifiedImageError as e:
        raise ValueError(f"'{Path(path).name}' is not a picture (PNG, JPEG, WebP, GIF ...). Upload an image file.") from e
    except Image.DecompressionBombError as e:
        raise ValueError(f"'{Path(path).name}' is far too large to open safely. Use a smaller picture.") from e
    except OSError as e:
        raise ValueError(f"'{Path(path).name}' could not be read as a picture ({e}).") from e
    w, h = picture.size
    if w * h > limits.MM_IMAGE_MAX_PIXELS:
        raise ValueError(f"The picture is {w} x {h} pixels; the limit is {limits.MM_IMAGE_MAX_PIXELS:,} pixels. "
                         "Use a smaller one.")
    return picture


def _blank(rgba) -> bool:
    """Whether nothing is drawn: every pixel transparent, or every pixel white (an untouched canvas)."""
    (r_lo, _), (g_lo, _), (b_lo, _), (_, a_hi) = rgba.getextrema()
    return a_hi == 0 or min(r_lo, g_lo, b_lo) == 255


@torch.inference_mode()
def embed_images(clip: ClipModel, images: list) -> torch.Tensor:
    """Unit vectors ``(B, D)`` float32 of pictures (anything :func:`prepare_image` accepts)."""
    batch = np.stack([prepare_image(im) for im in images])
    param = next(clip.net.parameters())
    return clip.net.encode_image(to_pixels(batch).to(param.device, param.dtype)).float().cpu()


@torch.inference_mode()
def embed_texts(clip: ClipModel, embedder, texts: list[str]) -> torch.Tensor:
    """Unit vectors ``(B, D)`` float32 of texts: MiniLM sentence vectors through the learned text projection."""
    param = next(clip.net.parameters())
    return clip.net.encode_text(sentence_vectors(embedder, texts).to(param.device, param.dtype)).float().cpu()


def validate_query(text: str | None, what: str = "a description") -> str:
    """The text stripped, or ``ValueError`` when empty or over ``limits.MM_TEXT_MAX_CHARS``."""
    if text is None or not text.strip():
        raise ValueError(f"Type {what} first.")
    if len(text) > limits.MM_TEXT_MAX_CHARS:
        noun = what.split(" ", 1)[-1]  # "a question" -> "question"
        raise ValueError(f"The {noun} has {len(text):,} characters; the limit here is {limits.MM_TEXT_MAX_CHARS:,}. "
                         "Shorten it (nothing is cut off for you).")
    return text.strip()


@dataclass
class Match:
    """One search or caption result: a gallery item and its cosine similarity in the shared space."""

    index: int
    name: str
    similarity: float
    held_out: bool
    probability: float  # softmax of the scaled similarities over the whole gallery, as CLIP's zero-shot classifier


def search_images(clip: ClipModel, embedder, query: str, k: int = 8) -> list[Match]:
    """The ``k`` gallery emoji whose image embeddings are closest (cosine) to the text ``query``.

    Raises:
        ValueError: empty or over-long query, or ``k`` outside 1..``limits.MM_TOP_K_MAX``.
    """
    from shared.checks import as_int

    k = as_int("Number of results", k, 1, limits.MM_TOP_K_MAX)
    v = embed_texts(clip, embedder, [validate_query(query)])[0]  # (D,)
    return _top(clip, clip.gallery.image_embeddings @ v, k)


def caption_image(clip: ClipModel, image, k: int = 5) -> list[Match]:
    """The ``k`` gallery names whose text embeddings are closest to the picture: CLIP's zero-shot captioning.

    Raises:
        ValueError: see :func:`prepare_image`; ``k`` outside 1..``limits.MM_TOP_K_MAX``.
    """
    from shared.checks import as_int

    k = as_int("Number of captions", k, 1, limits.MM_TOP_K_MAX)
    u = embed_images(clip, [image])[0]
    return _top(clip, clip.gallery.text_embeddings @ u, k)


def _top(clip: ClipModel, similarities: torch.Tensor, k: int) -> list[Match]:
    g = clip.gallery
    with torch.no_grad():
        scale = float(clip.net.logit_scale.clamp(max=clip.net.config.logit_scale_max).exp())
    probabilities = torch.softmax(scale * similarities, dim=0)
    scores, order = similarities.topk(k)
    return [Match(int(i), g.names[int(i)], float(s), bool(g.held_out[int(i)]), float(probabilities[i]))
            for s, i in zip(scores, order)]


@torch.inference_mode()
def zero_shot_accuracy(clip: ClipModel, indices: np.ndarray, ks: tuple[int, ...] = (1, 5)) -> dict[int, float]:
    """Top-k accuracy of naming each emoji in ``indices`` among the names of ``indices`` only.

    With the held-out emoji this is zero-shot: neither those images nor those names were trained on.
    Chance is ``k / len(indices)``.
    """
    g = clip.gallery
    idx = torch.as_tensor(np.asarray(indices))
    sims = g.image_embeddings[idx] @ g.text_embeddings[idx].T  # (n, n): image i against name j
    ranks = (sims > sims.diagonal()[:, None]).sum(1)  # how many wrong names beat the right one
    return {k: float((ranks < k).float().mean()) for k in ks}


def embedding_map(clip: ClipModel, points_per_modality: int = 150, extra_texts: torch.Tensor | None = None,
                  extra_images: torch.Tensor | None = None, seed: int = 0):
    """Project the shared space to 2-D with PCA fitted on gallery images and names together.

    Returns:
        ``(sample, image_xy, text_xy, extra_text_xy, extra_image_xy)``: the sampled gallery indices and
        float ``(n, 2)`` coordinates of their images and names, then of the extra vectors (or ``None``).
    """
    from sklearn.decomposition import PCA

    g = clip.gallery
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(len(g.names), size=min(points_per_modality, len(g.names)), replace=False))
    pca = PCA(n_components=2, random_state=seed).fit(torch.cat([g.image_embeddings, g.text_embeddings]).numpy())

    def project(vectors):
        return None if vectors is None or len(vectors) == 0 else pca.transform(vectors.numpy())

    return (sample, project(g.image_embeddings[sample]), project(g.text_embeddings[sample]),
            project(extra_texts), project(extra_images))
