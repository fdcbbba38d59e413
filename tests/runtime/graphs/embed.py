"""A deterministic offline embedding for the semantic store tests: hashed bag of words, unit length."""

import hashlib
import math

DIMS = 64


def embed(texts: list[str]) -> list[list[float]]:
    vectors = []
    for text in texts:
        vector = [0.0] * DIMS
        for word in text.lower().split():
            digest = hashlib.sha256(word.strip(".,!?").encode()).digest()
            vector[digest[0] % DIMS] += 1.0
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        vectors.append([v / norm for v in vector])
    return vectors
