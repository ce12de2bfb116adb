"""train/emoji_styles.py: colours, captions and the build, on tiny synthetic tarballs (no network)."""
from __future__ import annotations

import io
import json
import tarfile

import numpy as np
import pytest

from train import emoji_styles as es


def square(rgb, size=16, border=4) -> np.ndarray:
    """An opaque square of colour ``rgb`` on a transparent background: uint8 (size, size, 4)."""
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[border:-border, border:-border] = (*rgb, 255)
    return rgba


def test_code_points_match_across_packages_without_variation_selectors_or_leading_zeros():
    assert es.hex_key("2764-fe0f") == es.hex_key("2764") == "2764"
    assert es.hex_key("0039-FE0F-20E3") == es.hex_key("39-fe0f-20e3") == "39-20E3"


@pytest.mark.parametrize("rgb, name", [((220, 30, 30), "red"), ((40, 180, 60), "green"), ((30, 90, 220), "blue"),
                                       ((250, 210, 40), "yellow"), ((10, 10, 10), "black"),
                                       ((128, 128, 128), "grey"), ((130, 80, 20), "brown")])
def test_colour_names_follow_hue_saturation_and_brightness(rgb, name):
    assert es.colour_name(*(c / 255 for c in rgb)) == name


def test_the_dominant_colour_ignores_the_transparent_background_and_needs_a_clear_majority():
    assert es.dominant_colour(square((220, 30, 30))) == "red"
    stripes = square((220, 30, 30))  # opaque columns 4..11: 3 red, 3 green, 2 blue, none over 40%
    stripes[:, 7:10, :3] = (40, 180, 60)
    stripes[:, 10:12, :3] = (30, 90, 220)
    assert es.dominant_colour(stripes) is None
    assert es.dominant_colour(np.zeros((8, 8, 4), np.uint8)) is None


def test_recolouring_turns_the_dominant_colour_and_keeps_the_alpha():
    red = square((220, 30, 30))
    blue = es.recolour(red, "red", "blue")
    assert es.dominant_colour(blue) == "blue"
    assert np.array_equal(blue[..., 3], red[..., 3])


def test_subject_names_read_like_words_a_person_would_type():
    assert es.subject_names("flag: Canada", "Canada Flag", ["flag-ca"]) == ["flag of canada", "canada flag"]
    assert es.subject_names("grinning face", "GRINNING FACE", ["grinning"]) == ["grinning face", "grinning"]
    assert es.recoloured_names(["green apple", "apple"], "green", "blue") == ["blue apple", "apple"]


def test_templates_get_the_right_article_and_never_repeat_a_colour():
    assert es.fill("a {colour} {name} in {style} style", "apple", "orange", "3D", None) == "an orange apple in 3D style"
    assert es.fill("a {colour} {name}", "green apple", "green", "", None) == "a green apple"
    assert es.fill("a picture of a {name}", "flag of wales", None, "", None) == "a picture of the flag of wales"
    assert es.fill("a {colour} {name}", "apple", None, "", None) is None
    assert es.fill("{name}, {tag}", "apple", None, "", None) is None


def test_held_out_paraphrases_never_appear_among_training_captions():
    train = es.captions_for(["green apple", "apple"], "green", "fluent 3d", ["fruit", "green"])
    held_out = es.evaluation_prompts(["green apple"], "green")
    assert "a green apple in 3D style" in train and "apple, fruit" in train and "a 3D apple" in train
    assert held_out and not set(held_out) & set(train)
    assert "a photo of a green apple" in held_out


def _png(rgba: np.ndarray, fmt: str = "PNG") -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format=fmt)
    return buffer.getvalue()


def _tarball(path, files: dict[str, bytes]):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_build_reads_each_style_adds_recoloured_copies_and_skips_components(tmp_path):
    entries = [
        {"unified": "1F34F", "image": "1f34f.png", "name": "GREEN APPLE", "short_names": ["green_apple"],
         "category": "Food & Drink", "sort_order": 2, "has_img_google": True, "has_img_twitter": True},
        {"unified": "2764-FE0F", "image": "2764-fe0f.png", "name": "HEAVY BLACK HEART", "short_names": ["heart"],
         "category": "Smileys & Emotion", "sort_order": 1, "has_img_google": True, "has_img_twitter": False},
        {"unified": "1F3FB", "image": "1f3fb.png", "name": "SKIN TONE 1", "short_names": [],
         "category": "Component", "sort_order": 3, "has_img_google": True, "has_img_twitter": True},
    ]
    green, red = square((40, 180, 60), 64, 16), square((220, 30, 30), 64, 16)
    noto = _tarball(tmp_path / "noto.tgz", {"emoji.json": json.dumps(entries).encode(),
                                            "img/google/64/1f34f.png": _png(green),
                                            "img/google/64/2764-fe0f.png": _png(red),
                                            "img/google/64/1f3fb.png": _png(red)})
    twemoji = _tarball(tmp_path / "tw.tgz", {"img/twitter/64/1f34f.png": _png(green)})
    fluent = _tarball(tmp_path / "fl.tgz", {"assets/2764-fe0f.webp": _png(red, "WEBP")})
    cldr = [{"hexcode": "1F34F", "label": "green apple", "tags": ["apple", "fruit", "green"]},
            {"hexcode": "2764", "label": "red heart", "tags": ["heart", "love"]}]
    emojibase = _tarball(tmp_path / "eb.tgz", {"en/data.json": json.dumps(cldr).encode()})
    ds = es.build({"noto": noto, "twemoji": twemoji, "fluent 3d": fluent, "emojibase": emojibase}, size=16,
                  recolour_fraction=1.0)
    assert [s["names"][0] for s in ds.subjects] == ["red heart", "green apple"]
    originals = [(ds.subjects[s]["names"][0], st) for s, st, r in zip(ds.subject, ds.style, ds.recoloured) if not r]
    assert originals == [("red heart", "noto"), ("red heart", "fluent 3d"), ("green apple", "noto"),
                         ("green apple", "twemoji")]
    assert ds.images.shape == (8, 16, 16, 3) and ds.images.dtype == np.uint8 and ds.recoloured.sum() == 4
    for i in np.flatnonzero(ds.recoloured):
        assert ds.colour[i] != ds.colour[i - 1] and ds.captions[i][0].split()[0] == ds.colour[i]
    assert all(c[0] in ("red heart", "green apple") for c, r in zip(ds.captions, ds.recoloured) if not r)
