"""A bounded abuse run against the whole app: does it refuse clearly, keep serving, and keep memory and disk bounded?

    python bench/abuse.py [--rounds 2] [--sessions 70] [--timeout 120]

Starts ``python app.py`` as a user would, on a free port and with a private temporary folder (``TMPDIR``), so
that folder holds exactly what the app stores: gradio's uploads and returned files, and the files the demos
write. Records the app's resident memory (RSS, with its child processes) and that folder's size, then, per
round:

- uploads over raw HTTP to ``/gradio_api/upload``: requests of 25 files of 9 MB, requests of 30 MB sent in
  chunks (stating no size), then single 9 MB files until the app stops taking them from that client (a new
  address each round);
- large images (a 20000 x 20000 PNG of about 50 KB, a 12-megapixel photo-sized JPEG, bytes that are no image) sent to
  every endpoint that takes an image, and a 1.9 MB text to topic 10;
- long prompts (4,000 emoji, 100,000 characters) to the endpoints that read text;
- ``--sessions`` cheap calls on several endpoints, each from a new session (as ``curl`` or a new browser tab
  makes): over the default two rounds, more than the sessions gradio keeps state for (128).

Each call is counted as ok, a clear reject (a sentence), a generic error (gradio's "Error" with no message, a
bare HTTP error), a timeout or a death (the app stopped answering; it is restarted). Prints the counts per
phase, the RSS and folder size before, after each round and at the end, and the CPU (``lscpu``).
"""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import psutil
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
GENERIC = "has not enabled verbose error reporting"
OUTCOMES = ("ok", "clear", "generic", "timeout", "death")


def cpu_model() -> str:
    out = subprocess.run(["lscpu"], check=False, capture_output=True, text=True).stdout
    names = [line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")]
    return f"{names[0] if names else 'unknown CPU'} ({os.cpu_count()} cores)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def folder_bytes(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        try:
            total += path.lstat().st_size if path.is_file() else 0
        except OSError:
            pass
    return total


class App:
    """``python app.py`` in a subprocess with its own temporary folder; restarted if it dies."""

    def __init__(self, tmp: Path):
        self.tmp, self.port, self.proc = tmp, free_port(), None
        self.url = f"http://127.0.0.1:{self.port}/"
        self.start()

    def start(self) -> None:
        """Start (or restart, on the same port) the app and wait until it serves."""
        env = {**os.environ, "GRADIO_SERVER_PORT": str(self.port), "GRADIO_ANALYTICS_ENABLED": "False",
               "HF_HUB_OFFLINE": "1", "TMPDIR": str(self.tmp)}
        self.proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 600
        while not self.alive():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the app did not start")
            time.sleep(0.5)

    def alive(self) -> bool:
        try:
            urllib.request.urlopen(self.url + "config", timeout=30).read()
            return True
        except OSError:
            return False

    def rss_bytes(self) -> tuple[int, int]:
        """``(RSS now, peak RSS)`` of the app process (now: with its children)."""
        process = psutil.Process(self.proc.pid)
        now = process.memory_info().rss + sum(c.memory_info().rss for c in process.children(recursive=True))
        peak = next((int(line.split()[1]) * 1024 for line in Path(f"/proc/{process.pid}/status").read_text().splitlines()
                     if line.startswith("VmHWM")), 0)
        return now, peak

    def disk(self) -> str:
        """The gradio folder (uploads, returned files) and all the app's temporary files (with the demos' own)."""
        return f"gradio folder {mb(folder_bytes(self.tmp / 'gradio'))}, all temporary files {mb(folder_bytes(self.tmp))}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


class Tally:
    """Counts outcomes per phase, and keeps one message per phase, outcome and endpoint."""

    def __init__(self):
        self.counts: dict[str, Counter] = {}
        self.examples: dict[tuple[str, str, str], str] = {}

    def add(self, phase: str, outcome: str, where: str = "", message: str = "") -> None:
        self.counts.setdefault(phase, Counter())[outcome] += 1
        self.examples.setdefault((phase, outcome, where), message[:200])


def call(app: App, client: Client, tally: Tally, phase: str, api_name: str, timeout_s: float, **kwargs) -> None:
    """One gradio_client call, classified."""
    try:
        client.submit(api_name=api_name, **kwargs).result(timeout=timeout_s)
        tally.add(phase, "ok")
    except AppError as e:
        message = str(e)
        tally.add(phase, "generic" if GENERIC in message or not message.strip() else "clear", api_name, message)
    except (TimeoutError, httpx.TimeoutException):
        tally.add(phase, "timeout", api_name)
    except httpx.HTTPStatusError as e:  # the upload of a file argument was refused
        text = e.response.text.strip()
        clear = 400 <= e.response.status_code < 500 and text.endswith(".")
        tally.add(phase, "clear" if clear else "generic", api_name, f"HTTP {e.response.status_code}: {text}")
    except Exception as e:  # noqa: BLE001 - anything else: is the app still there?
        if app.alive():
            tally.add(phase, "generic", api_name, f"{type(e).__name__}: {e}")
        else:
            tally.add(phase, "death", api_name, f"{type(e).__name__}: {e}")
            app.start()


def upload(app: App, tally: Tally, phase: str, client_address: str, **request) -> None:
    """One raw POST to ``/gradio_api/upload``, classified: a refusal must be a 4xx with a sentence.

    ``client_address`` goes in ``X-Forwarded-For``, which the server trusts from 127.0.0.1 (as from a proxy):
    each round's flood comes from a client of its own, and leaves this script's own budget alone."""
    headers = {**request.pop("headers", {}), "x-forwarded-for": client_address}
    try:
        r = httpx.post(app.url + "gradio_api/upload", timeout=120, headers=headers, **request)
    except httpx.HTTPError as e:
        tally.add(phase, "generic" if app.alive() else "death", "upload", f"{type(e).__name__}: {e}")
        return
    text = r.text.strip()
    if r.status_code == 200:
        tally.add(phase, "ok")
    elif 400 <= r.status_code < 500 and text.endswith(".") and " " in text:
        tally.add(phase, "clear", f"upload {r.status_code}", f"HTTP {r.status_code}: {text}")
    else:
        tally.add(phase, "generic", "upload", f"HTTP {r.status_code}: {text}")


def multipart_chunks(n_bytes: int):
    """A multipart body as a generator: httpx sends it in chunks, stating no size (no Content-Length)."""
    yield b'--x\r\nContent-Disposition: form-data; name="files"; filename="a.bin"\r\n\r\n'
    for _ in range(n_bytes // 2**20):
        yield b"\0" * 2**20
    yield b"\r\n--x--\r\n"


def bomb_png(path: Path, side: int = 20000) -> Path:
    """A valid 1-bit PNG of ``side`` x ``side`` pixels (a decompression bomb): a few tens of KB on disk."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\0" * (1 + (side + 7) // 8)
    z = zlib.compressobj(9)
    data = b"".join(z.compress(row) for _ in range(side)) + z.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
                     + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


def inputs(folder: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    photo = folder / "photo.jpg"  # 12 megapixels, smooth with some grain, as a camera's: a few MB
    y, x = np.mgrid[0:3000, 0:4000]
    pixels = np.stack([x / 16, y / 12, (x + y) / 28], axis=-1) + rng.normal(0, 6, (3000, 4000, 3))
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(photo, quality=90)
    junk = folder / "junk.png"
    junk.write_bytes(rng.bytes(200_000))
    text = folder / "text.txt"
    words = ["the", "king", "queen", "sword", "night", "love", "death", "crown", "ghost", "sea"]
    text.write_text(" ".join(rng.choice(words, 330_000)), encoding="utf-8")  # about 1.9 MB
    return {"bomb": bomb_png(folder / "bomb.png"), "photo": photo, "junk": junk, "text": text}


def phase_uploads(app: App, tally: Tally, round_index: int) -> None:
    address = f"203.0.113.{round_index + 1}"  # a documentation address: a new client each round
    blob = os.urandom(9 * 2**20)
    for i in range(5):
        files = [("files", (f"part{k}.bin", blob[:-k - 1] + bytes([i]))) for k in range(25)]
        upload(app, tally, "upload 25 x 9 MB", address, files=files)
    for _ in range(3):
        upload(app, tally, "upload 30 MB in chunks", address, content=multipart_chunks(30 * 2**20),
               headers={"content-type": "multipart/form-data; boundary=x"})
    for i in range(30):
        upload(app, tally, "upload 9 MB each", address, files=[("files", (f"one{i}.bin", os.urandom(9 * 2**20)))])


def phase_images(app: App, client: Client, tally: Tally, files: dict[str, Path], timeout_s: float) -> None:
    for kind in ("bomb", "photo", "junk"):
        image = handle_file(str(files[kind]))
        call(app, client, tally, "images", "/images_transform", timeout_s, image=image, steps=2)
        call(app, client, tally, "images", "/multimodal_caption", timeout_s, path=image)
        call(app, client, tally, "images", "/ethics_image_watermark", timeout_s, upload=image)
        call(app, client, tally, "images", "/ethics_read_metadata", timeout_s, upload=image)
        call(app, client, tally, "images", "/convolution", timeout_s, source="My upload", upload=image)
    call(app, client, tally, "images", "/build_your_own_prepare", timeout_s, source="Your own .txt file",
         upload=handle_file(str(files["text"])))


def phase_prompts(app: App, client: Client, tally: Tally, timeout_s: float) -> None:
    emoji, long = "😀" * 4000, "a" * 100_000
    call(app, client, tally, "long prompts", "/language_generate", timeout_s, prompt=emoji, max_new_tokens=8)
    call(app, client, tally, "long prompts", "/language_next_token", timeout_s, prompt=emoji)
    call(app, client, tally, "long prompts", "/build_your_own_tokenize", timeout_s, upload=None, sentence=long)
    call(app, client, tally, "long prompts", "/images_generate", timeout_s, prompt=long, steps=2, batch=1)
    call(app, client, tally, "long prompts", "/multimodal_search", timeout_s, query=long)
    call(app, client, tally, "long prompts", "/ethics_watermark_detect", timeout_s, text=long)
    call(app, client, tally, "long prompts", "/ethics_detect_score", timeout_s, text=long)
    call(app, client, tally, "long prompts", "/recurrence", timeout_s, sequence=long)
    call(app, client, tally, "long prompts", "/music_generate_melody", timeout_s, opening=long, bars=2)


CHEAP_CALLS = [
    ("/recurrence", {}),
    ("/understanding_fit", {"n_points": 200}),
    ("/multimodal_search", {"query": "a red heart"}),
    ("/music_generate_melody", {"bars": 2, "opening": ""}),
    ("/images_generate", {"steps": 2, "batch": 1}),
    ("/language_generate", {"prompt": "Hello", "max_new_tokens": 4}),
    ("/convolution", {"upload": None}),
    ("/ethics_watermark_detect", {"text": "A short text to check for a watermark, long enough to score."}),
]


def phase_sessions(app: App, client: Client, tally: Tally, n_calls: int, timeout_s: float) -> None:
    for i in range(n_calls):
        client.reset_session()
        api_name, kwargs = CHEAP_CALLS[i % len(CHEAP_CALLS)]
        call(app, client, tally, "new session per call", api_name, timeout_s, **kwargs)


def mb(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:,.0f} MB"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--sessions", type=int, default=70, help="calls from new sessions per round")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds one call may take")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cm-abuse-"))
    started = time.perf_counter()
    (tmp / "app").mkdir()
    app = App(tmp / "app")
    try:
        files = inputs(Path(tempfile.mkdtemp(prefix="inputs-", dir=tmp)))
        client = Client(app.url, verbose=False, download_files=False)
        call(app, client, Tally(), "warm-up", "/recurrence", a.timeout)
        time.sleep(2)
        rss, _ = app.rss_bytes()
        lines = [f"before: RSS {mb(rss)}, {app.disk()}"]
        tally = Tally()
        for r in range(a.rounds):
            phases = [("uploads", phase_uploads, (app, tally, r)),
                      ("images", phase_images, (app, client, tally, files, a.timeout)),
                      ("long prompts", phase_prompts, (app, client, tally, a.timeout)),
                      ("sessions", phase_sessions, (app, client, tally, a.sessions, a.timeout))]
            for name, phase, args in phases:
                print(f"round {r + 1}: {name} ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
                phase(*args)
            time.sleep(2)
            rss, peak = app.rss_bytes()
            lines.append(f"after round {r + 1}: RSS {mb(rss)} (peak so far {mb(peak)}), {app.disk()}")
        client.close()
    finally:
        app.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"bench/abuse.py on {cpu_model()}, {a.rounds} rounds, {time.perf_counter() - started:.0f} s in all")
    print(f"{'phase':<24}" + "".join(f"{o:>9}" for o in ("calls", *OUTCOMES)))
    total = Counter()
    for phase, counts in tally.counts.items():
        total.update(counts)
        print(f"{phase:<24}{sum(counts.values()):>9}" + "".join(f"{counts[o]:>9}" for o in OUTCOMES))
    print(f"{'all':<24}{sum(total.values()):>9}" + "".join(f"{total[o]:>9}" for o in OUTCOMES))
    print("\n".join(lines))
    print("Messages (one per phase, outcome and endpoint):")
    for (phase, outcome, where), message in tally.examples.items():
        if outcome != "ok":
            print(f"  [{phase}, {outcome}] {where}: {message}")


if __name__ == "__main__":
    main()
