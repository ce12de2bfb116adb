"""Topic 5 demo: text to image with a latent diffusion model, watched and steered step by step.

The embedded model, tiny-emoji-diffusion-2 (``weights/tiny-emoji-diffusion-2``, trained by
``train/emoji_diffusion.py`` from the first model, ``weights/tiny-emoji-diffusion`` by ``train/images.py``), is
Stable Diffusion in miniature (Rombach et al. 2022): a ``UNet2DConditionModel`` removes noise (Ho et al. 2020)
from 8x8x4 latents of a small ``AutoencoderKL`` (Kingma & Welling 2014), attending to the token embeddings of
all-MiniLM-L6-v2 (the text encoder, from its wheel or else the hub; the second model also reads MiniLM's sentence
vector), steered by classifier-free guidance (Ho & Salimans 2022).
Hub models (SD-Turbo, Sauer et al. 2023; Stable Diffusion 1.5) go through the same shared loader and the same
code: one ``callback_on_step_end`` and one UNet forward hook record, at every step, the noisy latent and the
model's prediction of the clean image. Schedulers (DDPM; DDIM, Song et al. 2021; Euler, Karras et al. 2022) are
swapped with ``from_config``.
"""
from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
import numpy as np

from shared import catalog, limits, loader
from shared.checks import as_float, as_int
from shared.ui import escape_markdown, friendly_errors, load_model, warn

TASK = "text-to-image"
EMBEDDED_T2I = "tiny-emoji-diffusion-2"
FIRST_T2I = "tiny-emoji-diffusion"  # the first model (544 Noto emoji): kept to compare against
CONCURRENCY_ID = "images-pipeline"
SCHEDULERS = ("DDIM", "DDPM", "Euler")
EMBEDDED_MAX_TOKENS = 16  # MiniLM tokens per prompt the embedded model was trained with ([CLS] + 14 + [SEP])
DISPLAY_SIDE_PX = 256  # small outputs are enlarged (nearest neighbour) to at least this for crisp pixels
FILMSTRIP_SIDE_PX = 96
DEFAULTS = dict(prompt="smiling cat face", negative_prompt="", num_inference_steps=25, guidance_scale=5.0,
                scheduler="DDIM", seed=0, batch_size=4, strength=0.6)
MODEL_DEFAULTS = {  # steps, guidance a model is meant to be used with
    "hub:sd-turbo": (1, 1.0),
}
EXAMPLES = [
    ["smiling cat face", 0], ["a red car", 0], ["a yellow star", 0], ["an umbrella in the rain", 0],
    ["a smiling cat face in 3D style", 0], ["a bicycle", 0], ["dog face", 3], ["", 5],
]
EXAMPLE_LABELS = ["smiling cat face", "a red car (a colour)", "a yellow star", "an umbrella in the rain (a sentence)",
                  "in 3D style (a style)", "a bicycle", "dog face", "empty prompt = unconditional"]
# The embedded model learnt one of its three styles from Twemoji, whose licence (CC-BY 4.0) asks for credit
CREDIT = ("The embedded model's pictures in flat style derive from [Twemoji](https://github.com/twitter/twemoji) "
          "(Copyright Twitter, Inc. and other contributors, [CC-BY 4.0](https://creativecommons.org/licenses/by/4.0/)); "
          "its other styles from Google's Noto Color Emoji (Apache-2.0) and Microsoft's Fluent Emoji (MIT). "
          "Model card: `weights/tiny-emoji-diffusion-2/README.md`.")
COMPARE_MODES = ("Two prompts, same seed", "Guidance 1 vs 7 vs 15")
COMPARE_GUIDANCE = (1.0, 7.0, 15.0)
# Approximate RGB of Stable Diffusion 1.x/2.x latents (a linear map, as ComfyUI's previews use): decoding
# every step with a 512 px VAE would cost more than the step itself.
SD_LATENT_RGB = np.array([[0.298, 0.207, 0.208], [0.187, 0.286, 0.173], [-0.158, 0.189, 0.264],
                          [-0.184, -0.271, -0.473]], dtype=np.float32)
_pipeline_lock = threading.Lock()  # the step hook sits on a shared UNet: one generation at a time


@dataclass
class StepFrame:
    """One denoising step of the first image: ``noisy`` is the latent after the step, ``predicted`` the
    model's estimate of the clean image at that step; both uint8 (H, W, 3)."""

    step: int
    timestep: float
    noisy: np.ndarray
    predicted: np.ndarray


@dataclass
class Generation:
    """What :func:`generate` returns. ``images``: uint8 (H, W, 3) at the model's resolution."""

    images: list[np.ndarray]
    frames: list[StepFrame]
    seconds: float
    model_label: str
    notes: list[str] = field(default_factory=list)
    unconditional: bool = False


# --- reading models (called by the shared loader) ---------------------------------------------------------
def _text_encoder_folder(report) -> Path:
    """all-MiniLM-L6-v2's files: from its wheel, or from the hub where the wheel is not installed."""
    try:
        return loader.folder(catalog.EMBEDDED_EMBEDDER, progress=report)
    except loader.ModelUnavailable as e:
        raise loader.ModelUnavailable(f"The text encoder is missing. {e}") from e


def _text_conditioning(folder: Path) -> dict:
    """How a project-trained pipeline reads prompts, from its ``text_encoder.json`` (absent in the first
    model): ``max_tokens`` MiniLM tokens, and whether MiniLM's sentence vector takes the [CLS] token's place
    (``shared.text_encoders.MiniLMWithSentenceToken``)."""
    path = folder / "text_encoder.json"
    settings = json.loads(path.read_text()) if path.exists() else {}
    return {"max_tokens": int(settings.get("max_tokens", EMBEDDED_MAX_TOKENS)),
            "sentence_token": bool(settings.get("sentence_token", False))}


def read_pipeline(source, *, dtype, device: str, local_only: bool, revision: str | None, report):
    """Read a text-to-image pipeline for the shared loader; returns ``(pipeline, None)``.

    ``source`` is a folder or a hub repo id. A folder whose ``model_index.json`` names no text encoder is a
    project-trained pipeline (``train/images.py``): it gets all-MiniLM-L6-v2 (from its wheel, else the hub) as
    text encoder (``use_attention_mask=True``, prompts cut at 16 tokens), runs in float32, and has no safety
    checker; a ``text_encoder.json`` beside ``model_index.json`` may ask for MiniLM's sentence vector in the
    [CLS] token's place (:func:`_text_conditioning`). Any other folder or repo goes through
    ``AutoPipelineForText2Image.from_pretrained`` (safetensors only, no remote code) in the loader's ``dtype``.
    No CPU offload is used: the pipeline is moved whole to ``device``.

    Raises:
        OSError: the files are missing (the loader turns this into its fallback notice).
        ModelUnavailable: the text encoder of a project-trained pipeline is missing.
    """
    import torch
    from diffusers import AutoPipelineForText2Image, StableDiffusionPipeline

    index = Path(source) / "model_index.json" if isinstance(source, Path) else None
    if index is not None and index.exists() and json.loads(index.read_text()).get("text_encoder", [None])[0] is None:
        from transformers import AutoModel, AutoTokenizer

        from shared.text_encoders import MiniLMWithSentenceToken

        report(0.3, "Reading the MiniLM text encoder")
        folder = _text_encoder_folder(report)
        conditioning = _text_conditioning(Path(source))
        tokenizer = AutoTokenizer.from_pretrained(folder, model_max_length=conditioning["max_tokens"])
        encoder_class = MiniLMWithSentenceToken if conditioning["sentence_token"] else AutoModel
        text_encoder = encoder_class.from_pretrained(folder, dtype=torch.float32, use_safetensors=True)
        text_encoder.config.use_attention_mask = True  # as in training: padding tokens are masked
        report(0.6, "Reading the UNet and the autoencoder")
        pipe = StableDiffusionPipeline.from_pretrained(
            source, text_encoder=text_encoder, tokenizer=tokenizer, safety_checker=None, feature_extractor=None,
            requires_safety_checker=False, dtype=torch.float32, use_safetensors=True, local_files_only=True,
        )
        dtype = torch.float32
    else:
        report(0.3, f"Reading {source}")
        pipe = AutoPipelineForText2Image.from_pretrained(
            source, dtype=dtype, use_safetensors=True, local_files_only=local_only, revision=revision,
        )
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device), None


# --- model-side functions (no gradio) ----------------------------------------------------------------------
def validate_prompt(prompt, name: str = "The prompt") -> str:
    """``prompt`` stripped; empty is allowed (it means: unconditional). Raises ``ValueError`` when too long."""
    if prompt is None:
        return ""
    if not isinstance(prompt, str):
        raise ValueError(f"{name} must be text.")
    prompt = prompt.strip()
    if len(prompt) > limits.IMAGES_PROMPT_MAX_CHARS:
        raise ValueError(f"{name} is {len(prompt):,} characters long; keep it under {limits.IMAGES_PROMPT_MAX_CHARS}.")
    return prompt


def validate_guidance(value) -> float:
    """Guidance scale: 0 (the prompt is ignored: unconditional), or 1 (the prompt alone) up to the maximum."""
    g = as_float("Guidance scale", value, 0.0, limits.IMAGES_GUIDANCE_MAX)
    if 0 < g < 1:
        raise ValueError("Guidance scale must be 0 (ignore the prompt) or at least 1 (1 = the prompt alone, "
                         f"higher = pushed further from the unconditional image), not {g:g}.")
    return g


def validate_image(image) -> np.ndarray:
    """An uploaded image as uint8 (H, W, 3). Raises ``ValueError`` for non-images and huge images."""
    if image is None:
        raise ValueError("Upload an image first (or press 'Use the first output').")
    if hasattr(image, "convert"):  # a PIL image
        image = np.asarray(image.convert("RGB"))
    array = np.asarray(image)
    if array.dtype == object or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise ValueError("That file is not an image this demo can read: use a PNG, JPEG or WebP picture.")
    if array.shape[0] * array.shape[1] > limits.IMAGES_UPLOAD_MAX_PIXELS:
        raise ValueError(f"The image is {array.shape[1]}x{array.shape[0]} pixels; the limit is "
                         f"{limits.IMAGES_UPLOAD_MAX_PIXELS:,} pixels (about 4096x4096).")
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    if array.shape[2] == 4:  # composite on white, as the emoji were
        alpha = array[..., 3:4].astype(np.float32) / 255.0
        array = array[..., :3] * alpha + 255.0 * (1 - alpha)
    if array.dtype != np.uint8:
        array = np.clip(array, 0, 255) if array.max() > 1.0 else np.clip(array * 255.0, 0, 255)
    return array.astype(np.uint8)


def native_size(pipe) -> int:
    """The side in pixels the pipeline generates by default (32 for the embedded model, 512 for SD 1.5)."""
    return int(pipe.unet.config.sample_size) * int(pipe.vae_scale_factor)


def make_scheduler(pipe, name: str):
    """A fresh scheduler of kind ``name`` (DDIM, DDPM or Euler) built ``from_config`` of the pipeline's own."""
    from diffusers import DDIMScheduler, DDPMScheduler, EulerDiscreteScheduler

    classes = {"DDIM": DDIMScheduler, "DDPM": DDPMScheduler, "Euler": EulerDiscreteScheduler}
    if name not in classes:
        raise ValueError(f"Unknown scheduler {name!r}; choose one of {', '.join(SCHEDULERS)}.")
    return classes[name].from_config(pipe.scheduler.config)


def _to_uint8(x) -> np.ndarray:
    """(3, H, W) float in [-1, 1] -> uint8 (H, W, 3)."""
    return ((x.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()


def latents_to_rgb(pipe, latents) -> list[np.ndarray]:
    """Latents (B, C, h, w) in the model's (scaled) space -> B uint8 images for the step view.

    Small latents (the embedded model's 8x8) go through the pipeline's VAE decoder; large ones (hub models)
    through a fixed linear map to RGB, which costs almost nothing.
    """
    import torch

    with torch.no_grad():
        if latents.shape[-1] <= 16:
            vae = pipe.vae
            scaled = latents.to(vae.dtype) / vae.config.scaling_factor
            return [_to_uint8(x) for x in vae.decode(scaled).sample]
        if latents.shape[1] == 4:
            rgb = torch.einsum("bchw,cr->brhw", latents.float().cpu(), torch.from_numpy(SD_LATENT_RGB))
        else:
            rgb = latents.float().cpu()[:, :3]
            rgb = rgb / rgb.abs().amax(dim=(1, 2, 3), keepdim=True).clamp(min=1e-6)
        return [_to_uint8(x) for x in rgb]


class StepRecorder:
    """Records, for image 0 of a batch, each step's noisy latent and predicted clean image.

    A forward hook on the UNet keeps its last input and output; ``callback_on_step_end`` (the one diffusers
    step callback, for every pipeline) turns them into the prediction of the clean latent,
    x0 = (x_t - sqrt(1 - alpha_bar_t) * eps) / sqrt(alpha_bar_t) (epsilon models; v-prediction models use
    x0 = sqrt(alpha_bar_t) * x_t - sqrt(1 - alpha_bar_t) * v), with the guidance applied as the pipeline does.
    """

    def __init__(self, pipe, guidance_scale: float, batch: int, on_step=None, record: bool = True):
        self.pipe, self.guidance, self.batch, self.on_step, self.record = pipe, guidance_scale, batch, on_step, record
        self.frames: list[StepFrame] = []
        self._raw: list[tuple] = []  # (step, timestep, latent, predicted clean latent), decoded at the end
        self._last = None
        self._handle = pipe.unet.register_forward_hook(self._hook, with_kwargs=True) if record else None

    def _hook(self, module, args, kwargs, output):
        sample = args[0] if args else kwargs["sample"]
        timestep = args[1] if len(args) > 1 else kwargs["timestep"]
        out = output[0] if isinstance(output, tuple) else output.sample
        self._last = (sample.detach(), timestep, out.detach())

    def callback(self, pipe, i: int, t, kwargs: dict) -> dict:
        if self.record and self._last is not None:
            import torch

            sample, timestep, out = self._last
            if out.shape[0] == 2 * self.batch:  # classifier-free guidance: [unconditional, conditional]
                eps = out[0] + pipe.guidance_scale * (out[self.batch] - out[0])
            else:
                eps = out[0]
            alphas = pipe.scheduler.alphas_cumprod
            tt = float(timestep.flatten()[0]) if torch.is_tensor(timestep) else float(timestep)
            a = alphas[min(max(int(round(tt)), 0), len(alphas) - 1)].to(eps.device, torch.float32)
            x_t = sample[0].float()
            if pipe.scheduler.config.get("prediction_type", "epsilon") == "v_prediction":
                x0 = a.sqrt() * x_t - (1 - a).sqrt() * eps.float()
            else:
                x0 = (x_t - (1 - a).sqrt() * eps.float()) / a.sqrt()
            self._raw.append((i + 1, round(tt, 2), kwargs["latents"][0].detach().float().clone(), x0))
        if self.on_step is not None:
            self.on_step(i + 1)
        return kwargs

    def close(self) -> None:
        """Remove the hook and decode every recorded step in one batch (cheaper than a decode per step)."""
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        if self._raw:
            import torch

            latents = torch.stack([t for r in self._raw for t in (r[2], r[3])])
            rgb = []
            for k in range(0, len(latents), 64):
                rgb += latents_to_rgb(self.pipe, latents[k:k + 64])
            self.frames = [StepFrame(r[0], r[1], rgb[2 * n], rgb[2 * n + 1]) for n, r in enumerate(self._raw)]
            self._raw = []


def generate(bundle, prompt: str = DEFAULTS["prompt"], negative_prompt: str = "",
             num_inference_steps: int = DEFAULTS["num_inference_steps"],
             guidance_scale: float = DEFAULTS["guidance_scale"], scheduler: str = DEFAULTS["scheduler"],
             seed: int = 0, batch_size: int = 1, init_image=None, strength: float = DEFAULTS["strength"],
             record_steps: bool = True, on_step=None) -> Generation:
    """Generate ``batch_size`` images for ``prompt`` with the loaded pipeline in ``bundle.model``.

    Args:
        bundle: a loader ``Bundle`` (or any object with ``.model``, a diffusers text-to-image pipeline, and
            optionally ``.spec.label``).
        prompt: text; empty means unconditional (the model's picture of "an emoji", no subject).
        negative_prompt: what the unconditional branch of guidance is replaced by ("" = nothing).
        num_inference_steps: denoising steps, 1..``limits.IMAGES_STEPS_MAX``.
        guidance_scale: w in eps = eps_uncond + w (eps_cond - eps_uncond): 0 = unconditional,
            1 = the prompt alone (no guidance), > 1 = classifier-free guidance (Ho & Salimans 2022).
        scheduler: "DDIM", "DDPM" or "Euler".
        seed: image i uses ``torch.Generator().manual_seed(seed + i)``, so an image does not depend on the batch size.
        batch_size: 1..``limits.IMAGES_BATCH_MAX``.
        init_image: ``None`` for text to image; an image (uint8 (H, W, 3), or PIL) for image to image (SDEdit,
            Meng et al. 2022): it is resized to the model's size, noised to ``strength`` and denoised.
        strength: for image to image, 0.05..1: the share of the noise schedule applied (1 = ignore the image).
        record_steps: record a :class:`StepFrame` per step for image 0 (costs one small decode per step).
        on_step: called with the step number after each step (for progress bars).
    Returns:
        A :class:`Generation`: ``images`` uint8 (H, W, 3), ``frames`` one per step actually run.
    Raises:
        ValueError: any setting out of range, with a sentence saying which.
    """
    import torch
    from diffusers import AutoPipelineForImage2Image, AutoPipelineForText2Image

    prompt = validate_prompt(prompt)
    negative_prompt = validate_prompt(negative_prompt, "The negative prompt")
    steps = as_int("Steps", num_inference_steps, 1, limits.IMAGES_STEPS_MAX)
    guidance = validate_guidance(guidance_scale)
    seed = as_int("Seed", seed, 0, limits.SEED_MAX)
    batch = as_int("Batch size", batch_size, 1, limits.IMAGES_BATCH_MAX)
    pipe = bundle.model
    sched = make_scheduler(pipe, scheduler)
    notes: list[str] = []
    tokenizer = pipe.tokenizer
    for label, text in (("prompt", prompt), ("negative prompt", negative_prompt)):
        n = len(tokenizer(text).input_ids)
        if n > tokenizer.model_max_length:
            notes.append(f"The {label} has {n} tokens; this model reads only the first {tokenizer.model_max_length}, "
                         "so the rest was ignored.")
    unconditional = guidance == 0 or not prompt
    if guidance == 0:  # eps_uncond + 0 * (...): the prompt plays no part; the negative prompt is the condition
        prompt, guidance = negative_prompt, 1.0
        negative_prompt = ""
    size = native_size(pipe)
    kwargs = dict(prompt=prompt, negative_prompt=negative_prompt or None, num_inference_steps=steps,
                  guidance_scale=guidance, num_images_per_prompt=batch, output_type="np",
                  generator=[torch.Generator().manual_seed(seed + i) for i in range(batch)])
    if init_image is not None:
        strength = as_float("Strength", strength, limits.IMAGES_STRENGTH_MIN, 1.0)
        if int(steps * strength) < 1:
            raise ValueError(f"Steps x strength = {steps * strength:.2f}: no step would run. Raise the steps "
                             "or the strength.")
        from PIL import Image

        image = Image.fromarray(validate_image(init_image))
        if image.size != (size, size):
            image = image.resize((size, size), Image.Resampling.LANCZOS)
        runner = AutoPipelineForImage2Image.from_pipe(pipe, scheduler=sched)
        kwargs.update(image=image, strength=strength)
    else:
        runner = AutoPipelineForText2Image.from_pipe(pipe, scheduler=sched)
        kwargs.update(height=size, width=size)
    runner.set_progress_bar_config(disable=True)
    label = getattr(getattr(bundle, "spec", None), "label", "pipeline")
    with _pipeline_lock:
        recorder = StepRecorder(runner, guidance, batch, on_step=on_step, record=record_steps)
        start = time.perf_counter()
        try:
            with torch.no_grad():
                out = runner(**kwargs, callback_on_step_end=recorder.callback)
        finally:
            with torch.no_grad():
                recorder.close()
        seconds = time.perf_counter() - start  # includes decoding the step view
    images = [(np.clip(img, 0, 1) * 255).round().astype(np.uint8) for img in out.images]
    return Generation(images, recorder.frames, seconds, label, notes, unconditional)


def upscale(image: np.ndarray, side: int = DISPLAY_SIDE_PX) -> np.ndarray:
    """Enlarge a small image by a whole factor with nearest neighbour (crisp pixels); large ones are kept."""
    factor = max(1, math.ceil(side / max(image.shape[:2])))
    return image.repeat(factor, axis=0).repeat(factor, axis=1) if factor > 1 else image


# --- gradio callbacks --------------------------------------------------------------------------------------
def _progress_hook(progress, total: int):
    return (lambda i: progress(i / total, desc=f"Denoising step {i} of {total}")) if progress else None


def _describe(result: Generation, prompt: str, guidance: float, scheduler: str, steps_run: int) -> str:
    """The info line (Markdown) under the gallery; the prompt and names in it are escaped, shown as typed."""
    what = "**unconditional** (empty prompt or guidance 0: the prompt plays no part)" if result.unconditional \
        else f"“{escape_markdown(prompt)}”"
    return (f"{len(result.images)} image(s) of {what} in {result.seconds:.2f} s · {steps_run} "
            f"{escape_markdown(scheduler)} steps · guidance {guidance:g} · {escape_markdown(result.model_label)}")


def _step_outputs(frames: list[StepFrame]):
    if not frames:
        return [], gr.Slider(visible=False), None, None, []
    last = len(frames)
    strip = [(upscale(f.predicted, FILMSTRIP_SIDE_PX), f"{f.step}") for f in frames]
    slider = gr.Slider(minimum=1, maximum=max(2, last), value=last, step=1, visible=last > 1)  # Gradio needs max > min
    return frames, slider, upscale(frames[-1].noisy), upscale(frames[-1].predicted), strip


@friendly_errors
def generate_ui(model, prompt, negative_prompt, steps, guidance, scheduler, seed, batch,
                progress=gr.Progress()):
    bundle = load_model(model, progress=progress)
    steps_i = as_int("Steps", steps, 1, limits.IMAGES_STEPS_MAX)
    result = generate(bundle, prompt, negative_prompt, steps_i, guidance, scheduler, seed, batch,
                      on_step=_progress_hook(progress, steps_i))
    for note in result.notes:
        warn(note)
    gallery = [(upscale(img), f"seed {int(seed) + i}") for i, img in enumerate(result.images)]
    info = _describe(result, validate_prompt(prompt), float(guidance), scheduler, len(result.frames) or steps_i)
    return gallery, info, *_step_outputs(result.frames)


@friendly_errors
def transform_ui(model, image, prompt, negative_prompt, steps, guidance, scheduler, seed, strength,
                 progress=gr.Progress()):
    bundle = load_model(model, progress=progress)
    steps_i = as_int("Steps", steps, 1, limits.IMAGES_STEPS_MAX)
    result = generate(bundle, prompt, negative_prompt, steps_i, guidance, scheduler, seed, 1, init_image=image,
                      strength=strength, on_step=_progress_hook(progress, max(1, int(steps_i * float(strength)))))
    for note in result.notes:
        warn(note)
    gallery = [(upscale(img), f"strength {float(strength):g}") for img in result.images]
    info = _describe(result, validate_prompt(prompt), float(guidance), scheduler, len(result.frames))
    return gallery, info, *_step_outputs(result.frames)


@friendly_errors
def compare_ui(model, mode, prompt, prompt_b, steps, guidance, scheduler, seed, progress=gr.Progress()):
    """The same seed, either with two prompts or with guidance 1, 7 and 15, side by side."""
    if mode not in COMPARE_MODES:
        raise ValueError(f"Choose a comparison: {' or '.join(COMPARE_MODES)}.")
    validate_prompt(prompt)
    validate_prompt(prompt_b, "The second prompt")  # checked before the first image is made
    bundle = load_model(model, progress=progress)
    if mode == COMPARE_MODES[0]:
        runs = [(prompt, guidance), (prompt_b, guidance)]
    else:
        runs = [(prompt, g) for g in COMPARE_GUIDANCE]
    gallery, seconds = [], 0.0
    for k, (text, g) in enumerate(runs):
        progress(k / len(runs), desc=f"Image {k + 1} of {len(runs)}")
        result = generate(bundle, text, "", steps, g, scheduler, seed, 1, record_steps=False)
        seconds += result.seconds
        caption = "(empty prompt)" if not validate_prompt(text) else validate_prompt(text)
        gallery.append((upscale(result.images[0]), f"{caption} · guidance {float(g):g}"))
    return gallery, f"Seed {int(seed)} for every image · {seconds:.1f} s in all · {escape_markdown(bundle.spec.label)}"


def show_step(frames, step):
    if not frames:
        return None, None
    index = min(max(int(step) - 1, 0), len(frames) - 1)
    return upscale(frames[index].noisy), upscale(frames[index].predicted)


def step_of(event: gr.SelectData) -> int:
    """The step of the strip's picture the learner clicked (the strip holds step 1, 2, ... in order)."""
    return event.index + 1


@friendly_errors
def first_output(gallery):
    """'Use the first output' for image to image: the first image of the Generate gallery."""
    if not gallery:
        raise ValueError("Generate an image first.")
    item = gallery[0]
    image = item[0] if isinstance(item, (list, tuple)) else item
    return np.asarray(image)


def model_defaults(model):
    steps, guidance = MODEL_DEFAULTS.get(model, (DEFAULTS["num_inference_steps"], DEFAULTS["guidance_scale"]))
    return steps, guidance


MODEL_CHOICES = [(m.label, m.id) for m in catalog.models_for(TASK)]


def build() -> None:
    """Lay out the topic 5 demo in the current tab and wire its events."""
    gr.Markdown("### Text to image, one denoising step at a time")
    with gr.Row():
        prompt = gr.Textbox(label="Prompt", value=DEFAULTS["prompt"], max_lines=2, scale=2,
                            info="Empty = unconditional. The emoji model knows about 1,900 emoji in three styles: "
                                 "name a colour or a style (\"in 3D style\").")
        negative = gr.Textbox(label="Negative prompt", value="", max_lines=2, scale=1,
                              info="Replaces the empty prompt in guidance: steer away from it.")
    # Laid out with the settings below the tabs; created here because the examples set it.
    seed = gr.Number(value=DEFAULTS["seed"], precision=0, minimum=0, maximum=limits.SEED_MAX, label="Seed",
                     render=False)
    with gr.Tabs():
        with gr.Tab("Generate", id="images-generate"):
            go = gr.Button("Generate", variant="primary", elem_classes="cm-main-action")
            gr.Examples(EXAMPLES, inputs=[prompt, seed], label="Prompts to try", example_labels=EXAMPLE_LABELS)
            # No floating label over the first picture: each picture's caption, under it, says what it is.
            # Four columns that fit the pane, as tall as the pictures (.cm-strip, shared/page.py); 210 px when
            # empty. Download and Fullscreen on a picture opened large (not over the grid's last picture).
            gallery = gr.Gallery(label="Images", show_label=False, columns=4, height=210, format="png",
                                 object_fit="contain", type="numpy", elem_id="images-gallery",
                                 elem_classes="cm-strip", buttons=["download", "fullscreen"])
        with gr.Tab("Compare", id="images-compare"):
            with gr.Row():
                mode = gr.Radio(list(COMPARE_MODES), value=COMPARE_MODES[0], label="Compare")
                prompt_b = gr.Textbox(label="Second prompt", value="smiling dog face", max_lines=1)
            compare = gr.Button("Compare", variant="primary")
            compare_gallery = gr.Gallery(label="Same seed, side by side", show_label=False, columns=3, height=260,
                                         format="png", object_fit="contain", elem_id="images-compare-gallery",
                                         elem_classes="cm-strip", buttons=["download", "fullscreen"])
        with gr.Tab("Image to image", id="images-img2img"):
            with gr.Row():
                upload = gr.Image(label="Start image", type="numpy", image_mode="RGB", format="png", height=256,
                                  sources=["upload", "clipboard"])
                img2img_gallery = gr.Gallery(label="Result", columns=1, height=256, format="png", object_fit="contain")
            with gr.Row():
                strength = gr.Slider(limits.IMAGES_STRENGTH_MIN, 1.0, value=DEFAULTS["strength"], step=0.05,
                                     label="Strength", info="How much noise is added to the start image "
                                     "(1 = start from pure noise)")
                use_last = gr.Button("Use the first output")
                transform = gr.Button("Transform", variant="primary")
    gr.Markdown("**Settings** (for all three tabs above)")
    with gr.Row():
        # 400 CSS px: the longest label, "tiny-emoji-diffusion (first model, 544 emoji)", shows whole
        model = gr.Dropdown(MODEL_CHOICES, value=EMBEDDED_T2I, label="Model", scale=2, min_width=400,
                            info="The embedded emoji model works offline; hub models need the hub once "
                                 "(offline, the embedded model is used, with a warning).")
        scheduler = gr.Radio(list(SCHEDULERS), value=DEFAULTS["scheduler"], label="Scheduler", scale=1)
    with gr.Row():
        steps = gr.Slider(1, limits.IMAGES_STEPS_MAX, value=DEFAULTS["num_inference_steps"], step=1, label="Steps")
        guidance = gr.Slider(0, limits.IMAGES_GUIDANCE_MAX, value=DEFAULTS["guidance_scale"], step=0.5,
                             label="Guidance scale", info="0 = ignore the prompt · 1 = prompt alone · >1 = guided")
        seed.render()
        batch = gr.Slider(1, limits.IMAGES_BATCH_MAX, value=DEFAULTS["batch_size"], step=1, label="Images")
    gr.Markdown(CREDIT, elem_classes="cm-credit")
    info = gr.Markdown(elem_classes="cm-header")
    with gr.Accordion("Step by step: the image emerging from noise", open=True):
        frames_state = gr.State([])
        step = gr.Slider(1, 2, value=1, step=1, label="Step", visible=False)
        # Captions above the pictures, not floating labels over them
        gr.Markdown("**Left:** the noisy latent at this step, decoded. **Right:** the model's prediction of the "
                    "clean image from it. **Below:** that prediction at every step (image 1).")
        with gr.Row():
            noisy_view = gr.Image(label="Noisy latent at this step (decoded)", show_label=False, format="png",
                                  height=256, interactive=False, elem_classes="cm-fit-picture")
            predicted_view = gr.Image(label="The model's prediction of the clean image", show_label=False,
                                      format="png", height=256, interactive=False, elem_classes="cm-fit-picture")
        # Ten steps a row, each numbered under its picture; a click shows that step above (the Step slider)
        filmstrip = gr.Gallery(label="Predicted clean image at every step (image 1)", show_label=False, columns=10,
                               height=None, format="png", object_fit="contain", elem_id="images-filmstrip",
                               elem_classes="cm-strip", allow_preview=False, buttons=[])

    common = dict(concurrency_id=CONCURRENCY_ID, concurrency_limit=1)
    step_outputs = [frames_state, step, noisy_view, predicted_view, filmstrip]
    go.click(generate_ui, inputs=[model, prompt, negative, steps, guidance, scheduler, seed, batch],
             outputs=[gallery, info, *step_outputs], api_name="images_generate", **common)
    compare.click(compare_ui, inputs=[model, mode, prompt, prompt_b, steps, guidance, scheduler, seed],
                  outputs=[compare_gallery, info], api_name="images_compare", **common)
    transform.click(transform_ui, inputs=[model, upload, prompt, negative, steps, guidance, scheduler, seed, strength],
                    outputs=[img2img_gallery, info, *step_outputs], api_name="images_transform", **common)
    use_last.click(first_output, inputs=[gallery], outputs=[upload], api_visibility="private")
    step.change(show_step, inputs=[frames_state, step], outputs=[noisy_view, predicted_view],
                api_visibility="private", trigger_mode="always_last")
    filmstrip.select(step_of, outputs=[step], api_visibility="private")
    model.change(model_defaults, inputs=[model], outputs=[steps, guidance], api_visibility="private")
