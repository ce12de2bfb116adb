"""Train a small GPT on the learner's text, nanoGPT-style: the whole loop written out.

The model is GPT-2's decoder-only transformer (Radford et al. 2019), built from a ``transformers``
``GPT2Config`` so that the result saves and loads like any Hugging Face model; nanoGPT (Karpathy 2022)
is the same architecture in 300 lines. The loop follows nanoGPT's ``train.py``:

- batches of ``block_size`` consecutive tokens at random offsets; the targets are the inputs shifted by one;
- the loss is the cross-entropy of the next token (Shannon's 1951 game, scored in nats);
- AdamW (Loshchilov and Hutter 2019), weight decay on matrices only;
- the learning rate rises linearly for ``warmup_steps``, then follows a cosine down to ``min_lr``
  (Loshchilov and Hutter 2017, SGDR, without restarts);
- the gradient norm is clipped to ``grad_clip`` (Pascanu et al. 2013);
- every ``eval_interval`` steps, the mean loss on held-out batches; every ``sample_every`` steps, a sample.

The functions from ``learning_rate`` to ``sample`` import only torch and transformers: the generated
training script (``export.py``) copies their source, so the script and the app run the same code.

The second half of the module runs a training in a background thread per learner (``start``, ``pause``,
``resume``, ``stop``), bounded in number, time and memory (``shared.limits.BYO_*``).
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from shared import limits, live, sampling
from shared.checks import as_float, as_int


@dataclass(frozen=True)
class ModelSettings:
    """The transformer's shape. ``n_embd`` must be a multiple of ``n_head``."""

    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    block_size: int = 64  # the context length, in tokens
    dropout: float = 0.0


@dataclass(frozen=True)
class TrainSettings:
    batch_size: int = 16
    max_steps: int = 2000
    learning_rate: float = 1e-3
    min_lr: float = 1e-4
    warmup_steps: int = 100
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    eval_interval: int = 100
    eval_batches: int = 8
    sample_every: int = 200
    seed: int = 1337


def make_settings(n_layer, n_head, n_embd, block_size, dropout, batch_size, max_steps, learning_rate,
                  warmup_percent, seed) -> tuple[ModelSettings, TrainSettings]:
    """Check raw UI / API values against ``shared.limits``; the warm-up is given in percent of the steps.

    Raises:
        ValueError: a value out of range, or an embedding size that the heads cannot share equally.
    """
    model = ModelSettings(
        n_layer=as_int("Layers", n_layer, 1, limits.BYO_LAYERS_MAX),
        n_head=as_int("Heads", n_head, 1, limits.BYO_HEADS_MAX),
        n_embd=as_int("Embedding size", n_embd, limits.BYO_EMBED_MIN, limits.BYO_EMBED_MAX),
        block_size=as_int("Context length", block_size, limits.BYO_CONTEXT_MIN, limits.BYO_CONTEXT_MAX),
        dropout=as_float("Dropout", dropout, 0.0, limits.BYO_DROPOUT_MAX),
    )
    if model.n_embd % model.n_head:
        raise ValueError(f"The embedding size ({model.n_embd}) must be a multiple of the number of heads "
                         f"({model.n_head}): each head gets an equal slice of it.")
    batch_size = as_int("Batch size", batch_size, limits.BYO_BATCH_MIN, limits.BYO_BATCH_MAX)
    if batch_size * model.block_size > limits.BYO_BATCH_TOKENS_MAX:
        raise ValueError(f"A batch of {batch_size} x {model.block_size} tokens is {batch_size * model.block_size:,} "
                         f"tokens; the limit here is {limits.BYO_BATCH_TOKENS_MAX:,} per step (memory). Lower the "
                         "batch size or the context length.")
    max_steps = as_int("Training steps", max_steps, 10, limits.BYO_STEPS_MAX)
    lr = as_float("Learning rate", learning_rate, limits.BYO_LR_MIN, limits.BYO_LR_MAX)
    train = TrainSettings(
        batch_size=batch_size,
        max_steps=max_steps,
        learning_rate=lr,
        min_lr=lr / 10,
        warmup_steps=min(max_steps - 1, round(max_steps * as_float("Warm-up", warmup_percent, 0, 50) / 100)),
        eval_interval=max(10, min(100, max_steps // 20)),
        sample_every=max(20, min(200, max_steps // 10)),
        seed=as_int("Seed", seed, 0, limits.SEED_MAX),
    )
    return model, train


def parameter_count(vocab_size: int, s: ModelSettings) -> int:
    """Parameters of the GPT-2 model below (the output layer shares the token embedding's weights).

    Per block: two LayerNorms (4E), attention (E x 3E + 3E, E x E + E), MLP (E x 4E + 4E, 4E x E + E).
    """
    e = s.n_embd
    return vocab_size * e + s.block_size * e + s.n_layer * (12 * e * e + 13 * e) + 2 * e


# ---------------------------------------------------------------------------------------------
# The recipe (copied into the generated training script: torch and transformers only)
# ---------------------------------------------------------------------------------------------

def make_model(vocab_size, s, seed):
    """A randomly initialised GPT-2 language model with the shape ``s`` (a ModelSettings)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=vocab_size, n_positions=s.block_size, n_embd=s.n_embd, n_layer=s.n_layer, n_head=s.n_head,
        resid_pdrop=s.dropout, embd_pdrop=s.dropout, attn_pdrop=s.dropout, bos_token_id=None, eos_token_id=None,
    )
    with torch.random.fork_rng(devices=[]):  # seeded weights, without disturbing anyone else's random numbers
        torch.manual_seed(seed)
        return GPT2LMHeadModel(config)


def learning_rate(step, t):
    """Linear warm-up to ``t.learning_rate`` over ``t.warmup_steps``, then cosine decay to ``t.min_lr``."""
    if step < t.warmup_steps:
        return t.learning_rate * (step + 1) / t.warmup_steps
    progress = min(1.0, (step - t.warmup_steps) / max(1, t.max_steps - t.warmup_steps))
    return t.min_lr + 0.5 * (t.learning_rate - t.min_lr) * (1 + math.cos(math.pi * progress))


def get_batch(data, block_size, batch_size, generator):
    """``batch_size`` random windows of ``data`` (a 1-D tensor of token ids): inputs and targets, (B, T) int64."""
    ix = torch.randint(len(data) - block_size - 1, (batch_size,), generator=generator)
    x = torch.stack([data[i: i + block_size] for i in ix.tolist()]).long()  # (B, T)
    y = torch.stack([data[i + 1: i + 1 + block_size] for i in ix.tolist()]).long()  # (B, T) the next tokens
    return x, y


def configure_optimizer(model, t):
    """AdamW with weight decay on the weight matrices only (not on biases, LayerNorms)."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": t.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=t.learning_rate, betas=(0.9, 0.99))


def train_step(model, optimizer, data, step, t, block_size, generator):
    """One optimisation step on one batch; returns ``(loss, learning rate)``."""
    lr = learning_rate(step, t)
    for group in optimizer.param_groups:
        group["lr"] = lr
    model.train()
    device = next(model.parameters()).device
    x, y = (b.to(device) for b in get_batch(data, block_size, t.batch_size, generator))
    logits = model(input_ids=x).logits  # (B, T, vocab_size)
    loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
    optimizer.step()
    return loss.item(), lr


@torch.no_grad()
def estimate_loss(model, data, block_size, batch_size, batches, generator):
    """Mean cross-entropy (nats per token) over ``batches`` random batches of ``data``, dropout off."""
    model.eval()
    device = next(model.parameters()).device
    losses = []
    for _ in range(batches):
        x, y = (b.to(device) for b in get_batch(data, block_size, batch_size, generator))
        logits = model(input_ids=x).logits
        losses.append(F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1)).item())
    return sum(losses) / len(losses)


@torch.no_grad()
def sample(model, tokenizer, prompt, max_new_tokens, block_size, temperature, generator):
    """Continue ``prompt`` by sampling, nanoGPT-style: the context is cropped to the last ``block_size`` tokens."""
    model.eval()
    ids = torch.tensor([tokenizer(prompt, add_special_tokens=False)["input_ids"]], dtype=torch.long)  # (1, T)
    start = ids.shape[1]
    for _ in range(max_new_tokens):
        logits = model(input_ids=ids[:, -block_size:]).logits[:, -1, :]  # (1, V) next-token scores
        probs = torch.softmax(logits / temperature, dim=-1)
        ids = torch.cat([ids, torch.multinomial(probs, 1, generator=generator)], dim=1)
    return tokenizer.decode(ids[0, start:].tolist())


# ---------------------------------------------------------------------------------------------
# Baselines: what a model that learned nothing, or only pairs of tokens, would score
# ---------------------------------------------------------------------------------------------

def uniform_loss(vocab_size: int) -> float:
    """Cross-entropy of guessing uniformly over the vocabulary: ln V nats per token."""
    return math.log(vocab_size)


def bigram_loss(train: np.ndarray, val: np.ndarray, vocab_size: int, alpha: float = 0.1) -> float:
    """Held-out cross-entropy (nats/token) of a bigram model counted on ``train`` (add-``alpha`` smoothing).

    p(b | a) = (count(a, b) + alpha) / (count(a) + alpha V). Sparse: memory grows with the text, not V^2.
    """
    train, val = train.astype(np.int64), val.astype(np.int64)
    pair_codes, pair_counts = np.unique(train[:-1] * vocab_size + train[1:], return_counts=True)
    first_counts = np.bincount(train[:-1], minlength=vocab_size)
    codes = val[:-1] * vocab_size + val[1:]
    where = np.searchsorted(pair_codes, codes).clip(max=len(pair_codes) - 1)
    counts = np.where(pair_codes[where] == codes, pair_counts[where], 0)
    p = (counts + alpha) / (first_counts[val[:-1]] + alpha * vocab_size)
    return float(-np.log(p).mean())


# ---------------------------------------------------------------------------------------------
# A trainer for shared.live: one step at a time, with evaluation, samples and a checkpoint
# ---------------------------------------------------------------------------------------------

@dataclass
class Dataset:
    """A text, tokenized: the tokenizer and the ids split 90% train / 10% validation (int32 arrays)."""

    tokenizer: object
    kind: str
    train: np.ndarray
    val: np.ndarray
    name: str
    characters: int
    bigram: float = math.nan  # held-out loss of a bigram model, the baseline to beat

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)


def prepare(text: str, kind: str, vocab_size: int, name: str) -> Dataset:
    """Build the tokenizer on ``text``, encode all of it, split it 90% / 10% (the end is held out, as in nanoGPT)."""
    from apps.build_your_own.tokenizer import encode_text, make_tokenizer

    tokenizer = make_tokenizer(text, kind, vocab_size)
    ids = encode_text(tokenizer, text)
    cut = int(0.9 * len(ids))
    vocab_size = len(tokenizer)
    return Dataset(tokenizer, kind, ids[:cut], ids[cut:], name, len(text), bigram_loss(ids[:cut], ids[cut:], vocab_size))


def check_data_fits(data: Dataset, block_size: int) -> None:
    """Refuse a context too long for the text: both splits must hold several context windows.

    Raises:
        ValueError: the validation split has fewer than 4 context windows, or training fewer than 16.
    """
    if len(data.val) < 4 * (block_size + 1) or len(data.train) < 16 * (block_size + 1):
        raise ValueError(
            f"The text is too short for a context of {block_size} tokens: it has {len(data.train) + len(data.val):,} "
            f"tokens, and the held-out 10% ({len(data.val):,} tokens) must hold at least 4 context windows. "
            "Use more text or a shorter context length."
        )


class GPTTrainer:
    """Trains one model step by step (``shared.live``'s trainer protocol), keeping the last good checkpoint."""

    def __init__(self, data: Dataset, model_settings: ModelSettings, train_settings: TrainSettings):
        check_data_fits(data, model_settings.block_size)
        params = parameter_count(data.vocab_size, model_settings)
        if params > limits.BYO_PARAMS_MAX:
            raise ValueError(f"This model would have {params:,} parameters; the limit here is "
                             f"{limits.BYO_PARAMS_MAX:,}. Use fewer layers or a smaller embedding size.")
        self.data, self.ms, self.ts = data, model_settings, train_settings
        self.train_ids = torch.from_numpy(data.train)
        self.val_ids = torch.from_numpy(data.val)
        self.model = make_model(data.vocab_size, model_settings, train_settings.seed)
        self.optimizer = configure_optimizer(self.model, train_settings)
        self.generator = torch.Generator().manual_seed(train_settings.seed)
        self.eval_generator = torch.Generator()
        self.step = 0
        self.samples: list[tuple[int, str]] = []
        self.checkpoint: dict[str, torch.Tensor] | None = None
        self.checkpoint_step = 0
        self.val_loss: float | None = None
        self.train_loss: float | None = None

    def train_step(self) -> dict[str, float]:
        loss, _lr = train_step(self.model, self.optimizer, self.train_ids, self.step, self.ts, self.ms.block_size,
                              self.generator)
        self.step += 1
        metrics = {"train loss": loss}
        if not math.isfinite(loss):
            return metrics
        self.train_loss = loss
        if self.step % self.ts.eval_interval == 0 or self.step == self.ts.max_steps:
            metrics["val loss"] = self.evaluate()
            if math.isfinite(metrics["val loss"]):
                self.val_loss = metrics["val loss"]
                self.save_checkpoint()
        if self.step % self.ts.sample_every == 0 or self.step == self.ts.max_steps:
            self.samples.append((self.step, self.sample()))
            del self.samples[:-20]
        return metrics

    def evaluate(self) -> float:
        """Held-out loss on the same ``eval_batches`` windows every time, so the curve is comparable."""
        self.eval_generator.manual_seed(0)
        return estimate_loss(self.model, self.val_ids, self.ms.block_size, self.ts.batch_size,
                             self.ts.eval_batches, self.eval_generator)

    def sample(self, max_new_tokens: int = limits.BYO_SAMPLE_CHARS, temperature: float = 0.8) -> str:
        generator = torch.Generator().manual_seed(self.ts.seed)
        return sample(self.model, self.data.tokenizer, "\n", max_new_tokens, self.ms.block_size, temperature,
                      generator)

    def save_checkpoint(self) -> None:
        self.checkpoint = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.checkpoint_step = self.step

    def restore_checkpoint(self) -> bool:
        """Put the last healthy weights back (after a divergence). Returns whether there were any."""
        if self.checkpoint is None:
            return False
        self.model.load_state_dict(self.checkpoint)
        return True

    def nbytes(self) -> int:
        """Bytes this trainer holds: the weights and the token ids, and until :meth:`release`, what training adds
        (gradients, Adam's two moments, the checkpoint: four more copies of the weights, counted from the start)."""
        weights = sum(p.nbytes for p in self.model.parameters())
        copies = 1 if self.optimizer is None else 5
        return weights * copies + self.train_ids.nbytes + self.val_ids.nbytes

    def release(self) -> None:
        """Drop what only training needs (gradients, optimizer state, checkpoint copy) once a run is finished."""
        self.optimizer = None
        self.checkpoint = None
        self.model.zero_grad(set_to_none=True)


# ---------------------------------------------------------------------------------------------
# Running in the background: one thread per training learner, a few at a time
# ---------------------------------------------------------------------------------------------

_ACTIVE = threading.BoundedSemaphore(limits.BYO_MAX_ACTIVE_RUNS)


@dataclass
class BackgroundRun(live.LiveRun):
    """A :class:`shared.live.LiveRun` trained by a thread of its own while the page polls for updates.

    ``finished`` says why training ended for good (steps done, time limit, stopped, diverged, an error);
    a finished run keeps its model for generation and download, but no longer its optimizer.
    """

    finished: str | None = None
    note: str = ""
    last_seen: float = field(default_factory=time.monotonic)
    control: threading.Lock = field(default_factory=threading.Lock, repr=False)
    thread: threading.Thread | None = field(default=None, repr=False)
    started: float = field(default_factory=time.time)

    @property
    def progress(self) -> float:
        return self.steps / self.trainer.ts.max_steps


def start(trainer: GPTTrainer) -> BackgroundRun:
    """Start training ``trainer`` in a new thread.

    Raises:
        ValueError: ``limits.BYO_MAX_ACTIVE_RUNS`` runs are training already.
    """
    run = BackgroundRun(trainer)
    resume(run)
    return run


def resume(run: BackgroundRun) -> None:
    """Continue a paused run (its thread may still be finishing its last chunk: then it simply goes on).

    Raises:
        ValueError: the run is finished, or the server is training as many runs as it allows.
    """
    with run.control:
        if run.finished:
            raise ValueError(f"This run is finished ({run.finished}). Press Train to start a new one.")
        run.running, run.note = True, ""
        run.last_seen = time.monotonic()
        if run.thread is not None and run.thread.is_alive():
            return
        if not _ACTIVE.acquire(blocking=False):
            run.running = False
            raise ValueError(f"{limits.BYO_MAX_ACTIVE_RUNS} models are training on this server right now (the most "
                             "it runs at once, so everyone's training stays quick). Try again in a minute.")
        run.thread = threading.Thread(target=_work, args=(run,), daemon=True, name="byo-train")
        run.thread.start()


def pause(run: BackgroundRun) -> None:
    run.running = False


def stop(run: BackgroundRun, why: str = "stopped by you") -> None:
    """End training for good, keeping the model as it is now (the last checkpoint if it diverged)."""
    with run.control:
        run.running = False
        thread = run.thread  # the worker may set run.thread to None as it leaves
    if thread is not None:
        thread.join(timeout=30)
    with run.lock:
        _finish(run, why)


def _finish(run: BackgroundRun, why: str) -> None:
    if run.finished:
        return
    run.finished = why
    run.running = False
    run.trainer.release()


def _work(run: BackgroundRun) -> None:
    trainer: GPTTrainer = run.trainer
    try:
        while True:
            with run.control:
                why = None
                if trainer.step >= trainer.ts.max_steps:
                    why = f"all {trainer.ts.max_steps:,} steps done"
                elif run.train_s >= limits.BYO_RUN_MAX_S:
                    why = f"the time limit of {limits.BYO_RUN_MAX_S // 60} minutes per run was reached"
                elif time.monotonic() - run.last_seen > limits.BYO_IDLE_PAUSE_S:
                    run.running, run.note = False, "Paused: the page stopped asking for updates."
                if why or not run.running:
                    if why:
                        with run.lock:
                            _finish(run, why)
                    run.thread = None
                    return
            live.advance(run, trainer.ts.max_steps - trainer.step, budget_s=0.5)
            if run.diverged:
                with run.lock:
                    restored = trainer.restore_checkpoint()
                    where = f"the checkpoint of step {trainer.checkpoint_step:,}" if restored else "no checkpoint yet"
                    run.diverged = (run.diverged.replace("press Reset", "press Train again")
                                    + f" The model was put back to {where}.")
                    _finish(run, "diverged")
    except Exception as e:  # a bug must not kill the server thread silently: the learner sees it
        run.note = f"Training stopped on an error: {type(e).__name__}: {e}"
        run.finished = run.finished or "error"
        run.running = False
        run.thread = None
        raise
    finally:
        _ACTIVE.release()


def snapshot(run: BackgroundRun, attention: str = "eager"):
    """A copy of the run's model at this moment, in eval mode, for generating or saving while training goes on."""
    import copy

    with run.lock:
        model = copy.deepcopy(run.trainer.model)
    model.eval()
    model.set_attn_implementation(attention)  # eager attention returns its weights (the attention view)
    return model


class CroppedContextDecoder:
    """nanoGPT's way of decoding (a ``shared.sampling.Decoder``): no key/value cache; every step runs the model on
    the last ``block_size`` tokens, so the text may grow past the model's context (a GPT-2 model has no
    positions beyond it)."""

    def __init__(self, model: torch.nn.Module, block_size: int):
        self.model, self.block_size = model, block_size
        self.context = None  # (1, T) every token so far

    def prefill(self, input_ids: torch.Tensor) -> None:
        self.context = input_ids

    def next_logits(self) -> torch.Tensor:
        """``(1, V)`` float32 logits after the last ``block_size`` tokens, on one thread (a tiny model)."""
        with torch.inference_mode(), live.one_thread():
            return self.model(input_ids=self.context[:, -self.block_size:]).logits[:, -1, :].float()

    def append(self, token_id: int) -> None:
        self.context = torch.cat([self.context, torch.tensor([[token_id]])], dim=1)


def generate_steps(bundle, block_size: int, prompt: str, settings):
    """Sample from the learner's model one token at a time, yielding each with its distribution.

    The course's sampling loop (``shared.sampling.sample``), as topic 4 runs it, on a
    :class:`CroppedContextDecoder`: nanoGPT's sampler, which crops the context to the last ``block_size`` tokens.

    Args:
        bundle: a ``shared.loader.Bundle`` of the learner's model (see ``apps.build_your_own.bundle_for``).
        settings: ``shared.sampling.SamplingSettings``.
    Yields:
        ``shared.sampling.Step`` per token.
    Raises:
        ValueError: the prompt gives no tokens.
    """
    tokenizer = bundle.tokenizer
    context = torch.tensor([tokenizer(prompt, add_special_tokens=False)["input_ids"]], dtype=torch.long)  # (1, T)
    if context.shape[1] == 0:
        raise ValueError("The prompt gave no tokens: type some text for the model to continue.")
    yield from sampling.sample(CroppedContextDecoder(bundle.model, block_size), context, settings, tokenizer)
