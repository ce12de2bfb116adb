"""The class-server backend (shared/lm_server.py) without an engine: a recorded stream, a stand-in server on
loopback that answers as vLLM does (or fails as a server can), and the views fed with server Steps.

The test against a real engine (vLLM's CPU server) is tests/test_lm_server_vllm.py.
"""
import json
import math
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from apps import language as L
from shared import catalog, lm_server, look_inside
from shared.lm_server import ServerConfig, ServerLM
from shared.sampling import SamplingSettings

RECORDED = Path(__file__).parent / "data" / "vllm_completions_stream.txt"


class FakeTokenizer:
    """Token ``i`` reads as ``<i>``."""

    eos_token_id = 2

    def decode(self, ids, skip_special_tokens=False):
        return "".join(f"<{i}>" for i in ids)


def chunk(token_id: int, top: dict[int, float], logprob: float | None = None) -> str:
    """One server-sent event as vLLM streams it with ``logprobs`` and ``return_tokens_as_token_ids``."""
    logprob = top[token_id] if logprob is None else logprob
    body = {"id": "cmpl-1", "object": "text_completion", "model": "m", "choices": [{
        "index": 0, "text": "x", "finish_reason": None,
        "logprobs": {"text_offset": [0], "token_logprobs": [logprob], "tokens": [f"token_id:{token_id}"],
                     "top_logprobs": [{f"token_id:{i}": lp for i, lp in top.items()}]}}]}
    return f"data: {json.dumps(body)}\n\n"


STREAM = [
    chunk(7, {7: math.log(0.6), 9: math.log(0.3), 4: math.log(0.05)}),
    chunk(4, {7: math.log(0.5), 9: math.log(0.4)}, math.log(0.01)),  # sampled from outside the top 2
    chunk(2, {2: math.log(0.9), 7: math.log(0.05)}),  # end of sequence
    "data: [DONE]\n\n",
]


class FakeServer(BaseHTTPRequestHandler):
    """An OpenAI-compatible server serving model ``m``; ``behaviour`` says how it answers a completion."""

    behaviour = "ok"
    requests: ClassVar[list] = []

    def log_message(self, *args):
        pass

    def _json(self, status: int, body: dict):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.behaviour == "slow":
            time.sleep(2)
            return  # the client gave up
        self._json(200, {"object": "list", "data": [{"id": "m", "object": "model", "owned_by": "vllm"}]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeServer.requests.append(body)
        if body["model"] != "m":
            return self._json(404, {"error": {"message": f"The model `{body['model']}` does not exist.",
                                              "type": "NotFoundError", "code": 404}})
        if self.behaviour == "few_logprobs" and body["logprobs"] > 5:
            return self._json(400, {"error": {"message": "logprobs must be at most 5", "type": "BadRequestError"}})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        if self.behaviour == "no_logprobs":
            events = [f"data: {json.dumps({'choices': [{'index': 0, 'text': 'hi', 'logprobs': None}]})}\n\n"]
        else:
            events = STREAM
        for event in events:
            self.wfile.write(event.encode())
            self.wfile.flush()


@pytest.fixture
def fake_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeServer.behaviour, FakeServer.requests = "ok", []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens there


GREEDY = SamplingSettings(temperature=0.0, top_k=0, top_p=1.0, repetition_penalty=1.0, max_new_tokens=8, seed=3)


def test_a_stream_becomes_steps_with_the_model_probabilities_and_no_sampled_ones():
    lines = "".join(STREAM[:2]).splitlines()
    steps = list(lm_server.read_stream(iter(lines), FakeTokenizer()))
    assert [s.token_id for s in steps] == [7, 4]
    assert steps[0].p_model == pytest.approx(0.6)
    assert steps[0].top_ids == [7, 9, 4] and [p for _, p, _ in steps[0].top] == pytest.approx([0.6, 0.3, 0.05])
    assert all(s.p_sampled is None and all(ps is None for _, _, ps in s.top) for s in steps)
    assert steps[1].token == "<4>" and steps[1].top[0][0] == "<7>" and steps[1].p_model == pytest.approx(0.01)


def test_the_top_candidates_are_cut_to_the_number_asked_for():
    steps = list(lm_server.read_stream(iter(STREAM[0].splitlines()), FakeTokenizer(), top_n=2))
    assert steps[0].top_ids == [7, 9]


@pytest.mark.skipif(not RECORDED.exists(), reason="no recorded vLLM stream")
def test_a_recorded_vllm_stream_parses_into_steps():
    lines = RECORDED.read_text(encoding="utf-8").splitlines()
    steps = list(lm_server.read_stream(iter(lines), FakeTokenizer()))
    assert steps and all(0 < s.p_model <= 1 and len(s.top_ids) == 10 for s in steps)
    assert all(s.top_ids[0] == s.token_id for s in steps)  # recorded greedy: the most likely token each time


def test_the_request_sends_token_ids_and_every_setting():
    lm = ServerLM(ServerConfig("http://x/v1", "m"), "vllm")
    settings = SamplingSettings(temperature=0.7, top_k=0, top_p=0.9, repetition_penalty=1.2, max_new_tokens=5, seed=4)
    body = lm.request([1, 2, 3], settings)
    assert body["prompt"] == [1, 2, 3] and body["model"] == "m" and body["stream"] is True
    assert (body["temperature"], body["top_k"], body["top_p"]) == (0.7, 0, 0.9)
    assert (body["repetition_penalty"], body["seed"], body["max_tokens"]) == (1.2, 4, 5)
    assert body["logprobs"] == 10 and body["return_tokens_as_token_ids"] is True


def test_generation_through_a_server_stops_at_end_of_sequence(fake_server):
    lm = ServerLM.connect(ServerConfig(fake_server + "/v1", "m"))
    steps = list(lm.generate([1, 5], GREEDY, FakeTokenizer(), stops={2}))
    assert [s.token_id for s in steps] == [7, 4]
    assert FakeServer.requests[0]["prompt"] == [1, 5]


def test_the_only_model_is_chosen_when_none_is_named(fake_server):
    assert ServerLM.connect(ServerConfig(fake_server)).config.model == "m"


def test_a_server_allowing_fewer_logprobs_is_asked_again_for_five(fake_server):
    FakeServer.behaviour = "few_logprobs"
    lm = ServerLM.connect(ServerConfig(fake_server + "/v1", "m"))
    steps = list(lm.generate([1], GREEDY, FakeTokenizer(), stops={2}))
    assert [r["logprobs"] for r in FakeServer.requests] == [10, 5] and len(steps) == 2


def test_a_dead_server_is_a_sentence():
    with pytest.raises(ValueError, match="cannot be reached.*choose the embedded model"):
        ServerLM.connect(ServerConfig(f"http://127.0.0.1:{closed_port()}/v1", "m"))


def test_a_wrong_model_name_is_a_sentence_naming_the_served_models(fake_server):
    with pytest.raises(ValueError, match="does not serve a model named 'nope'; it serves: 'm'"):
        ServerLM.connect(ServerConfig(fake_server + "/v1", "nope"))
    lm = ServerLM(ServerConfig(fake_server + "/v1", "nope"), "vllm")  # a model that went away since connecting
    with pytest.raises(ValueError, match="does not serve the model 'nope'"):
        list(lm.generate([1], GREEDY, FakeTokenizer()))


def test_a_server_without_logprobs_is_a_sentence(fake_server):
    FakeServer.behaviour = "no_logprobs"
    lm = ServerLM.connect(ServerConfig(fake_server + "/v1", "m"))
    with pytest.raises(ValueError, match="sends no token probabilities"):
        list(lm.generate([1], GREEDY, FakeTokenizer()))


def test_a_slow_server_times_out_with_a_sentence(fake_server):
    FakeServer.behaviour = "slow"
    with pytest.raises(ValueError, match="did not answer within 0.5 s"):
        ServerLM.connect(ServerConfig(fake_server + "/v1", "m", timeout_s=0.5))


def test_logits_processors_are_refused_not_ignored(fake_server):
    lm = ServerLM.connect(ServerConfig(fake_server + "/v1", "m"))
    with pytest.raises(ValueError, match="cannot add our own logits processors"):
        list(lm.generate([1], GREEDY, FakeTokenizer(), extra_processors=[object()]))


def test_the_class_server_comes_first_in_the_model_menu_only_when_set(monkeypatch):
    monkeypatch.delenv("CM_LM_SERVER_URL", raising=False)
    assert all(m.source != "server" for m in catalog.models_for("text-generation"))
    monkeypatch.setenv("CM_LM_SERVER_URL", "http://gpu-box:8000")
    monkeypatch.setenv("CM_LM_SERVER_MODEL", "smollm2")
    first = catalog.models_for("text-generation")[0]
    assert first.label == "Class server: smollm2" and first.repo_id == "http://gpu-box:8000/v1"
    assert catalog.get("Class server: smollm2") == first
    assert catalog.models_for("text-generation")[1].id == catalog.EMBEDDED_LM  # the embedded model stays usable


@pytest.mark.parametrize("url", ["gpu-box:8000", "ftp://gpu-box/v1"])
def test_a_url_that_is_not_http_is_refused(monkeypatch, url):
    monkeypatch.setenv("CM_LM_SERVER_URL", url)
    with pytest.raises(ValueError, match="is not an http"):
        lm_server.server_config()


def test_server_steps_show_model_probabilities_and_say_nothing_of_the_sampled_distribution():
    steps = [s.__dict__ | {"top": list(s.top)}
             for s in lm_server.read_stream(iter("".join(STREAM[:2]).splitlines()), FakeTokenizer())]
    table = look_inside.steps_table(steps, 1)  # the token was sampled from outside the top 2: its own row
    assert list(table.columns) == ["token", "p (model)", "sampled"]
    assert table["sampled"].tolist()[-1] == look_inside.OUTSIDE_TOP
    assert [band for _, band in look_inside.highlighted(steps)] == ["p ≥ 50%", "1-10%"]  # by p (model): 0.6, 0.01


def _generate_ui(model: str):
    return list(L.generate_ui("Hello", "Raw continuation", model, 0.0, 0, 1.0, 1.0, 4, 0))


def test_the_language_tab_generates_through_a_class_server_and_says_what_it_cannot_show(fake_server, monkeypatch):
    monkeypatch.setenv("CM_LM_SERVER_URL", fake_server)
    monkeypatch.setenv("CM_LM_SERVER_MODEL", "m")
    _, info, _, steps, _, table = _generate_ui("Class server: m")[-1]
    assert [s["token_id"] for s in steps] == [7, 4]
    assert L.escape_markdown("class server (vllm)") in info
    assert lm_server.NO_SAMPLED_DISTRIBUTION in info and "p (sampled from)" not in table.columns


def test_a_dead_class_server_is_an_error_message_in_the_app(monkeypatch):
    import gradio as gr

    monkeypatch.setenv("CM_LM_SERVER_URL", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("CM_LM_SERVER_MODEL", "m")
    with pytest.raises(gr.Error, match="cannot be reached"):
        _generate_ui("Class server: m")


def test_with_a_class_server_generations_run_side_by_side_for_the_engine_to_batch(monkeypatch):
    from shared import generation, limits

    monkeypatch.delenv("CM_LM_SERVER_URL", raising=False)
    assert generation.generation_queue() == {"concurrency_id": generation.LM_CONCURRENCY_ID, "concurrency_limit": 1}
    monkeypatch.setenv("CM_LM_SERVER_URL", "http://127.0.0.1:9")
    queue = generation.generation_queue()
    assert queue["concurrency_limit"] == limits.LM_SERVER_CONCURRENCY > 1
    assert queue["concurrency_id"] != generation.LM_CONCURRENCY_ID  # the embedded model's own queue stays one at a time
