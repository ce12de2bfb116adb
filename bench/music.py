"""Topic 6 figures: seconds to generate and render 16 bars with the melody transformer (goal under 2 s on
2 cores), and MusicGen seconds per second of audio on the tiny random model path (CPU).

    python bench/music.py [--repeats 5] [--threads 2]

Melody: ``generate_melody`` (16 bars of 4/4 folk, temperature 1, 5 seeds) + ``render_audio`` + the piano roll
+ the MIDI file, i.e. everything the Generate button computes. Reported as seconds, as a ratio to the 2 s
goal, and as a real-time factor (seconds of compute per second of music at 100 beats per minute).
MusicGen: the tiny random model the tests build (same architecture, minute sizes), so the figure is the
per-step overhead of ``transformers``' MusicGen generate loop, not the speed of the real 300M model; the
ratio compares it with the melody transformer's seconds per second of music.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--musicgen-seconds", type=float, default=2.0)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from apps.music.melody import (
        figure_image,
        generate_melody,
        load_melody_model,
        piano_roll,
        render_audio,
        write_midi,
    )

    t = time.perf_counter()
    model = load_melody_model().model
    load_s = time.perf_counter() - t
    generate_melody("folk", "G", "major", "4/4", 2, 1.0, 0, 0, model=model)  # warm-up
    gen, total, notes, music_s = [], [], [], []
    for seed in range(args.repeats):
        t0 = time.perf_counter()
        m = generate_melody("folk", "G", "major", "4/4", 16, 1.0, 0, seed, model=model)
        t1 = time.perf_counter()
        render_audio(m, 100)
        figure_image(piano_roll(m, 0))
        write_midi(m, 100, folder=Path(tempfile.mkdtemp(prefix="cm-bench-")))
        t2 = time.perf_counter()
        gen.append(t1 - t0)
        total.append(t2 - t0)
        notes.append(len(m.notes))
        music_s.append(m.duration_s(100))
    med = statistics.median(total)
    print(f"melody transformer ({args.threads} threads), 16 bars of 4/4: load {load_s:.2f} s; "
          f"generate {statistics.median(gen):.2f} s, generate + render (audio, piano roll, MIDI) {med:.2f} s "
          f"(median of {args.repeats}; {statistics.median(notes):.0f} notes); "
          f"{med / 2.0:.2f} x the 2 s goal; real-time factor {med / statistics.median(music_s):.3f} "
          f"({statistics.median(music_s):.1f} s of music at 100 bpm)")

    from apps.music.musicgen import generate_music
    from shared.catalog import ModelSpec
    from shared.loader import Loader
    from tests.test_music import save_tiny_musicgen

    folder = save_tiny_musicgen(Path(tempfile.mkdtemp(prefix="cm-bench-musicgen-")) / "tiny")
    spec = ModelSpec(id="tiny-musicgen", label="tiny MusicGen", task="text-to-audio", source="hub",
                     repo_id=str(folder), revision=None, licence="MIT", ram_gb=0.01, description="",
                     reader="apps.music:read_musicgen")
    bundle = Loader(budget_bytes=2**30, cache_dir=folder.parent).load(spec)
    generate_music("a calm piano melody", 0.5, 3.0, 0, bundle=bundle)  # warm-up
    rates = []
    for seed in range(3):
        _, _, info = generate_music("a calm piano melody", args.musicgen_seconds, 3.0, seed, bundle=bundle)
        rates.append(info["seconds_per_audio_second"])
    rate = statistics.median(rates)
    melody_rate = med / statistics.median(music_s)
    print(f"MusicGen, tiny random model, CPU ({args.threads} threads), guidance 3: {rate:.2f} s per second of audio "
          f"({args.musicgen_seconds:g} s requested, {info['tokens']} steps, median of 3); "
          f"{rate / melody_rate:.0f} x the melody transformer's seconds per second of music")


if __name__ == "__main__":
    from shared.device import describe_cpu

    print(f"CPU: {describe_cpu()}")
    main()
