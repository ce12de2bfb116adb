"""The emoji data set: about 1,900 Google Noto emoji images with their names as captions.

Source: the npm package ``emoji-datasource-google`` version 16.0.0 (iamcal/emoji-data), downloaded from the
npm registry as one tarball (checked against the registry's SHA-1) and read without unpacking. Its
``emoji.json`` gives each emoji's name, short names and category; ``img/google/64/`` holds the 64 px PNGs.
The images are Google's Noto Color Emoji, licensed Apache-2.0; the package's code and metadata are MIT.
Skin-tone variants are nested in each entry's ``skin_variations`` and are left out; the five "Component"
entries (skin-tone swatches and hair pieces) are dropped, leaving 1,906 images.

Reproduce the raw download by hand::

    npm pack emoji-datasource-google@16.0.0      # or: curl -O <the URL in NPM_TARBALL_URL>

Usage (the public API; ``train/images.py`` and the tiny CLIP of topic 9 import it)::

    from train.emoji_data import load_emoji_dataset, held_out_split
    ds = load_emoji_dataset(32)          # ds.images: uint8 (N, 32, 32, 3), alpha composited on white
    train_idx, test_idx = held_out_split(len(ds.images))

``python -m train.emoji_data`` builds the cache and prints a summary.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

NPM_PACKAGE = "emoji-datasource-google"
NPM_VERSION = "16.0.0"
NPM_TARBALL_URL = f"https://registry.npmjs.org/{NPM_PACKAGE}/-/{NPM_PACKAGE}-{NPM_VERSION}.tgz"
NPM_TARBALL_SHA1 = "a80ac3e8106cbd4d8648ce758aa099e8827b6157"  # the registry's dist.shasum
SOURCE_SIZE = 64  # px, the PNGs used from the package
DROPPED_CATEGORIES = frozenset({"Component"})
CACHE_FORMAT = 1  # bump when the cached arrays or captions change


@dataclass
class EmojiDataset:
    """Emoji images and their captions, index-aligned.

    Attributes:
        images: uint8 array (N, size, size, 3), RGB, the emoji's alpha composited on white.
        names: N lower-case names, e.g. ``"smiling cat face with heart-shaped eyes"``.
        captions: N lists of caption variants for augmentation (name, short names, "an emoji of ...",
            "<name>, <category>"); the first is always the name.
        categories: N categories, e.g. ``"Animals & Nature"``.
        subcategories: N subcategories, e.g. ``"animal-mammal"``.
        codepoints: N unified code points, e.g. ``"1F63B"``.
    """

    images: np.ndarray
    names: list[str]
    captions: list[list[str]]
    categories: list[str]
    subcategories: list[str] = field(default_factory=list)
    codepoints: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.names)


def cache_dir() -> Path:
    """The folder holding the tarball and the built arrays: ``$CM_CACHE_DIR/emoji`` or
    ``~/.cache/creative-machines/emoji``."""
    root = os.environ.get("CM_CACHE_DIR") or Path.home() / ".cache" / "creative-machines"
    return Path(root) / "emoji"


def download_tarball(folder: Path | None = None) -> Path:
    """Download the npm tarball once (about 74 MB) and check its SHA-1; return its path."""
    folder = folder or cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{NPM_PACKAGE}-{NPM_VERSION}.tgz"
    if path.exists() and _sha1(path) == NPM_TARBALL_SHA1:
        return path
    tmp = path.with_suffix(".part")
    with urllib.request.urlopen(NPM_TARBALL_URL, timeout=120) as response, open(tmp, "wb") as out:
        while chunk := response.read(1 << 20):
            out.write(chunk)
    if _sha1(tmp) != NPM_TARBALL_SHA1:
        tmp.unlink()
        raise ValueError(f"The downloaded {NPM_PACKAGE} tarball does not match the npm registry's checksum.")
    tmp.replace(path)
    return path


def _sha1(path: Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _clean(text: str) -> str:
    return " ".join(text.replace("_", " ").replace(":", ",").replace("\u201c", "").replace("\u201d", "").split())


def make_captions(name: str, short_names: list[str], category: str) -> list[str]:
    """Caption variants for one emoji: its name first, then short names, "an emoji of ...", "<name>, <category>".

    Flags ("Canada Flag") also get "flag of canada"; the flags' short names ("flag-ca") are codes and are dropped.
    """
    name = _clean(name).lower()
    variants = [name]
    if category == "Flags" and name.endswith(" flag"):
        variants.append(f"flag of {name[: -len(' flag')]}")
    for short in short_names:
        if category == "Flags" and short.startswith("flag-"):
            continue
        variants.append(_clean(short.replace("-", " ")).lower())
    variants.append(f"an emoji of {name}")
    variants.append(f"{name}, {category.lower()}")
    seen: dict[str, None] = {}
    for v in variants:
        seen.setdefault(v, None)
    return list(seen)


def _composite_on_white(png: bytes, size: int) -> np.ndarray:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGBA")
    white = Image.new("RGBA", image.size, (255, 255, 255, 255))
    rgb = Image.alpha_composite(white, image).convert("RGB")
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.LANCZOS if size > 16 else Image.Resampling.BOX)
    return np.asarray(rgb, dtype=np.uint8)


def _build(size: int, tarball: Path) -> EmojiDataset:
    with tarfile.open(tarball, "r:gz") as tar:
        members = {m.name: m for m in tar.getmembers()}
        entries = json.load(tar.extractfile(members["package/emoji.json"]))
        entries = sorted(entries, key=lambda e: e["sort_order"])
        images, names, captions, categories, subcategories, codes = [], [], [], [], [], []
        for e in entries:
            if e["category"] in DROPPED_CATEGORIES or not e.get("has_img_google"):
                continue
            member = members.get(f"package/img/google/{SOURCE_SIZE}/{e['image']}")
            if member is None:
                continue
            images.append(_composite_on_white(tar.extractfile(member).read(), size))
            variants = make_captions(e["name"], e.get("short_names") or [], e["category"])
            names.append(variants[0])
            captions.append(variants)
            categories.append(e["category"])
            subcategories.append(e.get("subcategory") or "")
            codes.append(e["unified"])
    return EmojiDataset(np.stack(images), names, captions, categories, subcategories, codes)


def load_emoji_dataset(size: int = 32) -> EmojiDataset:
    """Load the emoji data set at ``size`` x ``size`` pixels, building and caching it on first use.

    The first call downloads the npm tarball (about 74 MB, once) and decodes 1,906 PNGs (a few seconds);
    later calls read ``emoji_<size>.npz`` and ``meta.json`` from :func:`cache_dir` (milliseconds).

    Args:
        size: side in pixels, 8 to 64 (the source PNGs are 64 px; smaller sizes are Lanczos-downsampled).
    Returns:
        An :class:`EmojiDataset`; ``images`` is uint8 (N, size, size, 3), N = 1906.
    Raises:
        ValueError: for a size outside 8..64.
    """
    if not isinstance(size, int) or not 8 <= size <= SOURCE_SIZE:
        raise ValueError(f"The emoji size must be a whole number of pixels from 8 to {SOURCE_SIZE}, not {size!r}.")
    folder = cache_dir()
    array_path = folder / f"emoji_{size}_v{CACHE_FORMAT}.npz"
    meta_path = folder / f"meta_v{CACHE_FORMAT}.json"
    if array_path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        with np.load(array_path) as z:
            images = z["images"]
        return EmojiDataset(images, meta["names"], meta["captions"], meta["categories"],
                            meta["subcategories"], meta["codepoints"])
    ds = _build(size, download_tarball(folder))
    tmp = array_path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, images=ds.images)
    tmp.replace(array_path)
    meta = {"source": NPM_TARBALL_URL, "names": ds.names, "captions": ds.captions, "categories": ds.categories,
            "subcategories": ds.subcategories, "codepoints": ds.codepoints}
    tmp_meta = meta_path.with_suffix(".tmp")
    tmp_meta.write_text(json.dumps(meta))
    tmp_meta.replace(meta_path)
    return ds


def held_out_split(n: int, seed: int = 0, fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """A deterministic train/test split of ``range(n)``.

    Returns:
        ``(train_idx, test_idx)``: sorted int64 arrays, disjoint, covering ``range(n)``; the test part has
        ``round(n * fraction)`` indices (at least 1 when ``n > 1`` and ``fraction > 0``).
    Raises:
        ValueError: when ``n < 1`` or ``fraction`` is outside [0, 1).
    """
    if n < 1:
        raise ValueError(f"Need at least one item to split, got n={n}.")
    if not 0 <= fraction < 1:
        raise ValueError(f"The held-out fraction must be in [0, 1), got {fraction}.")
    k = int(round(n * fraction))
    if fraction > 0 and n > 1:
        k = max(k, 1)
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[k:]).astype(np.int64), np.sort(order[:k]).astype(np.int64)


if __name__ == "__main__":
    import time

    t0 = time.perf_counter()
    data = load_emoji_dataset(32)
    print(f"{len(data)} emoji, images {data.images.shape} {data.images.dtype}, {time.perf_counter() - t0:.1f} s")
    for i in (0, 100, 1000, len(data) - 1):
        print(data.categories[i], "|", " | ".join(data.captions[i]))
