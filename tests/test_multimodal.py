"""Topic 9: the tiny CLIP, the one-idea chain, and the hub paths (tested on tiny random models saved locally).

Real models throughout (the project's tiny CLIP, MiniLM, SmolLM2, topics 5 and 6's models); only the hub
is replaced, by folders the tests write with ``save_pretrained``.
"""
from __future__ import annotations

import json
import os
import stat
import sys
import wave
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image

from apps import multimodal as mm
from apps.multimodal import chain, hub
from apps.multimodal import clip as mmclip
from shared import catalog, limits
from shared.catalog import ModelSpec
from shared.loader import WEIGHTS_DIR, Loader, ModelUnavailable, load

FOLDER = WEIGHTS_DIR / mmclip.MODEL_ID


@pytest.fixture(scope="module")
def clip() -> mmclip.ClipModel:
    return load(mmclip.MODEL_ID).model


@pytest.fixture(scope="module")
def embedder():
    return load(catalog.EMBEDDED_EMBEDDER)


# --- the tiny CLIP ------------------------------------------------------------------------------------

def test_the_catalog_serves_the_tiny_clip_from_the_project_weights_through_this_module():
    spec = catalog.get(mmclip.MODEL_ID)
    assert spec.source == "project" and spec.task == "image-text-embedding"
    assert spec.reader == "apps.multimodal:read_clip" and callable(mm.read_clip)


def test_the_weights_are_small_safetensors_with_a_model_card():
    files = {p.name: p.stat().st_size for p in FOLDER.iterdir()}
    assert sum(files.values()) < 4 * 2**20
    assert "model.safetensors" in files and "README.md" in files
    assert not [n for n in files if n.endswith((".bin", ".pt", ".pth", ".ckpt", ".pkl"))]
    card = (FOLDER / "README.md").read_text()
    for needed in ("Apache-2.0", "python -m train.tiny_clip", "held-out", "chance"):
        assert needed in card


def test_images_match_their_own_captions_better_than_shuffled_ones_on_held_out_emoji(clip):
    g = clip.gallery
    test = np.flatnonzero(g.held_out)
    assert len(test) > 100
    u, v = g.image_embeddings[test], g.text_embeddings[test]
    right = (u * v).sum(1)
    shuffled = (u * v[torch.randperm(len(test), generator=torch.Generator().manual_seed(0))]).sum(1)
    assert right.mean() > shuffled.mean() + 0.1
    accuracy = mmclip.zero_shot_accuracy(clip, test)
    chance = {k: k / len(test) for k in (1, 5)}
    assert accuracy[5] > 5 * chance[5] and accuracy[1] > 5 * chance[1]


def test_the_model_card_figures_are_the_models_own(clip):
    config = json.loads((FOLDER / "config.json").read_text())
    accuracy = mmclip.zero_shot_accuracy(clip, np.flatnonzero(clip.gallery.held_out))
    assert accuracy[1] == pytest.approx(config["held_out_top1"], abs=0.02)  # the gallery is stored in float16
    assert accuracy[5] == pytest.approx(config["held_out_top5"], abs=0.02)


def test_the_maps_caption_states_the_models_own_matching_cosine(clip):
    g = clip.gallery
    assert float((g.image_embeddings * g.text_embeddings).sum(1).mean()) == pytest.approx(mm.MATCHING_COSINE, abs=0.01)
    assert abs(float((g.image_embeddings @ g.text_embeddings.T).mean())) < 0.05  # "unrelated pairs about 0"


def test_a_reloaded_network_reproduces_the_stored_gallery_embeddings(clip):
    fresh = mmclip.embed_images(clip, list(clip.gallery.images[:16]))
    stored = clip.gallery.image_embeddings[:16]
    # The gallery atlas is 256-colour, so pixels differ slightly from the originals the embeddings came from.
    assert (fresh * stored).sum(1).min() > 0.85


def test_search_returns_k_pictures_that_depend_on_the_text(clip, embedder):
    flags = mmclip.search_images(clip, embedder, "flag of japan", k=6)
    faces = mmclip.search_images(clip, embedder, "grinning face", k=6)
    assert len(flags) == len(faces) == 6
    assert {m.index for m in flags} != {m.index for m in faces}
    assert [m.similarity for m in flags] == sorted((m.similarity for m in flags), reverse=True)
    assert "grinning face" in [m.name for m in faces]


def test_caption_names_a_training_emoji_and_changes_with_the_picture(clip):
    g = clip.gallery
    first = mmclip.caption_image(clip, g.images[0], k=5)
    other = mmclip.caption_image(clip, g.images[1000], k=5)
    assert first[0].name == g.names[0]
    assert [m.name for m in first] != [m.name for m in other]
    assert 0 < first[0].probability <= 1 and first[0].probability >= first[1].probability


def test_caption_accepts_an_upload_a_drawing_and_an_array(clip, tmp_path):
    emoji = clip.gallery.images[0]
    path = tmp_path / "upload.png"
    Image.fromarray(emoji).resize((300, 200)).save(path)
    drawing = np.zeros((256, 256, 4), np.uint8)
    drawing[60:200, 60:200] = (230, 30, 30, 255)  # a red square on a transparent canvas
    solid_red = np.full((20, 30, 3), (220, 30, 40), np.uint8)  # one colour is a picture too (a red square)
    for picture in (str(path), {"composite": drawing, "layers": []}, emoji.astype(np.float32) / 255, solid_red):
        assert mmclip.caption_image(clip, picture, k=3)
    assert mmclip.prepare_image({"composite": drawing})[0, 0].tolist() == [255, 255, 255]  # transparent -> white


@pytest.mark.parametrize("make, message", [
    (lambda d: None, "Give a picture first"),
    (lambda d: _write(d / "notes.png", b"these are not pixels"), "not a picture"),
    (lambda d: _huge_png(d / "huge.png"), "the limit is|too large to open safely"),  # our check, or PIL's bound
    (lambda d: {"composite": np.zeros((64, 64, 4), np.uint8)}, "blank"),
    (lambda d: np.full((64, 64, 3), 255, np.uint8), "blank"),
    (lambda d: np.zeros((3, 4, 5, 6)), "not a picture"),
])
def test_bad_pictures_are_refused_with_a_clear_message(clip, tmp_path, make, message):
    with pytest.raises(ValueError, match=message):
        mmclip.caption_image(clip, make(tmp_path))


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def _huge_png(path: Path) -> str:
    Image.new("1", (5000, 5000)).save(path)  # a few kB on disk, 25 megapixels
    return str(path)


@pytest.mark.parametrize("query, message", [("", "Type a description"), ("   ", "Type a description"),
                                            ("x" * (limits.MM_TEXT_MAX_CHARS + 1), "limit")])
def test_empty_and_overlong_queries_are_refused(clip, embedder, query, message):
    with pytest.raises(ValueError, match=message):
        mmclip.search_images(clip, embedder, query)


def test_the_map_places_the_learners_text_and_picture_among_the_gallery(clip, embedder):
    v = mmclip.embed_texts(clip, embedder, ["a red heart"])
    u = mmclip.embed_images(clip, [clip.gallery.images[5]])
    sample, image_xy, text_xy, text_point, picture_point = mmclip.embedding_map(clip, 50, v, u)
    assert image_xy.shape == text_xy.shape == (50, 2) and text_point.shape == picture_point.shape == (1, 2)
    assert not np.allclose(text_point, picture_point)
    figure = mm.map_figure(clip, {"label": "a red heart", "vector": v[0].tolist()},
                           {"label": "x", "vector": u[0].tolist(), "image": clip.gallery.images[5].tolist()})
    assert figure.axes and "your text" in " ".join(t.get_text() for t in figure.axes[0].get_legend().get_texts())


# --- the chain ----------------------------------------------------------------------------------------

def test_the_mood_mapping_turns_happy_into_major_and_sad_into_minor(embedder):
    happy = chain.text_mood(embedder, "A joyful puppy laughs and plays in the bright sunshine.")
    sad = chain.text_mood(embedder, "Alone in the cold rain, she cried for what she had lost.")
    racing = chain.text_mood(embedder, "The crowd roars as the racing cars speed past.")
    sleepy = chain.text_mood(embedder, "A cat sleeps quietly by the fire on a still night.")
    assert happy.mode == "major" and sad.mode == "minor" and happy.valence > 0 > sad.valence
    assert racing.tempo_bpm > sleepy.tempo_bpm and racing.energy > sleepy.energy
    assert chain.TEMPO_MIN_BPM <= sleepy.tempo_bpm and racing.tempo_bpm <= chain.TEMPO_MAX_BPM
    assert "major" in happy.describe() and "bpm" in happy.describe()


FEW_IMAGE_STEPS = 4  # the chain's plumbing is under test here, not the pictures' quality


@pytest.fixture(scope="module")
def two_chains():
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(chain, "IMAGE_STEPS", FEW_IMAGE_STEPS)
        return chain.run_chain("a happy dog playing in the sun", seed=0), chain.run_chain("a lonely rainy night", seed=0)


def test_the_chain_returns_every_modality(two_chains):
    for r in two_chains:
        assert r.image.dtype == np.uint8 and r.image.ndim == 3 and r.image.shape[2] == 3
        assert r.caption in r.caption and r.caption == r.captions[0].name
        assert r.text and r.mood is not None and r.mood.mode in ("major", "minor")
        for step in chain.STEPS:  # every step either made its output or says why not
            assert step in r.notes and step in r.seconds
        if r.melody_audio is None:
            assert r.notes["melody"].startswith("unavailable")
        else:
            rate, samples = r.melody_audio
            assert rate > 8000 and samples.dtype == np.int16 and np.abs(samples).max() > 1000
        if r.speech is None:
            assert r.notes["speech"].startswith("unavailable")
        else:
            assert r.speech[1].dtype == np.int16 and len(r.speech[1]) > 0


def test_each_output_of_the_chain_depends_on_the_prompt(two_chains):
    happy, rainy = two_chains
    assert not np.array_equal(happy.image, rainy.image)
    assert happy.caption != rainy.caption
    assert happy.text != rainy.text
    if happy.melody_audio is not None:
        assert (happy.mood, len(happy.melody_audio[1])) != (rainy.mood, len(rainy.melody_audio[1]))


def test_the_same_prompt_and_seed_give_the_same_image_caption_and_sentence(two_chains, monkeypatch):
    monkeypatch.setattr(chain, "IMAGE_STEPS", FEW_IMAGE_STEPS)
    steps = chain.run_chain_steps("a happy dog playing in the sun", seed=0)
    again = [next(steps) for _ in range(3)][-1]  # image, caption, sentence: the melody and speech are not rerun
    assert np.array_equal(again.image, two_chains[0].image) and again.text == two_chains[0].text


def test_without_the_image_model_the_chain_uses_the_closest_gallery_emoji_and_says_so(monkeypatch, clip):
    def missing(*args, **kwargs):
        raise ModelUnavailable("its weights folder is missing")

    monkeypatch.setattr(chain, "_topic5_image", missing)
    result = next(chain.run_chain_steps("a red heart", seed=0))
    assert "unavailable" in result.notes["image"] and "gallery" in result.notes["image"]
    assert any(np.array_equal(result.image, g) for g in clip.gallery.images[:400])


def test_an_empty_prompt_stops_the_chain_with_a_message():
    with pytest.raises(ValueError, match="Type a prompt"):
        chain.run_chain("  ")


# --- speech --------------------------------------------------------------------------------------------

def test_without_espeak_or_the_hub_the_speech_step_is_labelled_unavailable(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    audio, note = chain.speak_text("hello there")
    assert audio is None and note.startswith("unavailable") and "espeak-ng is not installed" in note


def test_speech_runs_espeak_ng_in_a_subprocess_with_the_text_on_stdin(monkeypatch, tmp_path):
    fake = tmp_path / "espeak-ng"
    fake.write_text(f"""#!{sys.executable}
import sys, wave, math
text = sys.stdin.read()
out = wave.open(sys.stdout.buffer, "wb")
out.setnchannels(1); out.setsampwidth(2); out.setframerate(22050)
n = 100 * len(text)
out.writeframes(b"".join(int(8000 * math.sin(i / 5)).to_bytes(2, "little", signed=True) for i in range(n)))
""")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    audio, note = chain.speak_text("-v hello")  # text that looks like an option reaches stdin, not argv
    rate, samples = audio
    assert "espeak-ng" in note and rate == 22050 and samples.dtype == np.int16 and len(samples) == 800


def test_the_hub_voice_runs_a_tiny_random_vits_saved_locally(tmp_path):
    from transformers import VitsConfig, VitsModel, VitsTokenizer

    folder = tmp_path / "tiny-vits"
    folder.mkdir()
    chars = list("_ abcdefghijklmnopqrstuvwxyz'.,!?")
    (folder / "vocab.json").write_text(json.dumps({c: i for i, c in enumerate(chars)}))
    VitsTokenizer(str(folder / "vocab.json"), add_blank=True, normalize=True, phonemize=False).save_pretrained(folder)
    torch.manual_seed(0)
    VitsModel(VitsConfig(
        vocab_size=len(chars), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, ffn_dim=32, flow_size=16,
        spectrogram_bins=9, upsample_initial_channel=16, upsample_rates=[4, 4], upsample_kernel_sizes=[8, 8],
        resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]], prior_encoder_num_flows=1,
        prior_encoder_num_wavenet_layers=1, posterior_encoder_num_wavenet_layers=1,
        duration_predictor_filter_channels=16, depth_separable_num_layers=1, sampling_rate=16000,
    )).save_pretrained(folder)
    spec = ModelSpec(id="tiny-vits", label="tiny VITS", task="text-to-speech", source="hub", repo_id=str(folder),
                     revision=None, licence="MIT", ram_gb=0.01, description="", reader="apps.multimodal:read_tts")
    bundle = Loader(budget_bytes=2**30, cache_dir=tmp_path).load(spec)
    rate, samples = hub.speak_vits(bundle, "hello world", seed=0)
    assert rate == 16000 and samples.dtype == np.int16 and len(samples) > 1000


# --- the hub vision-language model -------------------------------------------------------------------

def save_tiny_idefics3(folder: Path) -> Path:
    """A random-initialised Idefics3 (SmolVLM's architecture) with a word-level tokenizer and a chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3ImageProcessorPil,
        Idefics3Processor,
        PreTrainedTokenizerFast,
    )

    specials = ["<unk>", "<s>", "</s>", "<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>"]
    specials += [f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)]
    words = specials + ["User", "Assistant", ":", "a", "the", "red", "cat", "dog", "smiling", "face", "heart",
                        "picture", "of", "is", "this", "describe"]
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                                        pad_token="<unk>")
    tokenizer.add_special_tokens({"additional_special_tokens": specials[3:]})
    torch.manual_seed(0)
    config = Idefics3Config(
        vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                           image_size=32, patch_size=8),
        text_config=dict(model_type="llama", vocab_size=len(words), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
                         bos_token_id=1, eos_token_id=2, pad_token_id=0),
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"), scale_factor=2, pad_token_id=0)
    Idefics3ForConditionalGeneration(config).save_pretrained(folder)
    template = ("{% for m in messages %}{{ m['role'] | capitalize }}:{% for c in m['content'] %}"
                "{% if c['type'] == 'image' %}<image>{% else %} {{ c['text'] }}{% endif %}{% endfor %}"
                "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}")
    images = Idefics3ImageProcessorPil(do_image_splitting=False, size={"longest_edge": 32},
                                       max_image_size={"longest_edge": 32})
    Idefics3Processor(images, tokenizer, image_seq_len=4, chat_template=template).save_pretrained(folder)
    return folder


def test_the_vision_language_hub_path_runs_a_tiny_random_idefics3_saved_locally(tmp_path):
    folder = save_tiny_idefics3(tmp_path / "tiny-vlm")
    spec = ModelSpec(id="tiny-vlm", label="tiny VLM", task="image-text-to-text", source="hub", repo_id=str(folder),
                     revision=None, licence="MIT", ram_gb=0.01, description="", reader="apps.multimodal:read_vlm")
    bundle = Loader(budget_bytes=2**30, cache_dir=tmp_path).load(spec)
    assert type(bundle.model).__name__ == "Idefics3ForConditionalGeneration"
    picture = Image.fromarray((np.random.default_rng(0).random((40, 50, 3)) * 255).astype(np.uint8))
    answer = hub.ask_about_image(bundle, picture, "describe this picture", max_new_tokens=6)
    assert isinstance(answer, str) and answer  # random weights: some words of the tiny vocabulary


def test_offline_the_vision_language_tab_answers_with_the_tiny_clip_and_warns(monkeypatch, clip, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    warnings = []
    monkeypatch.setattr(gr, "Warning", lambda message, *a, **k: warnings.append(message))
    path = tmp_path / "emoji.png"
    Image.fromarray(clip.gallery.images[0]).save(path)
    answer, info = mm.ask_ui(mm.VLM_CHOICES[0], str(path), mm.VLM_QUESTION, progress=lambda *a, **k: None)
    assert "tiny CLIP" in answer and "grinning face" in answer and "fallback" in info
    assert warnings and "cannot be loaded" in warnings[0] and "offline" in warnings[0]


# --- the demo's callbacks ------------------------------------------------------------------------------

def test_bad_input_reaches_the_learner_as_a_gradio_error(tmp_path):
    quiet = lambda *a, **k: None
    with pytest.raises(gr.Error, match="Type a description"):
        mm.search_ui("", 8, None, progress=quiet)
    with pytest.raises(gr.Error, match="Upload a picture"):
        mm.caption_upload_ui(None, None, progress=quiet)
    with pytest.raises(gr.Error, match="not a picture"):
        mm.caption_upload_ui(_write(tmp_path / "x.png", b"plain text"), None, progress=quiet)
    with pytest.raises(gr.Error, match="Results must be"):
        mm.search_ui("a heart", 0, None, progress=quiet)
    with pytest.raises(gr.Error, match="empty"):
        mm.caption_drawing_ui(None, None, progress=quiet)


def test_search_and_caption_callbacks_fill_the_gallery_the_labels_and_the_map(tmp_path):
    quiet = lambda *a, **k: None
    items, text_state, figure = mm.search_ui("a red heart", 4, None, progress=quiet)
    assert len(items) == 4 and items[0][0].shape[0] == mm.DISPLAY_PX and len(text_state["vector"]) == 128
    path = tmp_path / "heart.png"
    Image.fromarray(items[0][0]).save(path)
    labels, picture_state, figure = mm.caption_upload_ui(str(path), text_state, progress=quiet)
    assert len(labels) == 5 and all(0 <= p <= 1 for p in labels.values()) and figure.axes


def test_the_speech_audio_is_int16_and_the_wav_reader_ignores_a_pipes_wrong_lengths():
    import io

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes(np.arange(100, dtype="<i2").tobytes())
    data = bytearray(buffer.getvalue())
    data[40:44] = (0x7FFFFFFF).to_bytes(4, "little")  # what a writer that cannot seek leaves in the header
    rate, samples = hub.wav_to_int16(bytes(data))
    assert rate == 16000 and samples.dtype == np.int16 and samples.tolist() == list(range(100))


def test_an_unavailable_step_is_warned_once_per_session(monkeypatch):
    """The step's panel says "unavailable" on every run; the toast, which covers the tab bar, comes once per session."""
    import types

    import apps.multimodal as mm

    result = types.SimpleNamespace(notes={"speech": "unavailable: espeak-ng is not installed"}, warnings=[])
    monkeypatch.setattr(mm.mmchain, "run_chain_steps", lambda prompt, seed, progress=None: iter([result]))
    monkeypatch.setattr(mm, "_chain_outputs", lambda r, done: done)
    warned = []
    monkeypatch.setattr(mm, "warn", warned.append)
    alice, bob = types.SimpleNamespace(session_hash="alice"), types.SimpleNamespace(session_hash="bob")
    for request in (alice, alice, bob):
        assert list(mm.chain_ui("a red apple", 0, request=request)) == [False, True]
    assert warned == ["Speech: unavailable: espeak-ng is not installed"] * 2  # alice once, bob once
