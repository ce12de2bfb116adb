"""Does writing with AI make stories alike? A small live version of the homogenisation finding.

Doshi and Hauser (2024, Science Advances) gave writers story ideas from GPT-4: each story was rated more
creative, but the stories of a group were more similar to each other. Here the course's own models run the
same comparison on story openings for one theme:

- **Human writers**: openings written for this course, each by imagining a different person (a fixed set).
- **AI writers, one request**: the embedded language model answers the same request once per writer (one
  seed each), as when everyone asks the same assistant.
- **Human start, AI finish**: the model continues the first words of each human opening, as autocomplete would.

Similarity is the mean pairwise cosine of all-MiniLM-L6-v2 sentence vectors (Reimers and Gurevych 2019) within a
group: 1 is the same meaning, about 0 unrelated. It measures how alike the texts are in topic and wording, not
whether they are creative or good. The "writers" of the AI groups are one 135M-parameter model, so this shows the
mechanism (a shared source pulls texts together), not the size of the effect in people.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from shared import limits
from shared.device import torch_threads
from shared.generation import encode_prompt, generate_tokens
from shared.sampling import SamplingSettings

GROUPS = ("Human writers", "AI writers, one request", "Human start, AI finish")
AI_REQUEST = "Write the opening sentence of a short story about {theme}."
HUMAN_START_WORDS = 5  # words of each human opening the model continues in "Human start, AI finish"

# Openings written for this course: eight imagined writers per theme, each with a different angle and voice.
HUMAN_OPENINGS: dict[str, tuple[str, ...]] = {
    "a lighthouse keeper": (
        "Nobody told Mara that the lamp had been automated in 1987, so she kept climbing the stairs every night.",
        "The supply boat was three weeks late, and Ewan had started talking to the gulls in his father's voice.",
        "My grandmother kept a lighthouse in her kitchen: a tin one, wound with a key, that lit up when she lied.",
        "The inspector's report ran to forty pages, and only one line of it mentioned the body.",
        "On the island of Saint Fennick the keeper is elected, and this year nobody wanted to win.",
        "Light, dark, light, dark: for thirty years Agnes had slept in the rhythm of the beam.",
        "The ships stopped coming in March, after the satellites, but Tomas still polished the lens on Sundays.",
        "When the fog horn answered him back, the keeper knew he was no longer alone on the rock.",
    ),
    "a lost key": (
        "The key turned up in the soup at the wedding, which was how the bride learned about the second house.",
        "Dad lost the key to the shed in 1994, and we have been guessing what is inside ever since.",
        "Every key in the city fits exactly one lock, the locksmiths say, except the one Priya found on the bus.",
        "I swallowed the key when I was four; the x-ray is still on my mother's fridge.",
        "The hotel gave Leon a brass key for room 12, though the corridor ended at room 11.",
        "Somewhere under the snow is the key to the church, and the village has until Easter to find it.",
        "She kept losing her car key until she realised the car was hiding it.",
        "The museum's oldest key opens nothing at all, which is why the children love it best.",
    ),
    "the last day of summer": (
        "On the last day of summer the lake was so still that Jonah could see the town upside down in it.",
        "Mum always made plum jam on the final Sunday of August, and the kitchen smelled of endings.",
        "The ice-cream van played its song one last time, slower, as if it too were tired.",
        "We buried the summer in a shoebox under the apple tree: a shell, a ticket stub, one of Dee's earrings.",
        "By September the tourists had gone, and the island finally spoke its own language again.",
        "Kofi counted the days of the holiday backwards, and today the number was zero.",
        "The heatwave broke at four in the afternoon, with thunder that rattled the school windows a day early.",
        "Grandpa said summer does not end, it just moves south, and he offered to drive us after it.",
    ),
}
THEMES = tuple(HUMAN_OPENINGS)


@dataclass
class GroupResult:
    """One group's texts, their pairwise cosine similarities (upper triangle, flattened) and each text's
    cosine to the theme (how on-topic it stayed)."""

    name: str
    texts: list[str]
    similarities: np.ndarray  # (n * (n - 1) / 2,) float
    to_theme: np.ndarray  # (n,) float

    @property
    def mean_similarity(self) -> float:
        return float(self.similarities.mean())


def pairwise_similarities(vectors: torch.Tensor) -> np.ndarray:
    """Cosine similarity of every pair of rows of ``vectors`` ``(n, d)`` (unit rows), upper triangle only:
    shape ``(n * (n - 1) / 2,)``. Raises ``ValueError`` for fewer than two rows."""
    if vectors.shape[0] < 2:
        raise ValueError("Similarity needs at least two texts to compare.")
    sims = (vectors @ vectors.T).numpy()  # (n, n)
    rows, cols = np.triu_indices(vectors.shape[0], k=1)
    return sims[rows, cols]


def human_openings(theme: str, n: int) -> list[str]:
    """The first ``n`` human-written openings for ``theme``; ``ValueError`` for an unknown theme or ``n``."""
    if theme not in HUMAN_OPENINGS:
        raise ValueError(f"Pick one of the themes: {', '.join(THEMES)}.")
    if not 2 <= n <= len(HUMAN_OPENINGS[theme]):
        raise ValueError(f"Writers per group must be from 2 to {len(HUMAN_OPENINGS[theme])}, not {n}.")
    return list(HUMAN_OPENINGS[theme][:n])


def one_sentence(lm, prompt: str, mode: str, temperature: float, seed: int) -> str:
    """The model's text for ``prompt`` up to the end of its first sentence (at most
    ``limits.COLLAB_TOKENS`` tokens), sampled at ``temperature`` with top-p 0.95 and seed ``seed``."""
    settings = SamplingSettings(temperature=temperature, top_k=0, top_p=0.95, repetition_penalty=1.1,
                                max_new_tokens=limits.COLLAB_TOKENS, seed=seed)
    ids, text = [], ""
    for step in generate_tokens(lm, encode_prompt(lm.tokenizer, prompt, mode), settings):
        ids.append(step.token_id)
        text = lm.tokenizer.decode(ids, skip_special_tokens=True)
        if len(text.strip()) > 12 and text.rstrip().endswith((".", "!", "?")):
            break
    return text.rstrip()


def ai_openings(lm, theme: str, n: int, temperature: float, seed: int) -> list[str]:
    """``n`` openings the model writes for the same request, writer ``i`` sampling with seed ``seed + i``."""
    return [one_sentence(lm, AI_REQUEST.format(theme=theme), "Chat", temperature, seed + i).strip()
            for i in range(n)]


def human_start_ai_finish(lm, openings: list[str], temperature: float, seed: int) -> list[str]:
    """Each opening's first ``HUMAN_START_WORDS`` words, continued by the model (raw continuation)."""
    texts = []
    for i, opening in enumerate(openings):
        start = " ".join(opening.split()[:HUMAN_START_WORDS])
        texts.append((start + one_sentence(lm, start, "Raw continuation", temperature, seed + i)).strip())
    return texts


def run_experiment(lm, embedder, theme: str, n: int, temperature: float, seed: int,
                   progress=None) -> list[GroupResult]:
    """The three groups of :data:`GROUPS` for ``theme``, ``n`` writers each, with their similarities.

    Args:
        lm, embedder: loader bundles of the embedded language model and all-MiniLM-L6-v2.
        n: writers per group, 2 .. 8. temperature: 0.1 .. ``limits.TEMPERATURE_MAX``. seed: the first writer's.
        progress: optional ``progress(fraction, message)`` per text.
    Raises:
        ValueError: an unknown theme, or ``n`` or ``temperature`` out of range.
    """
    from apps.multimodal.clip import sentence_vectors

    humans = human_openings(theme, n)
    if not 0.1 <= temperature <= limits.TEMPERATURE_MAX:
        raise ValueError(f"Temperature must be from 0.1 to {limits.TEMPERATURE_MAX}: at 0 every AI writer "
                         "would write the same sentence.")
    report = progress or (lambda fraction, message: None)
    report(0.0, "AI writers at work")
    ideas = ai_openings(lm, theme, n, temperature, seed)
    report(0.5, "Human starts, AI finishes")
    mixed = human_start_ai_finish(lm, humans, temperature, seed)
    results = []
    with torch_threads(1), torch.inference_mode():
        theme_vector = sentence_vectors(embedder, [f"a story about {theme}"])[0]  # (384,)
        for name, texts in zip(GROUPS, (humans, ideas, mixed)):
            vectors = sentence_vectors(embedder, texts)  # (n, 384)
            results.append(GroupResult(name, texts, pairwise_similarities(vectors), (vectors @ theme_vector).numpy()))
    return results
