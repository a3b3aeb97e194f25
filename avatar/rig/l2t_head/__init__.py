"""The l2t-head builder: our open default head, generated from MediaPipe's canonical face.

Run `python -m avatar.rig.l2t_head.build` to regenerate `avatar/rig/assets/l2t_head.npz`.
"""
