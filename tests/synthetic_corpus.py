"""A tiny corpus written directly (no TTS): syllables whose loudness drives the jaw and lips.

Each clip is a sequence of syllables at random times; a syllable is a voiced tone under a
smooth envelope, and the mouth opens with the same envelope (plus a per-syllable lip shape),
so audio and motion are causally tied — enough for a tiny Audio2Mesh to learn and a tiny
SyncNet3D to tell aligned from shifted windows.
"""

from __future__ import annotations

import json

import numpy as np
import torch

from avatar.io.audio import SPEECH_RATE
from sync_expert.data.items import CorpusItem
from sync_expert.phones import PhoneAlignment

VOWELS = ("AA", "IY", "UW", "EH")


def synthetic_clip(rng: np.random.Generator, rig, seconds: float, fps: float = 25.0, bilabials: bool = False):
    """With ``bilabials``, some pauses between syllables are an M: a low hum while mouthClose shuts the lips."""
    n = int(SPEECH_RATE * seconds)
    t = np.arange(n) / SPEECH_RATE
    frames = int(round(seconds * fps))
    ft = np.arange(frames) / fps
    audio = 0.003 * rng.standard_normal(n)
    jaw = np.zeros((frames, 3), np.float32)
    expr = np.zeros((frames, rig.num_expressions), np.float32)
    phones, starts, ends = [], [], []
    pos = rng.uniform(0.1, 0.3)
    while pos < seconds - 0.35:
        dur = rng.uniform(0.12, 0.3)
        vowel = int(rng.integers(len(VOWELS)))
        centre = pos + dur / 2
        env = np.exp(-0.5 * ((t - centre) / (dur / 4)) ** 2)
        f0 = 110 + 60 * vowel
        audio += 0.3 * env * np.sin(2 * np.pi * f0 * t) * (1 + 0.5 * np.sin(2 * np.pi * (400 + 500 * vowel) * t))
        fenv = np.exp(-0.5 * ((ft - centre) / (dur / 4)) ** 2)
        jaw[:, 0] += 0.25 * fenv
        expr[:, 1 + vowel % 3] += 0.8 * fenv  # mouthFunnel / mouthPucker / mouthRollLower
        phones.append(VOWELS[vowel])
        starts.append(pos)
        ends.append(pos + dur)
        pause = rng.uniform(0.05, 0.3)
        if bilabials and pause > 0.12 and pos + dur + pause < seconds - 0.35:
            m_start, m_end = pos + dur + 0.02, pos + dur + pause - 0.02
            audio += 0.08 * ((t >= m_start) & (t < m_end)) * np.sin(2 * np.pi * 120 * t)  # a nasal hum
            phones.append("M")
            starts.append(m_start)
            ends.append(m_end)
        pos += dur + pause
    full = [("SIL", 0.0, starts[0] if starts else seconds)]
    for i, p in enumerate(phones):
        full.append((p, starts[i], ends[i]))
        full.append(("SIL", ends[i], starts[i + 1] if i + 1 < len(phones) else seconds))
    alignment = PhoneAlignment([p for p, _, _ in full], np.array([s for _, s, _ in full]), np.array([e for _, _, e in full]))
    for p, start, end in full:
        if p == "M":
            _close_lips(rig, expr, jaw, (ft >= start) & (ft < end))
    with torch.no_grad():
        lips = rig(expression=torch.from_numpy(expr), jaw=torch.from_numpy(jaw)).vertices[:, rig.region("lips")].numpy()
    return np.clip(audio, -1, 1).astype(np.float32), alignment, expr, jaw, lips


def _close_lips(rig, expr: np.ndarray, jaw: np.ndarray, frames: np.ndarray) -> None:
    """Set mouthClose on ``frames`` to the value (searched on a grid) that brings the inner lips together."""
    from sync_expert.targets import LIP_LANDMARKS

    close = rig.data.expression_names.index("mouthClose")
    upper, lower = (rig.data.named_landmarks[n] for n in LIP_LANDMARKS)
    grid = torch.linspace(0.0, 1.2, 49)
    for f in np.flatnonzero(frames):
        e = torch.from_numpy(expr[f]).repeat(len(grid), 1)
        e[:, close] = grid
        with torch.no_grad():
            v = rig(expression=e, jaw=torch.from_numpy(jaw[f]).repeat(len(grid), 1)).vertices
        expr[f, close] = float(grid[(v[:, upper] - v[:, lower]).norm(dim=-1).argmin()])


def write_synthetic_corpus(folder, rig, clips: int = 12, seconds: float = 3.0, seed: int = 0, real_every: int = 3, bilabials: bool = False):
    """A corpus folder in the data engine's layout; every ``real_every``-th clip is marked real speech."""
    rng = np.random.default_rng(seed)
    (folder / "items").mkdir(parents=True, exist_ok=True)
    lips_idx = rig.region("lips").numpy()
    template = rig.v_template[rig.region("lips")].numpy()
    corners = [rig.data.named_landmarks[n] for n in ("mouth_corner_left", "mouth_corner_right")]
    width = float(np.linalg.norm(rig.v_template[corners[0]].numpy() - rig.v_template[corners[1]].numpy()))
    np.savez_compressed(folder / "rig_lips.npz", indices=lips_idx, template=template, mouth_width=np.float32(width))
    splits = {"train": [], "val": [], "test": []}
    for i in range(clips):
        audio, alignment, expr, jaw, lips = synthetic_clip(rng, rig, seconds, bilabials=bilabials)
        split = "train" if i < clips * 2 // 3 else ("val" if i % 2 == 0 else "test")
        item_id = f"{i:06d}-synth"
        synthetic = i % real_every != 0
        meta = {
            "id": item_id,
            "split": split,
            "source": "synthetic" if synthetic else "real",
            "voice": f"v{i % 4}",
            "synthetic": synthetic,
            "seconds": seconds,
        }
        CorpusItem(audio, alignment, 25.0, expr, jaw, lips, meta, template).save(folder / "items" / f"{item_id}.npz")
        splits[split].append(item_id)
    (folder / "splits.json").write_text(json.dumps(splits))
    (folder / "corpus.json").write_text(
        json.dumps({"fps": 25.0, "rig": {"name": "l2t-head"}, "seed": seed, "expression_names": rig.data.expression_names})
    )
    return folder
