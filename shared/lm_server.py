"""The class server: generate text on an OpenAI-compatible inference engine instead of this computer's model.

A school's thirty learners should not share one small process's model; a school with a GPU box runs an engine
that batches their requests (vLLM; others that speak the same API and name tokens by id) and points the app at
it with ``CM_LM_SERVER_URL``. Generation then streams from the engine's ``/v1/completions`` endpoint (OpenAI's
legacy completions API):

- the prompt goes as the token ids that our tokenizer and chat template made, so the engine reads exactly
  the tokens the embedded model would (its own tokenizer and template are never used);
- ``stream: true`` sends one chunk per new token, and ``logprobs: N`` the log-probabilities of the sampled
  token and of the N most likely ones (``top_logprobs``). vLLM returns them from the raw logits, before
  temperature, penalties, top-k and top-p (its default ``--logprobs-mode raw_logprobs``): the model's own
  distribution, our ``Step.p_model``. vLLM's ``return_tokens_as_token_ids`` names each token ``token_id:<id>``
  instead of by its text, so the ids need no guessing;
- temperature, top-k, top-p, repetition penalty (both vLLM extensions of the API), seed and the number of
  new tokens are passed through; the engine samples.

What an engine cannot give is left out, not made up: the distribution the token was drawn from after the
settings reshaped it (``Step.p_sampled`` is ``None``), the logits of the whole vocabulary (the next-token
explorer) and attention weights. Engine API: https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import urlparse

from shared import limits
from shared.sampling import SamplingSettings, Step, show_token

LABEL_PREFIX = "Class server: "
NO_SAMPLED_DISTRIBUTION = (
    "The class server gives the model's own probabilities only: tokens are coloured by p (model), and the "
    "distribution after your settings (p sampled from) is not shown. The next-token explorer and the "
    "attention view run on this computer's copy of the model."
)
OPENAI_LOGPROBS_MAX = 5  # OpenAI's own completions API gives at most 5 top logprobs; some engines copy that limit
TOKEN_ID_PREFIX = "token_id:"  # vLLM's name for a token with return_tokens_as_token_ids


@dataclass(frozen=True)
class ServerConfig:
    """Where the class server is, and which of its models to use (``None``: its only one).

    ``url``: ``http://host:8000`` and ``http://host:8000/v1`` mean the same server; it is kept ending in ``/v1``.

    Raises:
        ValueError: ``url`` is not an http(s) URL.
    """

    url: str
    model: str | None = None
    api_key: str | None = None
    timeout_s: float = limits.LM_SERVER_TIMEOUT_S

    def __post_init__(self):
        parsed = urlparse(self.url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"CM_LM_SERVER_URL={self.url!r} is not an http(s) URL like http://gpu-box:8000/v1.")
        url = self.url.rstrip("/")
        object.__setattr__(self, "url", url if url.endswith("/v1") else f"{url}/v1")

    @property
    def label(self) -> str:
        """The model menu's entry for the class server."""
        return LABEL_PREFIX + (self.model or urlparse(self.url).netloc)


def server_config() -> ServerConfig | None:
    """The class server from ``CM_LM_SERVER_URL`` (``CM_LM_SERVER_MODEL``, ``CM_LM_SERVER_KEY``,
    ``CM_LM_SERVER_TIMEOUT_S``), or ``None`` when it is not set.

    Raises:
        ValueError: the URL is not an http(s) URL, or the timeout is not a positive number.
    """
    url = os.environ.get("CM_LM_SERVER_URL", "").strip()
    if not url:
        return None
    timeout = os.environ.get("CM_LM_SERVER_TIMEOUT_S", str(limits.LM_SERVER_TIMEOUT_S))
    try:
        timeout_s = float(timeout)
    except ValueError:
        timeout_s = -1.0
    if not timeout_s > 0:
        raise ValueError(f"CM_LM_SERVER_TIMEOUT_S={timeout!r} is not a positive number of seconds.")
    return ServerConfig(url, os.environ.get("CM_LM_SERVER_MODEL", "").strip() or None,
                        os.environ.get("CM_LM_SERVER_KEY") or None, timeout_s)


class ServerLM:
    """A model on a class server, in place of a loaded model in a :class:`shared.loader.Bundle`.

    Use :meth:`connect`, which checks that the server answers and serves the model.

    Attributes:
        config: where the server is; ``config.model`` is the served model's name.
        engine: who serves it, as the server says (``owned_by`` in ``/v1/models``, e.g. ``"vllm"``).
        generation_config: the model's generation config, for its end-of-sequence ids.
    """

    def __init__(self, config: ServerConfig, engine: str, generation_config=None):
        self.config = config
        self.engine = engine
        self.generation_config = generation_config
        self.top_n = limits.STEP_TOP_N  # lowered once if the server allows fewer top logprobs

    @property
    def backend(self) -> str:
        """What runs the model, in words, for the UI (plain text: escape it for Markdown)."""
        return f"class server ({self.engine}) at {urlparse(self.config.url).netloc}"

    @classmethod
    def connect(cls, config: ServerConfig) -> ServerLM:
        """Ask the server which models it serves (``GET /v1/models``) and check that ``config.model`` is one.

        Raises:
            ValueError: the server does not answer, refuses the key, or does not serve the model.
        """
        with _client(config) as client:
            response = _send(config, lambda: client.get("/models"))
            _check(config, response)
        models = {m.get("id"): m for m in response.json().get("data", [])}
        model = config.model
        if model is None and len(models) == 1:
            model = next(iter(models))
        if model not in models:
            served = ", ".join(repr(m) for m in models) or "none"
            raise ValueError(f"The class server at {config.url} does not serve a model named {model!r}; it serves: "
                             f"{served}. Set CM_LM_SERVER_MODEL to one of them.")
        engine = str(models[model].get("owned_by") or "OpenAI-compatible")
        return cls(ServerConfig(config.url, model, config.api_key, config.timeout_s), engine)

    def generate(self, input_ids: Sequence[int], settings: SamplingSettings, tokenizer,
                 stops: set[int] = frozenset(), extra_processors: Sequence | None = None) -> Iterator[Step]:
        """Stream a completion of ``input_ids`` (the prompt's token ids) and yield each token as a :class:`Step`.

        ``Step.p_model`` and the top candidates come from the server's logprobs; ``p_sampled`` is ``None``.
        Stops early at a token in ``stops`` (not yielded), or where the server ends the reply.

        Raises:
            ValueError: the server fails (not answering, too slow, an error answer, no logprobs), or
                ``extra_processors`` are given (a server cannot run our logits processors).
        """
        if extra_processors:
            raise ValueError("The class server cannot add our own logits processors (e.g. a watermark); "
                             "choose the embedded model for this.")
        with _client(self.config) as client:
            for step in self._stream(client, list(map(int, input_ids)), settings, tokenizer):
                if step.token_id in stops:
                    return
                yield step

    def _stream(self, client, prompt: list[int], settings: SamplingSettings, tokenizer) -> Iterator[Step]:
        response = self._post(client, prompt, settings)
        try:
            _check(self.config, response)
            yield from read_stream(_lines(self.config, response), tokenizer, self.top_n)
        finally:
            response.close()  # also when the learner pressed Stop: the server then drops the request

    def _post(self, client, prompt: list[int], settings: SamplingSettings):
        """Send the request, streaming; once more with OpenAI's 5 top logprobs if the server allows fewer."""
        def send():
            body = self.request(prompt, settings)
            return client.send(client.build_request("POST", "/completions", json=body), stream=True)

        response = _send(self.config, send)
        if response.status_code == 400 and self.top_n > OPENAI_LOGPROBS_MAX:
            response.read()
            if "logprobs" in _error_message(response).lower():
                response.close()
                self.top_n = OPENAI_LOGPROBS_MAX
                response = _send(self.config, send)
        return response

    def request(self, prompt: list[int], settings: SamplingSettings) -> dict:
        """The ``/v1/completions`` request body for ``prompt`` (token ids) and ``settings``."""
        return {
            "model": self.config.model,
            "prompt": prompt,
            "max_tokens": settings.max_new_tokens,
            "temperature": settings.temperature,  # 0 is greedy
            "top_p": settings.top_p,
            "top_k": settings.top_k,  # 0 is off, as in vLLM
            "repetition_penalty": settings.repetition_penalty,  # Keskar et al. 2019, as transformers applies it
            "seed": settings.seed,
            "stream": True,
            "logprobs": self.top_n,
            "return_tokens_as_token_ids": True,
        }


def read_stream(lines: Iterator[str], tokenizer, top_n: int = limits.STEP_TOP_N) -> Iterator[Step]:
    """Turn a completions stream (server-sent events, ``data: {json}`` lines) into :class:`Step` objects.

    Each chunk's ``choices[0].logprobs`` lists its new tokens with their logprobs and top logprobs.

    Raises:
        ValueError: the server sent an error, or a token without logprobs or without its token id.
    """
    for line in lines:
        if not line.startswith("data:"):
            continue  # blank lines between events, comments (":"), event names
        data = line.removeprefix("data:").strip()
        if data == "[DONE]":
            return
        chunk = json.loads(data)
        if "error" in chunk:
            raise ValueError(f"The class server stopped with an error: {_message_of(chunk)}")
        for choice in chunk.get("choices", []):
            logprobs = choice.get("logprobs")
            if not logprobs or not logprobs.get("tokens"):
                if choice.get("text"):
                    raise ValueError("The class server sends no token probabilities (logprobs), which the course "
                                     "shows for every token. Use an engine that does, such as vLLM.")
                continue
            for token, logprob, top in zip(logprobs["tokens"], logprobs["token_logprobs"],
                                           logprobs.get("top_logprobs") or [None] * len(logprobs["tokens"]),
                                           strict=True):
                yield _step(token, logprob, top or {}, tokenizer, top_n)


def _step(token: str, logprob: float, top: dict[str, float], tokenizer, top_n: int) -> Step:
    """One streamed token as a :class:`Step`: probabilities are ``exp(logprob)``; ``p_sampled`` unknown."""
    ranked = sorted(((_token_id(t), lp) for t, lp in top.items()), key=lambda item: -item[1])[:top_n]
    token_id = _token_id(token)
    return Step(
        token_id=token_id,
        token=tokenizer.decode([token_id]),
        p_model=math.exp(logprob),
        p_sampled=None,
        top=[(show_token(tokenizer.decode([i])), math.exp(lp), None) for i, lp in ranked],
        top_ids=[i for i, _ in ranked],
    )


def _token_id(token: str) -> int:
    if not token.startswith(TOKEN_ID_PREFIX):
        raise ValueError("The class server names tokens by their text, not their id; the course needs the ids "
                         "(vLLM sends them when asked with return_tokens_as_token_ids).")
    return int(token.removeprefix(TOKEN_ID_PREFIX))


# --- HTTP: every failure becomes a sentence ----------------------------------------------------------------


def _client(config: ServerConfig):
    import httpx

    headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
    timeout = httpx.Timeout(config.timeout_s, connect=min(config.timeout_s, limits.LM_SERVER_CONNECT_TIMEOUT_S))
    return httpx.Client(base_url=config.url, headers=headers, timeout=timeout)


def _send(config: ServerConfig, request):
    """``request()``, with a dead or slow server as a ``ValueError`` that says what to do."""
    import httpx

    try:
        return request()
    except httpx.TimeoutException as e:
        raise ValueError(f"The class server at {config.url} did not answer within {config.timeout_s:g} s. "
                         "It may be overloaded: try again in a moment, or choose the embedded model.") from e
    except httpx.TransportError as e:
        raise ValueError(f"The class server at {config.url} cannot be reached ({type(e).__name__}: {e}). "
                         "Ask your teacher whether it is running, or choose the embedded model.") from e


def _lines(config: ServerConfig, response) -> Iterator[str]:
    """The response's lines as they arrive; a connection that breaks or stalls mid-reply becomes a ``ValueError``."""
    import httpx

    try:
        yield from response.iter_lines()
    except httpx.TimeoutException as e:
        raise ValueError(f"The class server at {config.url} stopped sending for {config.timeout_s:g} s "
                         "in the middle of the reply.") from e
    except httpx.TransportError as e:
        raise ValueError(f"The connection to the class server at {config.url} broke in the middle of the reply "
                         f"({type(e).__name__}).") from e


def _check(config: ServerConfig, response) -> None:
    """Raise a ``ValueError`` with a sentence for an error answer (status 400 or above)."""
    if response.status_code < 400:
        return
    response.read()
    message = _error_message(response)
    if response.status_code in (401, 403):
        raise ValueError(f"The class server at {config.url} refused the key (CM_LM_SERVER_KEY): {message}")
    if response.status_code == 404 and "model" in message.lower():
        raise ValueError(f"The class server at {config.url} does not serve the model {config.model!r}: {message} "
                         "Set CM_LM_SERVER_MODEL to a model it serves.")
    raise ValueError(f"The class server at {config.url} answered with an error ({response.status_code}): {message}")


def _error_message(response) -> str:
    try:
        return _message_of(response.json())
    except ValueError:  # not JSON
        return response.text[:300] or response.reason_phrase


def _message_of(body) -> str:
    """The sentence in an OpenAI-style error body (``{"error": {"message": ...}}``, or FastAPI's ``{"detail": ...}``),
    else the body itself."""
    error = body.get("error", body) if isinstance(body, dict) else body
    message = (error.get("message") or error.get("detail")) if isinstance(error, dict) else None
    return str(message or error)[:300]
