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
- Bilabial closure (``bilabial_closure``): do the lips meet on every M/B/P? With the open-vowel/
  bilabial aperture ratio and the gap's 5th/95th percentiles.
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


CLOSED_FRACTION = 0.2  # the lips "meet" at <= this fraction of the clip's 95th-percentile gap
CLOSURE_SLACK_FRAMES = 1  # ... within this many frames of the bilabial


def bilabial_closure(gap_mm: np.ndarray, segments: list[tuple[str, float, float]], fps: float) -> dict:
    """Lip closure on the bilabials of one clip (the field's definition, see ../shared/README.md).

    ``gap_mm`` [T] is the inner-lip gap per frame; ``segments`` are (phone, start s, end s).
    For each M/B/P the lips count as closed when the gap reaches at most CLOSED_FRACTION of the
    clip's 95th-percentile gap within CLOSURE_SLACK_FRAMES of the phone. Returns the counts
    (``bilabials``, ``closed``; pool them over clips for a rate), this clip's ``closure_rate``,
    ``open_bilabial_ratio`` (mean gap at the centres of open vowels over the mean at the centres
    of bilabials), the gap's 5th/95th percentiles in mm, and the false closures: ``open_vowels``
    and ``open_closed``, the open-vowel centres where the lips are as closed as a bilabial's.
    """
    from sync_expert.phones import BILABIALS, OPEN_VOWELS

    open_vowels = OPEN_VOWELS | {"AH"}  # the field's set for this ratio
    gap = np.asarray(gap_mm, np.float64)
    n = len(gap)
    p5, p95 = (float(np.percentile(gap, q)) for q in (5, 95)) if n else (None, None)
    threshold = CLOSED_FRACTION * (p95 or 0.0)
    closed = bilabials = open_closed = 0
    at_bilabials, at_open = [], []
    for phone, start, end in segments:
        centre = min(n - 1, max(0, int(round(0.5 * (start + end) * fps))))
        if phone in BILABIALS:
            lo = max(0, int(np.floor(start * fps)) - CLOSURE_SLACK_FRAMES)
            hi = min(n, int(np.ceil(end * fps)) + CLOSURE_SLACK_FRAMES + 1)
            if lo >= hi:
                continue
            bilabials += 1
            closed += bool(gap[lo:hi].min() <= threshold)
            at_bilabials.append(gap[centre])
        elif phone in open_vowels:
            at_open.append(gap[centre])
            open_closed += bool(gap[centre] <= threshold)
    ratio = None
    if at_bilabials and at_open and np.mean(at_bilabials) > 1e-6:
        ratio = float(np.mean(at_open) / np.mean(at_bilabials))
    return {
        "bilabials": bilabials,
        "closed": closed,
        "closure_rate": closed / bilabials if bilabials else None,
        "open_bilabial_ratio": ratio,
        "gap_p5_mm": p5,
        "gap_p95_mm": p95,
        "open_vowels": len(at_open),
        "open_closed": open_closed,
    }


def frame_segments(frame_phones: np.ndarray, fps: float) -> list[tuple[str, float, float]]:
    """(phone, start s, end s) runs of a per-frame phone index track (SIL runs left out)."""
    from sync_expert.phones import PHONES

    idx = np.asarray(frame_phones)
    if not len(idx):
        return []
    cuts = np.flatnonzero(np.diff(idx)) + 1
    starts = np.concatenate([[0], cuts])
    ends = np.concatenate([cuts, [len(idx)]])
    return [(PHONES[int(idx[s])], s / fps, e / fps) for s, e in zip(starts, ends) if idx[s] != 0]


def pooled_closure(rows: list[dict], closed: str = "closed", of: str = "bilabials") -> float | None:
    """Closed over all bilabials of the rows (a rate over phones, not a mean of clip rates);
    ``closed="open_closed", of="open_vowels"``: the false-closure rate on open vowels."""
    total = sum(r.get(of) or 0 for r in rows)
    return sum(r.get(closed) or 0 for r in rows) / total if total else None
