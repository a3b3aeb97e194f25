"""Reading and writing files: atomic outputs, video, audio, PLY, avatar folders."""
