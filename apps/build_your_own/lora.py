"""Fine-tune instead of starting fresh: LoRA on SmolLM2-135M with the ``peft`` library (Hu et al. 2021).

LoRA freezes every pretrained weight W0 and learns a low-rank change for chosen matrices,
W = W0 + (alpha / r) B A, with B (d x r) starting at zero, so training starts from the original model.
Here the query and value projections of every attention layer get rank-``r`` adapters, as in the paper.

The shared, cached model is never touched: :func:`lora_finetune` trains a deep copy and returns it with
its adapter; :func:`adapter_zip` saves only the adapter (a few MB), which ``peft`` loads on top of the
original model anywhere. The loop is the same as ``train.train_step``'s (AdamW, warm-up, cosine decay,
clipping) on windows of the learner's text.
"""
from __future__ import annotations

import copy
import math
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from apps.build_your_own import train as T
from shared import limits
from shared.checks import as_float, as_int
from shared.device import torch_threads

TARGET_MODULES = ["q_proj", "v_proj"]  # Hu et al. 2021, section 7.1: adapting W_q and W_v is enough


@dataclass(frozen=True)
class LoraSettings:
    steps: int = 8
    rank: int = 8
    learning_rate: float = 1e-3
    seq_len: int = 32  # a step costs about its length: 8 steps of 4 x 32 tokens keep the default run short
    batch_size: int = 4
    seed: int = 0
    max_new_tokens: int = 32


def make_lora_settings(steps, rank, learning_rate, seq_len, seed, max_new_tokens=32) -> LoraSettings:
    """Check raw UI / API values. Raises ``ValueError`` for anything outside ``shared.limits``."""
    return LoraSettings(
        steps=as_int("LoRA steps", steps, 1, limits.BYO_LORA_STEPS_MAX),
        rank=as_int("LoRA rank", rank, 1, limits.BYO_LORA_RANK_MAX),
        learning_rate=as_float("Learning rate", learning_rate, limits.BYO_LR_MIN, limits.BYO_LR_MAX),
        seq_len=as_int("Sequence length", seq_len, limits.BYO_LORA_SEQ_MIN, limits.BYO_LORA_SEQ_MAX),
        seed=as_int("Seed", seed, 0, limits.SEED_MAX),
        max_new_tokens=as_int("Max new tokens", max_new_tokens, 1, limits.MAX_NEW_TOKENS),
    )


@dataclass
class LoraResult:
    """What a fine-tune did: the same prompt before and after, the loss curve, the held-out loss both times."""

    before: str
    after: str
    losses: list[float]
    val_before: float
    val_after: float
    trainable: int
    total: int
    seconds: float


@torch.no_grad()
def held_out_loss(model, windows: torch.Tensor) -> float:
    """Mean next-token cross-entropy (nats/token) over ``windows`` ``(N, seq_len + 1)`` int64."""
    model.eval()
    windows = windows.to(next(model.parameters()).device)
    logits = model(input_ids=windows[:, :-1]).logits  # (N, T, V)
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), windows[:, 1:].reshape(-1)).item()


@torch.no_grad()
def continue_text(model, tokenizer, prompt: str, max_new_tokens: int, seed: int) -> str:
    """Sample a continuation (temperature 0.8, top-k 50) with a private seed: same seed, same draws."""
    model.eval()
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"].to(next(model.parameters()).device)
    with torch.random.fork_rng(devices=[ids.device] if ids.device.type == "cuda" else []):  # private seed
        torch.manual_seed(seed)
        out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=True, temperature=0.8, top_k=50,
                             top_p=1.0, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.eos_token_id)
    return tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)


def text_windows(tokenizer, text: str, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The learner's text as token ids, split 90% / 10%, and up to 8 held-out windows of ``seq_len + 1`` tokens.

    Raises:
        ValueError: the text gives fewer than 10 windows (too short to fine-tune and check on).
    """
    if len(text) > limits.BYO_LORA_TEXT_MAX_CHARS:
        text = text[: limits.BYO_LORA_TEXT_MAX_CHARS]
    ids = torch.tensor(tokenizer(text, add_special_tokens=False)["input_ids"], dtype=torch.long)
    if len(ids) < 10 * (seq_len + 1):
        raise ValueError(f"The text has {len(ids):,} tokens for this model; fine-tuning with sequences of {seq_len} "
                         f"needs at least {10 * (seq_len + 1):,}. Use more text or a shorter sequence length.")
    cut = int(0.9 * len(ids))
    train, val = ids[:cut], ids[cut:]
    n = min(8, len(val) // (seq_len + 1))
    return train, val[: n * (seq_len + 1)].view(n, seq_len + 1)


def lora_finetune(base, tokenizer, text: str, prompt: str, s: LoraSettings,
                  progress: Callable[[int, float], None] | None = None):
    """Fine-tune a copy of ``base`` with LoRA on ``text`` for ``s.steps`` steps, on one CPU thread.

    Args:
        base: a ``transformers`` causal LM (float32); never modified.
        progress: called as ``progress(step, loss)`` after every step.
    Returns:
        ``(peft_model, LoraResult)``: the fine-tuned copy (a ``peft.PeftModel``) and the figures.
    Raises:
        ValueError: the text is too short (see :func:`text_windows`), the prompt empty or over
            ``limits.PROMPT_MAX_TOKENS`` tokens.
    """
    from peft import LoraConfig, get_peft_model

    if not prompt or not prompt.strip():
        raise ValueError("Type a prompt: the same prompt is continued before and after fine-tuning.")
    n_prompt = len(tokenizer(prompt)["input_ids"])
    if n_prompt > limits.PROMPT_MAX_TOKENS:
        raise ValueError(f"The prompt is {n_prompt:,} tokens long; the limit is {limits.PROMPT_MAX_TOKENS:,} tokens. "
                         "Shorten it (nothing is cut off for you).")
    train_ids, val_windows = text_windows(tokenizer, text, s.seq_len)
    start = time.perf_counter()
    with torch_threads(1):
        model = copy.deepcopy(base)  # the shared model stays as it is
        model.set_attn_implementation("sdpa")
        val_before = held_out_loss(model, val_windows)
        before = continue_text(model, tokenizer, prompt, s.max_new_tokens, s.seed)
        config = LoraConfig(r=s.rank, lora_alpha=2 * s.rank, target_modules=TARGET_MODULES, lora_dropout=0.0,
                            bias="none", task_type="CAUSAL_LM")
        model = get_peft_model(model, config)
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        total = sum(p.numel() for p in model.parameters())
        t = T.TrainSettings(batch_size=s.batch_size, max_steps=s.steps, learning_rate=s.learning_rate,
                            min_lr=s.learning_rate / 10, warmup_steps=min(5, s.steps // 4), weight_decay=0.0)
        optimizer = T.configure_optimizer(model, t)
        generator = torch.Generator().manual_seed(s.seed)
        losses = []
        for step in range(s.steps):
            loss, _ = T.train_step(model, optimizer, train_ids, step, t, s.seq_len, generator)
            if not math.isfinite(loss):
                raise ValueError(f"Fine-tuning diverged at step {step + 1} (the loss became {loss}). "
                                 "Lower the learning rate.")
            losses.append(loss)
            if progress is not None:
                progress(step + 1, loss)
        val_after = held_out_loss(model, val_windows)
        after = continue_text(model, tokenizer, prompt, s.max_new_tokens, s.seed)
    return model, LoraResult(before, after, losses, val_before, val_after, trainable, total,
                             time.perf_counter() - start)


def adapter_zip(peft_model, folder: Path, base_repo: str, name: str = "my-lora-adapter") -> Path:
    """Save only the LoRA adapter (``adapter_model.safetensors`` + ``adapter_config.json``) and zip it.

    ``base_repo`` is recorded as the adapter's base model, so
    ``PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_repo), "my-lora-adapter")`` loads it.
    """
    peft_model.peft_config["default"].base_model_name_or_path = base_repo
    out = folder / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{id(peft_model) % 10_000:04d}"
    peft_model.save_pretrained(out, safe_serialization=True)
    zip_path = out.with_suffix(".zip")
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(out.iterdir()):
            z.write(path, f"{name}/{path.name}")
    for path in out.iterdir():
        path.unlink()
    out.rmdir()
    return zip_path
