"""Train the project's melody model: a small decoder-only transformer over melody events.

A GPT-2-style transformer (Radford et al. 2019; config from ``transformers.GPT2Config``, about 0.9 M
parameters) learns p(next event | previous events) on the tunes extracted by ``train/melody_data.py``
(Bach chorale soprano lines and public-domain folk-tune books from music21's corpus). Every training
sequence is transposed by a random interval, with its key token moved to match (augmentation: the model
sees every tune in many keys). Long tunes are cut at a random bar, the header repeated in front.

The learning rate follows the wall clock (warm-up, then cosine decay to the end of ``--minutes``), so a
run ends on time and finished decaying whatever the machine's speed. Checkpoints (``save_pretrained``,
safetensors + ``vocab.json``) overwrite ``weights/melody-transformer/`` every ``--save-every-min``
minutes, with the held-out loss logged each time.

    python -m train.melody --minutes 60          # train (1 CPU thread)
    python -m train.melody --evaluate            # figures + model card (README.md) for the saved model
"""
from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import random
import shutil
import time
from pathlib import Path

import torch

from apps.music.events import (
    EOS_ID,
    HEADER_LENGTH,
    PAD_ID,
    PITCH_MAX,
    PITCH_MIN,
    VOCABULARY,
    Note,
    Tune,
    encode,
    header_tokens,
    note_tokens,
    save_vocabulary,
)

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "train" / "data" / "melodies.jsonl.gz"
OUT = ROOT / "weights" / "melody-transformer"
MAX_LENGTH = 512
HELD_OUT_EVERY = 20  # every 20th tune of each collection is held out (5 %)
AUGMENT_RANGE = (48, 93)  # transpositions keep every note within C3 .. A6


def load_tunes(path: Path = DATA) -> tuple[list[Tune], list[Tune]]:
    """(training tunes, held-out tunes) from the extracted file; the split is fixed (by index)."""
    train, held = [], []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            r = json.loads(line)
            notes = [Note(None if p < 0 else p, t, b) for p, t, b in r["notes"]]
            if any(n.pitch is not None and not PITCH_MIN <= n.pitch <= PITCH_MAX for n in notes):
                continue
            tune = Tune(r["style"], r["tonic"], r["mode"], r["time"], notes)
            (held if i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1 else train).append(tune)
    return train, held


def transpose(tune: Tune, shift: int) -> Tune:
    notes = [Note(None if n.pitch is None else n.pitch + shift, n.ticks, n.bar) for n in tune.notes]
    return Tune(tune.style, (tune.tonic + shift) % 12, tune.mode, tune.time_signature, notes)


def random_example(tune: Tune, rng: random.Random) -> list[int]:
    """Token ids of ``tune`` in a random key (within ``AUGMENT_RANGE``), cut to ``MAX_LENGTH`` at a random bar."""
    pitches = [n.pitch for n in tune.notes if n.pitch is not None]
    lo, hi = min(pitches), max(pitches)
    shifts = [s for s in range(-6, 6) if AUGMENT_RANGE[0] <= lo + s and hi + s <= AUGMENT_RANGE[1]] or [0]
    t = transpose(tune, rng.choice(shifts))
    ids = encode(t)
    if len(ids) <= MAX_LENGTH:
        return ids
    start_bar = rng.randrange(max(1, t.bars - 4))
    notes = [Note(n.pitch, n.ticks, n.bar - start_bar) for n in t.notes if n.bar >= start_bar]
    body = note_tokens(notes) + [EOS_ID]
    return (header_tokens(t.style, t.tonic, t.mode, t.time_signature) + body)[:MAX_LENGTH]


def batch(examples: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask, labels), right-padded; no loss on padding or the given conditioning."""
    width = max(len(e) for e in examples)
    ids = torch.full((len(examples), width), PAD_ID, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, e in enumerate(examples):
        ids[i, : len(e)] = torch.tensor(e)
        mask[i, : len(e)] = 1
    labels = ids.masked_fill(mask == 0, -100)
    labels[:, :HEADER_LENGTH] = -100
    return ids, mask, labels


def make_model(n_embd: int, n_layer: int, n_head: int):
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=len(VOCABULARY), n_positions=MAX_LENGTH, n_embd=n_embd, n_layer=n_layer, n_head=n_head,
        n_inner=4 * n_embd, resid_pdrop=0.1, embd_pdrop=0.1, attn_pdrop=0.1,
        bos_token_id=VOCABULARY.index("<bos>"), eos_token_id=EOS_ID, pad_token_id=PAD_ID,
    )
    return GPT2LMHeadModel(config)


@torch.no_grad()
def held_out_nll(model, tunes: list[Tune]) -> dict[str, float]:
    """Mean negative log-likelihood (nats) on held-out tunes in their own key: per token and per note.

    Per note = the summed NLL of every event after the header (bar, pitch, duration, end) over the notes."""
    model.eval()
    total, tokens, notes = 0.0, 0, 0
    for i in range(0, len(tunes), 16):
        chunk = [encode(t)[:MAX_LENGTH] for t in tunes[i : i + 16]]
        ids, mask, labels = batch(chunk)
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
        target = labels[:, 1:]
        nll = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                                                ignore_index=-100, reduction="sum")
        total += nll.item()
        tokens += int((target != -100).sum())
        notes += sum(sum(1 for x in e if VOCABULARY[x].startswith("dur:")) for e in chunk)
    model.train()
    return {"nll_per_token": total / tokens, "nll_per_note": total / notes, "tokens": tokens, "notes": notes}


def save(model, folder: Path, state: dict) -> None:
    """Write safetensors + config + vocab.json + training.json to ``folder`` (via a temporary folder)."""
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    save_vocabulary(tmp)
    (tmp / "training.json").write_text(json.dumps(state, indent=1) + "\n")
    folder.mkdir(parents=True, exist_ok=True)
    for f in tmp.iterdir():
        os.replace(f, folder / f.name)
    tmp.rmdir()


def train(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    train_tunes, held = load_tunes(args.data)
    model = make_model(args.n_embd, args.n_layer, args.n_head)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{len(train_tunes)} training tunes, {len(held)} held out; {n_params / 1e6:.2f} M parameters", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05, betas=(0.9, 0.98))
    budget = args.minutes * 60
    start = last_save = time.time()
    step, seen_tokens, history, recent = 0, 0, [], []
    eval_tunes = held[: args.eval_tunes]
    while True:
        elapsed = time.time() - start
        if elapsed >= budget:
            break
        frac = elapsed / budget
        warm = min(1.0, (step + 1) / args.warmup)
        lr = args.lr * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        examples = [random_example(rng.choice(train_tunes), rng) for _ in range(args.batch_size)]
        ids, mask, labels = batch(examples)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        seen_tokens += int(mask.sum())
        recent.append(loss.item())
        if step % args.log_every == 0:
            print(f"step {step} {elapsed / 60:.1f} min lr {lr:.2e} train loss/token {sum(recent) / len(recent):.3f} "
                  f"tokens seen {seen_tokens}", flush=True)
            recent = []
        if time.time() - last_save >= args.save_every_min * 60:
            last_save = time.time()
            ev = held_out_nll(model, eval_tunes)
            history.append({"step": step, "minutes": round(elapsed / 60, 2), **ev})
            print(f"  held-out NLL/token {ev['nll_per_token']:.3f} per note {ev['nll_per_note']:.3f}; saved", flush=True)
            save(model, args.out, _state(args, step, seen_tokens, time.time() - start, n_params, history, False))
    ev = held_out_nll(model, held)
    history.append({"step": step, "minutes": round((time.time() - start) / 60, 2), "all_held_out": True, **ev})
    save(model, args.out, _state(args, step, seen_tokens, time.time() - start, n_params, history, True))
    print(f"done: {step} steps, {(time.time() - start) / 60:.1f} min, held-out NLL/note {ev['nll_per_note']:.3f}",
          flush=True)


def _state(args, step, tokens, seconds, n_params, history, finished) -> dict:
    return {"finished": finished, "steps": step, "tokens_seen": tokens, "wall_seconds": round(seconds),
            "parameters": n_params, "threads": args.threads, "batch_size": args.batch_size, "lr": args.lr,
            "seed": args.seed, "command": "python -m train.melody " + " ".join(args.argv), "history": history}


def main() -> None:
    import sys

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--minutes", type=float, default=60.0, help="wall-clock budget; training ends when it is spent")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=150)
    ap.add_argument("--n-embd", type=int, default=128)
    ap.add_argument("--n-layer", type=int, default=4)
    ap.add_argument("--n-head", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--save-every-min", type=float, default=5.0)
    ap.add_argument("--eval-tunes", type=int, default=96, help="held-out tunes scored at each checkpoint")
    ap.add_argument("--evaluate", action="store_true", help="measure the saved model and write its model card")
    args = ap.parse_args()
    args.argv = sys.argv[1:]
    if args.evaluate:
        from train.melody_eval import evaluate

        evaluate(args)
    else:
        train(args)


if __name__ == "__main__":
    main()
