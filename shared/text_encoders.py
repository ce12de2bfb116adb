"""A text encoder for small diffusion models: MiniLM's token vectors, its sentence vector in the [CLS] place.

all-MiniLM-L6-v2 is trained (Reimers & Gurevych 2019, Sentence-BERT) so that the *mean* of its token vectors
places sentences of the same meaning close together: "a cup of hot coffee" and "coffee" get similar sentence
vectors even where their tokens differ. A UNet that cross-attends only to the tokens must learn that
robustness from its own captions; handing it the sentence vector as one of the tokens gives it for free.
BERT reserved the first position, [CLS], for a summary of the sentence (Devlin et al. 2019); Sentence-BERT
found the mean a better one, so the mean goes there. The output keeps the shape of the input
(``(B, tokens, 384)``, first item of a tuple), as Stable Diffusion's text encoder does, so
``StableDiffusionPipeline.encode_prompt`` uses it unchanged (with the attention mask when
``config.use_attention_mask`` is True), negative prompts included.
"""
from __future__ import annotations

import torch
from transformers import BertModel


class MiniLMWithSentenceToken(BertModel):
    """BERT-style encoder whose output is ``(last_hidden_state with position 0 = the sentence vector,)``.

    ``forward(input_ids (B, T), attention_mask (B, T))`` returns a one-tuple holding float (B, T, hidden): at
    position 0 the mean of the unmasked token vectors (sentence-transformers' pooling, not normalised, so that
    its scale matches the tokens'), then the token vectors 1..T-1 as BERT gives them.
    """

    def forward(self, input_ids=None, attention_mask=None, **kwargs):
        hidden = super().forward(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state
        if attention_mask is None:
            attention_mask = torch.ones(hidden.shape[:2], dtype=hidden.dtype, device=hidden.device)
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
        sentence = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)  # (B, hidden)
        return (torch.cat([sentence.unsqueeze(1), hidden[:, 1:]], dim=1),)
