"""``l2t-avatar train syncnet3d`` and ``train lipreader``: the two 3D lip experts.

SyncNet3D is trained with InfoNCE (symmetric cross-entropy over cosine similarities scaled by a
learned inverse temperature). Why not BCE: scoring picks the best of 31 offsets, a ranking, and
InfoNCE trains exactly that — each aligned pair must beat every other lip window in the batch
(other clips) and a hard negative from its own clip shifted by min_shift..max_shift frames (3..15
by default; 1 teaches the expert single-frame offsets), many negatives per
step without balancing positives and negatives by hand.

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
from sync_expert.windows import sync_score


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
    min_shift: int = 3  # SyncNet3D's hard negatives: its own clip shifted by min_shift..max_shift frames
    max_shift: int = 15


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
        """n aligned (audio, lips) windows and, per pair, its clip's lips shifted by min_shift..max_shift frames."""
        if not hasattr(self, "_packed"):
            self._packed = self.train.packed()
        pk, dev = self._packed, self.device
        clips = torch.from_numpy(rng.integers(0, len(self.train.clips), n)).to(dev)
        counts = pk.frame_count[clips]
        frames = (torch.from_numpy(rng.random(n)).to(dev) * counts).long()
        shift = torch.from_numpy(rng.integers(self.cfg.min_shift, self.cfg.max_shift + 1, n) * rng.choice([-1, 1], n)).to(dev)
        shifted = frames + shift
        outside = (shifted < 0) | (shifted >= counts)
        shifted = torch.where(outside, frames - shift, shifted).clamp(min=0)
        shifted = torch.minimum(shifted, counts - 1)
        return pk.audio_windows(clips, frames), pk.lip_windows(clips, frames), pk.lip_windows(clips, shifted)

    def loss(self, rng):
        audio, lips, hard = self._sample(rng, self.cfg.batch_size)
        model = unwrap(self.ddp_model)
        a = model.embed_audio(audio)
        emb = model.embed_lips(torch.cat([lips, hard]), self.train.rest)
        lp, lh = emb[: len(lips)], emb[len(lips) :]
        scale = model.log_scale.exp().clamp(max=100)
        logits = scale * a @ lp.T  # [B, B]: aligned on the diagonal
        hard_logit = scale * (a * lh).sum(-1, keepdim=True)
        target = torch.arange(len(a), device=self.device)
        return 0.5 * (F.cross_entropy(torch.cat([logits, hard_logit], 1), target) + F.cross_entropy(logits.T, target))

    def validate(self):
        if self.val is None:
            return 0.0, {}
        acc = offset_accuracy(self.model, self.val, range(-10, 11, 5))
        return -acc["within_1"], acc


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


@torch.no_grad()
def offset_accuracy(expert: SyncNet3D, data: LipData, shifts=range(-10, 11), min_seconds: float = 2.0) -> dict:
    """How often the expert finds a known shift of the motion (exactly, and within ±1 frame)."""
    hits = near = count = 0
    for clip, off in zip(data.clips, data.offsets):
        if off.shape[0] < min_seconds * clip.fps:
            continue
        feats = dequantise(clip.codes).to(off.device)
        for s in shifts:
            found = sync_score(expert, feats, shift_motion(off, s), data.rest, clip.fps).offset
            hits += found == s
            near += abs(found - s) <= 1
            count += 1
    return {"trials": count, "exact": hits / max(count, 1), "within_1": near / max(count, 1)}


@torch.no_grad()
def lse_c_drop(expert: SyncNet3D, data: LipData, shift: int = 5, min_seconds: float = 2.0) -> float | None:
    """Mean over clips of LSE-C aligned minus LSE-C with the motion shifted by ``shift`` frames:
    how much less confident the expert is about a clip out of sync (larger = a sharper judge)."""
    drops = []
    for clip, off in zip(data.clips, data.offsets):
        if off.shape[0] < min_seconds * clip.fps:
            continue
        feats = dequantise(clip.codes).to(off.device)
        aligned = sync_score(expert, feats, off, data.rest, clip.fps).lse_c
        drops.append(aligned - sync_score(expert, feats, shift_motion(off, shift), data.rest, clip.fps).lse_c)
    return float(np.mean(drops)) if drops else None
