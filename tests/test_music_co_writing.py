"""Topic 6's co-writing loop (apps/music/melody.py: opening_text): the model's bars back into the opening box."""
from __future__ import annotations

import gradio as gr
import pytest

from apps.music import keep_ui
from apps.music.melody import generate_melody, opening_text


def notes_of(melody, bars):
    return [(n.pitch, n.ticks, n.bar) for n in melody.notes if n.bar < bars]


def test_kept_bars_read_back_as_the_same_opening():
    melody = generate_melody("folk", "G", "major", "6/8", 4, 1.0, 0, 7)
    text = opening_text(melody, 2)
    assert text.count("|") == 1 and "X:" not in text  # note names, one bar line between two bars
    again = generate_melody("folk", "G", "major", "6/8", 4, 1.0, 0, 3, text)
    assert [(n.pitch, n.ticks, n.bar) for n in again.notes[:again.opening_notes]] == notes_of(melody, 2)


def test_an_edited_opening_is_kept_and_the_model_continues_from_it():
    melody = generate_melody("chorale", "C", "major", "4/4", 8, 0.5, 0, 1, "C4 C4 G4 G4 | A4 A4 G4:2")
    text = opening_text(melody, 3)
    assert text.startswith("C4 C4 G4 G4 | A4 A4 G4:2 | ")
    edited = text.replace("G4:2", "E4:2", 1)
    continued = generate_melody("chorale", "C", "major", "4/4", 8, 0.5, 0, 1, edited)
    assert continued.notes[6].pitch == 64  # E4: the learner's edit
    assert continued.opening_notes == len([n for n in melody.notes if n.bar < 3])
    assert continued.notes[-1].bar == 7  # then the model fills the rest


def test_a_melody_with_a_pickup_comes_back_as_abc_that_keeps_it():
    abc = "X:1\nM:6/8\nL:1/8\nK:G\nD|GAB c2d|e3 d2B|"
    melody = generate_melody("folk", "G", "major", "6/8", 4, 1.0, 0, 3, abc)
    text = opening_text(melody, 2)
    assert text.startswith("X:1") and "K:G" in text
    again = generate_melody("folk", "G", "major", "6/8", 4, 1.0, 0, 3, text)
    assert [(n.pitch, n.ticks) for n in again.notes[:again.opening_notes]] == \
        [(n.pitch, n.ticks) for n in melody.notes if n.bar <= 2]


def test_keeping_too_many_bars_or_none_is_refused_with_a_sentence():
    melody = generate_melody("folk", "G", "major", "6/8", 2, 1.0, 0, 7)
    with pytest.raises(ValueError, match="Keep from 1 to 2 bars"):
        opening_text(melody, 3)
    with pytest.raises(gr.Error, match="Generate a melody first"):
        keep_ui(None, 2)


def test_keep_sets_the_opening_with_the_melodys_key_mode_and_metre():
    melody = generate_melody("folk", "D", "dorian", "4/4", 2, 1.0, 0, 5)
    text, key, mode, metre = keep_ui(melody, 1)
    assert text == opening_text(melody, 1) and (key, mode, metre) == ("D", "dorian", "4/4")
