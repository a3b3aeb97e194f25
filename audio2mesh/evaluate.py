"""Held-out evaluation of Audio2Mesh: LVE (both variants), FDD, lip-aperture correlation, and, when
experts are given, LSE-D/LSE-C (SyncNet3D) and the lip reader's phone error rate.

Corpus clips are compared through the rig (predicted vs reference parameters posed on the lips
and upper face); VOCASET/BIWI clips through the offsets head on the dataset's vertices.
Results are reported separately for real and synthetic speech.
"""

from __future__ import annotations

import torch

from audio2mesh.inference import predict
from audio2mesh.lip_closure import ClosureGate, LipCloser
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
    model: Audio2Mesh,
    clipset: ClipSet,
    space: ParamSpace | None,
    device,
    experts: Experts | None = None,
    max_clips: int | None = None,
    closer: LipCloser | None = None,
) -> dict:
    """{"real": ..., "synthetic": ..., "all": ...} averages over clips (see the module docstring).
    With ``closer`` the motion is what ``speak`` plays: lips closed by the closure head's gate."""
    model.eval()
    rows = []
    template = torch.as_tensor(clipset.template, device=device)
    for clip in clipset.clips[:max_clips]:
        feats = dequantise(clip.codes).to(device)
        out = predict(model, feats, clip.fps, clip.num_frames, with_offsets=clipset.kind == "vertices")
        params = closer(out.params, out.closure) if closer is not None and out.closure is not None else out.params
        row = {"clip": clip.clip_id, "synthetic": clip.synthetic}
        if clipset.kind == "corpus":
            ref = torch.as_tensor(clip.params, device=device)
            pred_lips, ref_lips = space.lip_vertices(params), space.lip_vertices(ref)
            row["lve_sq_mm2"], row["lve_mm"] = lip_vertex_errors(pred_lips, ref_lips)
            if space.upper_face is not None:
                rest = space.upper_face_vertices(torch.zeros_like(ref[:1]))[0]
                row["fdd_mm2"] = upper_face_dynamics(space.upper_face_vertices(ref), rest) - upper_face_dynamics(
                    space.upper_face_vertices(params), rest
                )
            pred_gap, ref_gap = (1000.0 * space.lip_gap(p).cpu().numpy() for p in (params, ref))
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


GATE_LOWS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)  # candidate gates: (low, 2 x low capped at 0.9)


@torch.no_grad()
def calibrate_gate(model: Audio2Mesh, clipset: ClipSet, space: ParamSpace, closer: LipCloser, device) -> tuple[ClosureGate, list[dict]]:
    """The closure gate that best tells bilabials from open vowels on ``clipset``'s real speech (its
    synthetic speech when it has none): the candidate with the highest closure rate minus false-closure
    rate (ties: the stricter gate). Returns the gate and every candidate's figures."""
    model.eval()
    real = [c for c in clipset.clips if not c.synthetic and c.phones is not None]
    clips = real or [c for c in clipset.clips if c.phones is not None]
    if not clips:
        raise ValueError("calibrating the closure gate needs clips with phone timings")
    outs = [predict(model, dequantise(c.codes).to(device), c.fps, c.num_frames) for c in clips]
    table = []
    for low in GATE_LOWS:
        closer.gate = ClosureGate(low, min(0.9, 2 * low))
        rows = []
        for clip, out in zip(clips, outs):
            gap = 1000.0 * space.lip_gap(closer(out.params, out.closure)).cpu().numpy()
            rows.append(bilabial_closure(gap, frame_segments(clip.phones, clip.fps), clip.fps))
        closure, false = pooled_closure(rows), pooled_closure(rows, "open_closed", "open_vowels") or 0.0
        table.append({**closer.gate.to_dict(), "closure_rate": closure, "false_closure_rate": false, "score": (closure or 0.0) - false})
    best = max(reversed(table), key=lambda row: row["score"])  # reversed: ties go to the higher (stricter) gate
    return ClosureGate(best["low"], best["high"]), table


COUNTS = ("bilabials", "closed", "ref_bilabials", "ref_closed", "open_vowels", "open_closed")


def _summary(rows: list[dict]) -> dict:
    """Means over clips, except closure: pooled over every bilabial (and the reference motion's beside it)."""
    out = summarise([{k: v for k, v in r.items() if k not in COUNTS} for r in rows])
    if any(r.get("bilabials") for r in rows):
        out["bilabials"] = sum(r["bilabials"] for r in rows if r.get("bilabials"))
        out["closure_rate"] = pooled_closure(rows)
        out["ref_closure_rate"] = pooled_closure([{"closed": r.get("ref_closed"), "bilabials": r.get("ref_bilabials")} for r in rows])
        out["false_closure_rate"] = pooled_closure(rows, "open_closed", "open_vowels")
    return out


METRIC_LABELS = {
    "lve_sq_mm2": "LVE, max-squared (CodeTalker), mm^2",
    "lve_mm": "LVE, max L2 (square-rooted), mm",
    "fdd_mm2": "FDD, upper-face dynamics deviation, mm^2",
    "aperture_r": "lip-aperture correlation (Pearson r)",
    "closure_rate": "bilabial closure (lips meet on M/B/P)",
    "ref_closure_rate": "bilabial closure of the reference motion",
    "false_closure_rate": "false closures (lips closed on open vowels)",
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
