"""Software: a coding assistant whose code is checked, never run.

A function signature and docstring go in; the language model writes k candidate implementations
(the course's sampling loop, ``shared.generation``). Each candidate is *analysed statically* on the server,
never executed: Python's own parser (``ast.parse``) says whether it is valid Python, and ruff (a
linter, run as a separate process with a timeout) lists likely bugs such as undefined names.

pass@k (Chen et al. 2021, eq. 1) is the probability that at least one of k samples passes; from n >= k
samples of which c pass, the unbiased estimate is 1 - C(n - c, k) / C(n, k). Real benchmarks count
"passes the unit tests", which needs running the code in a sandbox. Here the success criterion is a
*proxy*: "parses", or "parses and has no lint findings". Code that parses can still be wrong.
"""
from __future__ import annotations

import ast
import importlib.util
import json
import math
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr

from shared import limits
from shared.checks import as_int
from shared.generation import (
    DEFAULT_MODEL,
    MODEL_CHOICES,
    MODEL_MIN_WIDTH,
    encode_prompt,
    generate_tokens,
    generation_queue,
    make_settings,
)
from shared.stopping import StopFlags

MODES = ("Chat", "Raw continuation")
RUFF_RULES = "E4,E7,E9,F,B"  # ruff's defaults (pyflakes and pycodestyle errors) plus flake8-bugbear

DEFAULT_STUB = '''def is_palindrome(s: str) -> bool:
    """Return True if s reads the same forwards and backwards, ignoring case and spaces."""
'''

EXAMPLE_LABELS = ["Palindrome", "FizzBuzz list", "Mean of a list", "Count vowels"]
EXAMPLES = [
    [DEFAULT_STUB],
    ['def fizzbuzz(n: int) -> list[str]:\n    """Return the FizzBuzz strings for 1..n: "Fizz" for multiples of 3, '
     '"Buzz" for 5, "FizzBuzz" for both, else the number."""\n'],
    ['def mean(values: list[float]) -> float:\n'
     '    """Return the arithmetic mean of values; raise ValueError if it is empty."""\n'],
    ['def count_vowels(text: str) -> int:\n'
     '    """Return how many of the letters in text are vowels (a, e, i, o, u), in either case."""\n'],
]

CHAT_INSTRUCTION = ("Complete this Python function. Reply with the whole function in one ```python code block, "
                    "and nothing else.\n\n```python\n{stub}```")

_DEF = re.compile(r"^\s*(?:async\s+)?def\s+([A-Za-z_]\w*)\s*\(", re.M)
_FENCE = re.compile(r"```[ \t]*(?:python|py|Python)?[ \t]*\n(.*?)(?:```|\Z)", re.S)


def validate_stub(stub: str | None) -> str:
    """Return the signature and docstring, or raise ``ValueError``: empty, too long, no ``def``, or not valid Python."""
    if stub is None or not stub.strip():
        raise ValueError("Write a function signature and docstring first, e.g. def add(a, b): followed by a docstring.")
    if len(stub) > limits.CODE_STUB_MAX_CHARS:
        raise ValueError(f"The signature and docstring have {len(stub):,} characters; the limit is "
                         f"{limits.CODE_STUB_MAX_CHARS:,}. Shorten them (nothing is cut off for you).")
    if not _DEF.search(stub):
        raise ValueError("Start with a function signature such as def add(a: int, b: int) -> int:")
    try:
        ast.parse(stub)
    except SyntaxError as e:
        try:
            ast.parse(stub.rstrip() + "\n    ...\n")  # a signature without a body yet is fine
        except SyntaxError:
            raise ValueError(f"Your signature and docstring are not valid Python yet (line {e.lineno}: {e.msg}).") from e
    return stub


def function_name(stub: str) -> str:
    return _DEF.search(stub).group(1)


def build_prompt(stub: str, mode: str) -> str:
    """The text the model receives: an instruction around the stub (Chat) or the stub itself (Raw continuation)."""
    if mode not in MODES:
        raise ValueError(f"Mode must be one of {', '.join(MODES)}, not {mode!r}.")
    return CHAT_INSTRUCTION.format(stub=stub.rstrip() + "\n") if mode == "Chat" else stub.rstrip() + "\n"


def extract_code(reply: str, stub: str, mode: str) -> str:
    """The candidate function in the model's ``reply``.

    Chat: the first fenced code block (or the whole reply without one); if it lacks the ``def`` line, the
    model wrote only the body, so the stub is put in front. Raw continuation: the stub plus the continuation
    up to the first line that is back at the left margin (the function has ended there).
    """
    if mode == "Chat":
        match = _FENCE.search(reply)
        code = match.group(1) if match else reply
        if not re.search(rf"def\s+{re.escape(function_name(stub))}\s*\(", code):
            code = stub.rstrip() + "\n" + code
        return code.strip("\n") + "\n"
    kept = []
    for line in reply.split("\n"):
        if line.strip() and not line[0].isspace() and kept:
            break
        kept.append(line)
    return (stub.rstrip() + "\n" + "\n".join(kept)).rstrip() + "\n"


def _finished(reply: str, mode: str) -> bool:
    """Whether the reply already holds a whole candidate, so generation can stop early."""
    if mode == "Chat":
        return reply.count("```") >= 2
    lines = reply.split("\n")
    return any(line.strip() and not line[0].isspace() for line in lines[1:-1])


@dataclass
class CodeCheck:
    """What static analysis found. ``findings``: ruff's ``{"code", "message", "line"}`` dicts."""

    parses: bool
    syntax_error: str | None = None
    findings: list[dict] = field(default_factory=list)
    lint_ran: bool = False
    lint_error: str | None = None

    @property
    def lint_clean(self) -> bool:
        return self.parses and self.lint_ran and not self.findings


def ruff_command() -> list[str] | None:
    """How to run ruff here (the virtual environment's binary, one on PATH, or ``python -m ruff``), or ``None``."""
    beside = Path(sys.executable).with_name("ruff")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("ruff")
    if found:
        return [found]
    if importlib.util.find_spec("ruff") is not None:
        return [sys.executable, "-m", "ruff"]
    return None


def lint(code: str, timeout_s: float = limits.RUFF_TIMEOUT_S) -> tuple[list[dict], str | None]:
    """ruff's findings for ``code`` (rules ``RUFF_RULES``), read from standard input: ``(findings, error)``.

    ruff only reads the text; it runs in an empty temporary folder, ignoring any configuration (``--isolated``).
    ``error`` says why linting did not happen (ruff missing, timed out, failed), else ``None``.
    """
    command = ruff_command()
    if command is None:
        return [], "ruff is not installed, so there is no lint check (pip install ruff)."
    args = [*command, "check", "--isolated", "--no-cache", "--select", RUFF_RULES, "--output-format", "json",
            "--stdin-filename", "candidate.py", "-"]
    with tempfile.TemporaryDirectory(prefix="cm-ruff-") as folder:
        try:
            done = subprocess.run(args, input=code, capture_output=True, text=True, timeout=timeout_s, cwd=folder)
        except subprocess.TimeoutExpired:
            return [], f"ruff took longer than {timeout_s:g} s and was stopped."
    if done.returncode not in (0, 1):
        return [], f"ruff failed: {done.stderr.strip()[:200]}"
    findings = [{"code": f.get("code") or "syntax", "message": f["message"], "line": f["location"]["row"]}
                for f in json.loads(done.stdout or "[]")]
    return findings, None


def check_code(code: str) -> CodeCheck:
    """Parse ``code`` with ``ast`` and, if it parses, lint it with ruff. Nothing is executed or imported."""
    try:
        ast.parse(code)
    except SyntaxError as e:
        return CodeCheck(parses=False, syntax_error=f"line {e.lineno}: {e.msg}")
    findings, error = lint(code)
    return CodeCheck(parses=True, findings=findings, lint_ran=error is None, lint_error=error)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from ``n`` samples of which ``c`` passed (Chen et al. 2021, eq. 1 and their numerically
    stable product form): 1 - C(n - c, k) / C(n, k), the chance that k of the n, drawn without replacement,
    include at least one that passed.

    Raises:
        ValueError: unless 0 <= c <= n and 1 <= k <= n.
    """
    if not (0 <= c <= n and 1 <= k <= n):
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n (got n={n}, c={c}, k={k}).")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def pass_at_k_table(checks: list[CodeCheck]):
    """A table: for each k from 1 to n, pass@k with "parses" and with "parses and lint-clean" as the criterion."""
    import pandas as pd

    n = len(checks)
    parsed = sum(c.parses for c in checks)
    clean = sum(c.lint_clean for c in checks)
    return pd.DataFrame([{"k": k, f"pass@k: parses ({parsed}/{n})": round(pass_at_k(n, parsed, k), 3),
                          f"pass@k: parses, lint-clean ({clean}/{n})": round(pass_at_k(n, clean, k), 3)}
                         for k in range(1, n + 1)])


def generate_candidates(bundle, stub: str, mode: str, k, temperature, max_new_tokens, seed) -> Iterator[tuple[int, str]]:
    """Sample ``k`` replies for ``stub``; candidate ``i`` uses seed ``seed + i``.

    Yields:
        ``(i, reply_so_far)`` after every token; a reply stops early once it holds a whole function.
    """
    k = as_int("Samples (k)", k, 1, limits.CODE_SAMPLES_MAX)
    max_new_tokens = as_int("Max new tokens", max_new_tokens, 8, limits.CODE_MAX_NEW_TOKENS)
    base = make_settings(temperature, 50, 0.95, 1.0, min(max_new_tokens, limits.MAX_NEW_TOKENS), seed)
    input_ids = encode_prompt(bundle.tokenizer, build_prompt(validate_stub(stub), mode), mode)
    for i in range(k):
        settings = make_settings(base.temperature, base.top_k, base.top_p, base.repetition_penalty,
                                 base.max_new_tokens, (base.seed + i) % limits.SEED_MAX)
        ids: list[int] = []
        yield i, ""
        for step in generate_tokens(bundle, input_ids, settings):
            ids.append(step.token_id)
            reply = bundle.tokenizer.decode(ids, skip_special_tokens=True)
            yield i, reply
            if _finished(reply, mode):
                break


# ---------------------------------------------------------------------------------------------
# The sub-tab
# ---------------------------------------------------------------------------------------------

def _table(checks: list[CodeCheck]):
    import pandas as pd

    rows = []
    for i, c in enumerate(checks):
        if not c.parses:
            first = f"syntax error, {c.syntax_error}"
        elif c.lint_error:
            first = c.lint_error
        elif c.findings:
            f = c.findings[0]
            first = f"line {f['line']}: {f['code']} {f['message']}"
        else:
            first = ""
        rows.append({"sample": i + 1, "parses": "yes" if c.parses else "no",
                     "lint findings": len(c.findings) if c.lint_ran else "-", "first problem": first})
    return pd.DataFrame(rows)


def _sample_report(codes: list[str], checks: list[CodeCheck], index: int) -> tuple[str, str]:
    """The sample's code and its verdict (Markdown); the parser's and ruff's messages quote the code: escaped."""
    from shared.ui import escape_markdown

    code, check = codes[index], checks[index]
    if not check.parses:
        verdict = f"Sample {index + 1} **does not parse**: {escape_markdown(check.syntax_error)}."
    elif check.lint_error:
        verdict = f"Sample {index + 1} **parses**. {escape_markdown(check.lint_error)}"
    elif check.findings:
        items = "; ".join(f"line {f['line']}: `{f['code']}` {escape_markdown(f['message'])}"
                          for f in check.findings[:6])
        verdict = f"Sample {index + 1} **parses**; ruff found {len(check.findings)}: {items}"
    else:
        verdict = f"Sample {index + 1} **parses and ruff found nothing**. It may still be wrong: nothing was run."
    return code, verdict


STOPS = StopFlags()  # the Stop button's flags, one per session


def build_coding() -> None:
    from shared.catalog import CATALOG
    from shared.ui import escape_markdown, friendly_errors, load_model

    code_models = [m.label for m in CATALOG if m.task == "text-generation" and "coder" in m.repo_id.lower()]
    choices = [DEFAULT_MODEL, *code_models, *[c for c in MODEL_CHOICES if c != DEFAULT_MODEL and c not in code_models]]

    @friendly_errors
    def write_code(stub, mode, model, k, temperature, max_new_tokens, seed, request: gr.Request | None = None,
                   progress=gr.Progress()):
        stub = validate_stub(stub)
        k = as_int("Samples (k)", k, 1, limits.CODE_SAMPLES_MAX)
        replies: list[str] = []
        with STOPS.running(request) as stop:
            bundle = load_model(model, progress=progress)
            for i, reply in generate_candidates(bundle, stub, mode, k, temperature, max_new_tokens, seed):
                if stop.is_set():
                    break
                if i == len(replies):
                    replies.append("")
                replies[i] = reply
                yield (reply, f"Writing sample {i + 1} of {k} with {bundle.backend} …",
                       gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip())
        info = f"{escape_markdown(bundle.spec.label)} · {bundle.backend}"
        if not replies:
            yield "", "**Stopped by you** before the first sample.", None, None, None, gr.Slider(visible=False), info
            return
        if stop.is_set():
            info = f"**Stopped by you** during sample {len(replies)} of {k}: pass@k counts the samples written · {info}"
        codes = [extract_code(r, stub, mode) for r in replies]
        checks = [check_code(c) for c in codes]
        code, verdict = _sample_report(codes, checks, 0)
        n = len(checks)
        slider = gr.Slider(minimum=1, maximum=max(2, n), value=1, step=1, visible=n > 1)  # a slider needs max > min
        state = {"codes": codes, "checks": [c.__dict__ for c in checks]}
        yield code, verdict, _table(checks), pass_at_k_table(checks), state, slider, info

    def show_sample(state, index):
        if not state:
            return gr.skip(), gr.skip()
        checks = [CodeCheck(**c) for c in state["checks"]]
        i = min(max(int(index) - 1, 0), len(checks) - 1)
        return _sample_report(state["codes"], checks, i)

    gr.Markdown("A signature and docstring in, **k** candidate functions out. The server never runs the code: it "
                "parses it (`ast`) and lints it (ruff). pass@k below uses *parses* / *lint-clean* as a stand-in "
                "for *passes the tests*.")
    stub = gr.Code(value=DEFAULT_STUB, language="python", label="Signature and docstring", lines=4, interactive=True,
                   wrap_lines=True)  # a long line wraps: on a projector the pane cut the docstring
    with gr.Row():
        mode = gr.Radio(list(MODES), value="Chat", label="Mode",
                        info="Chat: an instruction around your stub. Raw continuation: the model continues the stub.")
        model = gr.Dropdown(choices, value=DEFAULT_MODEL, label="Model", allow_custom_value=True,
                            min_width=MODEL_MIN_WIDTH,
                            info="Qwen2.5-Coder needs the hub once; offline, the embedded model stands in.")
    with gr.Row():
        k = gr.Slider(1, limits.CODE_SAMPLES_MAX, value=4, step=1, label="Samples (k)")
        temperature = gr.Slider(0, limits.TEMPERATURE_MAX, value=0.8, step=0.05, label="Temperature")
        max_new_tokens = gr.Slider(16, limits.CODE_MAX_NEW_TOKENS, value=160, step=8, label="Max new tokens")
        seed = gr.Number(value=1, precision=0, minimum=0, maximum=limits.SEED_MAX, label="Seed")
    with gr.Row():
        write = gr.Button("Write code", variant="primary")
        stop = gr.Button("Stop", variant="stop")
    sample = gr.Slider(1, 2, value=1, step=1, label="Show sample", visible=False)
    code = gr.Code(language="python", label="Generated code (never executed)", interactive=False,
                   elem_id="industries-code", wrap_lines=True)
    verdict = gr.Markdown()
    samples_table = gr.Dataframe(label="Every sample: parse and lint", interactive=False, wrap=True)
    pass_table = gr.Dataframe(label="pass@k from your samples (proxy criteria, not correctness)", interactive=False)
    info = gr.Markdown(elem_classes="cm-header")
    state = gr.State(None)
    gr.Examples(EXAMPLES, inputs=[stub], example_labels=EXAMPLE_LABELS, label="Examples")

    STOPS.wire(write, stop)
    write.click(write_code, inputs=[stub, mode, model, k, temperature, max_new_tokens, seed],
                outputs=[code, verdict, samples_table, pass_table, state, sample, info],
                api_name="industries_write_code", **generation_queue())
    sample.change(show_sample, inputs=[state, sample], outputs=[code, verdict], api_visibility="private")
