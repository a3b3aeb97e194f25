"""Paired speech and lip motion as both experts and Audio2Mesh read it: corpus items, the
dataset readers (our corpus, VOCASET, BIWI) and the cached training clips."""
