"""``l2t-avatar train audio2mesh``: Audio2Mesh trained the Learn2Talk way.

Losses on random crops (masked past each clip's end):
- vertex: lip vertices posed from predicted vs reference rig parameters, and the offsets head
  vs the reference offsets (mm^2); velocity: the same on frame-to-frame differences;
  parameter: squared error over each parameter's training-set standard deviation;
- sync (Learn2Talk): 1 - cosine similarity that a frozen SyncNet3D gives predicted lip windows
  against the audio windows;
- lip reading (SelfTalk): CTC loss of a frozen lip reader on the predicted lip motion against
  the spoken phones;
- distillation: match a frozen large Audio2Mesh's parameters and lips, and (through a learned
  projection) its per-frame features.
Every corpus clip's motion is the teacher animator's (synthetic voices: exact phone timings;
real speech: forced alignment of the transcript or phone recognition), so real voices enter
training as teacher pseudo-labels; ``--synthetic-only`` leaves them out (the ablation).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from audio2mesh.batches import Batch, epoch_batches, make_batch, warp_mel
from audio2mesh.checkpoint import load_model
from audio2mesh.encoders import MelFrontEnd, front_end
from audio2mesh.evaluate import evaluate_clips
from audio2mesh.model import Audio2Mesh, Audio2MeshOutput, preset_config
from avatar.errors import L2TError
from sync_expert.checkpoint import save_model
from sync_expert.data.clips import corpus_rig, load_clips
from sync_expert.targets import ParamSpace
from sync_expert.training import Distributed, LossLog, load_state, prepare_out_dir, save_state, unwrap


@dataclass
class TrainConfig:
    size: str = "student"
    epochs: int = 60
    batch_size: int = 32
    crop_seconds: float = 6.0
    lr: float = 1e-3
    warmup_steps: int = 200
    weight_decay: float = 0.01
    fps: float | None = None
    seed: int = 0
    w_vertex: float = 1.0
    w_velocity: float = 2.0
    w_param: float = 1.0
    w_sync: float = 0.0
    sync_expert: str | None = None
    w_lipread: float = 0.0
    lip_reader: str | None = None
    w_distill: float = 0.0
    distill_from: str | None = None
    w_feature: float = 0.1
    w_closure: float = 0.0  # lips at least as closed as the reference on bilabial frames (mm^2)
    w_amplitude: float = 0.0  # each clip's lip-gap spread matches the reference's (mm^2)
    w_bilabial: float = 0.0  # closure head: binary cross-entropy of "this frame is inside an M/B/P" (adds the head)
    only_closure_head: bool = False  # train the closure head alone on the frozen model (fine-tuning a checkpoint)
    mel_warp: float = 0.0  # warp each training clip's mel axis by a factor in [1 - x, 1 + x] (speaker perturbation)
    synthetic_only: bool = False
    eval_every: int = 5
    amp: bool = True
    dropout: float | None = None
    audio_encoder: str | None = None  # local wav2vec2/HuBERT/WavLM folder (default: log-mel)
    init_from: str | None = None  # start from this Audio2Mesh's weights (fine-tuning; "default": the shipped one)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of x [B, T, ...] over valid frames (mask [B, T]) and trailing dims."""
    m = mask.to(x.dtype).view(*mask.shape, *([1] * (x.dim() - 2)))
    per = x[0, 0].numel()
    return (x * m).sum() / (m.sum() * per).clamp(min=1)


def bilabial_frames(phones: torch.Tensor) -> torch.Tensor:
    """[B, T] bool: frames inside an M, B or P."""
    from sync_expert.phones import BILABIALS, PHONE_INDEX

    return torch.isin(phones, torch.tensor([PHONE_INDEX[p] for p in sorted(BILABIALS)], device=phones.device))


def closure_loss(pred_gap: torch.Tensor, ref_gap: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """Mean squared excess of the predicted inner-lip gap over the reference's (mm) on ``frames`` [B, T]:
    a bilabial must close at least as far as the teacher closes it; opening less is never penalised here."""
    excess = torch.relu(pred_gap - ref_gap).pow(2) * frames
    return excess.sum() / frames.sum().clamp(min=1)


def amplitude_loss(pred_gap: torch.Tensor, ref_gap: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Squared difference of each clip's lip-gap standard deviation over its valid frames (mm^2):
    keeps the predicted aperture range from shrinking towards the mean."""
    m = mask.to(pred_gap.dtype)
    count = m.sum(1).clamp(min=2)

    def spread(x: torch.Tensor) -> torch.Tensor:
        mean = (x * m).sum(1, keepdim=True) / count[:, None]
        return (((x - mean) ** 2 * m).sum(1) / count + 1e-6).sqrt()

    return (spread(pred_gap) - spread(ref_gap)).pow(2).mean()


def bilabial_loss(logits: torch.Tensor, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of the closure head's logits [B, T] against bilabial ``frames`` [B, T] on valid frames."""
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), frames.float(), reduction="none")
    return masked_mean(bce, mask)


def sq_mm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared L2 per vertex in mm^2: [..., V, 3] -> [..., V]."""
    return ((a - b) * 1000.0).pow(2).sum(-1)


class Audio2MeshTrainer:
    def __init__(
        self,
        data: str | Path | list,
        out: str | Path,
        cfg: TrainConfig,
        device: torch.device,
        resume: bool = False,
        progress: bool = True,
        log=print,
        rig_path: str | None = None,
    ):
        self.cfg, self.log, self.progress = cfg, log, progress
        if cfg.only_closure_head and (cfg.w_bilabial <= 0 or cfg.init_from is None):
            raise L2TError("--only-closure-head trains the closure head of a given model: add --w-bilabial W and --init-from CKPT")
        self.dist = Distributed(device)
        self.device = self.dist.device
        self.out, self.resume = prepare_out_dir(out, resume, create=False), resume
        self.front = front_end(cfg.audio_encoder, self.device) if cfg.audio_encoder else MelFrontEnd()
        if self.front.name and cfg.w_sync > 0:
            raise L2TError("the sync loss scores log-mel windows; train with --audio-encoder without --w-sync")
        if self.front.name and cfg.mel_warp > 0:
            raise L2TError("--mel-warp warps log-mel frequencies; an --audio-encoder's features have none")
        self.train_set = load_clips(data, "train", cfg.fps, progress=progress and self.dist.is_main, front=self.front)
        self.val_set = load_clips(data, "val", cfg.fps, progress=progress and self.dist.is_main, front=self.front)
        if cfg.synthetic_only:
            self.train_set.clips = [c for c in self.train_set.clips if c.synthetic]
        if not self.train_set.clips:
            raise L2TError(f"{data}: no training clips")
        ts = self.train_set
        self.corpus = ts.kind == "corpus"
        num_params = ts.clips[0].params.shape[1] if self.corpus else 0
        overrides = {"num_params": num_params, "num_offsets": ts.num_offsets, "input_dim": self.front.dim, "input_rate": self.front.rate}
        if cfg.dropout is not None:
            overrides["dropout"] = cfg.dropout
        if cfg.w_bilabial > 0:
            if not self.corpus:
                raise L2TError("--w-bilabial needs phone timings: train on an l2t-avatar corpus")
            overrides["closure_head"] = True
        torch.manual_seed(cfg.seed)
        self.model = Audio2Mesh(preset_config(cfg.size, **overrides)).to(self.device)
        if cfg.init_from is not None:
            self._init_weights(cfg.init_from)
        self.template = torch.as_tensor(ts.template, dtype=torch.float32, device=self.device)
        self.rig = corpus_rig(ts, rig_path) if self.corpus else None
        self.space = ParamSpace(self.rig, ts.region_indices).to(self.device) if self.corpus else None
        if self.corpus:
            allp = np.concatenate([c.params for c in ts.clips])
            self.param_scale = torch.as_tensor(np.maximum(allp.std(0), 0.02), dtype=torch.float32, device=self.device)
        self.rest = (self.template - self.template.mean(0)) / ts.mouth_width
        self.sync = self._frozen(cfg.sync_expert, "syncnet3d") if cfg.w_sync > 0 else None
        self.reader = self._frozen(cfg.lip_reader, "lipreader") if cfg.w_lipread > 0 else None
        self.teacher = self._frozen(cfg.distill_from, "audio2mesh") if cfg.w_distill > 0 else None
        self.projection = None
        if self.teacher is not None:
            self.projection = torch.nn.Linear(self.model.cfg.width, self.teacher.cfg.width).to(self.device)
        if cfg.only_closure_head:
            for name, p in self.model.named_parameters():
                p.requires_grad_(name.startswith("closure_head."))
        params = [p for p in self.model.parameters() if p.requires_grad] + (list(self.projection.parameters()) if self.projection else [])
        self.optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.ddp_model = self.dist.wrap(self.model)
        self.steps_per_epoch = len(self.dist.share(epoch_batches(ts.clips, cfg.batch_size, np.random.default_rng(0))))
        if self.steps_per_epoch == 0:
            raise L2TError(f"too few training clips ({len(ts.clips)}) for batch size {cfg.batch_size} x {self.dist.world} processes")
        self.total_steps = cfg.epochs * self.steps_per_epoch
        self.epoch, self.step, self.best = 0, 0, math.inf
        self.history: list[dict] = []
        if resume:
            self._load_state()
        if self.dist.is_main:  # everything checked and loaded: only now does the run get its folder
            self.out.mkdir(parents=True, exist_ok=True)
        self.dist.barrier()
        self.loss_log = LossLog(self.out / "log.jsonl", resume) if self.dist.is_main else None

    # ------------------------------------------------------------ setup
    def _frozen(self, path: str | None, kind: str):
        if path is None and kind == "audio2mesh":
            raise L2TError("--w-distill needs --distill-from CKPT (a larger Audio2Mesh, or 'default': the shipped one)")
        model, meta = load_model(path, kind, self.device)
        if kind == "audio2mesh" and meta.get("audio_encoder") != self.front.name:
            raise L2TError(
                f"--distill-from {path} hears {meta.get('audio_encoder') or 'log-mel'}, the student "
                f"{self.front.name or 'log-mel'}: distil between models with the same audio front-end"
            )
        for p in model.parameters():
            p.requires_grad_(False)
        return model

    def _init_weights(self, path: str) -> None:
        """Fine-tuning: the weights of a checkpoint of the same size, front-end and outputs. Its
        look-ahead may be longer: each layer keeps the attention bias of the offsets it still sees."""
        start, meta = load_model(path, "audio2mesh", self.device)
        same = dict(
            dropout=self.model.cfg.dropout,
            closure_head=self.model.cfg.closure_head,
            right=self.model.cfg.right,
            lookahead_layers=self.model.cfg.lookahead_layers,
        )
        if dataclasses.replace(start.cfg, **same) != self.model.cfg:
            raise L2TError(
                f"--init-from {path} is a {start.cfg.layers}-layer, width-{start.cfg.width} model; this run builds "
                f"a {self.model.cfg.layers}-layer, width-{self.model.cfg.width} one (give the same --size and data)"
            )
        if meta.get("audio_encoder") != self.front.name or list(meta.get("expression_names", [])) != list(self.train_set.expression_names):
            raise L2TError(f"--init-from {path} hears another front-end or drives other expressions than this corpus")
        state = start.state_dict()
        for i in range(self.model.cfg.layers):
            key, right = f"blocks.{i}.attn.bias", self.model.cfg.layer_right(i)
            if right > start.cfg.layer_right(i):
                raise L2TError(f"--init-from {path} looks fewer frames ahead than this model: it cannot start it")
            state[key] = state[key][:, : self.model.cfg.left + right + 1]
        missing, unexpected = self.model.load_state_dict(state, strict=False)
        if unexpected or any(not k.startswith("closure_head.") for k in missing):
            raise L2TError(f"--init-from {path}: its weights do not fit this model ({', '.join((unexpected + missing)[:3])})")

    def _lr(self) -> float:
        warm = min(1.0, (self.step + 1) / max(1, self.cfg.warmup_steps))
        progress = min(1.0, self.step / max(1, self.total_steps))
        return self.cfg.lr * warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))

    # ------------------------------------------------------------ losses
    def losses(self, batch: Batch) -> dict[str, torch.Tensor]:
        cfg, model, mask = self.cfg, self.ddp_model, batch.mask
        amp = cfg.amp and self.device.type == "cuda"
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            out = model(batch.features, batch.positions, batch.lengths)
        closure = out.closure.float() if out.closure is not None else None
        out = Audio2MeshOutput(out.params.float(), out.offsets.float(), out.hidden.float(), closure)
        if cfg.only_closure_head:
            loss = bilabial_loss(out.closure, bilabial_frames(batch.phones), mask)
            return {"bilabial": loss, "total": cfg.w_bilabial * loss}
        terms: dict[str, torch.Tensor] = {}
        pair = mask[:, 1:] & mask[:, :-1]
        if self.corpus:
            pred_lips = self.space.lip_vertices(out.params)
            with torch.no_grad():
                ref_lips = self.space.lip_vertices(batch.params)
            ref_offsets = ref_lips - self.template
            terms["vertex"] = masked_mean(sq_mm(pred_lips, ref_lips), mask) + masked_mean(sq_mm(out.offsets, ref_offsets), mask)
            terms["velocity"] = masked_mean(sq_mm(pred_lips.diff(dim=1), ref_lips.diff(dim=1)), pair) + masked_mean(
                sq_mm(out.offsets.diff(dim=1), ref_offsets.diff(dim=1)), pair
            )
            terms["param"] = masked_mean(((out.params - batch.params) / self.param_scale).pow(2), mask)
            pred_offsets = pred_lips - self.template
        else:
            terms["vertex"] = masked_mean(sq_mm(out.offsets, batch.offsets), mask)
            terms["velocity"] = masked_mean(sq_mm(out.offsets.diff(dim=1), batch.offsets.diff(dim=1)), pair)
            pred_offsets = out.offsets
        total = cfg.w_vertex * terms["vertex"] + cfg.w_velocity * terms["velocity"] + cfg.w_param * terms.get("param", 0.0)
        if self.sync is not None:
            terms["sync"] = self._sync_loss(batch, pred_offsets)
            total = total + cfg.w_sync * terms["sync"]
        if self.reader is not None and batch.phones is not None:
            terms["lipread"] = self._lipread_loss(batch, pred_offsets)
            total = total + cfg.w_lipread * terms["lipread"]
        if self.teacher is not None:
            terms["distill"] = self._distill_loss(batch, out, pred_offsets)
            total = total + cfg.w_distill * terms["distill"]
        if self.corpus and (cfg.w_closure > 0 or cfg.w_amplitude > 0):
            pred_gap = 1000.0 * self.space.lip_gap(out.params)
            with torch.no_grad():
                ref_gap = 1000.0 * self.space.lip_gap(batch.params)
            if cfg.w_closure > 0 and batch.phones is not None:
                terms["closure"] = closure_loss(pred_gap, ref_gap, bilabial_frames(batch.phones) & mask)
                total = total + cfg.w_closure * terms["closure"]
            if cfg.w_amplitude > 0:
                terms["amplitude"] = amplitude_loss(pred_gap, ref_gap, mask)
                total = total + cfg.w_amplitude * terms["amplitude"]
        if out.closure is not None and batch.phones is not None:
            terms["bilabial"] = bilabial_loss(out.closure, bilabial_frames(batch.phones), mask)
            total = total + cfg.w_bilabial * terms["bilabial"]
        terms["total"] = total
        return terms

    def _sync_loss(self, batch: Batch, pred_offsets: torch.Tensor) -> torch.Tensor:
        from sync_expert.windows import batched_audio_windows, batched_lip_windows

        rows, frames = mask_frames(batch.mask, per_row=16, generator=None)
        lips = batched_lip_windows(pred_offsets / self.train_set.mouth_width, batch.mask.sum(1), rows, frames)
        audio = batched_audio_windows(batch.features, batch.lengths, rows, batch.mel_centres[rows, frames])
        cos = (self.sync.embed_audio(audio) * self.sync.embed_lips(lips, self.rest)).sum(-1)
        return (1.0 - cos).mean()

    def _lipread_loss(self, batch: Batch, pred_offsets: torch.Tensor) -> torch.Tensor:
        from sync_expert.lip_reader import ctc_loss, phone_targets

        lengths = batch.mask.sum(1)
        targets = [phone_targets(batch.phones[i, : int(n)].cpu()) for i, n in enumerate(lengths)]
        keep = [i for i, t in enumerate(targets) if t]
        if not keep:
            return pred_offsets.sum() * 0.0
        log_probs = self.reader(pred_offsets[keep] / self.train_set.mouth_width, self.rest)
        return ctc_loss(log_probs, lengths[keep], [targets[i] for i in keep])

    def _distill_loss(self, batch: Batch, out, pred_offsets: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            t_out = self.teacher(batch.features, batch.positions, batch.lengths)
        mask = batch.mask
        loss = self.cfg.w_feature * masked_mean((self.projection(out.hidden) - t_out.hidden).pow(2), mask)
        if self.corpus:
            with torch.no_grad():
                t_lips = self.space.lip_vertices(t_out.params)
            loss = loss + masked_mean(sq_mm(pred_offsets + self.template, t_lips), mask)
            loss = loss + masked_mean(((out.params - t_out.params) / self.param_scale).pow(2), mask)
        else:
            loss = loss + masked_mean(sq_mm(out.offsets, t_out.offsets), mask)
        return loss

    # ------------------------------------------------------------ loop
    def run(self) -> dict:
        cfg, ts = self.cfg, self.train_set
        stride = self.model.cfg.stride
        crop = max(8, int(round(cfg.crop_seconds * ts.clips[0].fps)))
        bar = tqdm(
            total=self.total_steps,
            initial=self.step,
            unit="step",
            desc="train audio2mesh",
            disable=not (self.progress and self.dist.is_main),
            dynamic_ncols=True,
        )
        start = time.perf_counter()
        while self.epoch < cfg.epochs:
            rng = np.random.default_rng([cfg.seed, self.epoch])
            noise = torch.Generator().manual_seed(cfg.seed * 100003 + self.epoch * 31 + self.dist.rank)
            batches = self.dist.share(epoch_batches(ts.clips, cfg.batch_size, rng))
            self._train_mode()
            sums: dict[str, float] = {}
            for clips in batches:
                batch = make_batch(clips, crop, stride, rng, noise, self.front.rate)
                if cfg.mel_warp > 0:
                    batch.features = warp_mel(batch.features, rng.uniform(1 - cfg.mel_warp, 1 + cfg.mel_warp, len(clips)))
                batch = batch.to(self.device)
                for group in self.optimizer.param_groups:
                    group["lr"] = self._lr()
                terms = self.losses(batch)
                self.optimizer.zero_grad(set_to_none=True)
                terms["total"].backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                self.optimizer.step()
                self.step += 1
                for k, v in terms.items():
                    sums[k] = sums.get(k, 0.0) + float(v.detach())
                bar.update(1)
                bar.set_postfix(loss=f"{float(terms['total'].detach()):.3f}", epoch=self.epoch + 1)
            self.epoch += 1
            row = {
                "epoch": self.epoch,
                "step": self.step,
                "seconds": round(time.perf_counter() - start, 1),
                "train": {k: self.dist.mean(v / len(batches)) for k, v in sums.items()},
            }
            if self.dist.is_main:
                if self.epoch % cfg.eval_every == 0 or self.epoch == cfg.epochs:
                    row["val"] = self._validate()
                self.history.append(row)
                self.loss_log.write(row)
                self._save_state()
            self.dist.barrier()
        bar.close()
        self.ddp_model = unwrap(self.ddp_model)  # the wrapper holds the process group
        if self.dist.is_main and self.model.closure_head is not None and (self.out / "best.pt").is_file():
            self._calibrate_closure()
        self.dist.close()
        return self.history[-1] if self.history else {}

    def _calibrate_closure(self) -> None:
        """Choose the closure gate on the validation split and store it in best.pt (speak reads it from there)."""
        from audio2mesh.evaluate import calibrate_gate
        from audio2mesh.lip_closure import ClosureGate, LipCloser

        best, meta = load_model(self.out / "best.pt", "audio2mesh", self.device)
        clips = self.val_set if any(c.phones is not None for c in self.val_set.clips) else self.train_set
        closer = LipCloser(self.rig, self.train_set.expression_names, ClosureGate(0.0, 1.0))
        gate, table = calibrate_gate(best, clips, self.space, closer, self.device)
        meta.update(closure_gate=gate.to_dict(), closure_calibration=table)
        save_model(self.out / "best.pt", "audio2mesh", best, meta)
        split = "val" if clips is self.val_set else "train"
        self.log(f"closure gate: probability {gate.low:.2f} -> {gate.high:.2f} (chosen on {len(clips.clips)} {split} clips)")

    def _train_mode(self) -> None:
        """Dropout on, except around a closure head trained alone (it learns the frozen model's eval features)."""
        self.model.train(not self.cfg.only_closure_head)

    def _validate(self) -> dict:
        if not self.val_set.clips:  # nothing held out (a corpus of one person's videos): the last epoch is the model
            meta = self.meta({}, "none")
            meta["selected_by"] = "last epoch (no validation split)"
            save_model(self.out / "best.pt", "audio2mesh", self.model, meta)
            return {}
        results = evaluate_clips(self.model, self.val_set, self.space, self.device)
        group = "real" if results["real"]["clips"] else "all"
        score = results[group]["lve_sq_mm2"]
        if score < self.best or self.cfg.only_closure_head:  # the frozen model's LVE does not move: keep the last head
            self.best = min(score, self.best)
            save_model(self.out / "best.pt", "audio2mesh", self.model, self.meta(results, group))
        self._train_mode()
        return {g: results[g] for g in ("real", "synthetic")}

    def meta(self, results: dict, group: str) -> dict:
        ts = self.train_set
        return {
            "expression_names": ts.expression_names,
            "offsets_region": "lips" if self.corpus else ts.info.get("kind"),
            "region_indices": ts.region_indices.tolist() if ts.region_indices is not None else None,
            "mouth_width": ts.mouth_width,
            "fps": ts.clips[0].fps,
            "audio_encoder": self.front.name,
            "rig": ts.info.get("rig"),
            "epoch": self.epoch,
            "step": self.step,
            "selected_by": "last epoch (closure head alone)" if self.cfg.only_closure_head else f"val {group} LVE",
            "val": results,
            "train_config": asdict(self.cfg),
            "train_minutes": {
                "real": round(sum(len(c.codes) for c in ts.clips if not c.synthetic) / 6000, 1),
                "synthetic": round(sum(len(c.codes) for c in ts.clips if c.synthetic) / 6000, 1),
            },
        }

    def _save_state(self) -> None:
        save_state(
            self.out / "last.pt",
            model=self.model.state_dict(),
            optimizer=self.optimizer.state_dict(),
            projection=self.projection.state_dict() if self.projection else None,
            epoch=self.epoch,
            step=self.step,
            best=self.best,
            history=json.dumps(self.history),
            config=json.dumps(asdict(self.cfg)),
        )

    def _load_state(self) -> None:
        state = load_state(self.out / "last.pt")
        if json.loads(state["config"])["size"] != self.cfg.size:
            raise L2TError(f"--resume: {self.out} was trained with --size {json.loads(state['config'])['size']}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.projection is not None and state["projection"] is not None:
            self.projection.load_state_dict(state["projection"])
        self.epoch, self.step, self.best = int(state["epoch"]), int(state["step"]), float(state["best"])
        self.history = json.loads(state["history"])


def mask_frames(mask: torch.Tensor, per_row: int, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
    """``per_row`` random valid frames of each row of mask [B, T]: (rows [N], frames [N])."""
    counts = mask.sum(1)
    rows = torch.arange(mask.shape[0], device=mask.device).repeat_interleave(per_row)
    frames = (torch.rand(rows.shape, device=mask.device, generator=generator) * counts[rows]).long()
    return rows, frames
