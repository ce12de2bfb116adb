"""Keeping a human accountable: the model drafts, a check routes, a named person decides, and a log remembers.

A model cannot answer for what it writes; a person or a company can. Here the course's language model drafts a
customer-service reply from a policy (the situation of *Moffatt v. Air Canada*, 2024, where a chatbot invented a
refund rule). An automatic check routes the draft: numbers not in the policy, and promises about money, are
flagged for the reviewer's attention. Nothing is published until a person with a name approves it; rejecting,
or approving a flagged draft, needs a reason. Every decision goes into an audit record: who decided what, when,
on which model output (its SHA-256), whether the person edited it, and how long they looked at it. The EU AI
Act's Article 14 asks that high-risk systems let people understand, override and stop them; the record is
what lets anyone check afterwards that they did.

The check is a router, not a judge: an invented rule in plain words ("you are entitled to a full refund")
raises a flag only where it uses a listed word, so the person reads every draft.
"""
from __future__ import annotations

import hashlib
import re
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import gradio as gr
import pandas as pd

from shared import limits
from shared.generation import (
    DEFAULT_MODEL,
    MODEL_CHOICES,
    MODEL_MIN_WIDTH,
    generate_text,
    generation_queue,
    make_settings,
)
from shared.ui import escape_markdown, friendly_errors, load_model, warn

DEFAULT_POLICY = ("Tickets can be refunded within 24 hours of booking.\n"
                  "Bereavement fares must be requested before travel.\n"
                  "A date change costs 50 CAD.")
DEFAULT_QUESTION = "My grandmother died and I flew to her funeral last week. Can I still get the bereavement fare?"
PROMPT = ("You answer customers of an airline. Use only this policy:\n{policy}\n\n"
          "Customer: {question}\nReply to the customer in two or three sentences.")
# Words that commit the company to money or to an exception: a person must look at them.
PROMISES = re.compile(r"\b(refund\w*|reimburs\w*|compensat\w*|guarantee\w*|promise\w*|entitled|free of charge|"
                      r"waive\w*|exception)\b", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)?")
APPROVE, REJECT = "approved and published", "rejected"


def build_prompt(question: str | None, policy: str | None) -> str:
    """The model's prompt: the policy and the customer's question.

    Raises:
        ValueError: an empty or too long question or policy.
    """
    for name, text in (("customer's question", question), ("policy", policy)):
        if text is None or not text.strip():
            raise ValueError(f"Write the {name} first.")
        if len(text) > limits.OVERSIGHT_TEXT_MAX_CHARS:
            raise ValueError(f"The {name} has {len(text):,} characters; the limit is "
                             f"{limits.OVERSIGHT_TEXT_MAX_CHARS:,}. Shorten it (nothing is cut off for you).")
    return PROMPT.format(policy=policy.strip(), question=question.strip())


def route(draft: str, policy: str) -> list[str]:
    """The automatic check's reasons to look closely (empty: no flag; a person still decides).

    Flags each number that the policy does not contain, and each word that promises money or an exception.
    """
    known = set(_NUMBER.findall(policy or ""))
    reasons = [f"the number {n} is not in the policy" for n in dict.fromkeys(_NUMBER.findall(draft)) if n not in known]
    reasons += [f"it promises something: “{w}”" for w in dict.fromkeys(m.group().lower() for m in PROMISES.finditer(draft))]
    return reasons


def sha256(text: str) -> str:
    """The SHA-256 of ``text`` (UTF-8), hex: which exact output a decision was about."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class Draft:
    """A model output waiting for a decision. ``drafted_at``: ``time.monotonic()`` when the reviewer could first read it."""

    text: str
    model: str
    seed: int
    flags: list[str]
    drafted_at: float
    decided_by: str | None = None


@dataclass
class AuditRecord:
    """One decision: who, what, when, on which model output, and how long they looked at it."""

    time_utc: str
    reviewer: str
    decision: str
    reason: str
    model: str
    seed: int
    automatic_check: str
    model_output_sha256: str
    published_sha256: str
    edited_by_reviewer: str
    seconds_reviewing: float


def decide(draft: Draft | None, reviewer: str | None, approve: bool, reason: str | None, final_text: str | None,
           now: float | None = None) -> AuditRecord:
    """Record a person's decision on ``draft`` and mark the draft decided.

    ``final_text`` is what the reviewer approves (they may have edited the draft); a rejected draft publishes nothing.

    Raises:
        ValueError: no draft, a draft already decided, no reviewer name, a rejection (or the approval of a flagged
            draft) without a reason, a name or reason over its limit, or approving an empty text.
    """
    if draft is None:
        raise ValueError("Draft a reply first: there is nothing to decide on.")
    if draft.decided_by is not None:
        raise ValueError(f"This draft was already decided by {draft.decided_by}. Draft a new reply.")
    reviewer, reason, final_text = (reviewer or "").strip(), (reason or "").strip(), (final_text or "").strip()
    if not reviewer:
        raise ValueError("Type your name as the reviewer: a decision needs a person who answers for it.")
    if len(reviewer) > limits.OVERSIGHT_NAME_MAX_CHARS or len(reason) > limits.OVERSIGHT_REASON_MAX_CHARS:
        raise ValueError(f"The name may have {limits.OVERSIGHT_NAME_MAX_CHARS} characters and the reason "
                         f"{limits.OVERSIGHT_REASON_MAX_CHARS}. Shorten them (nothing is cut off for you).")
    if not reason and (not approve or draft.flags):
        raise ValueError("Give a reason: a rejection, or the approval of a flagged draft, must say why.")
    if approve and not final_text:
        raise ValueError("The text to publish is empty: write it, or reject the draft.")
    now = time.monotonic() if now is None else now
    draft.decided_by = reviewer
    published = final_text if approve else ""
    return AuditRecord(
        time_utc=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"), reviewer=reviewer,
        decision=APPROVE if approve else REJECT, reason=reason or "(none)", model=draft.model, seed=draft.seed,
        automatic_check="; ".join(draft.flags) or "no flag", model_output_sha256=sha256(draft.text)[:16],
        published_sha256=sha256(published)[:16] if approve else "(nothing published)",
        edited_by_reviewer=("yes" if final_text != draft.text.strip() else "no") if approve else "-",
        seconds_reviewing=round(max(0.0, now - draft.drafted_at), 1))


def append(log: list[dict] | None, record: AuditRecord) -> list[dict]:
    """The log with ``record`` added, keeping the newest ``limits.OVERSIGHT_LOG_MAX`` records (memory stays bounded)."""
    return [*(log or []), asdict(record)][-limits.OVERSIGHT_LOG_MAX:]


def routing_note(flags: list[str]) -> str:
    """What the automatic check says, and that a person decides either way."""
    if flags:
        return (f"**Automatic check: {len(flags)} flag(s)**: " + "; ".join(flags) +
                ". Routed to a reviewer, who must give a reason to approve it.")
    return ("**Automatic check: no flag.** That is not approval: a promise in plain words passes the check, so a "
            "person still reads and decides.")


def build_oversight() -> None:
    @friendly_errors
    def draft_ui(question, policy, temperature, seed, model, progress=gr.Progress()):
        prompt = build_prompt(question, policy)
        settings = make_settings(temperature, 50, 0.95, 1.1, limits.OVERSIGHT_MAX_NEW_TOKENS, seed)
        bundle = load_model(model, progress=progress)
        text, _ = generate_text(bundle, prompt, "Chat", settings)
        draft = Draft(text.strip(), bundle.spec.label, settings.seed, route(text, policy), time.monotonic())
        return draft, draft.text, routing_note(draft.flags), "*Waiting for a person's decision: nothing is published.*"

    def decision_ui(approve: bool):
        def handler(draft, reviewer, reason, final_text, log):
            try:
                record = decide(draft, reviewer, approve, reason, final_text)
            except ValueError as e:  # a warning, not an error: the published text and the audit record stay in view
                warn(str(e))
                return gr.skip(), gr.skip(), gr.skip(), gr.skip()
            if approve:
                published = (f"**Published**, approved by {escape_markdown(record.reviewer)} at {record.time_utc} UTC:"
                             f"\n\n> {escape_markdown(final_text.strip())}")
            else:
                published = (f"**Nothing published**: rejected by {escape_markdown(record.reviewer)} "
                             f"({escape_markdown(record.reason)}).")
            log = append(log, record)
            return draft, published, log, pd.DataFrame(log).rename(columns=lambda c: c.replace("_", " "))
        return handler

    gr.Markdown("The model **drafts**, an automatic check **routes**, a named person **decides**, and the audit "
                "record says who decided what on which model output.")
    with gr.Row():
        question = gr.Textbox(label="Customer's question", value=DEFAULT_QUESTION, lines=2,
                              max_length=limits.OVERSIGHT_TEXT_MAX_CHARS, scale=3)
        policy = gr.Textbox(label="Policy the reply may use", value=DEFAULT_POLICY, lines=3,
                            max_length=limits.OVERSIGHT_TEXT_MAX_CHARS, scale=3)
    draft_button = gr.Button("Draft a reply", variant="primary", elem_classes="cm-main-action")
    with gr.Row():
        temperature = gr.Slider(0, limits.TEMPERATURE_MAX, value=0.7, step=0.05, label="Temperature")
        seed = gr.Number(value=1, precision=0, minimum=0, maximum=limits.SEED_MAX, label="Seed")
        model = gr.Dropdown(MODEL_CHOICES, value=DEFAULT_MODEL, label="Model", allow_custom_value=True,
                            min_width=MODEL_MIN_WIDTH)
    routing = gr.Markdown(elem_classes="cm-header")
    draft_text = gr.Textbox(label="The model's draft (the reviewer may edit it before approving)", lines=4,
                            max_length=limits.OVERSIGHT_TEXT_MAX_CHARS, elem_id="ethics-oversight-draft")
    with gr.Row():
        reviewer = gr.Textbox(label="Reviewer (your name)", max_length=limits.OVERSIGHT_NAME_MAX_CHARS)
        reason = gr.Textbox(label="Reason (needed to reject, or to approve a flagged draft)",
                            max_length=limits.OVERSIGHT_REASON_MAX_CHARS, scale=2)
    with gr.Row():
        approve = gr.Button("Approve and publish")
        reject = gr.Button("Reject", variant="stop")
    published = gr.Markdown("*Nothing published yet.*", elem_id="ethics-oversight-published")
    audit = gr.Dataframe(label="Audit record (newest last; hashes identify the exact text)", interactive=False,
                         wrap=True)
    draft_state, log_state = gr.State(None), gr.State([])

    draft_button.click(draft_ui, inputs=[question, policy, temperature, seed, model],
                       outputs=[draft_state, draft_text, routing, published], api_name="ethics_oversight_draft",
                       **generation_queue())
    decision_inputs = [draft_state, reviewer, reason, draft_text, log_state]
    decision_outputs = [draft_state, published, log_state, audit]
    approve.click(decision_ui(True), inputs=decision_inputs, outputs=decision_outputs, api_visibility="private")
    reject.click(decision_ui(False), inputs=decision_inputs, outputs=decision_outputs, api_visibility="private")
