"""l2t-avatar: rigged 3D Gaussian head avatars driven by speech.

The `avatar` package holds the rig (FLAME-format heads, our open `l2t-head`),
rendering and the command line. See README.md for the data flow.
"""

__version__ = "0.1.0"
