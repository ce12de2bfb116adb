"""shared/inputs.py: each kind of bad input is refused with a sentence that names its field; good ones pass."""
import math

import gradio as gr
import pytest
from PIL import Image

from shared import limits
from shared.inputs import check_input, has_surrogate, sendable, shown


def refused(block, payload, **kwargs) -> str:
    with pytest.raises(ValueError) as e:
        check_input(block, payload, **kwargs)
    message = str(e.value)
    assert message.endswith("."), message
    return message


def test_a_number_field_refuses_text_nothing_nan_infinity_and_values_out_of_range():
    temperature = gr.Slider(0, 2, value=0.7, step=0.05, label="Temperature")
    for payload in ["many", None, math.nan, math.inf, -math.inf, 2.5, -1, True]:
        assert refused(temperature, payload).startswith("Temperature ")
    for payload in [0, 0.7, 2, 2.0]:
        check_input(temperature, payload)


def test_a_whole_number_field_refuses_a_fraction_instead_of_rounding_it():
    seed = gr.Number(value=0, precision=0, minimum=0, maximum=limits.SEED_MAX, label="Seed")
    assert refused(seed, 1.5) == f"Seed must be a whole number from 0 to {limits.SEED_MAX}, not 1.5."
    steps = gr.Slider(1, 60, value=10, step=1, label="LoRA steps")
    assert "whole number" in refused(steps, 2.5)
    check_input(seed, 2.0)
    check_input(steps, 7)


def test_a_lone_surrogate_is_refused_anywhere_in_a_payload_and_never_echoed():
    prompt = gr.Textbox(label="Prompt")
    message = refused(prompt, "abc\ud800")
    assert message.startswith("Prompt contains a broken character") and not has_surrogate(message)
    assert refused(gr.CheckboxGroup(["a", "b"], label="Columns"), ["a", "\udfff"]).startswith("Columns")
    check_input(prompt, "emoji are fine: 😀")


def test_a_text_field_keeps_its_own_length_limit():
    product = gr.Textbox(label="Product", max_length=10)
    assert refused(product, "x" * 11) == "Product is 11 characters long; the limit is 10."
    check_input(product, "x" * 10)
    notes = gr.Textbox(label="Notes")
    assert "no text box in this app takes more" in refused(notes, "x" * (limits.TEXT_MAX_CHARS + 1))


def test_an_option_that_is_not_offered_is_refused_with_the_options():
    mode = gr.Radio(["Chat", "Raw continuation"], label="Mode")
    assert refused(mode, "<b>x</b>") == "Mode has no option '&lt;b&gt;x&lt;/b&gt;'; the options are: Chat, Raw continuation."
    check_input(mode, "Chat")
    check_input(gr.Dropdown(["a"], allow_custom_value=True, label="Model"), "anything")


def test_a_path_outside_the_upload_folder_is_refused_before_anything_is_read():
    upload = gr.File(label="Upload")
    message = refused(upload, {"path": "/etc/hostname", "meta": {"_type": "gradio.FileData"}})
    assert message.startswith("Upload: the app reads only files uploaded through the page")
    assert refused(upload, "/etc/hostname").startswith("Upload must be a file")
    check_input(upload, {"path": "/etc/hostname", "meta": {"_type": "gradio.FileData"}}, in_upload_folder=False)


def test_a_picture_field_refuses_a_file_that_is_not_a_picture_and_a_decompression_bomb(tmp_path):
    from gradio.utils import get_upload_folder

    folder = tmp_path_in(get_upload_folder())
    notes, bomb, small = folder / "notes.png", folder / "bomb.png", folder / "small.png"
    notes.write_text("not a picture", encoding="utf-8")
    Image.new("1", (20_000, 20_000)).save(bomb)
    Image.new("RGB", (8, 8)).save(small)
    picture = gr.Image(type="filepath", label="Picture")
    as_file = {"meta": {"_type": "gradio.FileData"}}
    assert "is not a picture" in refused(picture, {**as_file, "path": str(notes)})
    assert "too large" in refused(picture, {**as_file, "path": str(bomb)})
    assert "is not a picture" in refused(gr.File(file_types=["image"], label="Image"), {**as_file, "path": str(notes)})
    check_input(picture, {**as_file, "path": str(small)})
    assert "takes .txt files" in refused(gr.File(file_types=[".txt"], label="Text"), {**as_file, "path": str(notes)})
    text = folder / "notes.txt"
    text.write_text("plain text", encoding="utf-8")
    check_input(gr.File(file_types=[".txt"], label="Text"), {**as_file, "path": str(text)})


def tmp_path_in(parent: str):
    import tempfile
    from pathlib import Path

    Path(parent).mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=parent))


def test_messages_stay_short_escaped_and_encodable():
    assert shown("<img src=x onerror=alert(1)>" * 10).startswith("'&lt;img src=x")
    assert len(shown("x" * 1000)) < 50
    assert sendable("a\ud800b") == "a\ufffdb"
    sendable("a\ud800b").encode("utf-8")


def test_an_error_message_with_a_lone_surrogate_still_reaches_the_client():
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    from shared.inputs import CourseBlocks

    def fail(text):
        raise gr.Error("Cannot read " + chr(0xD800) + ".")

    with CourseBlocks() as demo:
        box = gr.Textbox(label="Text")
        box.submit(fail, box, box, api_name="fail")
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        with pytest.raises(AppError, match="Cannot read \ufffd\."):
            Client(url, verbose=False).predict("x", api_name="/fail")
    finally:
        demo.close()
