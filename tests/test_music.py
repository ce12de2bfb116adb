"""Topic 6: the melody model's events and notation, generation, rendering, and the MusicGen path."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from apps.music import events as ev
from apps.music.melody import (
    Melody,
    generate_melody,
    in_key_share,
    load_melody_model,
    parse_opening,
    render_audio,
    write_midi,
)
from apps.music.notation import parse_abc, parse_note_names, pitch_name, to_abc
from shared import limits
from shared.catalog import ModelSpec

TUNE = ev.Tune("folk", 7, "major", "6/8", [
    ev.Note(62, 12, 0), ev.Note(67, 24, 1), ev.Note(71, 12, 1), ev.Note(74, 36, 1), ev.Note(None, 12, 2),
    ev.Note(72, 12, 2), ev.Note(71, 12, 2), ev.Note(69, 36, 2), ev.Note(66, 8, 3), ev.Note(67, 8, 3),
    ev.Note(69, 8, 3), ev.Note(70, 48, 3),
])


@pytest.fixture(scope="module")
def melody_model():
    return load_melody_model().model


def test_the_event_tokenizer_round_trips_a_melody():
    ids = ev.encode(TUNE)
    assert ids[0] == ev.BOS_ID and ids[-1] == ev.EOS_ID and len(ids) == ev.HEADER_LENGTH + 4 + 2 * 12 + 1
    back = ev.decode(ids)
    assert back == TUNE


def test_abc_written_for_a_melody_reads_back_to_the_same_notes():
    abc = to_abc(TUNE.notes, TUNE.tonic, TUNE.mode, TUNE.time_signature)
    assert "K:G" in abc and "M:6/8" in abc and "^A" in abc or "_B" in abc  # the B flat is marked
    parsed = parse_abc(abc, 100)
    assert [ev.Note(*n) for n in parsed["notes"]] == TUNE.notes
    assert (parsed["tonic"], parsed["mode"], parsed["time_signature"]) == (7, "major", "6/8")


def test_note_names_parse_with_durations_rests_and_accidentals():
    notes = parse_note_names("C4 D#4 Eb4:0.5 r:1/3 | G4:2", (48, 91), 10)
    assert notes == [(60, 24), (63, 24), (63, 12), (None, 8), (67, 48)]
    assert pitch_name(61, tonic=9, mode="major") == "C#4" and pitch_name(61, tonic=5, mode="major") == "Db4"


@pytest.mark.parametrize(("text", "message"), [
    ("C4 H4 E4", "note 2 ('H4') is not a note name"),
    ("C4 D4 C9", "note 3 (C9) is out of range"),
    ("C4:5 D4", "runs past its bar line"),
    ("X:1\nK:G\nAB c2 | d#e", "line 3, column 10: .#. is not"),
    ("X:1\nK:Gphr\nABc", "mode 'phr' is not one of"),
    ("X:1\nM:6/8\nL:1/8\nK:G\nABcdefga|", "bar 1 holds more than one bar of 6/8"),
])
def test_a_bad_opening_says_what_is_wrong_and_where(text, message):
    with pytest.raises(ValueError, match="(?i)" + message.replace("(", r"\(").replace(")", r"\)")):
        parse_opening(text, "6/8" if "C4:5" not in text else "3/4")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"bars": 0}, "Bars must be a whole number"),
    ({"bars": limits.MELODY_BARS_MAX + 1}, "Bars must be a whole number"),
    ({"temperature": 9}, "Temperature must be between"),
    ({"key": "H"}, "Unknown key"),
    ({"mode": "lydian"}, "Unknown mode"),
    ({"time_signature": "7/8"}, "Unknown time signature"),
    ({"style": "jazz"}, "Unknown style"),
])
def test_generation_refuses_settings_out_of_range(kwargs, message):
    args = dict(style="folk", key="G", mode="major", time_signature="6/8", bars=4, temperature=1.0, top_k=0, seed=0)
    with pytest.raises(ValueError, match=message):
        generate_melody(**{**args, **kwargs}, model=object())


def test_generation_fills_the_bars_asked_for_and_depends_on_the_seed(melody_model):
    a = generate_melody("folk", "D", "major", "4/4", 4, 1.0, 0, 1, model=melody_model)
    b = generate_melody("folk", "D", "major", "4/4", 4, 1.0, 0, 1, model=melody_model)
    c = generate_melody("folk", "D", "major", "4/4", 4, 1.0, 0, 2, model=melody_model)
    assert a.notes == b.notes and a.notes != c.notes
    for m in (a, c):
        assert sorted({n.bar for n in m.notes}) == [0, 1, 2, 3]
        for bar in range(4):  # every bar is exactly full
            assert sum(n.ticks for n in m.notes if n.bar == bar) == ev.bar_ticks("4/4")
        assert len(m.steps) == len(m.notes) and all(s.pitch_candidates and s.duration_candidates for s in m.steps)
        assert m.abc.startswith("X:1") and "K:D" in m.abc


def test_an_opening_is_kept_and_continued(melody_model):
    m = generate_melody("folk", "C", "major", "4/4", 4, 0.8, 0, 3, opening="C4 C4 G4 G4 | A4 A4 G4:2",
                        model=melody_model)
    assert m.opening_notes == 7 and [n.pitch for n in m.notes[:7]] == [60, 60, 67, 67, 69, 69, 67]
    assert len(m.notes) > 7 and m.notes[-1].bar == 3
    abc = generate_melody("folk", "C", "major", "4/4", 4, 0.8, 0, 3, opening="X:1\nM:6/8\nL:1/8\nK:Ador\nE|A2B c2d",
                          model=melody_model)
    assert (abc.key, abc.mode, abc.time_signature) == ("A", "dorian", "6/8") and abc.notices
    assert abc.notes[0] == ev.Note(64, 12, 0) and abc.notes[-1].bar == 4  # pick-up + 4 full bars


def test_the_requested_key_is_kept_more_at_low_temperature_than_at_high(melody_model):
    def share(temperature):
        ms = [generate_melody("folk", "E", "minor", "4/4", 4, temperature, 0, s, model=melody_model) for s in range(3)]
        return np.mean([m.in_key_share() for m in ms])

    assert share(0.3) > share(2.0)


def test_temperature_zero_is_greedy_and_top_k_limits_the_candidates(melody_model):
    greedy = generate_melody("chorale", "F", "major", "4/4", 2, 0, 0, 1, model=melody_model)
    assert greedy.notes == generate_melody("chorale", "F", "major", "4/4", 2, 0, 0, 99, model=melody_model).notes
    top2 = generate_melody("folk", "G", "major", "6/8", 2, 1.5, 2, 1, model=melody_model)
    for s in top2.steps:
        assert sum(c.p_sampled > 0 for c in s.pitch_candidates) <= 2


def test_the_audio_has_the_melodys_length_and_is_not_silent(melody_model):
    m = generate_melody("folk", "G", "major", "6/8", 4, 1.0, 0, 4, model=melody_model)
    for chords in (False, True):
        sr, audio = render_audio(m, 120, chords=chords)
        assert sr == 22_050 and audio.dtype == np.int16 and audio.ndim == 1
        expected = m.total_quarters * 60 / 120 * sr
        assert abs(len(audio) - expected) <= 0.05 * expected
        assert np.abs(audio).max() > 5000 and audio.std() > 500
    slower = render_audio(m, 60)[1]
    assert abs(len(slower) - 2 * len(render_audio(m, 120)[1])) <= 2
    with pytest.raises(ValueError, match="Tempo"):
        render_audio(m, 1000)


def test_the_midi_file_parses_back_to_the_same_notes(melody_model, tmp_path):
    import pretty_midi

    m = generate_melody("chorale", "A", "minor", "3/4", 4, 1.0, 0, 5, model=melody_model)
    path = write_midi(m, 90, folder=tmp_path)
    pm = pretty_midi.PrettyMIDI(str(path))
    got = [(n.pitch, round((n.end - n.start) * 90 / 60 * ev.TICKS_PER_QUARTER)) for n in pm.instruments[0].notes]
    assert got == [(n.pitch, n.ticks) for n in m.notes if n.pitch is not None]
    assert pm.time_signature_changes[0].numerator == 3


def test_in_key_share_counts_scale_notes_only():
    notes = [ev.Note(60, 24, 0), ev.Note(61, 24, 0), ev.Note(None, 24, 0), ev.Note(67, 24, 0)]
    assert in_key_share(notes, 0, "major") == pytest.approx(2 / 3)
    assert in_key_share(notes, 6, "major") == pytest.approx(1 / 3)  # F# major has C#, not C or G


def test_the_catalog_lists_the_melody_model_and_musicgen():
    from shared import catalog

    melody = catalog.get("melody-transformer")
    assert melody.source == "project" and melody.reader == "apps.music:read_melody_model"
    assert {m.repo_id for m in catalog.models_for("text-to-audio")} == {"facebook/musicgen-small",
                                                                       "facebook/musicgen-medium"}


# --- MusicGen on a tiny random model ---------------------------------------------------------------------
def save_tiny_musicgen(folder):
    """A random MusicGen (T5 text encoder, EnCodec audio codec, decoder) and its processor, saved locally."""
    import torch
    from transformers import (
        EncodecConfig,
        EncodecFeatureExtractor,
        MusicgenConfig,
        MusicgenDecoderConfig,
        MusicgenForConditionalGeneration,
        MusicgenProcessor,
        T5Config,
        T5Tokenizer,
    )

    torch.manual_seed(0)
    words = ["▁" + w for w in ["a", "calm", "piano", "melody", "with", "soft", "drums", "jig", "fiddle", "slow", "sad"]]
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    vocab += [(w, -3.0) for w in words] + [(c, -5.0) for c in "abcdefghijklmnopqrstuvwxyz"]
    tokenizer = T5Tokenizer(vocab=vocab, extra_ids=0)
    codes = 64
    config = MusicgenConfig(
        text_encoder=T5Config(vocab_size=len(vocab), d_model=16, d_kv=8, num_heads=2, num_layers=1, d_ff=32),
        audio_encoder=EncodecConfig(sampling_rate=32000, hidden_size=8, num_filters=4, num_residual_layers=1,
                                    upsampling_ratios=[8, 5, 4, 4], codebook_size=codes, codebook_dim=8,
                                    target_bandwidths=[2.2], num_lstm_layers=1),
        decoder=MusicgenDecoderConfig(vocab_size=codes, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                      ffn_dim=32, num_codebooks=4, pad_token_id=codes, bos_token_id=codes),
        decoder_start_token_id=codes, pad_token_id=codes,
    )
    model = MusicgenForConditionalGeneration(config).eval()
    with torch.no_grad():  # EnCodec's codebooks start at zero (k-means fills them): make codes audible
        for layer in model.audio_encoder.quantizer.layers:
            layer.codebook.embed.normal_()
    model.generation_config.decoder_start_token_id = codes
    model.generation_config.pad_token_id = codes
    model.save_pretrained(folder)
    MusicgenProcessor(EncodecFeatureExtractor(sampling_rate=32000), tokenizer).save_pretrained(folder)
    return folder


def test_musicgen_runs_end_to_end_on_a_tiny_local_model(tmp_path):
    from apps.music.musicgen import generate_music
    from shared.loader import Loader

    folder = save_tiny_musicgen(tmp_path / "tiny-musicgen")
    spec = ModelSpec(id="tiny-musicgen", label="tiny MusicGen", task="text-to-audio", source="hub",
                     repo_id=str(folder), revision=None, licence="MIT", ram_gb=0.01, description="",
                     reader="apps.music:read_musicgen")
    bundle = Loader(budget_bytes=2**30, cache_dir=tmp_path).load(spec)
    steps = []
    sr, pcm, info = generate_music("a calm piano melody", 0.5, 3.0, 0, bundle=bundle,
                                   progress=lambda f, m: steps.append(f))
    assert sr == 32000 and pcm.dtype == np.int16 and pcm.ndim == 1 and pcm.std() > 0
    assert info["tokens"] == 25 and steps and 0 < max(steps) < 1
    # EnCodec decodes 640 samples per frame; the delay pattern costs the last frames (3 of 4 codebooks).
    assert 0.35 * sr <= len(pcm) <= 0.5 * sr
    again = generate_music("a calm piano melody", 0.5, 3.0, 0, bundle=bundle)[1]
    other = generate_music("a calm piano melody", 0.5, 1.0, 1, bundle=bundle)[1]
    assert np.array_equal(pcm, again) and not np.array_equal(pcm, other)
    with pytest.raises(ValueError, match="Duration"):
        generate_music("piano", limits.MUSICGEN_DURATION_MAX_S + 1, 3.0, 0, bundle=bundle)
    with pytest.raises(ValueError, match="Describe the music"):
        generate_music("  ", 1.0, 3.0, 0, bundle=bundle)


def test_musicgen_offline_warns_and_says_what_to_do(monkeypatch, tmp_path):
    import shared.loader as loader_module
    from apps.music import musicgen_ui

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    monkeypatch.setattr(loader_module, "_default", loader_module.Loader(budget_bytes=2**30, cache_dir=tmp_path))
    warnings = []
    monkeypatch.setattr("gradio.Warning", lambda message, **kw: warnings.append(message))
    audio, info = musicgen_ui("hub:musicgen-small", "a calm piano melody", 2.0, 3.0, 0, progress=None)
    assert audio is None and "melody transformer" in info
    assert warnings and "huggingface-cli download facebook/musicgen-small" in warnings[0]


def test_the_melody_model_folder_has_safetensors_vocab_and_a_card():
    from shared.loader import WEIGHTS_DIR

    folder = WEIGHTS_DIR / "melody-transformer"
    assert (folder / "model.safetensors").stat().st_size < 8_000_000
    ev.check_vocabulary(folder)
    assert dataclasses.is_dataclass(Melody)


def test_the_summary_reports_the_whole_wait_and_the_pictures_are_readable(melody_model):
    from apps import music

    d = music.DEFAULTS
    out = music.melody_ui(d["style"], d["key"], d["mode"], d["time_signature"], 4, 1.0, 0, 3, "", 110, False,
                          progress=None)
    melody, roll, summary, candidates = out[0], out[2], out[5], out[7]
    ready = float(summary.split("ready after ")[1].split(" s")[0])
    assert ready >= round(melody.seconds, 1)  # the wait includes the model's time and the drawing
    assert f"({melody.seconds:.1f} s writing the notes" in summary
    for picture in (roll, candidates):  # readable on a projector: a figure, not a strip
        assert picture.mode == "RGBA" and picture.height >= 350 and picture.width / picture.height < 2.6
