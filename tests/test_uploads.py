"""Uploads and files on disk (shared/files.py): what one request and one client may store, how the folder is
swept, that legitimate uploads still work, and that what the server keeps in memory per session is bounded."""
from __future__ import annotations

import os
import socket
import struct
import time
import zlib
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from shared import files, limits
from shared.ui import launch_kwargs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stored(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def _launch(folder: Path, monkeypatch, **blocks_kwargs):
    """A small demo (a file in, its size out) launched with the app's own launch settings and upload folder."""
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(folder))
    with gr.Blocks(**blocks_kwargs) as demo:
        upload, size, state = gr.File(), gr.Textbox(), gr.State(None)
        upload.upload(lambda path: str(os.path.getsize(path)), upload, size, api_name="size")
        size.change(lambda s: s, size, state)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=_free_port(),
                            quiet=True, **launch_kwargs())
    return demo, url


@pytest.fixture
def small_app(tmp_path, monkeypatch):
    demo, url = _launch(tmp_path / "gradio", monkeypatch)
    yield demo, url, tmp_path / "gradio"
    demo.close()


# --- one request --------------------------------------------------------------------------------------------

def test_one_request_with_many_files_over_the_budget_is_refused_with_a_sentence_and_stores_nothing(small_app):
    _, url, folder = small_app
    before = _stored(folder)
    blob = os.urandom(2**20)
    many = [("files", (f"part{i}.bin", blob + bytes([i]))) for i in range(25)]  # 25 MB in one request

    r = httpx.post(url + "gradio_api/upload", files=many, timeout=120)

    assert r.status_code == 413
    assert r.text == ("This request is 25 MB; one request may carry at most 20 MB (an upload: all its files "
                      "together). Send fewer or smaller files.")
    assert _stored(folder) == before


def _chunks(n_bytes: int):
    """A multipart body as a generator: httpx sends it in chunks, stating no size."""
    yield b'--x\r\nContent-Disposition: form-data; name="files"; filename="chunked.bin"\r\n\r\n'
    for _ in range(n_bytes // 2**16):
        yield os.urandom(2**16)
    yield b"\r\n--x--\r\n"


def test_an_upload_sent_in_chunks_is_refused_as_soon_as_it_is_over_the_budget(small_app):
    _, url, folder = small_app
    headers = {"content-type": "multipart/form-data; boundary=x"}

    r = httpx.post(url + "gradio_api/upload", content=_chunks(30 * 2**20), headers=headers, timeout=120)

    assert r.status_code == 413 and "This request is over 20 MB" in r.text
    assert _stored(folder) == []
    small = httpx.post(url + "gradio_api/upload", content=_chunks(2**20), headers=headers, timeout=120)
    assert small.status_code == 200 and [p.name for p in _stored(folder)] == ["chunked.bin"]


def test_a_json_call_over_the_budget_is_refused_before_it_is_read(small_app):
    _, url, _ = small_app
    body = b'{"data": ["' + b"x" * (21 * 2**20) + b'"], "fn_index": 0, "session_hash": "abc"}'

    r = httpx.post(url + "gradio_api/queue/join", content=body, headers={"content-type": "application/json"},
                   timeout=120)

    assert r.status_code == 413 and "one request may carry at most 20 MB" in r.text


def test_a_legitimate_upload_still_works(small_app, tmp_path):
    _, url, folder = small_app
    path = tmp_path / "notes.txt"
    path.write_bytes(b"x" * 1_500_000)

    size = Client(url, verbose=False).predict(handle_file(str(path)), api_name="/size")

    assert size == "1500000"
    assert any(p.name == "notes.txt" for p in _stored(folder))


# --- one client -----------------------------------------------------------------------------------------------

def _echo_app(**limit_kwargs) -> TestClient:
    async def store(request):
        await request.body()
        return PlainTextResponse("stored")

    async def refuse(request):
        await request.body()
        return PlainTextResponse("File size exceeded", status_code=413)

    middleware = [Middleware(files.UploadLimits, cache=None, **limit_kwargs)]
    return TestClient(Starlette(routes=[Route("/upload", store, methods=["POST"]),
                                        Route("/refuse", refuse, methods=["POST"])], middleware=middleware))


def _post(client: TestClient, n_bytes: int, path: str = "/upload"):
    return client.post(path, files={"files": ("a.bin", b"x" * n_bytes)})


def test_a_client_over_its_recent_uploads_budget_is_refused_until_the_window_has_passed(monkeypatch):
    clock = [1000.0]  # the middleware's clock, moved by the test: a busy machine cannot stretch the window
    monkeypatch.setattr(files, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    client = _echo_app(request_max_bytes=10_000, client_max_bytes=5_000, client_window_s=60.0)
    assert _post(client, 2_000).status_code == 200
    assert _post(client, 2_000).status_code == 200

    refused = _post(client, 2_000)

    assert refused.status_code == 429
    assert "You have uploaded" in refused.text and "Wait a few minutes" in refused.text
    clock[0] += 61.0
    assert _post(client, 2_000).status_code == 200


def test_refused_requests_do_not_count_against_the_client():
    client = _echo_app(request_max_bytes=3_000, client_max_bytes=5_000, client_window_s=3600)
    for _ in range(5):
        assert _post(client, 4_000).status_code == 413  # over the request budget: refused here
        assert _post(client, 2_000, "/refuse").status_code == 413  # refused by the app behind
    assert _post(client, 2_000).status_code == 200
    assert _post(client, 2_000).status_code == 200


def test_calls_that_are_not_uploads_do_not_count_against_the_client():
    client = _echo_app(request_max_bytes=10_000, client_max_bytes=3_000, client_window_s=3600)
    for _ in range(5):
        assert client.post("/upload", content=b"y" * 2_000).status_code == 200  # not multipart
    assert _post(client, 2_000).status_code == 200


# --- the folder -------------------------------------------------------------------------------------------------

def _fake_blocks(paths: list[Path], keep: set[str] = frozenset()):
    component = SimpleNamespace(keep_in_cache=set(keep))
    return SimpleNamespace(blocks={1: component}, temp_file_sets=[{str(p) for p in paths}])


def _write_files(folder: Path, n: int, n_bytes: int) -> list[Path]:
    paths = []
    for i in range(n):  # oldest first; each in a folder of its own, as gradio stores them
        path = folder / f"hash{i}" / f"file{i}.bin"
        path.parent.mkdir(parents=True)
        path.write_bytes(b"z" * n_bytes)
        os.utime(path, (1_700_000_000 + i, 1_700_000_000 + i))  # one second apart, whatever the machine's speed
        paths.append(path)
    return paths


def test_the_folder_is_swept_oldest_first_down_to_its_byte_budget(tmp_path):
    paths = _write_files(tmp_path, 10, 1000)
    blocks = _fake_blocks(paths)
    budget = files.CacheBudget(max_bytes=4_500)

    freed = budget.sweep(blocks)

    assert freed == 6000
    assert [p.exists() for p in paths] == [False] * 6 + [True] * 4
    assert not paths[0].parent.exists()  # the file's own folder goes too
    assert blocks.temp_file_sets[0] == {str(p) for p in paths[6:]}
    assert budget.stored_bytes == 4000


def test_making_room_for_an_upload_deletes_the_oldest_files_first(tmp_path):
    paths = _write_files(tmp_path, 5, 1000)
    blocks = _fake_blocks(paths)
    budget = files.CacheBudget(max_bytes=5_000)
    budget.sweep(blocks)
    assert all(p.exists() for p in paths)

    budget.make_room(blocks, 2_500)

    assert [p.exists() for p in paths] == [False, False, False, True, True]
    assert budget.stored_bytes == 4_500


def test_files_gradio_must_keep_are_never_swept(tmp_path):
    paths = _write_files(tmp_path, 3, 1000)
    blocks = _fake_blocks(paths, keep={str(paths[0])})

    files.CacheBudget(max_bytes=0).sweep(blocks)

    assert [p.exists() for p in paths] == [True, False, False]


def _upload(url: str, name: str, n_bytes: int) -> None:
    r = httpx.post(url + "gradio_api/upload", files=[("files", (name, os.urandom(n_bytes)))], timeout=60)
    assert r.status_code == 200, r.text


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in _stored(folder))


def _wait_until(condition, what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.25)


def test_a_file_that_two_components_keep_is_counted_once(tmp_path):
    paths = _write_files(tmp_path, 2, 1000)
    blocks = _fake_blocks(paths)
    blocks.temp_file_sets.append({str(paths[1])})

    assert files.CacheBudget(max_bytes=2000).sweep(blocks) == 0
    assert all(p.exists() for p in paths)


def test_the_launched_app_makes_room_before_each_upload(small_app, monkeypatch):
    _, url, folder = small_app
    monkeypatch.setattr(files.CACHE, "max_bytes", 3 * 2**20)
    for i in range(6):
        _upload(url, f"f{i}.bin", 2**20)
        assert _folder_bytes(folder) <= 3 * 2**20
    assert {p.name for p in _stored(folder)} >= {"f4.bin", "f5.bin"}


def test_the_launched_app_sweeps_its_folder_regularly(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "CACHE_SWEEP_EVERY_S", 0.5)
    demo, url = _launch(tmp_path / "gradio", monkeypatch)
    try:
        for i in range(4):
            _upload(url, f"f{i}.bin", 2**20)
        monkeypatch.setattr(files.CACHE, "max_bytes", 2**20)  # as if files returned by demos had filled it
        _wait_until(lambda: _folder_bytes(tmp_path / "gradio") <= 2**20, "the folder was not swept to its budget")
    finally:
        demo.close()


def test_gradio_deletes_old_files_beside_the_apps_own_sweep(tmp_path, monkeypatch):
    demo, url = _launch(tmp_path / "gradio", monkeypatch, delete_cache=(1, 2))
    try:
        _upload(url, "old.bin", 1000)
        _wait_until(lambda: not _stored(tmp_path / "gradio"), "gradio's delete_cache did not delete an old file")
    finally:
        demo.close()


def test_fresh_folders_for_downloads_keep_only_the_newest(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "OUTPUTS", tmp_path / "outputs")
    monkeypatch.setattr(limits, "OUTPUT_FOLDERS_KEPT", 3)
    made = []
    for _ in range(6):
        made.append(files.fresh_folder("test"))
        (made[-1] / "out.txt").write_text("hello")
        time.sleep(0.02)
    assert sorted((tmp_path / "outputs").iterdir()) == sorted(made[-3:])


# --- memory -------------------------------------------------------------------------------------------------

def _bomb_png(path: Path, side: int = 20000) -> Path:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    z = zlib.compressobj(9)
    data = b"".join(z.compress(b"\0" * (1 + side // 8)) for _ in range(side)) + z.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
                     + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


def test_pil_refuses_an_image_over_the_pixel_bound_from_its_header(tmp_path):
    bomb = _bomb_png(tmp_path / "bomb.png")  # 400 megapixels in about 50 KB
    assert bomb.stat().st_size < 200_000
    with pytest.raises(Image.DecompressionBombError):
        Image.open(bomb)
    ok = tmp_path / "ok.png"
    Image.fromarray(np.zeros((4096, 4096), dtype=np.uint8)).save(ok)
    with Image.open(ok) as im:
        assert im.size == (4096, 4096)


def test_gradio_keeps_state_for_a_bounded_number_of_sessions(small_app):
    demo, _, _ = small_app
    holder = demo.server_app.state_holder
    for i in range(limits.STATE_SESSIONS_MAX + 40):  # as many API calls from new sessions would
        holder[f"session-{i}"]
    assert len(holder.session_data) == limits.STATE_SESSIONS_MAX
    assert f"session-{limits.STATE_SESSIONS_MAX + 39}" in holder and "session-0" not in holder


# --- returned files: written whole, once -----------------------------------------------------

def _picture(seed: int) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (64, 64, 3), dtype=np.uint8))


def test_the_same_returned_picture_is_written_once_and_never_emptied_under_a_reader(tmp_path):
    from gradio import processing_utils
    path = Path(processing_utils.save_pil_to_cache(_picture(0), str(tmp_path), format="png"))
    before = path.stat()
    with open(path, "rb") as reader:  # a learner's download, in progress
        again = Path(processing_utils.save_pil_to_cache(_picture(0), str(tmp_path), format="png"))
        assert again == path
        assert len(reader.read()) == before.st_size > 0
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    other = Path(processing_utils.save_pil_to_cache(_picture(1), str(tmp_path), format="png"))
    assert other != path and Image.open(other).size == (64, 64)
    assert not list(tmp_path.glob(".writing-*")), "no private folder is left behind"


def test_the_same_returned_sound_is_written_once(tmp_path):
    from gradio import processing_utils
    wave = (np.sin(np.arange(16000) / 10) * 8000).astype(np.int16)
    first = Path(processing_utils.save_audio_to_cache(wave, 16000, "wav", str(tmp_path)))
    ino = first.stat().st_ino
    second = Path(processing_utils.save_audio_to_cache(wave, 16000, "wav", str(tmp_path)))
    assert second == first and second.stat().st_ino == ino and second.stat().st_size > 16000 * 2
    assert Path(processing_utils.save_bytes_to_cache(b"abc", "x.txt", str(tmp_path))).read_bytes() == b"abc"


def test_readers_of_a_picture_many_learners_return_at_once_always_read_it_whole(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from gradio import processing_utils
    size = Path(processing_utils.save_pil_to_cache(_picture(0), str(tmp_path), format="png")).stat().st_size

    def learner(_):
        path = processing_utils.save_pil_to_cache(_picture(0), str(tmp_path), format="png")
        return len(Path(path).read_bytes())

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(learner, range(200))) == {size}
