"""The course's topics, in order. Adding a topic = a lesson file, a module in ``apps/``, one line here.

A topic's demo lives in ``apps/<slug>.py`` and exposes ``build()``, which lays the demo out inside the
current ``gr.Tab``. A topic without a module shows its lesson alone.
"""
from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class Topic:
    number: int
    slug: str  # the tab id, the ?tab= value and the module name under apps/
    title: str
    tab_title: str  # short, so the tabs fit a projector

    def module(self) -> ModuleType | None:
        """The topic's demo module, or ``None`` while it has no demo."""
        if importlib.util.find_spec(f"apps.{self.slug}") is None:
            return None
        return importlib.import_module(f"apps.{self.slug}")


TOPICS: tuple[Topic, ...] = (
    Topic(1, "understanding", "Understanding generative AI", "1 · What is GenAI"),
    Topic(2, "key_models", "Key models: GANs, VAEs, transformers, diffusion", "2 · Key models"),
    Topic(3, "foundations", "Deep-learning foundations", "3 · Foundations"),
    Topic(4, "language", "Natural language generation", "4 · Language"),
    Topic(5, "images", "Images and art", "5 · Images"),
    Topic(6, "music", "Music and creativity", "6 · Music"),
    Topic(7, "industries", "Applications across industries", "7 · Industries"),
    Topic(8, "ethics", "Ethics and society", "8 · Ethics"),
    Topic(9, "multimodal", "The future: multimodal", "9 · Multimodal"),
    Topic(10, "build_your_own", "Build your own project", "10 · Your project"),
)

SLUGS = tuple(t.slug for t in TOPICS)
