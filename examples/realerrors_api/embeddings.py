"""Embeddings for the job/prompt matcher (OpenAI text-embedding-3-small)."""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger("api.embeddings")

EXPECTED_DIMENSIONS = 1536


def embed_texts(client: Any, texts: list[str], *, model: str = "text-embedding-3-small",
                dimensions: int | None = None) -> list[list[float]]:
    kwargs = {"dimensions": dimensions} if dimensions else {}
    response = client.embeddings.create(model=model, input=texts, **kwargs)
    vectors = [item.embedding for item in response.data]
    for vector in vectors:
        if len(vector) != EXPECTED_DIMENSIONS:
            raise ValueError(f"embedding generation failed: expected {EXPECTED_DIMENSIONS} dimensions from "
                             f"{model}, got {len(vector)}")
    return vectors
