"""The viser web viewer for live avatars (`l2t-avatar view`), arriving with its issue."""
