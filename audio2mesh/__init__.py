"""Audio2Mesh: speech to per-frame mesh motion (jaw, expressions, lip-region offsets).

features -> model (bounded-context transformer) -> inference (chunked, streaming); data/ builds
the corpus, teacher/ animates it, train.py trains the Learn2Talk way, evaluate.py measures.
"""
