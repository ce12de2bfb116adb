"""Emoji in three styles with captions a person would write: the data of the second emoji diffusion model.

Every emoji subject of Google's Noto set (all categories: faces, people, animals, food, places, activities,
objects, symbols and flags; no skin-tone variants, no "Component" swatches) in up to three styles, each from
one npm tarball checked against the registry's SHA-1 and read without unpacking:

======================  =====================================  ==========================================
style                   npm package (pinned)                   licence of the images
======================  =====================================  ==========================================
``noto``                ``emoji-datasource-google`` 16.0.0      Apache-2.0 (Google Noto Color Emoji)
``twemoji``             ``emoji-datasource-twitter`` 16.0.0     CC-BY 4.0 (Twemoji; attribution required)
``fluent 3d``           ``@lobehub/fluent-emoji-3d`` 1.1.0      MIT (Microsoft Fluent Emoji, 256 px WebP)
======================  =====================================  ==========================================

The two emoji-datasource packages carry a LICENSE file (MIT for the package) and state the image licences in
their README; the lobehub package carries no LICENSE file, its ``package.json`` says MIT, as does Microsoft's
fluentui-emoji repository the images come from. Names, synonyms and colours come from ``emojibase-data``
17.0.0 (MIT): CLDR's English annotation ("green apple") and tags ("apple", "fruit", "green").

Captions are templates filled with a subject's names, the picture's dominant colour (measured, see
:func:`colour_name`) and its style words ("a picture of a green apple", "a green apple in 3D style").
Recoloured copies (hue turned so the dominant colour becomes another) teach colour words for subjects that
exist in one colour only. :data:`HELD_OUT_TEMPLATES` are never used in training; :func:`evaluation_prompts`
fills them for the evaluation.

Reproduce the downloads by hand::

    npm pack emoji-datasource-google@16.0.0 emoji-datasource-twitter@16.0.0 @lobehub/fluent-emoji-3d@1.1.0 \
        emojibase-data@17.0.0

``python -m train.emoji_styles --data-dir /work/emoji-run/npm`` downloads, builds and prints a summary.
"""
from __future__ import annotations

import argparse
import colorsys
import hashlib
import io
import json
import re
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class NpmTarball:
    """One pinned npm package: name, version and the registry's ``dist.shasum``."""

    package: str
    version: str
    sha1: str

    @property
    def url(self) -> str:
        return f"https://registry.npmjs.org/{self.package}/-/{self.package.split('/')[-1]}-{self.version}.tgz"

    @property
    def filename(self) -> str:
        return f"{self.package.split('/')[-1]}-{self.version}.tgz"


NOTO = NpmTarball("emoji-datasource-google", "16.0.0", "a80ac3e8106cbd4d8648ce758aa099e8827b6157")
TWEMOJI = NpmTarball("emoji-datasource-twitter", "16.0.0", "e2bd39a8acb77e158106f8249dd7b4cd93fa1b14")
FLUENT_3D = NpmTarball("@lobehub/fluent-emoji-3d", "1.1.0", "ff0679b2bbbf6100dd9709d8952498f08f364ac6")
EMOJIBASE = NpmTarball("emojibase-data", "17.0.0", "5816fba6395da6b567fbd54b029ca6b5de2d9255")
STYLES = ("noto", "twemoji", "fluent 3d")
STYLE_WORDS = {  # what a person might write to ask for each style
    "noto": ("google", "noto", "cartoon"),
    "twemoji": ("flat", "twitter", "simple"),
    "fluent 3d": ("3D", "glossy", "fluent"),
}
IMAGE_LICENCES = {
    "noto": "Google Noto Color Emoji, Apache-2.0 (npm emoji-datasource-google 16.0.0)",
    "twemoji": "Twemoji, Copyright Twitter, Inc. and other contributors, CC-BY 4.0 "
               "(https://creativecommons.org/licenses/by/4.0/; npm emoji-datasource-twitter 16.0.0)",
    "fluent 3d": "Microsoft Fluent Emoji, MIT (npm @lobehub/fluent-emoji-3d 1.1.0)",
}
DROPPED_CATEGORIES = frozenset({"Component"})
COLOURS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white", "grey")
CHROMATIC = ("red", "orange", "yellow", "green", "blue", "purple", "pink")
HUE_DEGREES = {"red": 0, "orange": 28, "yellow": 52, "green": 120, "blue": 215, "purple": 275, "pink": 320}
DOMINANT_FRACTION = 0.4  # a colour is named when it covers this share of the emoji's opaque pixels
CACHE_FORMAT = 2

TRAIN_TEMPLATES = (
    "{name}", "a {name}", "an emoji of a {name}", "a picture of a {name}", "a drawing of a {name}",
    "a {name} icon", "{name}, {tag}", "a {name} in {style} style", "a {style} {name}", "{style} emoji of a {name}",
    "a {colour} {name}", "a picture of a {colour} {name}", "a {name} in {colour}", "a {colour} {name} in {style} style",
)
HELD_OUT_TEMPLATES = (  # never seen in training: the evaluation's paraphrases
    "a photo of a {name}", "an illustration showing a {name}", "please draw a {name} for me",
    "a small image of a {colour} {name}", "i would like a {colour} {name}",
)


# --- downloads ---------------------------------------------------------------------------------------------
def fetch(tarball: NpmTarball, folder: Path) -> Path:
    """The tarball in ``folder``, downloaded from the npm registry once and checked against its SHA-1.

    Raises:
        ValueError: the download does not match the registry's checksum.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / tarball.filename
    if path.exists() and _sha1(path.read_bytes()) == tarball.sha1:
        return path
    with urllib.request.urlopen(tarball.url, timeout=300) as response:
        data = response.read()
    if _sha1(data) != tarball.sha1:
        raise ValueError(f"The downloaded {tarball.package} {tarball.version} does not match the npm checksum.")
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def hex_key(codepoints: str) -> str:
    """A code point sequence without variation selectors or leading zeros, upper case:
    ``"2764-fe0f"`` -> ``"2764"``, ``"0039-FE0F-20E3"`` -> ``"39-20E3"``."""
    return "-".join(f"{int(c, 16):X}" for c in codepoints.split("-") if c.upper() != "FE0F")


# --- colours -----------------------------------------------------------------------------------------------
def colour_name(r: float, g: float, b: float) -> str:
    """The basic colour word for one RGB colour (channels in [0, 1]), one of :data:`COLOURS`."""
    h, s, v = colorsys.rgb_to_hsv(r, g, b)
    if v < 0.2:
        return "black"
    if s < 0.2:
        return "white" if v > 0.85 else "grey"
    degrees = h * 360
    if degrees < 12 or degrees >= 340:
        return "red" if v > 0.45 else "brown"
    if degrees < 42:
        return "orange" if v > 0.65 else "brown"
    if degrees < 70:
        return "yellow"
    if degrees < 170:
        return "green"
    if degrees < 255:
        return "blue"
    if degrees < 295:
        return "purple"
    return "pink"


def dominant_colour(rgba: np.ndarray) -> str | None:
    """The colour word covering at least :data:`DOMINANT_FRACTION` of an emoji's opaque pixels, else None.

    Args:
        rgba: uint8 (H, W, 4), before compositing on white (so the background is not counted).
    """
    opaque = rgba[..., 3] > 128
    if opaque.sum() == 0:
        return None
    pixels = rgba[opaque][:, :3].astype(np.float32) / 255.0
    counts: dict[str, int] = {}
    for r, g, b in pixels[:: max(1, len(pixels) // 400)]:
        name = colour_name(float(r), float(g), float(b))
        counts[name] = counts.get(name, 0) + 1
    name, count = max(counts.items(), key=lambda kv: kv[1])
    return name if count >= DOMINANT_FRACTION * sum(counts.values()) else None


def recolour(rgba: np.ndarray, source: str, target: str) -> np.ndarray:
    """Turn the hue of every pixel so that colour ``source`` becomes ``target`` (both in :data:`CHROMATIC`);
    saturation, brightness and alpha are kept. Returns uint8 (H, W, 4)."""
    from PIL import Image

    shift = (HUE_DEGREES[target] - HUE_DEGREES[source]) % 360
    rgb = Image.fromarray(np.ascontiguousarray(rgba[..., :3])).convert("HSV")
    hsv = np.asarray(rgb).copy()
    hsv[..., 0] = (hsv[..., 0].astype(np.int32) + round(shift * 256 / 360)) % 256
    out = np.asarray(Image.fromarray(hsv, "HSV").convert("RGB"))
    return np.concatenate([out, rgba[..., 3:4]], axis=-1)


# --- captions ----------------------------------------------------------------------------------------------
def subject_names(label: str, datasource_name: str, short_names: list[str]) -> list[str]:
    """Up to three lower-case names of a subject: CLDR's annotation first ("flag: Canada" becomes
    "flag of canada"), then the Unicode name and a short name, without duplicates or country codes."""
    names = []
    for text in [label, datasource_name, *short_names]:
        text = text.lower().replace("_", " ").replace("\u201c", "").replace("\u201d", "")
        if text.startswith("flag-") or re.fullmatch(r"[a-z]{2}", text):
            continue
        text = re.sub(r"^flag: (.*)$", r"flag of \1", text)
        text = " ".join(text.replace("-", " ").replace(":", ",").split())
        if text and text not in names:
            names.append(text)
    return names[:3]


def article(phrase: str) -> str:
    """``"a "`` or ``"an "`` for a phrase, ``"the "`` before "flag of ...", or nothing where an article reads
    wrongly (plurals, numbers)."""
    first = phrase.split()[0] if phrase else ""
    if phrase.startswith("flag of "):
        return "the "
    if not first or first.isdigit() or first in ("two", "people", "family") or re.fullmatch(r"\w+[^su]s", first):
        return ""
    return "an " if first[0] in "aeiou" else "a "


def fill(template: str, name: str, colour: str | None, style: str, tag: str | None) -> str | None:
    """One caption from a template, or None when the template needs a colour or a tag the picture lacks.

    The article is fixed to the phrase that follows it ("a {colour} {name}" with orange -> "an orange ...");
    a name that already holds the colour word ("green apple") is not coloured twice.
    """
    if "{colour}" in template:
        if colour is None:
            return None
        if colour in name.split():
            template = template.replace("{colour} ", "").replace(" in {colour}", "")
    if "{tag}" in template and not tag:
        return None
    text = template.format(name=name, colour=colour, style=style, tag=tag)
    text = re.sub(r"\ban? (?=(\S+))", lambda m: article(text[m.end():]) or "", text)
    return " ".join(text.split())


def captions_for(names: list[str], colour: str | None, style: str, tags: list[str],
                 templates=TRAIN_TEMPLATES) -> list[str]:
    """Every caption the templates give for one picture (names x templates x style words), without duplicates."""
    out: dict[str, None] = {}
    useful_tags = [t for t in tags if re.fullmatch(r"[a-z][a-z ]{2,}", t) and t not in ("face", "flag", "emotion")
                   and all(t not in n.split() for n in names)]
    for name in names:
        for template in templates:
            for word in STYLE_WORDS[style] if "{style}" in template else (None,):
                tag = useful_tags[len(out) % len(useful_tags)] if useful_tags else None
                text = fill(template, name, colour, word or "", tag)
                if text:
                    out.setdefault(text, None)
    return list(out)


def recoloured_names(names: list[str], source: str, target: str) -> list[str]:
    """Names for a recoloured picture: the old colour word swapped for the new ("green apple" -> "blue apple")."""
    return [" ".join(target if w == source else w for w in n.split()) for n in names]


def evaluation_prompts(names: list[str], colour: str | None) -> list[str]:
    """The held-out paraphrases of one subject: :data:`HELD_OUT_TEMPLATES` filled with its first name."""
    return [t for t in (fill(template, names[0], colour, "", None) for template in HELD_OUT_TEMPLATES) if t]


# --- the data set ------------------------------------------------------------------------------------------
@dataclass
class StyledEmoji:
    """Pictures of emoji subjects in several styles with caption pools, index-aligned by picture.

    Attributes:
        images: uint8 (M, size, size, 3), alpha composited on white.
        subject: int (M,) index into ``subjects``.
        style: M style names (one of :data:`STYLES`).
        colour: M colour words (dominant colour) or None.
        recoloured: bool (M,), True for hue-turned copies.
        captions: M lists of training captions.
        subjects: S dicts with ``code`` (hex key), ``names``, ``category``, ``tags``.
    """

    images: np.ndarray
    subject: np.ndarray
    style: list[str]
    colour: list[str | None]
    recoloured: np.ndarray
    captions: list[list[str]]
    subjects: list[dict]

    def __len__(self) -> int:
        return len(self.style)


def _rgba(png: bytes, size: int) -> np.ndarray:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGBA")
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.uint8)


def on_white(rgba: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 4) -> uint8 (H, W, 3), composited on white."""
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    return np.round(rgba[..., :3] * alpha + 255.0 * (1 - alpha)).astype(np.uint8)


def read_subjects(noto: Path, emojibase: Path) -> list[dict]:
    """Every Noto subject (no skin tones, no components) with its names, category, CLDR tags and image
    file names, in emoji-datasource's sort order."""
    with tarfile.open(emojibase, "r:gz") as tar:
        cldr = {hex_key(e["hexcode"]): e for e in json.load(tar.extractfile("package/en/data.json"))}
    with tarfile.open(noto, "r:gz") as tar:
        entries = json.load(tar.extractfile("package/emoji.json"))
    subjects = []
    for e in sorted(entries, key=lambda e: e["sort_order"]):
        if e["category"] in DROPPED_CATEGORIES or not e.get("has_img_google"):
            continue
        key = hex_key(e["unified"])
        base = cldr.get(key, {})
        names = subject_names(base.get("label", ""), e.get("name") or "", e.get("short_names") or [])
        if not names:
            continue
        subjects.append({"code": key, "unified": e["unified"], "image": e["image"], "names": names,
                         "category": e["category"], "tags": base.get("tags", []),
                         "has_twitter": bool(e.get("has_img_twitter"))})
    return subjects


def _style_members(tarballs: dict[str, Path]):
    """For each style, a function mapping a subject to its image bytes (or None)."""
    tars = {style: tarfile.open(path, "r:gz") for style, path in tarballs.items()}
    members = {style: {m.name: m for m in tar.getmembers()} for style, tar in tars.items()}
    fluent = {hex_key(Path(n).stem.replace("_", "-")): m for n, m in members["fluent 3d"].items()
              if n.endswith(".webp")}

    def read(style: str, subject: dict) -> bytes | None:
        if style == "noto":
            member = members[style].get(f"package/img/google/64/{subject['image']}")
        elif style == "twemoji" and subject["has_twitter"]:
            member = members[style].get(f"package/img/twitter/64/{subject['image']}")
        elif style == "twemoji":
            member = None
        else:
            member = fluent.get(subject["code"])
        return tars[style].extractfile(member).read() if member is not None else None

    return read, tars


def build(tarballs: dict[str, Path], size: int = 32, recolour_fraction: float = 0.5, seed: int = 0,
          captions_per_picture: int = 8) -> StyledEmoji:
    """Decode every subject in every style, add recoloured copies, and draw each picture's caption pool.

    Args:
        tarballs: paths keyed ``noto``, ``twemoji``, ``fluent 3d`` and ``emojibase``.
        recolour_fraction: share of pictures with a dominant chromatic colour that get one recoloured copy.
        captions_per_picture: captions drawn (without replacement) from each picture's template pool.
    """
    rng = np.random.default_rng(seed)
    subjects = read_subjects(tarballs["noto"], tarballs["emojibase"])
    read, tars = _style_members({s: tarballs[s] for s in STYLES})
    images, subject_idx, styles, colours, recoloured, captions = [], [], [], [], [], []

    def add(rgba, s, style, colour, names, is_recoloured):
        pool = captions_for(names, colour, style, subjects[s]["tags"])
        pick = rng.permutation(len(pool))[:captions_per_picture]
        images.append(on_white(rgba))
        subject_idx.append(s)
        styles.append(style)
        colours.append(colour)
        recoloured.append(is_recoloured)
        captions.append([names[0]] + [pool[i] for i in sorted(pick) if pool[i] != names[0]])

    try:
        for s, subject in enumerate(subjects):
            for style in STYLES:
                data = read(style, subject)
                if data is None:
                    continue
                rgba = _rgba(data, size)
                colour = dominant_colour(rgba)
                add(rgba, s, style, colour, subject["names"], False)
                if colour in CHROMATIC and rng.random() < recolour_fraction:
                    target = str(rng.choice([c for c in CHROMATIC if c != colour]))
                    add(recolour(rgba, colour, target), s, style, target,
                        recoloured_names(subject["names"], colour, target), True)
    finally:
        for tar in tars.values():
            tar.close()
    return StyledEmoji(np.stack(images), np.array(subject_idx), styles, colours, np.array(recoloured), captions,
                       subjects)


def load(folder: Path, size: int = 32) -> StyledEmoji:
    """The data set, built from the tarballs in ``folder`` (downloaded there if missing) and cached there."""
    cache = folder / f"styled_emoji_{size}_v{CACHE_FORMAT}"
    if (cache / "meta.json").exists():
        meta = json.loads((cache / "meta.json").read_text())
        with np.load(cache / "arrays.npz") as z:
            return StyledEmoji(z["images"], z["subject"], meta["style"], meta["colour"], z["recoloured"],
                               meta["captions"], meta["subjects"])
    tarballs = {s: fetch(t, folder) for s, t in (("noto", NOTO), ("twemoji", TWEMOJI), ("fluent 3d", FLUENT_3D),
                                                  ("emojibase", EMOJIBASE))}
    ds = build(tarballs, size)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cache / "arrays.npz", images=ds.images, subject=ds.subject, recoloured=ds.recoloured)
    (cache / "meta.json").write_text(json.dumps({"style": ds.style, "colour": ds.colour, "captions": ds.captions,
                                                 "subjects": ds.subjects}))
    return ds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="where the tarballs and the cache live")
    parser.add_argument("--size", type=int, default=32)
    args = parser.parse_args(argv)
    ds = load(args.data_dir, args.size)
    captions = {c for pool in ds.captions for c in pool}
    print(f"{len(ds.subjects)} subjects, {len(ds)} pictures ({int(ds.recoloured.sum())} recoloured), "
          f"{len(captions)} distinct captions")
    for style in STYLES:
        print(f"  {style}: {sum(s == style for s in ds.style)} pictures")
    for i in (0, 500, 3000, len(ds) - 1):
        print(ds.style[i], ds.colour[i], "|", " | ".join(ds.captions[i]))


if __name__ == "__main__":
    main()
