"""``l2t-avatar train syncnet3d`` and ``train lipreader``: the two 3D lip experts.

SyncNet3D is trained with InfoNCE (symmetric cross-entropy over cosine similarities scaled by a
learned inverse temperature). Why not BCE: scoring picks the best of 31 offsets, a ranking, and
InfoNCE trains exactly that. A batch is runs of ``run_frames`` consecutive frames from a few clips,
so each aligned pair must beat the windows of other clips and, the hard negatives, the windows of
its own clip 1..run_frames - 1 frames away (those closer than ``min_shift`` are left out): exactly
the offsets that scoring must tell apart, many negatives per step without balancing positives and
negatives by hand. A run's frames are encoded once for the five windows that read each of them.

Keep two experts (``--half a`` / ``--half b`` with different ``--seed``): train Audio2Mesh with
one, judge it with the other.

The lip reader is trained with CTC on crops of the corpus' teacher motion against the spoken
phones; validation reports its phone error rate.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm

from avatar.errors import L2TError
from sync_expert.checkpoint import save_model
from sync_expert.data.clips import corpus_rig, load_clips
from sync_expert.features import dequantise
from sync_expert.lip_reader import LipReader, LipReaderConfig, ctc_loss, edit_distance, greedy_decode, phone_targets
from sync_expert.lips import LipData, in_half, shift_motion
from sync_expert.model import SyncConfig, SyncNet3D
from sync_expert.training import Distributed, LossLog, load_state, prepare_out_dir, save_state, unwrap
from sync_expert.windows import MAX_OFFSET, SyncScore, sync_score

VALIDATION_SHIFTS = (-10, -5, -3, -2, 0, 2, 3, 5, 10)  # SyncNet3D's checkpoint selection: offsets it must find


@dataclass
class ExpertConfig:
    epochs: int = 30
    steps_per_epoch: int = 200
    batch_size: int = 256
    lr: float = 1e-3
    seed: int = 0
    half: str = "all"  # which half of the training clips: a, b or all
    fps: float | None = None
    crop_seconds: float = 8.0  # lip reader crops
    eval_clips: int = 64
    run_frames: int = 16  # SyncNet3D: consecutive frames per clip in a batch (its own clip's windows are the hard negatives)
    min_shift: int = 1  # ... those at least this many frames away


class ExpertTrainer:
    """Shared loop: data, optimiser, resume, log; subclasses give the model, a step and validation."""

    kind = ""

    def __init__(
        self,
        data: str | Path | list,
        out: str | Path,
        cfg: ExpertConfig,
        device: torch.device,
        resume: bool = False,
        progress: bool = True,
        rig_path: str | None = None,
    ):
        self.cfg, self.progress = cfg, progress
        self.dist = Distributed(device)
        self.device = self.dist.device
        self.out = prepare_out_dir(out, resume, create=False)
        train = load_clips(data, "train", cfg.fps, progress=progress and self.dist.is_main)
        train.clips = [c for c in train.clips if in_half(c.clip_id, cfg.half)]
        if len(train.clips) < 2:
            raise L2TError(f"{data}: too few training clips for an expert ({len(train.clips)})")
        rig = corpus_rig(train, rig_path) if train.kind == "corpus" else None
        self.train = LipData(train, self.device, rig)
        val = load_clips(data, "val", cfg.fps)
        val.clips = val.clips[: cfg.eval_clips]
        self.val = LipData(val, self.device, rig) if val.clips else None
        if self.dist.is_main:  # the data loaded: only now does the run get its folder
            self.out.mkdir(parents=True, exist_ok=True)
        self.dist.barrier()
        self.features = [dequantise(c.codes).to(self.device) for c in train.clips]
        torch.manual_seed(cfg.seed)
        self.model = self.build().to(self.device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=0.01)
        self.ddp_model = self.dist.wrap(self.model)
        self.epoch, self.step, self.best = 0, 0, math.inf
        if resume:
            state = load_state(self.out / "last.pt")
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.epoch, self.step, self.best = int(state["epoch"]), int(state["step"]), float(state["best"])
        self.loss_log = LossLog(self.out / "log.jsonl", resume) if self.dist.is_main else None

    def build(self):
        raise NotImplementedError

    def loss(self, rng: np.random.Generator) -> torch.Tensor:
        raise NotImplementedError

    def validate(self) -> tuple[float, dict]:
        """(score to minimise, metrics)."""
        raise NotImplementedError

    def meta(self, metrics: dict) -> dict:
        ts = self.train.clipset
        return {
            "template": ts.template.tolist(),
            "mouth_width": ts.mouth_width,
            "fps": ts.clips[0].fps,
            "region_indices": ts.region_indices.tolist() if ts.region_indices is not None else None,
            "rig": ts.info.get("rig"),
            "half": self.cfg.half,
            "seed": self.cfg.seed,
            "epoch": self.epoch,
            "val": metrics,
            "train_config": asdict(self.cfg),
        }

    def run(self) -> dict:
        cfg = self.cfg
        total = cfg.epochs * cfg.steps_per_epoch
        bar = tqdm(
            total=total,
            initial=self.step,
            unit="step",
            desc=f"train {self.kind}",
            disable=not (self.progress and self.dist.is_main),
            dynamic_ncols=True,
        )
        start, row = time.perf_counter(), {}
        while self.epoch < cfg.epochs:
            rng = np.random.default_rng([cfg.seed, self.epoch, self.dist.rank])
            self.model.train()
            losses = []
            for _ in range(cfg.steps_per_epoch):
                for group in self.optimizer.param_groups:
                    group["lr"] = cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * self.step / max(1, total))))
                loss = self.loss(rng)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                self.optimizer.step()
                self.step += 1
                losses.append(float(loss.detach()))
                bar.update(1)
                bar.set_postfix(loss=f"{losses[-1]:.3f}", epoch=self.epoch + 1)
            self.epoch += 1
            row = {
                "epoch": self.epoch,
                "step": self.step,
                "seconds": round(time.perf_counter() - start, 1),
                "train": {"loss": self.dist.mean(float(np.mean(losses)))},
            }
            if self.dist.is_main:
                self.model.eval()
                score, metrics = self.validate()
                row["val"] = metrics
                if score <= self.best:
                    self.best = score
                    save_model(self.out / "best.pt", self.kind, self.model, self.meta(metrics))
                self.loss_log.write(row)
                save_state(
                    self.out / "last.pt",
                    model=self.model.state_dict(),
                    optimizer=self.optimizer.state_dict(),
                    epoch=self.epoch,
                    step=self.step,
                    best=self.best,
                    config=json.dumps(asdict(cfg)),
                )
            self.dist.barrier()
        bar.close()
        self.ddp_model = unwrap(self.ddp_model)  # the wrapper holds the process group
        self.dist.close()
        return row


class SyncTrainer(ExpertTrainer):
    kind = "syncnet3d"

    def build(self):
        return SyncNet3D(SyncConfig())

    def _sample(self, rng: np.random.Generator, n: int):
        """Runs of ``run_frames`` consecutive frames from n // run_frames clips: their audio windows
        [N, 20, D], the lip frames the runs read [clips, run_frames + 4, V, 3], and per window its clip and frame."""
        if not hasattr(self, "_packed"):
            self._packed = self.train.packed()
        pk, dev, run = self._packed, self.device, self.cfg.run_frames
        clips = torch.from_numpy(rng.integers(0, len(self.train.clips), max(2, n // run))).to(dev)
        counts = pk.frame_count[clips]
        starts = (torch.from_numpy(rng.random(len(clips))).to(dev) * (counts - run + 1).clamp(min=1)).long()
        frames = torch.minimum(starts[:, None] + torch.arange(run, device=dev)[None], (counts - 1)[:, None]).flatten()
        window_clips = clips.repeat_interleave(run)
        return pk.audio_windows(window_clips, frames), pk.lip_runs(clips, starts, run), window_clips, frames

    def loss(self, rng):
        audio, runs, clips, frames = self._sample(rng, self.cfg.batch_size)
        model = unwrap(self.ddp_model)
        a = model.embed_audio(audio)
        lips = model.embed_lip_runs(runs, self.train.rest).flatten(0, 1)
        return sync_infonce(a, lips, model.log_scale.exp().clamp(max=100), clips, frames, self.cfg.min_shift)

    def validate(self):
        if self.val is None:
            return 0.0, {}
        acc = offset_accuracy(self.model, self.val, VALIDATION_SHIFTS)
        return -(acc["within_1"] + acc["exact"]) / 2, acc  # within ±1 alone ties often over a few hundred trials


def sync_infonce(
    audio: torch.Tensor, lips: torch.Tensor, scale: torch.Tensor, clips: torch.Tensor, frames: torch.Tensor, min_shift: int
) -> torch.Tensor:
    """Symmetric InfoNCE of unit embeddings [N, E] whose pair i is (audio[i], lips[i]) at frame frames[i]
    of clip clips[i]: every other window is a negative but those of the same clip fewer than
    ``min_shift`` frames away (too alike to call wrong)."""
    logits = scale * audio @ lips.T  # [N, N]: aligned on the diagonal
    too_close = (clips[:, None] == clips[None]) & ((frames[:, None] - frames[None]).abs() < min_shift)
    logits = logits.masked_fill(too_close & ~torch.eye(len(audio), dtype=torch.bool, device=audio.device), -torch.inf)
    target = torch.arange(len(audio), device=audio.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


class LipReaderTrainer(ExpertTrainer):
    kind = "lipreader"

    def build(self):
        return LipReader(LipReaderConfig())

    def loss(self, rng):
        cfg = self.cfg
        picks = rng.integers(0, len(self.train.clips), max(1, cfg.batch_size // 16))
        crops, targets, lengths = [], [], []
        for i in picks:
            clip, off = self.train.clips[i], self.train.offsets[i]
            n = min(off.shape[0], int(cfg.crop_seconds * clip.fps))
            s = int(rng.integers(0, off.shape[0] - n + 1))
            crops.append(off[s : s + n])
            targets.append(phone_targets(clip.phones[s : s + n]))
            lengths.append(n)
        keep = [j for j, t in enumerate(targets) if t]
        batch = torch.zeros(len(keep), max(lengths), *crops[0].shape[1:], device=self.device)
        for row, j in enumerate(keep):
            batch[row, : lengths[j]] = crops[j]
        log_probs = self.ddp_model(batch, self.train.rest)
        return ctc_loss(log_probs, torch.tensor([lengths[j] for j in keep], device=self.device), [targets[j] for j in keep])

    def validate(self):
        if self.val is None:
            return 0.0, {}
        per = phone_error_rate(self.model, self.val.offsets, [c.phones for c in self.val.clips], self.val.rest)
        return per, {"per": per}


@torch.no_grad()
def phone_error_rate(reader: LipReader, offsets: list[torch.Tensor], phones: list, rest: torch.Tensor) -> float:
    """Total edit distance over total target phones (greedy decoding)."""
    errors = total = 0
    for off, ph in zip(offsets, phones):
        target = phone_targets(ph)
        if target:
            errors += edit_distance(greedy_decode(reader(off[None], rest)[0]), target)
            total += len(target)
    return errors / max(total, 1)


FAR_SHIFTS = tuple(s for s in range(-10, 11) if abs(s) >= 2)  # the shifts an expert must find to within ±1 frame


@dataclass
class ShiftTest:
    """Per clip of at least ``min_seconds``, its SyncScore with the motion made to lag the audio by
    each known shift (negative: lead); every figure of the test is read from these scores."""

    scores: list[dict[int, SyncScore]]

    @classmethod
    @torch.no_grad()
    def run(cls, expert: SyncNet3D, data: LipData, shifts=range(-10, 11), min_seconds: float = 2.0) -> ShiftTest:
        scores = []
        for clip, off in zip(data.clips, data.offsets):
            if off.shape[0] < min_seconds * clip.fps:
                continue
            feats = dequantise(clip.codes).to(off.device)
            scores.append({s: sync_score(expert, feats, shift_motion(off, s), data.rest, clip.fps) for s in shifts})
        return cls(scores)

    def accuracy(self, shifts=None) -> dict:
        """How often the expert finds the shift (exactly, and within ±1 frame); ``None``: every shift run."""
        found = [(s, score.offset) for row in self.scores for s, score in row.items() if shifts is None or s in shifts]
        count = len(found)
        return {
            "trials": count,
            "exact": sum(o == s for s, o in found) / max(count, 1),
            "within_1": sum(abs(o - s) <= 1 for s, o in found) / max(count, 1),
        }

    def lse_c_drop(self, shift: int = 5) -> float | None:
        """Mean over clips of LSE-C aligned minus LSE-C with the motion shifted by ``shift`` frames.
        LSE-C searches offsets ±15, so a sharp judge finds the shift and stays about as confident:
        ``distance_margin`` is the figure that says whether it sees the clip out of sync."""
        return self._mean([row[0].lse_c - row[shift].lse_c for row in self.scores])

    def distance_margin(self, shift: int = 5) -> float | None:
        """Mean over clips of the embedding distance at the clip's own alignment (offset 0) of its
        motion shifted by ``shift`` frames minus that of its aligned motion: how much further out of
        sync the expert scores lips ``shift`` frames late (larger = a sharper judge)."""
        return self._mean([row[shift].distances[MAX_OFFSET] - row[0].distances[MAX_OFFSET] for row in self.scores])

    @staticmethod
    def _mean(values: list[float]) -> float | None:
        return float(np.mean(values)) if values else None


def offset_accuracy(expert: SyncNet3D, data: LipData, shifts=range(-10, 11), min_seconds: float = 2.0) -> dict:
    """How often the expert finds a known shift of the motion (exactly, and within ±1 frame)."""
    return ShiftTest.run(expert, data, shifts, min_seconds).accuracy()
