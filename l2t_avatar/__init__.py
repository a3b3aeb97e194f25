"""The top floor: the `l2t-avatar` command line and the pipelines that compose several packages.

Imports point one way, down: l2t_avatar -> viewer -> audio2mesh -> sync_expert -> avatar.
`speak` (speech -> Audio2Mesh motion -> Gaussian avatar -> MP4) lives here because it crosses
audio2mesh and avatar; every command's library function is importable without the CLI.
"""
