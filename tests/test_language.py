"""Topic 4 on the real embedded model (SmolLM2-135M-Instruct): the explorer's probabilities, attention, bad input,
the streamed reply and its views, Stop. (The sampling loop on every backend: tests/test_sampling.py.)"""
import threading
import time
import types

import numpy as np
import psutil
import pytest

from apps import language as L
from shared import generation as G
from shared import limits
from shared import look_inside as LI
from shared.sampling import show_token
from shared.tokens import read_text

PROMPT = "Once upon a time, in a quiet village,"


def settings(**kw):
    base = dict(temperature=1.0, top_k=0, top_p=1.0, repetition_penalty=1.0, max_new_tokens=12, seed=0)
    return G.make_settings(**{**base, **kw})


def test_higher_temperature_spreads_probability_mass(embedded_lm):
    logits, ids = LI.next_token_logits(embedded_lm, PROMPT, "Raw continuation")
    entropies = [LI.entropy_bits(LI.reshape(logits, ids, settings(temperature=t))[1]) for t in (0.3, 1.0, 1.8)]
    assert entropies[0] < entropies[1] < entropies[2]


def test_top_k_leaves_exactly_k_candidates(embedded_lm):
    logits, ids = LI.next_token_logits(embedded_lm, PROMPT, "Raw continuation")
    for k in (1, 5, 40):
        _, p = LI.reshape(logits, ids, settings(top_k=k))
        assert int((p > 0).sum()) == k


def test_top_p_keeps_the_smallest_set_reaching_p(embedded_lm):
    logits, ids = LI.next_token_logits(embedded_lm, PROMPT, "Raw continuation")
    p_model, p = LI.reshape(logits, ids, settings(top_p=0.5))
    kept = np.sort(p_model[p > 0])[::-1]
    assert kept.sum() >= 0.5 - 1e-4 and kept[:-1].sum() < 0.5


def test_probabilities_shown_sum_to_one(embedded_lm):
    logits, ids = LI.next_token_logits(embedded_lm, PROMPT, "Raw continuation")
    for s in (settings(), settings(temperature=0.5, top_k=20, top_p=0.9, repetition_penalty=1.3)):
        p_model, p = LI.reshape(logits, ids, s)
        assert p_model.sum() == pytest.approx(1.0, abs=1e-4)
        assert p.sum() == pytest.approx(1.0, abs=1e-4)
    _, steps = G.generate_text(embedded_lm, PROMPT, "Raw continuation", settings(top_k=20, max_new_tokens=5))
    for step in steps:
        assert 0 < step.p_sampled <= 1 and 0 < step.p_model <= 1
        assert len(step.top) == limits.STEP_TOP_N
        assert [t[1] for t in step.top] == sorted((t[1] for t in step.top), reverse=True)


def test_repetition_penalty_lowers_the_probability_of_repeated_tokens(embedded_lm):
    prompt = "I like apples, apples, apples and"
    logits, ids = LI.next_token_logits(embedded_lm, prompt, "Raw continuation")
    apples = embedded_lm.tokenizer(" apples", add_special_tokens=False).input_ids[0]
    _, plain = LI.reshape(logits, ids, settings())
    _, penalised = LI.reshape(logits, ids, settings(repetition_penalty=1.8))
    assert penalised[apples] < plain[apples]


def test_chat_mode_wraps_the_prompt_in_the_chat_template(embedded_lm):
    tok = embedded_lm.tokenizer
    chat = tok.decode(G.encode_prompt(tok, "Hello", "Chat")[0])
    raw = tok.decode(G.encode_prompt(tok, "Hello", "Raw continuation")[0])
    assert "<|im_start|>user" in chat and chat.rstrip().endswith("assistant")
    assert raw == "Hello"


def test_attention_rows_sum_to_one_and_are_causal(embedded_lm_inspect):
    tokens, w = LI.attention_maps(embedded_lm_inspect, "The cat sat on the mat.", "Raw continuation")
    config = embedded_lm_inspect.model.config
    assert w.shape == (config.num_hidden_layers, config.num_attention_heads, len(tokens), len(tokens))
    assert w.dtype == np.float32
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-4)
    assert np.allclose(np.triu(w, k=1), 0.0)
    assert not np.allclose(w[0, 0], w[-1, -1])  # heads differ


def test_attention_view_refuses_inputs_over_the_limit(embedded_lm_inspect):
    with pytest.raises(ValueError, match=str(limits.ATTENTION_MAX_TOKENS)):
        LI.attention_maps(embedded_lm_inspect, "word " * 100, "Raw continuation")


@pytest.mark.parametrize("prompt", ["", "   \n ", "x" * (limits.PROMPT_MAX_CHARS + 1)])
def test_empty_or_oversized_prompts_are_refused(prompt):
    with pytest.raises(ValueError):
        G.validate_prompt(prompt)


@pytest.mark.parametrize("field,value", [
    ("max_new_tokens", 0), ("max_new_tokens", limits.MAX_NEW_TOKENS + 1), ("top_k", limits.TOP_K_MAX + 1),
    ("top_k", 2.5), ("temperature", -0.1), ("temperature", float("nan")), ("top_p", 0.0), ("seed", -1),
    ("repetition_penalty", "lots"),
])
def test_out_of_range_settings_are_refused(field, value):
    with pytest.raises(ValueError):
        settings(**{field: value})


def test_unknown_mode_is_refused(embedded_lm):
    with pytest.raises(ValueError, match="Mode"):
        G.encode_prompt(embedded_lm.tokenizer, "Hi", "Poetry")


def test_the_stream_updates_the_screen_at_a_bounded_rate_and_ends_with_every_token(embedded_lm, monkeypatch):
    monkeypatch.setattr(L, "STREAM_UPDATES_PER_S", 1e-3)  # one update in 1,000 s: only the first token streams
    updates = list(L.generate_ui("Once upon a time", "Raw continuation", embedded_lm.spec.label, 0.0, 0, 1.0, 1.0,
                                 12, 0, progress=lambda *a, **k: None))
    streamed, final = updates[:-1], updates[-1]
    steps = final[3]
    assert len(steps) == 12 and len(streamed) == 1  # the first token at once, then nothing until the end
    assert final[0] == embedded_lm.tokenizer.decode([s["token_id"] for s in steps], skip_special_tokens=True)
    assert final[0].startswith(streamed[0][0]) and len(final[0]) > len(streamed[0][0])


# --- characters split over byte-level tokens ---------------------------------------------------------

def test_a_chinese_reply_shows_byte_tokens_and_their_characters_never_a_replacement_character(embedded_lm):
    """SmolLM2 splits most Chinese characters into two or three byte-level tokens: none may read as "�"."""
    *_, final = L.generate_ui("我喜欢学习中文，因为", "Raw continuation", embedded_lm.spec.label, 0.0, 0, 1.0, 1.0, 16, 0,
                              progress=lambda *a, **k: None)
    text, _, highlighted, steps, _, _ = final
    tokens = [token for token, _ in highlighted]
    tables = [LI.show_step(steps, i + 1) for i in range(len(steps))]
    candidates = [token for table in tables for token in table["token"]]
    assert not any("\ufffd" in t for t in [text, *tokens, *candidates])
    assert any(t.startswith("<0x") and "→" in t for t in tokens)  # the token completing a character shows it
    for step, table in zip(steps, tables, strict=True):  # the sampled token is marked among the candidates
        if step["token_id"] in step["top_ids"]:
            assert table.loc[table["sampled"] == "◀", "token"].item() == show_token(step["token"])


def test_a_token_sampled_from_outside_the_top_10_gets_its_own_marked_row(embedded_lm):
    """At temperature 2 a rare token is soon sampled; the step table must still show it (lesson 4, Try it 5)."""
    *_, final = L.generate_ui(PROMPT, "Raw continuation", embedded_lm.spec.label, 2.0, 0, 1.0, 1.0, 24, 0,
                              progress=lambda *a, **k: None)
    steps = final[3]
    outside = [i for i, step in enumerate(steps) if step["token_id"] not in step["top_ids"]]
    assert outside, "no token sampled from outside the top 10 at temperature 2"
    for i, step in enumerate(steps):
        table = LI.show_step(steps, i + 1)
        if i in outside:
            assert len(table) == limits.STEP_TOP_N + 1
            row = table.iloc[-1]
            assert row["sampled"] == LI.OUTSIDE_TOP and row["token"] == show_token(step["token"])
            assert 0 < row["p (model)"] <= table["p (model)"].iloc[:-1].min()  # no likelier than any top-10 token
            assert (table["sampled"].iloc[:-1] == "").all()
        else:
            assert len(table) == limits.STEP_TOP_N and (table["sampled"] == "◀").sum() == 1


def test_a_reply_cut_mid_character_ends_in_its_bytes(embedded_lm):
    tokenizer = embedded_lm.tokenizer
    ids = tokenizer("日本", add_special_tokens=False)["input_ids"]  # E6 97 | A5 | 本
    assert read_text(tokenizer, ids[:1]) == "<0xE6><0x97>"
    assert read_text(tokenizer, ids) == "日本"


# --- Stop ---------------------------------------------------------------------------------------------

COUNTING = "1, 2, 3, 4, 5,"  # greedy, the model counts on: no end-of-text token within 256 tokens


def session(name: str):
    """What Gradio passes as ``gr.Request``, as far as the Stop flags read it."""
    return types.SimpleNamespace(session_hash=name)


def generate_with_stop(embedded_lm, request):
    return L.generate_ui(COUNTING, "Raw continuation", embedded_lm.spec.label, 0.0, 0, 1.0, 1.0, limits.MAX_NEW_TOKENS,
                         0, request=request, progress=lambda *a, **k: None)


def test_stop_ends_the_generation_between_two_tokens_and_shows_the_partial_reply(embedded_lm):
    request = session("stop-mid-stream")
    updates = generate_with_stop(embedded_lm, request)
    streamed = next(updates)  # the first token is on screen
    L.STOPS.stop(request)
    *_, final = updates
    text, info, highlighted, steps, slider, table = final
    assert len(steps) == 1  # the loop ended before the next token
    assert "Stopped by you" in info and "after 1 tokens" in info
    assert text == streamed[0] == read_text(embedded_lm.tokenizer, [s["token_id"] for s in steps])
    assert [token for token, _ in highlighted] == [s["token"].replace("\n", "↵\n") for s in steps]
    assert len(table) == limits.STEP_TOP_N and "◀" in set(table["sampled"])


def test_a_stop_pressed_while_waiting_in_the_queue_generates_nothing(embedded_lm):
    request = session("stop-in-queue")
    L.STOPS.arm(request)  # Generate clicked: the event waits in the queue
    L.STOPS.stop(request)
    (final,) = list(generate_with_stop(embedded_lm, request))
    text, info, highlighted, steps, _, _ = final
    assert text == "" and steps == [] and highlighted == []
    assert "Stopped by you" in info and "after 0 tokens" in info


def test_a_stopped_generation_leaves_no_thread_running(embedded_lm):
    """As Gradio runs it: the generator in a worker thread, Stop from another. Afterwards no thread is left."""
    list(generate_with_stop(embedded_lm, None))  # warm-up with a private flag: every pool the backends keep exists
    process = psutil.Process()
    threads_before, os_threads_before = threading.active_count(), process.num_threads()
    request, started, updates = session("stop-thread"), threading.Event(), []

    def worker():
        for update in generate_with_stop(embedded_lm, request):
            updates.append(update)
            started.set()

    thread = threading.Thread(target=worker)
    thread.start()
    assert started.wait(timeout=300)
    L.STOPS.stop(request)
    thread.join(timeout=300)
    assert not thread.is_alive()
    assert "Stopped by you" in updates[-1][1] and 1 <= len(updates[-1][3]) < limits.MAX_NEW_TOKENS
    assert threading.active_count() == threads_before
    deadline = time.monotonic() + 60
    while process.num_threads() > os_threads_before and time.monotonic() < deadline:
        time.sleep(0.5)
    assert process.num_threads() <= os_threads_before


def test_entropy_of_a_certain_token_is_zero_not_minus_zero():
    assert f"{LI.entropy_bits(np.array([1.0, 0.0, 0.0])):.2f}" == "0.00"
    assert LI.entropy_bits(np.array([0.5, 0.5])) == 1.0


@pytest.mark.parametrize("p, band", [(1.0, "p ≥ 50%"), (0.5, "p ≥ 50%"), (0.49, "10-50%"), (0.1, "10-50%"),
                                     (0.05, "1-10%"), (0.002, "0.1-1%"), (0.0009, "p < 0.1%"), (0.0, "p < 0.1%")])
def test_each_probability_falls_in_one_band_of_the_legend(p, band):
    assert LI.probability_band(p) == band and band in LI.BAND_COLOURS


def test_tokens_are_coloured_by_the_band_of_the_probability_they_were_sampled_with(embedded_lm):
    """At temperature 2 the reply mixes sure tokens and rare draws: the colours say which is which."""
    *_, final = L.generate_ui(PROMPT, "Raw continuation", embedded_lm.spec.label, 2.0, 0, 1.0, 1.0, 24, 0,
                              progress=lambda *a, **k: None)
    coloured, steps = final[2], final[3]
    assert [band for _, band in coloured] == [LI.probability_band(s["p_sampled"]) for s in steps]
    assert len({band for _, band in coloured}) >= 2
