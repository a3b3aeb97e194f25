"""Held-out evaluation of Audio2Mesh: LVE (both variants), FDD, lip-aperture correlation, and, when
experts are given, LSE-D/LSE-C (SyncNet3D) and the lip reader's phone error rate.

Corpus clips are compared through the rig (predicted vs reference parameters posed on the lips
and upper face); VOCASET/BIWI clips through the offsets head on the dataset's vertices.
Results are reported separately for real and synthetic speech.
"""

from __future__ import annotations

import torch

from audio2mesh.inference import predict
from audio2mesh.metrics import (
    bilabial_closure,
    correlation,
    frame_segments,
    lip_vertex_errors,
    pooled_closure,
    summarise,
    upper_face_dynamics,
)
from audio2mesh.model import Audio2Mesh
from sync_expert.data.clips import ClipSet
from sync_expert.features import dequantise
from sync_expert.targets import ParamSpace


class Experts:
    """Frozen SyncNet3D and lip reader with the lip rest shape they read."""

    def __init__(self, sync=None, reader=None, rest: torch.Tensor | None = None, mouth_width: float = 1.0):
        self.sync, self.reader, self.rest, self.mouth_width = sync, reader, rest, mouth_width

    def scores(self, features: torch.Tensor, lip_offsets: torch.Tensor, phones, fps: float) -> dict:
        from sync_expert.lip_reader import edit_distance, greedy_decode, phone_targets
        from sync_expert.windows import sync_score

        out = {}
        normed = lip_offsets / self.mouth_width
        if self.sync is not None:
            out.update(sync_score(self.sync, features, normed, self.rest, fps).as_dict())
            out.pop("offset")
        if self.reader is not None and phones is not None:
            target = phone_targets(phones)
            if target:
                with torch.no_grad():
                    decoded = greedy_decode(self.reader(normed[None], self.rest)[0])
                out["per"] = edit_distance(decoded, target) / len(target)
        return out


@torch.no_grad()
def evaluate_clips(
    model: Audio2Mesh, clipset: ClipSet, space: ParamSpace | None, device, experts: Experts | None = None, max_clips: int | None = None
) -> dict:
    """{"real": ..., "synthetic": ..., "all": ...} averages over clips (see the module docstring)."""
    model.eval()
    rows = []
    template = torch.as_tensor(clipset.template, device=device)
    for clip in clipset.clips[:max_clips]:
        feats = dequantise(clip.codes).to(device)
        out = predict(model, feats, clip.fps, clip.num_frames, with_offsets=clipset.kind == "vertices")
        row = {"clip": clip.clip_id, "synthetic": clip.synthetic}
        if clipset.kind == "corpus":
            ref = torch.as_tensor(clip.params, device=device)
            pred_lips, ref_lips = space.lip_vertices(out.params), space.lip_vertices(ref)
            row["lve_sq_mm2"], row["lve_mm"] = lip_vertex_errors(pred_lips, ref_lips)
            if space.upper_face is not None:
                rest = space.upper_face_vertices(torch.zeros_like(ref[:1]))[0]
                row["fdd_mm2"] = upper_face_dynamics(space.upper_face_vertices(ref), rest) - upper_face_dynamics(
                    space.upper_face_vertices(out.params), rest
                )
            pred_gap, ref_gap = (1000.0 * space.lip_gap(p).cpu().numpy() for p in (out.params, ref))
            row["aperture_r"] = correlation(pred_gap, ref_gap)
            if clip.phones is not None:
                segments = frame_segments(clip.phones, clip.fps)
                row.update(bilabial_closure(pred_gap, segments, clip.fps))
                reference = bilabial_closure(ref_gap, segments, clip.fps)
                row["ref_closed"], row["ref_bilabials"] = reference["closed"], reference["bilabials"]
            pred_offsets = pred_lips - template
        else:
            ref = torch.as_tensor(clip.offsets, device=device).float()
            row["lve_sq_mm2"], row["lve_mm"] = lip_vertex_errors(out.offsets, ref)
            pred_offsets = out.offsets
        if experts is not None:
            row.update(experts.scores(feats, pred_offsets, clip.phones, clip.fps))
        rows.append(row)
    return {
        "real": _summary([r for r in rows if not r["synthetic"]]),
        "synthetic": _summary([r for r in rows if r["synthetic"]]),
        "all": _summary(rows),
    }


COUNTS = ("bilabials", "closed", "ref_bilabials", "ref_closed")


def _summary(rows: list[dict]) -> dict:
    """Means over clips, except closure: pooled over every bilabial (and the reference motion's beside it)."""
    out = summarise([{k: v for k, v in r.items() if k not in COUNTS} for r in rows])
    if any(r.get("bilabials") for r in rows):
        out["bilabials"] = sum(r["bilabials"] for r in rows if r.get("bilabials"))
        out["closure_rate"] = pooled_closure(rows)
        out["ref_closure_rate"] = pooled_closure([{"closed": r.get("ref_closed"), "bilabials": r.get("ref_bilabials")} for r in rows])
    return out


METRIC_LABELS = {
    "lve_sq_mm2": "LVE, max-squared (CodeTalker), mm^2",
    "lve_mm": "LVE, max L2 (square-rooted), mm",
    "fdd_mm2": "FDD, upper-face dynamics deviation, mm^2",
    "aperture_r": "lip-aperture correlation (Pearson r)",
    "closure_rate": "bilabial closure (lips meet on M/B/P)",
    "ref_closure_rate": "bilabial closure of the reference motion",
    "open_bilabial_ratio": "open-vowel / bilabial gap ratio",
    "gap_p5_mm": "inner-lip gap, 5th percentile, mm",
    "gap_p95_mm": "inner-lip gap, 95th percentile, mm",
    "lse_d": "LSE-D (evaluation SyncNet3D, lower is better)",
    "lse_c": "LSE-C (evaluation SyncNet3D, higher is better)",
    "per": "lip-reader phone error rate",
}


def format_results(results: dict) -> str:
    """A readable table: one row per metric, columns real / synthetic / all."""
    groups = [g for g in ("real", "synthetic", "all") if results[g]["clips"]]
    lines = [f"{'metric':48s}" + "".join(f"{g + ' (' + str(results[g]['clips']) + ')':>18s}" for g in groups)]
    for key, label in METRIC_LABELS.items():
        if any(results[g].get(key) is not None for g in groups):
            cells = "".join(f"{results[g][key]:18.4f}" if results[g].get(key) is not None else f"{'n/a':>18s}" for g in groups)
            lines.append(f"{label:48s}{cells}")
    return "\n".join(lines)
