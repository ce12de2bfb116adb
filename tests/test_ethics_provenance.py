"""Topic 8 (apps/ethics/), images and cards: invisible watermark, PNG provenance metadata, model cards."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from apps.ethics import model_cards, provenance
from shared import catalog

MESSAGE = "CM08"


@pytest.fixture(scope="module")
def photo():
    return provenance.default_image()


@pytest.fixture(scope="module")
def marked(photo):
    return provenance.embed_watermark(photo, MESSAGE, "dwtDctSvd")


def _accuracy(rgb, method="dwtDctSvd"):
    return float((provenance.decode_bits(rgb, method) == provenance.message_bits(MESSAGE)).mean())


# --- invisible watermark -------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["dwtDct", "dwtDctSvd", "rivaGan"])
def test_the_message_is_recovered_from_the_clean_watermarked_image(photo, method):
    marked = provenance.embed_watermark(photo, MESSAGE, method)
    assert marked.shape == photo.shape and marked.dtype == np.uint8
    assert provenance.bits_to_text(provenance.decode_bits(marked, method)) == MESSAGE
    assert provenance.psnr(photo, marked) > 35, "the watermark must be invisible"


def test_an_unmarked_image_does_not_carry_the_message(photo):
    assert _accuracy(photo) < provenance.FOUND_AT


def test_robustness_table_matches_what_each_attack_does(marked):
    table = provenance.robustness_table(marked, MESSAGE, "dwtDctSvd").set_index("attack")
    assert list(table.index) == [name for name, _, _ in provenance.ATTACKS]
    # dwtDctSvd works on the wavelet coefficients of 4x4 blocks: it survives what keeps the block grid...
    for survives in ("none", "JPEG quality 90", "resize to 50% and back"):
        assert table.loc[survives, "found?"] == "yes", survives
    assert table.loc["none", "message read"] == MESSAGE
    # ... and is lost when a crop shifts the grid, or the image is kept at another size.
    for breaks in ("crop 8 px", "crop 10% border", "resize to 75%"):
        assert table.loc[breaks, "found?"] == "no", breaks
        assert table.loc[breaks, "bit accuracy"] < 0.8
    assert table.loc["crop 10% border", "size"] != table.loc["none", "size"]


def test_stable_diffusions_default_method_does_not_survive_mild_jpeg(photo):
    marked = provenance.embed_watermark(photo, MESSAGE, "dwtDct")
    assert _accuracy(marked, "dwtDct") == 1.0
    assert _accuracy(provenance._jpeg(marked, 90), "dwtDct") < 0.8


def test_the_learned_watermark_survives_cropping(photo):
    marked = provenance.embed_watermark(photo, MESSAGE, "rivaGan")
    assert _accuracy(provenance._crop(marked, 0.1), "rivaGan") >= provenance.FOUND_AT


def test_an_image_too_small_to_decode_is_reported_in_the_table():
    small = np.asarray(Image.fromarray(provenance.default_image()).resize((360, 270)))  # 75% of it is below 256x256 pixels
    table = provenance.robustness_table(provenance.embed_watermark(small, MESSAGE), MESSAGE).set_index("attack")
    assert table.loc["resize to 75%", "found?"] == "no"
    assert "256x256" in table.loc["resize to 75%", "message read"]


@pytest.mark.parametrize("message", ["", "CM0", "CM089", "CMé8", None])
def test_the_message_must_be_four_plain_characters(message):
    with pytest.raises(ValueError, match="exactly 4 plain characters"):
        provenance.message_bits(message)


def test_an_unknown_method_is_refused(photo):
    with pytest.raises(ValueError, match="Method must be one of"):
        provenance.embed_watermark(photo, MESSAGE, "lsb")


# --- uploads ---------------------------------------------------------------------------------------------

def test_a_non_image_upload_gets_a_clear_message(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not a picture")
    with pytest.raises(ValueError, match="not an image this demo can read"):
        provenance.load_image(path)


def test_a_tiny_image_is_refused_and_a_large_one_shrunk_with_a_notice(tmp_path):
    Image.new("RGB", (100, 100), "red").save(tmp_path / "tiny.png")
    with pytest.raises(ValueError, match="at least 256x256"):
        provenance.load_image(tmp_path / "tiny.png")
    Image.new("RGB", (2000, 1000), "blue").save(tmp_path / "big.jpg")
    rgb, notice = provenance.load_image(tmp_path / "big.jpg")
    assert max(rgb.shape[:2]) == provenance.limits.PROVENANCE_MAX_SIDE_PX
    assert "shrunk from 2000x1000" in notice


def test_no_upload_means_the_sample_photo():
    rgb, notice = provenance.load_image(None)
    assert rgb.shape == (427, 640, 3) and notice is None


# --- PNG provenance metadata -----------------------------------------------------------------------------

def test_png_metadata_round_trips_with_a_matching_pixel_hash(marked):
    fields = provenance.parse_fields(provenance.DEFAULT_FIELDS)
    png = provenance.png_with_metadata(marked, fields)
    read, check = provenance.read_metadata(png)
    assert {k: read[k] for k in fields} == fields
    assert read["DigitalSourceType"] == provenance.SOURCE_TYPE_AI
    assert "matches" in check
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png))), marked)


def test_metadata_is_lost_when_the_image_is_re_saved_as_jpeg(marked):
    fields, check = provenance.read_metadata(provenance.jpeg_bytes(marked))
    assert fields == {} and "No text metadata" in check


def test_changed_pixels_no_longer_match_the_stored_hash(marked):
    png = provenance.png_with_metadata(marked, {"Title": "x"})
    image = Image.open(io.BytesIO(png))
    tampered = np.asarray(image).copy()
    tampered[0, 0] ^= 1
    info = Image.open(io.BytesIO(png)).text
    from PIL.PngImagePlugin import PngInfo

    again = PngInfo()
    for key, value in info.items():
        again.add_itxt(key, value)
    buffer = io.BytesIO()
    Image.fromarray(tampered).save(buffer, "PNG", pnginfo=again)
    _, check = provenance.read_metadata(buffer.getvalue())
    assert "does NOT match" in check


@pytest.mark.parametrize(("text", "message"), [
    ("no colon here", "Key: value"),
    (": empty key", "Key: value"),
    ("K" * 80 + ": v", "1-79 Latin-1"),
    ("Title: " + "x" * 3000, "the limit is"),
])
def test_bad_metadata_fields_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        provenance.parse_fields(text)


# --- model cards -----------------------------------------------------------------------------------------

def test_every_catalog_model_has_a_card_with_its_licence_and_limits():
    table = model_cards.catalog_table()
    assert len(table) == len(catalog.CATALOG)
    for spec in catalog.CATALOG:
        card = model_cards.model_card(spec.label)
        assert spec.licence in card and "**Limits**" in card and "**Intended use**" in card


def test_project_cards_are_read_from_weights_when_asked(tmp_path, monkeypatch):
    monkeypatch.setattr(model_cards, "WEIGHTS_DIR", tmp_path)
    project = next(s for s in catalog.CATALOG if s.source == "project")
    assert "No README.md yet" in model_cards.model_card(project.label)
    (tmp_path / project.repo_id).mkdir()
    (tmp_path / project.repo_id / "README.md").write_text("# Card\n\nTrained on a tiny corpus; held-out loss 1.23.")
    assert "held-out loss 1.23" in model_cards.model_card(project.label)
    (tmp_path / "homemade").mkdir()
    (tmp_path / "homemade" / "README.md").write_text("# Homemade\n\nNot in the catalog.")
    assert "homemade" in model_cards.uncatalogued_cards()
    assert "Not in the catalog." in model_cards.model_card("homemade")


def test_an_unknown_model_card_is_a_clear_error():
    with pytest.raises(ValueError, match="No model called"):
        model_cards.model_card("gpt-17")
