"""Files on the server: what an upload may store, and how uploaded and generated files are cleaned.

Gradio keeps every upload, and every file a demo returns, in one folder (``GRADIO_TEMP_DIR``, by default
``<tmp>/gradio``) until the server stops. Its own limit, ``launch(max_file_size=...)``, is per file, and
one request may carry up to a thousand files. Here the disk stays bounded at four levels:

- a file: ``max_file_size`` (gradio's own, ``limits.MAX_UPLOAD_SIZE``);
- a request: :class:`UploadLimits` refuses a request (an upload, or a JSON call) whose body is over
  ``limits.UPLOAD_REQUEST_MAX_BYTES``: before reading it when it states its size (``Content-Length``: the
  HTTP server then reads exactly that many bytes), else as soon as it has sent more (chunked);
- a client: :class:`UploadLimits` refuses an upload from a client (an IP address, as the server sees it)
  who has uploaded more than ``limits.UPLOAD_CLIENT_MAX_BYTES`` in the last ``limits.UPLOAD_CLIENT_WINDOW_S``
  seconds;
- the folder: ``gr.Blocks(delete_cache=limits.DELETE_CACHE)`` (gradio's own) deletes files older than an
  hour, and :class:`CacheBudget` deletes the oldest files whenever the folder would hold more than
  ``limits.CACHE_MAX_BYTES`` (checked before each upload and every ``limits.CACHE_SWEEP_EVERY_S``).

Files a demo writes itself before gradio copies them into that folder (a MIDI file, a script) go into
:func:`fresh_folder`, which keeps only the newest ``limits.OUTPUT_FOLDERS_KEPT`` folders.

Returned files are written whole, once: gradio names each returned picture, sound or file by its content's hash
and rewrote it in place on every return, so when thirty learners made the same default picture, one learner's
download could read the file while another's return had just emptied it (``bench/classroom.py`` saw "peer closed
connection without sending complete message body"). :func:`write_returned_files_once` makes gradio write into a
private folder and move the finished file into place, unless a file of that content is there already.

Images: PIL reads an image's size from its header when it opens it and refuses (``DecompressionBombError``)
one of more than ``limits.IMAGE_MAX_PIXELS`` before decoding a pixel, for gradio's image inputs too.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import os
import shutil
import tempfile
import threading
import time
import warnings
from collections import OrderedDict, deque
from pathlib import Path

import anyio
from gradio import processing_utils
from PIL import Image

from shared import limits

# PIL warns above MAX_IMAGE_PIXELS and refuses above twice as many: refuse above the bound, without warnings below.
Image.MAX_IMAGE_PIXELS = limits.IMAGE_MAX_PIXELS // 2
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

OUTPUTS = Path(tempfile.gettempdir()) / "creative-machines-outputs"
CLIENTS_TRACKED = 4096  # addresses whose recent uploads are remembered; the least recently seen is forgotten


def megabytes(n_bytes: float) -> str:
    """``n_bytes`` as a short text, e.g. ``'236 MB'`` or ``'1.5 MB'`` (1 MB = 2**20 bytes, as gradio's ``"10mb"``)."""
    value = n_bytes / 2**20
    return f"{value:.0f} MB" if value >= 10 else f"{value:.1f} MB"


# ---------------------------------------------------------------------------------------------
# The folder: a byte budget over the files gradio keeps
# ---------------------------------------------------------------------------------------------

def cached_files(blocks) -> list[Path]:
    """The files gradio keeps for ``blocks`` (uploads and returned files), less those it must keep
    (components' default values and examples): the files its own ``delete_cache`` would delete."""
    keep = set()
    for block in list(blocks.blocks.values()):
        keep.update(getattr(block, "keep_in_cache", ()))
    paths = dict.fromkeys(f for files in list(blocks.temp_file_sets) for f in list(files))  # a file may be in two
    return [Path(f) for f in paths if f not in keep]


class CacheBudget:
    """Keeps the files gradio stores for an app under ``max_bytes``: the oldest go first. Thread-safe."""

    def __init__(self, max_bytes: int = limits.CACHE_MAX_BYTES):
        self.max_bytes = max_bytes
        self.stored_bytes = 0  # measured at the last sweep, plus what was let in since
        self._lock = threading.Lock()

    def sweep(self, blocks, target_bytes: int | None = None) -> int:
        """Delete the oldest files until at most ``target_bytes`` (default ``max_bytes``) remain; return the
        bytes deleted."""
        target = self.max_bytes if target_bytes is None else target_bytes
        with self._lock:
            files = []
            for path in cached_files(blocks):
                with contextlib.suppress(OSError):
                    stat = path.stat()
                    files.append((stat.st_ctime, stat.st_size, path))
            files.sort()
            total = sum(size for _, size, _ in files)
            freed = 0
            for _, size, path in files:
                if total - freed <= target:
                    break
                _delete(blocks, path)
                freed += size
            self.stored_bytes = total - freed
            return freed

    def make_room(self, blocks, n_bytes: int) -> None:
        """Count ``n_bytes`` about to be stored, sweeping first if they would take the folder over budget."""
        if self.stored_bytes + n_bytes > self.max_bytes:
            self.sweep(blocks, self.max_bytes - n_bytes)
        with self._lock:
            self.stored_bytes += n_bytes


def _delete(blocks, path: Path) -> None:
    path.unlink(missing_ok=True)
    for files in list(blocks.temp_file_sets):
        files.discard(str(path))
    with contextlib.suppress(OSError):
        path.parent.rmdir()  # gradio stores each file in a folder of its own (named by its hash)


CACHE = CacheBudget()


@contextlib.asynccontextmanager
async def sweep_cache_regularly(app):
    """A FastAPI lifespan: every ``limits.CACHE_SWEEP_EVERY_S`` seconds, bring the app's gradio folder back
    under ``limits.CACHE_MAX_BYTES`` (files the demos return land there too, not only uploads)."""

    async def every():
        while True:
            await asyncio.sleep(limits.CACHE_SWEEP_EVERY_S)
            await anyio.to_thread.run_sync(CACHE.sweep, app.get_blocks())

    task = asyncio.create_task(every())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# ---------------------------------------------------------------------------------------------
# A request and a client: an ASGI middleware in front of every request with a body
# ---------------------------------------------------------------------------------------------

class UploadLimits:
    """ASGI middleware: refuses, with a sentence, a request whose body is too large (before reading it when it
    states its size, else as soon as it has sent too much), and an upload (a multipart request) that would take
    its client over the recent-uploads budget; makes room in the app's folder (:class:`CacheBudget`) for an
    upload it lets in.

    Args:
        app: the ASGI app it wraps (Starlette passes it).
        request_max_bytes: the most one request may carry, an upload's files all together.
        client_max_bytes: the most one client may upload within ``client_window_s`` seconds.
        cache: the folder's budget; ``None`` for none (a test of this class alone).
    """

    def __init__(self, app, request_max_bytes: int = limits.UPLOAD_REQUEST_MAX_BYTES,
                 client_max_bytes: int = limits.UPLOAD_CLIENT_MAX_BYTES,
                 client_window_s: float = limits.UPLOAD_CLIENT_WINDOW_S, cache: CacheBudget | None = CACHE):
        self.app, self.cache = app, cache
        self.request_max_bytes, self.client_max_bytes, self.client_window_s = (
            request_max_bytes, client_max_bytes, client_window_s)
        self._sent: OrderedDict[str, deque[tuple[float, int]]] = OrderedDict()  # client -> (time, bytes)
        self._lock = threading.Lock()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        too_large = (f"one request may carry at most {megabytes(self.request_max_bytes)} "
                     "(an upload: all its files together). Send fewer or smaller files.")
        try:
            n_bytes = int(headers[b"content-length"])
        except (KeyError, ValueError):  # sent in chunks: read it here, up to the bound, then hand it on
            body = await _read_at_most(receive, self.request_max_bytes)
            if body is None:
                return await _refuse(send, 413, f"This request is over {megabytes(self.request_max_bytes)}; {too_large}")
            n_bytes, receive = len(body), _replay(body, receive)
        if n_bytes > self.request_max_bytes:
            return await _refuse(send, 413, f"This request is {megabytes(n_bytes)}; {too_large}")
        if not headers.get(b"content-type", b"").lower().startswith(b"multipart/form-data"):
            return await self.app(scope, receive, send)
        client = (scope.get("client") or ("unknown",))[0]
        entry, used = self._charge(client, n_bytes)
        if entry is None:
            return await _refuse(send, 429, (
                f"You have uploaded {megabytes(used)} in the last {round(self.client_window_s / 60)} minutes; "
                f"one user may upload at most {megabytes(self.client_max_bytes)} in that time. Wait a few "
                "minutes, or reuse a file you have already uploaded."))
        if self.cache is not None and "app" in scope:
            await anyio.to_thread.run_sync(self.cache.make_room, scope["app"].get_blocks(), n_bytes)
        status = []

        async def send_status(message):
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            if not status or status[0] >= 400:
                self._refund(client, entry)

    def _charge(self, client: str, n_bytes: int) -> tuple[tuple | None, int]:
        """Count ``n_bytes`` against ``client``'s recent uploads. Returns ``(entry, bytes sent before)``;
        ``entry`` is ``None`` (and nothing is counted) if they would take the client over budget."""
        now = time.monotonic()
        with self._lock:
            sent = self._sent.setdefault(client, deque())
            self._sent.move_to_end(client)
            while sent and now - sent[0][0] > self.client_window_s:
                sent.popleft()
            used = sum(n for _, n in sent)
            if used + n_bytes > self.client_max_bytes:
                return None, used
            entry = (now, n_bytes)
            sent.append(entry)
            while len(self._sent) > CLIENTS_TRACKED:
                self._sent.popitem(last=False)
            return entry, used

    def _refund(self, client: str, entry: tuple) -> None:
        """Un-count a request that stored nothing (it was refused further in, or failed)."""
        with self._lock, contextlib.suppress(KeyError, ValueError):
            self._sent[client].remove(entry)


async def _read_at_most(receive, max_bytes: int) -> bytes | None:
    """The whole body of a request, or ``None`` as soon as it is over ``max_bytes`` (or the client left)."""
    chunks, n_bytes, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        n_bytes += len(chunks[-1])
        if n_bytes > max_bytes:
            return None
        more = message.get("more_body", False)
    return b"".join(chunks)


def _replay(body: bytes, receive):
    """An ASGI ``receive`` that gives ``body`` (already read), then whatever the client sends next."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay():
        return pending.pop() if pending else await receive()

    return replay


async def _refuse(send, status: int, message: str) -> None:
    body = message.encode("utf-8")
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


# ---------------------------------------------------------------------------------------------
# Files the demos write themselves
# ---------------------------------------------------------------------------------------------

_outputs_lock = threading.Lock()


def keep_newest(folder: Path, keep: int) -> None:
    """Delete all but the ``keep`` most recently modified entries (files or folders) of ``folder``."""
    entries = []
    for path in folder.iterdir():
        with contextlib.suppress(OSError):  # another thread may have deleted it meanwhile
            entries.append((path.stat().st_mtime, path))
    entries.sort()
    for _, old in entries[: max(0, len(entries) - keep)]:
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)


def fresh_folder(prefix: str) -> Path:
    """A new, empty folder for one call's downloads, in one app-wide temporary folder that keeps only its
    newest ``limits.OUTPUT_FOLDERS_KEPT`` folders (gradio copies a returned file into its own folder
    as soon as the call returns)."""
    with _outputs_lock:
        OUTPUTS.mkdir(parents=True, exist_ok=True)
        keep_newest(OUTPUTS, limits.OUTPUT_FOLDERS_KEPT - 1)
        return Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=OUTPUTS))


# ---------------------------------------------------------------------------------------------
# Returned files: written whole, once
# ---------------------------------------------------------------------------------------------

def _written_once(save):
    """``save`` (one of gradio's ``save_*_to_cache``, which return ``<cache_dir>/<content hash>/<name>``) made to
    write into a fresh private folder inside ``cache_dir`` and move the finished file to that path with
    ``os.replace`` (atomic on one file system), or to drop it when a file of the same content is there already: a
    reader never sees a half-written or emptied file."""
    signature = inspect.signature(save)

    @functools.wraps(save)
    def wrapper(*args, **kwargs):
        call = signature.bind(*args, **kwargs)
        call.apply_defaults()
        cache_dir = Path(call.arguments["cache_dir"])
        cache_dir.mkdir(parents=True, exist_ok=True)
        private = Path(tempfile.mkdtemp(prefix=".writing-", dir=cache_dir))
        try:
            call.arguments["cache_dir"] = str(private)
            written = Path(save(*call.args, **call.kwargs))
            final = cache_dir / written.relative_to(private.resolve())
            if not final.exists():
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(written, final)
            return str(final.resolve())
        finally:
            shutil.rmtree(private, ignore_errors=True)

    wrapper.writes_once = True
    return wrapper


def write_returned_files_once() -> None:
    """Route gradio's writers of returned pictures, sounds and bytes through :func:`_written_once` (idempotent)."""
    for name in ("save_pil_to_cache", "save_bytes_to_cache", "save_audio_to_cache"):
        save = getattr(processing_utils, name)
        if not getattr(save, "writes_once", False):
            setattr(processing_utils, name, _written_once(save))


write_returned_files_once()
