"""Audio-driven 3D face metrics, as the field computes them (CodeTalker's definitions).

- LVE (lip vertex error), two variants:
  ``lve_sq_mm2``: mean over frames of the max over lip vertices of the squared L2 error, in mm^2
  (CodeTalker/SelfTalk; their tables print it x1e-5 m^2 = 10 mm^2);
  ``lve_mm``: mean over frames of the max over lip vertices of the L2 error, in mm (the
  square-rooted form many papers print).
- FDD (upper-face dynamics deviation): per clip, the mean over upper-face vertices of the std
  over time of the squared displacement from the template, reference minus prediction, in mm^2
  (CodeTalker prints x1e-7 m^2 = 0.1 mm^2); averaged over clips, signed.
- Lip aperture correlation: Pearson r between the predicted and reference inner-lip gap per clip.
"""

from __future__ import annotations

import numpy as np
import torch


def lip_vertex_errors(pred: torch.Tensor, ref: torch.Tensor) -> tuple[float, float]:
    """(LVE squared-max in mm^2, LVE max in mm) for lip vertices [T, V, 3] in metres."""
    sq = ((pred - ref) * 1000.0).pow(2).sum(-1).amax(-1)  # [T]
    return float(sq.mean()), float(sq.sqrt().mean())


def upper_face_dynamics(vertices: torch.Tensor, template: torch.Tensor) -> float:
    """Mean over vertices of the std over time of the squared displacement (mm^2): [T, V, 3]."""
    disp = ((vertices - template[None]) * 1000.0).pow(2).sum(-1)
    return float(disp.std(0, unbiased=False).mean()) if len(disp) > 1 else 0.0


def correlation(a: np.ndarray, b: np.ndarray) -> float | None:
    """Pearson r, or None when either signal is constant."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 3 or a.std() < 1e-9 or b.std() < 1e-9:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def summarise(rows: list[dict]) -> dict:
    """Averages over clips of each metric (None values skipped), with the clip count."""
    out = {"clips": len(rows)}
    keys = sorted({k for r in rows for k in r if k not in ("clip", "synthetic")})
    for k in keys:
        vals = [r[k] for r in rows if r.get(k) is not None]
        out[k] = float(np.mean(vals)) if vals else None
    return out
