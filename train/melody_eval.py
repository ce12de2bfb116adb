"""Measure the saved melody transformer and write its model card (``weights/melody-transformer/README.md``).

Figures (all on the held-out tunes, every 20th of each collection, never trained on):
  * negative log-likelihood per note (nats) of the transformer vs a bigram (Markov) model over the same
    events, trained on the same tunes in every transposition the training used (add-alpha smoothing; the
    best alpha of a small sweep, chosen on the held-out tunes, which favours the baseline);
  * share of generated notes in the requested key's scale, at three temperatures, vs uniformly random
    pitches from the same range and vs the held-out tunes' own share.

    python -m train.melody --evaluate
"""
from __future__ import annotations

import json
import time
from collections import Counter

import numpy as np

from apps.music import events as ev
from shared import limits

TEMPERATURES = (0.5, 1.0, 1.5)
MELODIES_PER_TEMPERATURE = 24
BARS = 8


def _shift_tables() -> dict[int, np.ndarray]:
    """Token-id lookup tables that transpose a sequence by ``s`` semitones (pitch and key tokens move)."""
    tables = {}
    for s in range(-6, 6):
        table = np.arange(len(ev.VOCABULARY))
        for word, i in ev.TOKEN_ID.items():
            if word.startswith("pitch:") and ev.PITCH_MIN <= int(word[6:]) + s <= ev.PITCH_MAX:
                table[i] = ev.TOKEN_ID[f"pitch:{int(word[6:]) + s}"]
            elif word.startswith("key:"):
                table[i] = ev.TOKEN_ID[f"key:{ev.TONICS[(ev.TONICS.index(word[4:]) + s) % 12]}"]
        tables[s] = table
    return tables


def bigram_nll(train, held) -> dict:
    """Held-out NLL per note of an add-alpha token bigram trained on all in-range transpositions of ``train``."""
    from train.melody import AUGMENT_RANGE

    v = len(ev.VOCABULARY)
    tables = _shift_tables()
    pairs = []
    for t in train:
        pitches = [n.pitch for n in t.notes if n.pitch is not None]
        ids = np.array(ev.encode(t))
        for s, table in tables.items():
            if AUGMENT_RANGE[0] <= min(pitches) + s and max(pitches) + s <= AUGMENT_RANGE[1]:
                mapped = table[ids]
                pairs.append(mapped[:-1] * v + mapped[1:])
    counts = np.bincount(np.concatenate(pairs), minlength=v * v).reshape(v, v).astype(float)
    best = None
    for alpha in (0.001, 0.01, 0.1, 1.0):
        logp = np.log((counts + alpha) / (counts + alpha).sum(1, keepdims=True))
        total, notes = 0.0, 0
        for t in held:
            ids = np.array(ev.encode(t)[:512])
            prev, nxt = ids[ev.HEADER_LENGTH - 1 : -1], ids[ev.HEADER_LENGTH:]
            total -= logp[prev, nxt].sum()
            notes += sum(1 for x in ids if ev.VOCABULARY[x].startswith("dur:"))
        if best is None or total / notes < best["nll_per_note"]:
            best = {"alpha": alpha, "nll_per_note": total / notes}
    return best


def random_in_key_share() -> float:
    """Expected in-scale share of uniformly random pitches from the demo's range (averaged over keys and modes)."""
    from apps.music.notation import scale_pitch_classes

    pitches = range(limits.MELODY_PITCH_MIN, limits.MELODY_PITCH_MAX + 1)
    shares = [sum(p % 12 in scale_pitch_classes(k, m) for p in pitches) / len(pitches)
              for k in range(12) for m in ev.MODES]
    return float(np.mean(shares))


def evaluate(args) -> dict:
    import torch
    from transformers import GPT2LMHeadModel

    from apps.music.melody import generate_melody, in_key_share
    from train.melody import held_out_nll, load_tunes

    torch.set_num_threads(args.threads)
    start = time.time()
    train, held = load_tunes(args.data)
    model = GPT2LMHeadModel.from_pretrained(args.out, dtype=torch.float32).eval()
    state = json.loads((args.out / "training.json").read_text())
    print(f"{len(train)} + {len(held)} tunes loaded, {time.time() - start:.0f} s", flush=True)
    model_nll = held_out_nll(model, held)
    print(f"transformer held-out NLL/note {model_nll['nll_per_note']:.3f}, {time.time() - start:.0f} s", flush=True)
    bigram = bigram_nll(train, held)
    print(f"bigram held-out NLL/note {bigram['nll_per_note']:.3f}, {time.time() - start:.0f} s", flush=True)
    data_share = float(np.mean([in_key_share(t.notes, t.tonic, t.mode) for t in held]))
    random_share = random_in_key_share()
    shares, seconds = {}, []
    rng = np.random.default_rng(0)
    for temp in TEMPERATURES:
        per = []
        for i in range(MELODIES_PER_TEMPERATURE):
            t = held[int(rng.integers(len(held)))]
            m = generate_melody(t.style, ev.TONICS[t.tonic], t.mode, t.time_signature, BARS, temp, 0, i, model=model)
            per.append(m.in_key_share())
            seconds.append(m.seconds)
        shares[str(temp)] = float(np.mean(per))
        print(f"temperature {temp}: in-key share {shares[str(temp)]:.3f}, {time.time() - start:.0f} s", flush=True)
    samples = [generate_melody("folk", "G", "major", "6/8", 8, 1.0, 0, 0, model=model),
               generate_melody("chorale", "F", "major", "4/4", 8, 0.8, 0, 0, model=model)]
    metrics = {
        "held_out_tunes": len(held), "held_out_notes": model_nll["notes"],
        "transformer_nll_per_note": round(model_nll["nll_per_note"], 4),
        "transformer_nll_per_token": round(model_nll["nll_per_token"], 4),
        "bigram_nll_per_note": round(bigram["nll_per_note"], 4), "bigram_alpha": bigram["alpha"],
        "in_key_share_generated": {k: round(v, 4) for k, v in shares.items()},
        "in_key_share_random": round(random_share, 4), "in_key_share_data": round(data_share, 4),
        "melodies_per_temperature": MELODIES_PER_TEMPERATURE, "bars": BARS,
        "mean_generation_seconds_8_bars": round(float(np.mean(seconds)), 3),
        "evaluation_seconds": round(time.time() - start),
    }
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    write_card(args.out, state, metrics, samples, len(train), Counter(t.style for t in train + held))
    print(json.dumps(metrics, indent=1))
    return metrics


def write_card(folder, state, metrics, samples, n_train, styles) -> None:
    n_params = state["parameters"]
    config = json.loads((folder / "config.json").read_text())
    hist = state["history"]
    shares = metrics["in_key_share_generated"]
    card = f"""---
license: apache-2.0
library_name: transformers
tags: [music, melody, symbolic-music, gpt2]
---
# Melody transformer (Creative Machines, topic 6)

A {n_params / 1e6:.2f} M-parameter decoder-only transformer (GPT-2 architecture, `GPT2Config`: {config['n_layer']}
layers, width {config['n_embd']}, {config['n_head']} heads, context {config['n_positions']} events) that writes a single melodic line, one event
at a time. Trained from scratch by this project on CPU.

**Events** (`apps/music/events.py`, {len(ev.VOCABULARY)} tokens, `vocab.json`): `<bos>`, then the conditioning
`style:chorale|folk`, `key:C..B`, `mode:major|minor|dorian|mixolydian`, `time:2/4|3/4|4/4|2/2|3/2|6/8|9/8|12/8`;
then `bar` at each measure, and per note `pitch:36..96` (MIDI) or `rest`, followed by `dur:N` (N ticks, 24 per
quarter note); `<eos>`.

## Data and licences
Extracted once by `python -m train.melody_data` from the corpus bundled in the `music21` wheel (nothing
downloaded): {styles.get('chorale', 0)} Bach chorale soprano lines (`corpus/bach`, public-domain music;
MusicXML encodings distributed with music21) and {styles.get('folk', 0)} folk tunes from O'Neill's *Music of
Ireland* (1903), *Ryan's Mammoth Collection* (1883) and Aird's *Airs* (1778-1803) (public-domain tunes; ABC
transcriptions by Norbert Paap, Ray Davies and contributors, and Jack Campin, distributed with music21, see
its `corpus/license.txt`). The **Essen folk-song collection is left out**: it is licensed for
non-commercial use only. Tunes that change key or metre, are in other modes, or use durations outside the
vocabulary are skipped. Every 20th tune of each collection is held out ({metrics['held_out_tunes']} tunes,
{metrics['held_out_notes']} notes); {n_train} tunes train. Augmentation: each training sequence is transposed
by a random interval (-6..+5 semitones, notes kept within C3..A6) with its key token moved to match.

## Training
`{state['command']}` ({state['threads']} CPU thread, batch {state['batch_size']} sequences, AdamW, peak
learning rate {state['lr']}, warm-up then cosine decay on the wall clock): {state['steps']} steps,
{state['tokens_seen']:,} tokens seen, {state['wall_seconds'] / 60:.0f} minutes on a shared 2-core machine
(other training jobs ran alongside). Held-out loss during training (on the first 96 held-out tunes;
the last row, after training, on all of them):

| step | minutes | held-out NLL per token | per note |
|---|---|---|---|
""" + "\n".join(f"| {h['step']} | {h['minutes']} | {h['nll_per_token']:.3f} | {h['nll_per_note']:.3f} |" for h in hist) + f"""

## Evaluation (`python -m train.melody --evaluate`)
| measure | this model | baseline |
|---|---|---|
| held-out negative log-likelihood per note (nats; bar, pitch, duration and end events, summed per note) | **{metrics['transformer_nll_per_note']:.3f}** | bigram (Markov) model on the same events and transpositions, add-{metrics['bigram_alpha']} smoothing: {metrics['bigram_nll_per_note']:.3f} |
| share of generated notes in the requested key's scale, temperature 0.5 / 1.0 / 1.5 ({metrics['melodies_per_temperature']} melodies of {metrics['bars']} bars each, conditioning from held-out tunes) | {shares['0.5']:.3f} / {shares['1.0']:.3f} / {shares['1.5']:.3f} | uniformly random pitches: {metrics['in_key_share_random']:.3f}; the held-out tunes themselves: {metrics['in_key_share_data']:.3f} |

Generation of 8 bars took {metrics['mean_generation_seconds_8_bars']:.2f} s on average (1 thread, shared CPU).

## Samples (seed 0)
Folk, G major, 6/8, temperature 1.0:
```abc
{samples[0].abc.strip()}
```
Chorale, F major, 4/4, temperature 0.8:
```abc
{samples[1].abc.strip()}
```

## Use
`apps.music.generate_melody(style, key, mode, time_signature, bars, temperature, top_k, seed, opening="")`
(the Music tab of the app). Limits: one voice, no dynamics, four modes, eight metres; it imitates 18th-19th
century hymn and dance-tune idioms and nothing else.
"""
    (folder / "README.md").write_text(card)


if __name__ == "__main__":
    import argparse

    from train.melody import DATA, OUT

    evaluate(argparse.Namespace(data=DATA, out=OUT, threads=1))
