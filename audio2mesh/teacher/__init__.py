"""The teacher: timed phones -> jaw and mouth motion on the rig (visemes + coarticulation).

Our non-neural lip-sync baseline, and the source of motion labels for speech without 3D data.
"""
