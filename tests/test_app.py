"""The launched app through gradio_client, as an API user (or the browser) reaches it."""
import threading

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from apps import SLUGS, TOPICS
from shared import generation as G

ARGS = dict(prompt="Once upon a time,", mode="Raw continuation", model="SmolLM2-135M-Instruct (embedded)",
            temperature=1.0, top_k=40, top_p=0.95, repetition_penalty=1.0, max_new_tokens=12, seed=3)


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


def generate(client, **overrides):
    return client.predict(*{**ARGS, **overrides}.values(), api_name="/language_generate")


def test_topics_are_the_ten_of_the_outline_in_order():
    assert SLUGS == ("understanding", "key_models", "foundations", "language", "images", "music",
                     "industries", "ethics", "multimodal", "build_your_own")
    assert [t.number for t in TOPICS] == list(range(1, 11))


def test_generation_on_tab_4_returns_text_and_token_probabilities(client, embedded_lm):
    text, info, tokens, step, table = generate(client)
    expected, steps = G.generate_text(embedded_lm, ARGS["prompt"], ARGS["mode"],
                                      G.make_settings(1.0, 40, 0.95, 1.0, 12, 3))
    assert text == expected and text.strip()
    assert len(tokens) == len(steps)
    assert len(table["data"]) == 10
    assert "tokens/s" in info and "backend:" in info


def test_bad_input_returns_a_clear_error_and_the_app_keeps_serving(client):
    for overrides, message in [
        (dict(prompt="   "), "Type a prompt"),
        (dict(prompt="x" * 4001), "limit"),
        (dict(top_k=500), "Top-k|maximum value 200"),  # gradio checks slider bounds first
        (dict(top_k=2.5), "Top-k"),
        (dict(max_new_tokens=10_000), "Max new tokens|maximum value 256"),
        (dict(model="/etc"), "not a model"),
    ]:
        with pytest.raises(AppError, match=message):
            generate(client, **overrides)
    assert generate(client, max_new_tokens=3)[0].strip()


def test_a_hub_model_while_offline_falls_back_to_the_embedded_model(client):
    text, *_ = generate(client, model="HuggingFaceTB/SmolLM2-360M-Instruct", max_new_tokens=4)
    assert text.strip()


def test_two_users_at_once_get_their_own_tokens(app_url, embedded_lm):
    expected = {
        seed: G.generate_text(embedded_lm, ARGS["prompt"], ARGS["mode"], G.make_settings(1.0, 40, 0.95, 1.0, 12, seed))[0]
        for seed in (11, 12)
    }
    results, start = {}, threading.Barrier(2)

    def user(seed):
        c = Client(app_url, verbose=False)
        start.wait()
        results[seed] = generate(c, seed=seed)[0]

    threads = [threading.Thread(target=user, args=(s,)) for s in expected]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == expected


def test_next_token_and_attention_endpoints(client):
    _plot, stats = client.predict(ARGS["prompt"], ARGS["mode"], ARGS["model"], 1.0, 5, 1.0, 1.0,
                                  api_name="/language_next_token")
    assert "candidates left: **5**" in stats
    _plot, info, layer, head = client.predict("The cat sat", "Raw continuation", ARGS["model"], 3, 2,
                                              api_name="/language_attention")
    assert "30 layers × 9 heads" in info
    assert (layer["value"], layer["maximum"], head["value"], head["maximum"]) == (3, 29, 2, 8)


def test_launch_tries_again_when_gradio_gives_up_on_a_slow_first_request():
    from shared import ui

    class SlowOnce:
        calls = closes = 0

        def launch(self, **kwargs):
            self.calls += 1
            if self.calls < 3:
                raise ValueError("When localhost is not accessible, a shareable link must be created.")
            return kwargs

        def close(self):
            self.closes += 1

    demo = SlowOnce()
    assert ui.launch(demo, server_port=1234)["server_port"] == 1234
    assert (demo.calls, demo.closes) == (3, 2)

    class Broken(SlowOnce):
        def launch(self, **kwargs):
            raise ValueError("something else")

    with pytest.raises(ValueError, match="something else"):
        ui.launch(Broken())
