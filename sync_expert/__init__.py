"""SyncNet3D, a 3D lip-sync expert (audio window vs lip-vertex motion) with LSE-D/C scoring, and a
3D lip reader (lip vertices -> phones, CTC): the experts that guide and judge Audio2Mesh."""
