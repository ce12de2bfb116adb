"""Science: sample candidates, then test them (generate-then-verify).

In science a generative model proposes and a test decides: RFdiffusion's designs were made in the lab, and
FunSearch (Romera-Paredes et al. 2024) pairs a language model that writes candidate programs with an evaluator
that scores every one, keeping only what the evaluator confirms. The same loop, small enough to watch: the
course's language model proposes k answers to arithmetic problems (a few-shot prompt, the course's sampling
loop in ``shared.generation``), and Python's exact integers check each answer. The model's reply is parsed
as a number, never run.

Two ways to choose one answer from k samples:

- the model's own favourite, the answer it wrote most often (majority vote, "self-consistency", Wang et al. 2023);
- the checker's: any answer that passes (best-of-k with a verifier).

The chance that at least one of k samples passes is pass@k (Chen et al. 2021), estimated here from the k
samples of each problem; it rises with k, while the majority vote can stay wrong however many samples it sees.
A checker cannot make a right answer where none was sampled, and it exists only where the truth can be computed:
in a laboratory the test is an experiment, slower and noisier than ``a + b``.
"""
from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import gradio as gr
import pandas as pd
from matplotlib.figure import Figure

from apps.industries.coding import pass_at_k
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
from shared.ui import escape_markdown, friendly_errors, load_model

OPERATIONS = {"Addition": "+", "Multiplication": "*"}
# Worked examples in front of each problem: the model continues the pattern with one number (raw continuation).
FEW_SHOT = {"+": "12 + 7 = 19\n23 + 45 = 68\n8 + 30 = 38\n",
            "*": "12 * 3 = 36\n7 * 8 = 56\n21 * 4 = 84\n"}
DEFAULTS = {"operation": "Addition", "digits": 2, "n_problems": 4, "k": 8, "temperature": 1.0, "seed": 0}
_ANSWER = re.compile(r"\s*(-?\d+)(?![\d.,]\d)")


@dataclass(frozen=True)
class Problem:
    """``a <op> b`` with its exact answer, which the model never sees."""

    a: int
    b: int
    op: str

    @property
    def text(self) -> str:
        return f"{self.a} {self.op} {self.b}"

    @property
    def answer(self) -> int:
        return self.a + self.b if self.op == "+" else self.a * self.b


def make_problems(operation: str, digits, n_problems, seed) -> list[Problem]:
    """``n_problems`` random problems whose operands have ``digits`` digits; the same seed gives the same problems.

    Raises:
        ValueError: an unknown operation, or a count out of its range (``shared.limits``).
    """
    if operation not in OPERATIONS:
        raise ValueError(f"Problem type must be one of {', '.join(OPERATIONS)}, not {operation!r}.")
    digits = as_int("Digits", digits, 1, limits.SCIENCE_DIGITS_MAX)
    n_problems = as_int("Problems", n_problems, 1, limits.SCIENCE_PROBLEMS_MAX)
    rng = random.Random(as_int("Seed", seed, 0, limits.SEED_MAX))
    low, high = (0 if digits == 1 else 10 ** (digits - 1)), 10**digits - 1
    return [Problem(rng.randint(low, high), rng.randint(low, high), OPERATIONS[operation]) for _ in range(n_problems)]


def parse_answer(reply: str) -> int | None:
    """The whole number a reply starts with ("122", " 122\\n"), or ``None`` ("12.5", "one hundred", "")."""
    match = _ANSWER.match(reply)
    return int(match.group(1)) if match else None


def verify(problem: Problem, reply: str) -> bool:
    """The checker: the reply's number equals the exact answer. Nothing the model wrote is executed."""
    return parse_answer(reply) == problem.answer


def sample_answers(bundle, problem: Problem, k, temperature, seed) -> Iterator[tuple[int, str]]:
    """Sample ``k`` replies for ``problem``; reply ``i`` uses seed ``seed + i`` and ends at its first line break.

    Yields:
        ``(i, reply)`` once each reply is finished.
    """
    k = as_int("Candidates per problem (k)", k, 1, limits.SCIENCE_SAMPLES_MAX)
    base = make_settings(temperature, 50, 0.95, 1.0, limits.SCIENCE_MAX_NEW_TOKENS, seed)
    input_ids = encode_prompt(bundle.tokenizer, f"{FEW_SHOT[problem.op]}{problem.text} =", "Raw continuation")
    for i in range(k):
        settings = make_settings(base.temperature, base.top_k, base.top_p, base.repetition_penalty,
                                 base.max_new_tokens, (base.seed + i) % limits.SEED_MAX)
        ids: list[int] = []
        for step in generate_tokens(bundle, input_ids, settings):
            ids.append(step.token_id)
            if "\n" in bundle.tokenizer.decode(ids[-1:]):
                break
        yield i, bundle.tokenizer.decode(ids, skip_special_tokens=True).strip()


def majority_answer(replies: list[str]) -> int | None:
    """The number the model wrote most often (the first-written among ties), or ``None`` if it wrote none."""
    numbers = [n for n in map(parse_answer, replies) if n is not None]
    return Counter(numbers).most_common(1)[0][0] if numbers else None


def results_table(problems: list[Problem], replies: list[list[str]]) -> pd.DataFrame:
    """One row per problem: its candidates (each marked by the checker), the model's favourite and the checker's pick."""
    rows = []
    for problem, answers in zip(problems, replies):
        passed = [r for r in answers if verify(problem, r)]
        favourite = majority_answer(answers)
        rows.append({"problem": problem.text,
                     "candidates (✓ passes the check)": ", ".join(f"{r or '(none)'}{' ✓' if verify(problem, r) else ''}"
                                                                  for r in answers),
                     "passed": f"{len(passed)}/{len(answers)}",
                     "model's favourite (majority)": "none" if favourite is None else
                     f"{favourite} {'right' if favourite == problem.answer else 'wrong'}",
                     "checker's pick": passed[0] if passed else "nothing passes: report nothing",
                     "true answer": problem.answer})
    return pd.DataFrame(rows)


def hit_rate_curve(problems: list[Problem], replies: list[list[str]]) -> list[tuple[int, float]]:
    """``(k, pass@k)`` for k = 1 .. the fewest samples any problem has: the share of problems where at least one
    of k samples passes the check, estimated without bias from all samples (Chen et al. 2021, eq. 1)."""
    n = min(len(r) for r in replies)
    curve = []
    for k in range(1, n + 1):
        rates = [pass_at_k(len(r), sum(verify(p, x) for x in r), k) for p, r in zip(problems, replies)]
        curve.append((k, sum(rates) / len(rates)))
    return curve


def majority_accuracy(problems: list[Problem], replies: list[list[str]]) -> float:
    """The share of problems whose majority answer (over all their samples) is right."""
    return sum(majority_answer(r) == p.answer for p, r in zip(problems, replies)) / len(problems)


def curve_figure(curve: list[tuple[int, float]], majority: float) -> Figure:
    """Hit rate against k with the checker, beside the model's own majority vote."""
    fig = Figure(figsize=(6, 3.2), layout="constrained")
    ax = fig.add_subplot()
    ks, rates = zip(*curve)
    ax.plot(ks, rates, "o-", color="#1f77b4", label="checker: at least one of k passes (pass@k)")
    ax.axhline(majority, color="#d62728", linestyle="--", label=f"model's favourite of all {ks[-1]} (majority vote)")
    ax.set(xlabel="candidates per problem k", ylabel="share of problems solved", ylim=(-0.03, 1.03))
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def summary(problems: list[Problem], replies: list[list[str]]) -> str:
    """The status line: what the checker found, what the model's favourite got, and what neither can do."""
    solved = sum(any(verify(p, r) for r in rs) for p, rs in zip(problems, replies))
    favourite = sum(majority_answer(rs) == p.answer for p, rs in zip(problems, replies))
    single = hit_rate_curve(problems, replies)[0][1]
    return (f"**The checker found a right answer for {solved} of {len(problems)} problems**; the model's favourite "
            f"(majority vote) was right on {favourite}; one sample alone is right {single:.0%} of the time. "
            "The checker never accepts a wrong answer, but it cannot make a right one: where no candidate passes, "
            "there is nothing to report. It works only because the truth can be computed here; in a laboratory "
            "the check is an experiment.")


STOPS = StopFlags()  # the Stop button's flags, one per session


def build_science() -> None:
    @friendly_errors
    def sample_and_verify(operation, digits, n_problems, k, temperature, seed, model, request: gr.Request | None = None,
                          progress=gr.Progress()):
        problems = make_problems(operation, digits, n_problems, seed)
        k = as_int("Candidates per problem (k)", k, 1, limits.SCIENCE_SAMPLES_MAX)
        make_settings(temperature, 50, 0.95, 1.0, 1, seed)  # refuse a bad setting before the model loads
        replies: list[list[str]] = []
        with STOPS.running(request) as stop:
            bundle = load_model(model, progress=progress)
            for j, problem in enumerate(problems):
                replies.append([])
                problem_seed = (int(seed) + 1000 * j) % limits.SEED_MAX  # each problem its own samples
                for i, reply in sample_answers(bundle, problem, k, temperature, problem_seed):
                    if stop.is_set():
                        break
                    replies[-1].append(reply)
                    yield (f"Problem {j + 1} of {len(problems)}: candidate {i + 1} of {k} …",
                           results_table(problems, replies), gr.skip())
                if stop.is_set():
                    break
        done = [(p, r) for p, r in zip(problems, replies) if r]
        info = f"{escape_markdown(bundle.spec.label)} · {bundle.backend}"
        if not done:
            yield f"**Stopped by you** before the first candidate. · {info}", None, None
            return
        problems, replies = map(list, zip(*done))
        stopped = "**Stopped by you**: the counts use the candidates written. " if stop.is_set() else ""
        yield (f"{stopped}{summary(problems, replies)} · {info}", results_table(problems, replies),
               curve_figure(hit_rate_curve(problems, replies), majority_accuracy(problems, replies)))

    gr.Markdown("The language model **proposes** k answers to each problem; an exact **checker** decides. "
                "This is the loop behind FunSearch (Romera-Paredes et al. 2024), on arithmetic the checker can compute.")
    with gr.Row():
        operation = gr.Radio(list(OPERATIONS), value=DEFAULTS["operation"], label="Problem type")
        digits = gr.Slider(1, limits.SCIENCE_DIGITS_MAX, value=DEFAULTS["digits"], step=1, label="Digits")
        n_problems = gr.Slider(1, limits.SCIENCE_PROBLEMS_MAX, value=DEFAULTS["n_problems"], step=1, label="Problems")
    with gr.Row():
        sample = gr.Button("Sample and verify", variant="primary", elem_classes="cm-main-action")
        stop = gr.Button("Stop", variant="stop")
    with gr.Row():
        k = gr.Slider(1, limits.SCIENCE_SAMPLES_MAX, value=DEFAULTS["k"], step=1, label="Candidates per problem (k)")
        temperature = gr.Slider(0, limits.TEMPERATURE_MAX, value=DEFAULTS["temperature"], step=0.05,
                                label="Temperature", info="0 = greedy: every candidate the same")
        seed = gr.Number(value=DEFAULTS["seed"], precision=0, minimum=0, maximum=limits.SEED_MAX, label="Seed",
                         info="picks the problems and the samples")
        model = gr.Dropdown(MODEL_CHOICES, value=DEFAULT_MODEL, label="Model", allow_custom_value=True,
                            min_width=MODEL_MIN_WIDTH)
    status = gr.Markdown(elem_classes="cm-header")
    plot = gr.Plot(label="Share of problems solved, against k", elem_id="industries-science-plot")
    table = gr.Dataframe(label="Every candidate, checked (the model never sees the true answer)", interactive=False,
                         wrap=True)

    STOPS.wire(sample, stop)
    sample.click(sample_and_verify, inputs=[operation, digits, n_problems, k, temperature, seed, model],
                 outputs=[status, table, plot], api_name="industries_sample_and_verify", **generation_queue())
