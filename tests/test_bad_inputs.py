"""Every named endpoint, driven through ``gradio_client`` with bad inputs of every kind that applies.

The corpus is built from the app's own API description (``Client.view_api``): each field of each endpoint gets
one bad value per kind that applies to it:

- a number field: something that is not a number (text, nothing, NaN or infinity, taken in turn), a number out
  of range, and a fraction where a whole number belongs (a seed);
- a text field: a lone surrogate, 100,000 characters, 4,000 emoji (within a prompt's character limit, about
  12,000 tokens);
- a file or picture field: a text file named ``.png``, a decompression bomb, a path outside the upload folder;
- an option, a check box or a table: a value that is not one.

An endpoint without inputs is called once. The other fields keep their defaults; when a file is sent, an option
such as "Your own .txt file" is chosen so that the file is read. Each call must end in a result or in a clear
sentence that names the field (never Gradio's generic "Error"), and the app must still answer afterwards.
"""
from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

CALL_TIMEOUT_S = 600  # a generous wait for one call on a busy machine; never a speed assertion
SURROGATE = "abc\ud800"
EMOJI_PROMPT = "😀" * 4000  # 4,000 characters (within the prompt's character limit), about 12,000 tokens
LONG_TEXT = "To be, or not to be. " * 5000  # 105,000 characters
NOT_A_NUMBER = (("text", "many"), ("empty", None), ("NaN", math.nan), ("infinity", math.inf))
OUTSIDE = {"path": "/etc/hostname", "meta": {"_type": "gradio.FileData"}}
# Kinds that gradio_client cannot send as they are (httpx refuses NaN and lone surrogates; the client uploads any
# local path), so they are posted to the documented HTTP API, as curl or a page's own JSON would send them.
RAW_KINDS = {"NaN", "infinity", "lone surrogate", "outside the upload folder"}
UPLOAD_HINTS = ("upload", "your")  # an option that makes a demo read the uploaded file
PRECONDITIONS = ("There is no model yet",)  # topic 10: generate before training
LABEL_FILLER = {"your", "with", "from", "this", "that", "than", "each", "first", "line", "optional", "choose",
                "above", "here", "exactly", "characters", "other", "words"}


@dataclass
class Outcome:
    endpoint: str
    field: str
    kind: str
    result: str  # "ok", "reject" (a clear sentence), "generic", "dead", "timeout"
    message: str = ""
    seconds: float = 0.0

    def __str__(self) -> str:
        return f"{self.result:8} {self.seconds:6.1f}s {self.endpoint} {self.field} [{self.kind}] {self.message[:160]!r}"


def write_files(folder: Path) -> dict[str, Path]:
    """A text file named like a picture, and a decompression bomb: 20000 x 20000 one-bit pixels in a few kB."""
    notes = folder / "notes.png"
    notes.write_text("These are notes, not a picture.\n" * 20, encoding="utf-8")
    bomb = folder / "bomb.png"
    Image.new("1", (20_000, 20_000)).save(bomb, optimize=True)
    return {"not a picture": notes, "decompression bomb": bomb}


def is_number_field(param: dict) -> bool:
    return param["component"] in ("Slider", "Number")


def bad_values(param: dict, props: dict, files: dict[str, Path], rotation: int = 0) -> list[tuple[str, object]]:
    """(kind, value) pairs for one field, from its component and its properties in the page's config.

    A number field gets one of the four values that are not a number, taken in turn (``rotation``), so that
    every variant reaches every kind of number field without four calls per field.
    """
    component = param["component"]
    if is_number_field(param):
        values = [NOT_A_NUMBER[rotation % len(NOT_A_NUMBER)]]
        if props.get("minimum") is not None and props.get("maximum") is not None:
            values.append(("below the minimum", props["minimum"] - 1) if rotation % 2 else
                          ("above the maximum", props["maximum"] + 1))
        whole = props.get("precision") == 0 or (
            component == "Slider" and all(float(props.get(k, 0.5)).is_integer() for k in ("step", "minimum")))
        if whole:
            values.append(("fraction", props.get("minimum", 0) + 1.5))
        return values
    if component in ("Textbox", "Code"):
        return [("lone surrogate", SURROGATE), ("100,000 characters", LONG_TEXT), ("4,000 emoji", EMOJI_PROMPT)]
    if component in ("Image", "File"):
        return [*((kind, handle_file(str(path))) for kind, path in files.items()),
                ("outside the upload folder", OUTSIDE)]
    if component in ("Radio", "Dropdown") and not props.get("allow_custom_value"):
        return [("not an option", ["no such option"] if props.get("multiselect") else "no such option")]
    if component == "Checkboxgroup":
        return [("not an option", ["no such option"])]
    if component == "Checkbox":
        return [("not true or false", "many")]
    if component == "Dataframe":
        return [("not a table", "many")]
    return []


def is_clear_sentence(message: str | None, param: dict | None) -> bool:
    """A sentence (it ends with a full stop) that names the field it is about, when it is about one.

    A field is named when the message has its parameter name or the start of a word of its label ("The
    description has ..." names "Describe an emoji"). A message that refuses the call before any field is read
    (``PRECONDITIONS``) needs no field.
    """
    if not message or message.strip() in ("Error", "None") or not message.rstrip().endswith("."):
        return False
    if param is None or message.startswith(PRECONDITIONS):
        return True
    text = message.lower()
    label = (param.get("label") or "").lower()
    stems = [w[:5] for w in re.findall(r"[a-z]{4,}", label) if w not in LABEL_FILLER]
    names = [param["parameter_name"].replace("_", " "), label.split("(")[0].strip()]
    return any(n and n in text for n in names) or any(s in text for s in stems)


class Driver:
    """Calls the app's named endpoints and records what came back."""

    def __init__(self, url: str):
        self.url = url
        self.client = Client(url, verbose=False)
        self.api = self.client.view_api(return_format="dict", print_info=False)["named_endpoints"]
        components = {c["id"]: c for c in self.client.config["components"]}
        self.props = {}  # api name -> the props of the inputs the API shows (State is not among them)
        for dep in self.client.config["dependencies"]:
            name = "/" + str(dep.get("api_name"))
            if name in self.api:
                shown = [components[i] for i in dep["inputs"] if not components[i].get("skip_api")]
                self.props[name] = [c.get("props", {}) for c in shown]
                assert len(self.props[name]) == len(self.api[name]["parameters"]), name
        self.outcomes: list[Outcome] = []
        self.rotation = 0  # number fields seen so far: which value that is not a number comes next

    def defaults(self, name: str) -> list:
        return [p.get("parameter_default") for p in self.api[name]["parameters"]]

    def alive(self) -> bool:
        try:
            return httpx.get(self.url + "gradio_api/app_id", timeout=60).status_code == 200
        except httpx.HTTPError:
            return False

    def call(self, name: str, args: list, raw: bool = False):
        """The endpoint's result, through gradio_client, or through the HTTP API (``raw``)."""
        if raw:
            return self._call_raw(name, args)
        return self.client.submit(*args, api_name=name).result(timeout=CALL_TIMEOUT_S)

    def _call_raw(self, name: str, args: list):
        body = json.dumps({"data": args}, ensure_ascii=True, allow_nan=True)  # as JSON.stringify / curl send it
        post = httpx.post(f"{self.url}gradio_api/call{name}", content=body,
                          headers={"Content-Type": "application/json"}, timeout=60)
        post.raise_for_status()
        event_id = post.json()["event_id"]
        with httpx.stream("GET", f"{self.url}gradio_api/call{name}/{event_id}", timeout=CALL_TIMEOUT_S) as r:
            event = None
            for line in r.iter_lines():
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: ") and event in ("complete", "error"):
                    data = json.loads(line.removeprefix("data: "))
                    if event == "error":
                        raise AppError(data.get("error") if isinstance(data, dict) else data)
                    return data
        raise AppError(None)

    def record(self, name: str, param: dict | None, kind: str, args: list) -> Outcome:
        start = time.monotonic()
        outcome = Outcome(name, param["parameter_name"] if param else "-", kind, "ok")
        try:
            self.call(name, args, raw=kind in RAW_KINDS)
        except AppError as e:
            outcome.message = str(e.message)
            outcome.result = "reject" if is_clear_sentence(e.message, param) else "generic"
        except (TimeoutError, httpx.TimeoutException):
            outcome.result = "timeout"
        outcome.seconds = time.monotonic() - start
        if not self.alive():
            outcome.result = "dead"
        self.outcomes.append(outcome)
        print(outcome, flush=True)
        return outcome

    def upload_option(self, name: str) -> tuple[int, str] | None:
        """The (field, option) that makes the endpoint read its uploaded file, if one is offered."""
        for i, param in enumerate(self.api[name]["parameters"]):
            for option in param["type"].get("enum", []):
                if isinstance(option, str) and any(h in option.lower() for h in UPLOAD_HINTS):
                    return i, option
        return None

    def drive(self, name: str, files: dict[str, Path]) -> None:
        params = self.api[name]["parameters"]
        if not params:
            self.record(name, None, "no input", [])
        for index, param in enumerate(params):
            self.rotation += is_number_field(param)
            for kind, value in bad_values(param, self.props[name][index], files, self.rotation):
                args = self.defaults(name)
                args[index] = value
                if param["component"] in ("Image", "File") and (option := self.upload_option(name)):
                    args[option[0]] = option[1]
                self.record(name, param, kind, args)


@pytest.fixture(scope="module")
def driver(app_url):
    return Driver(app_url)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return write_files(tmp_path_factory.mktemp("bad-inputs"))


def test_every_bad_input_to_every_endpoint_gets_a_clear_sentence(driver, files):
    start = time.monotonic()
    for name in driver.api:
        driver.drive(name, files)
    outcomes = driver.outcomes
    counts = {r: sum(o.result == r for o in outcomes) for r in ("ok", "reject", "generic", "dead", "timeout")}
    print(f"\n{len(driver.api)} endpoints, {len(outcomes)} calls in {time.monotonic() - start:.0f} s: {counts}")
    bad = [str(o) for o in outcomes if o.result in ("generic", "dead", "timeout")]
    assert not bad, "\n".join(bad)


def test_a_prompt_of_4000_emoji_is_refused_by_its_token_count(driver):
    with pytest.raises(AppError, match=r"tokens long; the limit is [\d,]+ tokens\."):
        driver.call("/language_generate", ["😀" * 4000, *driver.defaults("/language_generate")[1:]])


def test_a_fractional_seed_is_refused_not_rounded(driver):
    args = driver.defaults("/language_generate")
    args[-1] = 1.5
    with pytest.raises(AppError, match=r"Seed must be a whole number .*not 1\.5\."):
        driver.call("/language_generate", args)


def test_the_coding_assistant_writes_a_single_sample(driver):
    args = dict(zip([p["parameter_name"] for p in driver.api["/industries_write_code"]["parameters"]],
                    driver.defaults("/industries_write_code")))
    args.update(k=1, max_new_tokens=16)
    code, verdict, *_ = driver.call("/industries_write_code", list(args.values()))
    assert "Sample 1" in verdict


def test_every_model_card_can_be_read_through_the_api(driver):
    options = driver.api["/ethics_model_card"]["parameters"][0]["type"]["enum"]
    assert options
    for option in options:
        assert option in driver.call("/ethics_model_card", [option])
