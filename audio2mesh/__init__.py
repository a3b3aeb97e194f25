"""Audio2Mesh: speech to per-frame mesh motion (jaw, expressions, lip-region offsets).

Model, features, training and streaming inference arrive with the Audio2Mesh issue.
"""
