"""MediaPipe face-mesh contours (vertex indices of the 468-vertex canonical mesh).

"Left" and "right" are the subject's own: the subject's left is +x in the head frame.
These are the one place in the project that names MediaPipe indices.
"""

from __future__ import annotations

NUM_MESH_LANDMARKS = 468
NUM_LANDMARKS = 478  # 468 mesh vertices + 2 x (iris centre + 4 iris contour points)

# Inner lip contour (the mouth opening), corner to corner.
LIPS_INNER_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIPS_INNER_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
# Outer lip contour (the vermilion border).
LIPS_OUTER_UPPER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LIPS_OUTER_LOWER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
MOUTH_CORNER_LEFT, MOUTH_CORNER_RIGHT = 291, 61

# Eyelid contours, outer corner to inner corner.
LEFT_EYE_UPPER = (263, 466, 388, 387, 386, 385, 384, 398, 362)
LEFT_EYE_LOWER = (263, 249, 390, 373, 374, 380, 381, 382, 362)
RIGHT_EYE_UPPER = (33, 246, 161, 160, 159, 158, 157, 173, 133)
RIGHT_EYE_LOWER = (33, 7, 163, 144, 145, 153, 154, 155, 133)

# Eyebrows, outer to inner (upper edge).
LEFT_BROW = (300, 293, 334, 296, 336)
RIGHT_BROW = (70, 63, 105, 66, 107)

# The face oval: the canonical mesh's only boundary.
FACE_OVAL = (
    10,
    338,
    297,
    332,
    284,
    251,
    389,
    356,
    454,
    323,
    361,
    288,
    397,
    365,
    379,
    378,
    400,
    377,
    152,
    148,
    176,
    149,
    150,
    136,
    172,
    58,
    132,
    93,
    234,
    127,
    162,
    21,
    54,
    103,
    67,
    109,
)

NOSE_TIP, NOSE_BOTTOM = 1, 2
NOSE_ALA_LEFT, NOSE_ALA_RIGHT = 358, 129
CHIN, FOREHEAD = 152, 10
UPPER_LIP_TOP, LOWER_LIP_BOTTOM = 0, 17
UPPER_LIP_INNER, LOWER_LIP_INNER = 13, 14

# Iris landmarks 468..477: centre then four contour points, right iris first.
RIGHT_IRIS = (468, 469, 470, 471, 472)
LEFT_IRIS = (473, 474, 475, 476, 477)
