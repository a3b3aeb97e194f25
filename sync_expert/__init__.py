"""SyncNet3D: a 3D lip-sync expert (audio window vs lip-vertex motion) and its LSE-D/C scores.

Arrives with the SyncNet3D / Learn2Talk issue.
"""
