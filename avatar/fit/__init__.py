"""Fitting an avatar to a monocular video: landmarks and head tracking per frame, a smoothed
head crop, then (arriving with the fit issue) tracking on the rig and Gaussian optimisation."""
