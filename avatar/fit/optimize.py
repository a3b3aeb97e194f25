"""The Gaussian stage of fitting: triangle-bound Gaussians optimised against the tracked frames.

Loss: 0.8 L1 (mouth weighted up) + 0.2 (1 - SSIM) on the avatar composited over the learned
background, plus alpha constraints (the face and the mesh's silhouette covered, nothing outside
the grown head; or the foreground masks of a VHAP folder), position and scale regularisers, a
pull of the mouth interior towards the default avatar's (mouth_prior.py), and a small prior on
per-frame corrections of the tracked expression and pose, which are fine-tuned jointly. Every
Gaussian is low-pass filtered to the frames' pixel size (footprint.py), baked in at the end.
Densify (split large, clone small, by accumulated position gradient; children keep their
parent's triangle) and prune (low opacity, never a triangle's last Gaussian) on a schedule.
Checkpoints every N iterations; resume continues from one bit for bit in the schedule.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from avatar.errors import L2TError
from avatar.fit.background import Background, median_background, median_sample
from avatar.fit.crop import inside_frame
from avatar.fit.densify import GradientDensify
from avatar.fit.footprint import triangle_footprints
from avatar.fit.image_metrics import masked_psnr, psnr, ssim, ssim_map
from avatar.fit.mouth_prior import MouthPrior, mouth_prior
from avatar.fit.regions import FACE, HEAD, MOUTH, SOLID, region_labels
from avatar.gaussians import GaussianAvatarModel, WorldGaussians, triangle_frames
from avatar.io.atomic import atomic_path
from avatar.io.torch_file import load_torch_file
from avatar.io.tracked_folder import TrackedFrames
from avatar.render.cameras import project_points
from avatar.render.gaussian import render_gaussians
from avatar.rig.model import Rig
from avatar.rig.precomputed import PrecomputedPosing

DELTA_LR = {"rotation": 1e-4, "translation": 1e-5, "jaw": 2e-4, "eyes": 2e-4, "expression": 1e-3, "neck": 1e-4}
MODEL_ARRAYS = ("binding", "xyz", "log_scales", "rotations", "opacity_logits", "sh")


@dataclass
class OptimizeConfig:
    iterations: int = 3000
    batch: int = 1  # frames per iteration
    sh_degree: int = 1
    checkpoint_every: int = 500  # iterations between checkpoints...
    checkpoint_seconds: float = 60.0  # ...or seconds, whichever comes first (a kill loses at most this)
    mouth_weight: float = 3.0  # L1 weight of mouth pixels relative to the rest
    ssim_weight: float = 0.2
    outside_weight: float = 1.0  # alpha outside the grown head
    face_weight: float = 0.3  # transparency over the face (and the mesh's silhouette, with cover_silhouette)
    cover_silhouette: bool = True  # the avatar must cover the tracked mesh's whole silhouette, not only the face
    mouth_prior_weight: float = 0.05  # pull of the mouth interior's colour and opacity towards the default avatar's
    antialias: bool = True  # filter every Gaussian to the frames' pixel size (no sparkle when rendered larger)
    densify: GradientDensify = field(default_factory=GradientDensify)  # when and how Gaussians are added and pruned
    seed: int = 0


class FitState(torch.nn.Module):
    """What the Gaussian stage learns: the Gaussians, the background, per-frame corrections."""

    def __init__(
        self,
        model: GaussianAvatarModel,
        background: Background | None,
        num_frames: int,
        widths: dict[str, int],
        smoothing: torch.Tensor | None = None,
    ):
        super().__init__()
        self.model = model
        self.background = background
        self.register_buffer("smoothing", smoothing)  # [F] the anti-aliasing filter (triangle-local std), or None
        self.deltas = torch.nn.ParameterDict(
            {k: torch.nn.Parameter(torch.zeros(num_frames, w)) for k, w in widths.items() if k in DELTA_LR}
        )

    def build_optimizer(self) -> torch.optim.Adam:
        m = self.model
        groups = [
            {"params": [m.xyz], "lr": 4e-3, "name": "xyz"},
            {"params": [m.log_scales], "lr": 8e-3, "name": "log_scales"},
            {"params": [m.rotations], "lr": 2e-3, "name": "rotations"},
            {"params": [m.opacity_logits], "lr": 3e-2, "name": "opacity_logits"},
            {"params": [m.sh], "lr": 4e-3, "name": "sh"},
        ]
        groups += [{"params": [p], "lr": DELTA_LR[k], "name": f"delta:{k}"} for k, p in self.deltas.items()]
        if self.background is not None:
            groups.append({"params": [self.background.image], "lr": 2e-3, "name": "background"})
        # fused on CUDA: one kernel per group instead of a dozen (a step is bound by launches there)
        return torch.optim.Adam(groups, eps=1e-15, fused=m.xyz.is_cuda)


def frame_store(array: np.ndarray, device: torch.device, budget: float = 0.25) -> torch.Tensor:
    """Per-frame data [N, ...] as a tensor to index by frame: on the device when it takes under `budget`
    of the GPU's free memory (no per-step copy from the host then), else shared with the host array."""
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if device.type == "cuda" and array.nbytes < budget * torch.cuda.mem_get_info(device)[0]:
        return tensor.to(device)
    return tensor


class FrameRenderer:
    """Renders tracked frames with the current state: the avatar, and the avatar over its background."""

    def __init__(self, rig: Rig, data: TrackedFrames, device: torch.device):
        self.rig, self.data, self.device = rig, data, device
        self.images = frame_store(data.images, device)  # [N, S, S, 3] uint8
        self.masks = frame_store(data.masks, device) if data.masks is not None else None  # [N, S, S]
        self.params = {k: v.to(device) for k, v in data.params.items()}
        self.shape = data.shape[: rig.num_shapes].to(device)
        self.offsets = data.vertex_offsets.to(device) if data.vertex_offsets is not None else None
        self.w2c, self.Ks = data.world_to_cam.to(device), data.Ks.to(device)
        self.white = torch.ones(3, device=device)
        self.posing = PrecomputedPosing(rig, self.shape, self.offsets)  # the identity stays fixed in this stage
        self.boxes, self.frame_size = None, None  # set where some crop reaches past the video's edge
        if data.crop_boxes is not None and data.background is not None:
            boxes = torch.from_numpy(np.asarray(data.crop_boxes, np.float32)).to(device)
            frame_size = (data.background.shape[1], data.background.shape[0])  # the background is in the video's pixels
            if not bool(torch.cat([inside_frame(b, frame_size, data.size).all((1, 2)) for b in boxes.split(64)]).all()):
                self.boxes, self.frame_size = boxes, frame_size

    def frame_params(self, frames: torch.Tensor, state: FitState | None = None) -> dict[str, torch.Tensor]:
        """The frames' tracked rig parameters (name -> [B, D]), plus the state's corrections when given."""
        params = {k: v[frames] for k, v in self.params.items()}
        if state is not None:
            params = {k: v + state.deltas[k][frames] if k in state.deltas else v for k, v in params.items()}
        return params

    def vertices(self, frames: torch.Tensor, state: FitState | None = None) -> torch.Tensor:
        return self.posing.pose(self.frame_params(frames, state))

    def world(self, state: FitState, frames: torch.Tensor) -> WorldGaussians:
        """The state's Gaussians posed for the frames (with their corrections)."""
        return state.model.to_world(self.vertices(frames, state), self.rig.faces, state.smoothing)

    def render(self, state: FitState, frames: torch.Tensor, world: WorldGaussians | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(avatar over black [B,S,S,3], alpha [B,S,S,1]); `world`: the frames' posed Gaussians if already made."""
        w = self.world(state, frames) if world is None else world
        s = self.data.size
        out = render_gaussians(
            w.means,
            w.quats,
            w.scales,
            w.opacities,
            w.sh,
            self.w2c[frames][:, None],
            self.Ks[frames][:, None],
            s,
            s,
            w.sh_degree,
            depth=False,
        )
        return out.rgb[:, 0], out.alpha[:, 0]

    def composite(self, state: FitState, frames: torch.Tensor, rgb: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """The avatar [B,S,S,3] with alpha [B,S,S,1] over the state's background (white without one)."""
        behind = state.background(frames, self.data.size) if state.background is not None else self.white.expand_as(rgb)
        return rgb + (1 - alpha) * behind

    def targets(self, frames: torch.Tensor) -> torch.Tensor:
        """The frames' images in [0, 1] (over white outside the mask when the folder has masks)."""
        image = pick_frames(self.images, frames, self.device).float() / 255.0
        if self.masks is not None:
            mask = self.mask(frames)[..., None]
            image = image * mask + (1 - mask)
        return image

    def inside(self, frames: torch.Tensor) -> torch.Tensor | None:
        """[B, S, S] bool: the frames' pixels that show the video, not the padding of a crop that reaches
        past its edge; None when every crop lies inside the video (nothing to leave out)."""
        return None if self.boxes is None else inside_frame(self.boxes[frames], self.frame_size, self.data.size)

    def mask(self, frames: torch.Tensor) -> torch.Tensor:
        """The frames' foreground masks [B, S, S] in {0, 1} (a folder with masks only)."""
        return pick_frames(self.masks, frames, self.device).float()


def posed_with_priors(
    renderer: FrameRenderer, state: FitState, mouth: MouthPrior | None, mouth_weight: float, frames: torch.Tensor
) -> tuple[WorldGaussians, torch.Tensor]:
    """A step's posed Gaussians and the priors on the state: positions and scales kept near their
    triangles, small per-frame corrections, the mouth interior near its prior."""
    w = renderer.world(state, frames)
    m = state.model
    priors = 0.01 * torch.relu(m.xyz.norm(dim=-1) - 1.0).mean() + 0.01 * torch.relu(m.log_scales.exp().amax(-1) - 0.6).mean()
    priors = priors + 1e-2 * sum(d[frames].square().mean() for d in state.deltas.values())
    if mouth is not None:
        priors = priors + mouth_weight * mouth.penalty(m)
    return w, priors


def image_loss(
    cfg: OptimizeConfig,
    renderer: FrameRenderer,
    state: FitState,
    frames: torch.Tensor,
    rgb: torch.Tensor,
    alpha: torch.Tensor,
    target: torch.Tensor,
    labels: torch.Tensor,
    mask: torch.Tensor | None,
    inside: torch.Tensor | None = None,
) -> torch.Tensor:
    """A step's image loss: L1 (mouth pixels weighted up) and SSIM of the avatar over its background
    against the frames, over the pixels `inside` [B, S, S] the video (all when None), and the alpha
    terms (the foreground masks, or: nothing outside the grown head, the face and the mesh's silhouette
    covered)."""
    pred = renderer.composite(state, frames, rgb, alpha)
    weight = 1 + (cfg.mouth_weight - 1) * ((labels & MOUTH) > 0).float()[..., None]
    if inside is not None:  # a crop past the video's edge: its black padding teaches nothing
        target = torch.where(inside[..., None], target, pred.detach())  # no padding in SSIM's windows either
        weight = weight * inside[..., None].float()
    similarity = ssim_map(pred, target)
    if inside is not None:
        similarity = similarity * inside / inside.float().mean().clamp_min(1e-6)
    l1 = ((pred - target).abs() * weight).mean() / weight.mean().clamp_min(1e-6)
    loss = (1 - cfg.ssim_weight) * l1 + cfg.ssim_weight * (1 - similarity.mean())
    a = alpha[..., 0]
    if mask is not None:
        return loss + cfg.outside_weight * (a - mask).abs().mean()
    loss = loss + cfg.outside_weight * (a * ((labels & HEAD) == 0).float()).mean()
    cover = FACE | SOLID if cfg.cover_silhouette else FACE
    return loss + cfg.face_weight * ((1 - a) * ((labels & cover) > 0).float()).mean()


def pick_frames(store: torch.Tensor, frames: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Rows `frames` [B] (on `device`) of a frame_store, on `device`."""
    return store[frames] if store.device == frames.device else store[frames.cpu()].to(device)


def initial_colors(renderer: FrameRenderer, frames: torch.Tensor) -> torch.Tensor:
    """Per-triangle colour [F, 3]: the image colour under each triangle's centre, averaged over the
    given frames where it faces the camera; the face's mean colour where it never does."""
    faces = renderer.rig.faces
    total = torch.zeros(len(faces), 3, device=renderer.device)
    count = torch.zeros(len(faces), device=renderer.device)
    s = renderer.data.size
    with torch.no_grad():
        for f in frames.split(8):
            verts = renderer.vertices(f)
            rot, _, centre = triangle_frames(verts, faces)
            normal = rot[..., 1]  # a1, the triangle normal
            cam_r, cam_t = renderer.w2c[f][:, :3, :3], renderer.w2c[f][:, :3, 3]
            to_cam = -(torch.einsum("bij,bj->bi", cam_r.transpose(1, 2), cam_t))[:, None] - centre
            facing = (normal * to_cam).sum(-1) > 0
            uv = project_points(centre, renderer.w2c[f], renderer.Ks[f]).round().long()
            inside = facing & (uv >= 0).all(-1) & (uv < s).all(-1)
            images = renderer.targets(f)
            in_video = renderer.inside(f)
            if in_video is not None:  # a centre on a crop's padding past the video's edge sees nothing
                inside &= in_video[torch.arange(len(f), device=uv.device)[:, None], uv[..., 1].clamp(0, s - 1), uv[..., 0].clamp(0, s - 1)]
            for b in range(len(f)):
                ids = inside[b].nonzero().squeeze(1)
                total[ids] += images[b, uv[b, ids, 1], uv[b, ids, 0]]
                count[ids] += 1
    seen = count > 0
    fallback = total[seen].sum(0) / count[seen].sum() if seen.any() else torch.full((3,), 0.5, device=renderer.device)
    return torch.where(seen[:, None], total / count.clamp_min(1)[:, None], fallback)


class GaussianFitter:
    """Runs the Gaussian stage: build or resume, iterate with checkpoints, evaluate, render."""

    def __init__(self, rig: Rig, data: TrackedFrames, train_frames: np.ndarray, cfg: OptimizeConfig, device: torch.device):
        self.rig, self.data, self.cfg, self.device = rig, data, cfg, device
        self.renderer = FrameRenderer(rig, data, device)
        self.train = torch.from_numpy(np.asarray(train_frames)).long().to(device)
        with torch.no_grad():
            labels = [
                region_labels(rig, self.renderer.vertices(f), self.renderer.w2c[f], self.renderer.Ks[f], data.size, data.size)
                for f in torch.arange(data.num_frames, device=device).split(64)
            ]
        self.labels = np.concatenate(labels)
        self.label_store = frame_store(self.labels, device)
        colors = initial_colors(self.renderer, self.train[torch.linspace(0, len(self.train) - 1, min(16, len(self.train))).round().long()])
        model = GaussianAvatarModel.on_triangles(len(rig.faces), 1, cfg.sh_degree, colors.cpu()).to(device)
        self.mouth = mouth_prior(rig) if cfg.mouth_prior_weight > 0 else None
        if self.mouth is not None:
            self.mouth = self.mouth.to(device)
            model = self.mouth.seed(model)
        smoothing = None
        if cfg.antialias:
            smoothing = triangle_footprints(self.renderer.vertices, rig.faces, self.renderer.w2c, self.renderer.Ks, self.train)
            if self.mouth is not None:  # the prior's Gaussians come from finer renders than these frames
                smoothing[self.mouth.interior] = 0.0
        background = None
        if data.masks is None:
            if data.background is not None and data.crop_boxes is not None:
                background = Background(data.background, data.crop_boxes)
            else:  # a folder without our background: a static image in the frames' own pixels
                pick = median_sample(data.num_frames)
                s = data.size
                background = Background(
                    median_background(data.images[pick], (self.labels[pick] & HEAD) > 0), np.tile([s / 2, s / 2, s], (data.num_frames, 1))
                )
        widths = {k: v.shape[1] for k, v in data.params.items()}
        self.state = FitState(model, background, data.num_frames, widths, smoothing).to(device)
        self.optimizer = self.state.build_optimizer()
        self.iteration = 0
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.densify_state = cfg.densify.initial_state(model)
        self.losses: list[float] = []
        self._unread_losses: list[torch.Tensor] = []  # read back in bulk: one host sync per read, not per step

    # ---------------------------------------------------------------- schedule
    def _set_lr(self) -> None:
        decay = 0.01 ** (self.iteration / max(self.cfg.iterations, 1))
        for group in self.optimizer.param_groups:
            if group["name"] == "xyz":
                group["lr"] = 4e-3 * decay

    # ---------------------------------------------------------------- one step
    def step(self) -> torch.Tensor:
        """One iteration; returns the loss (on the device: reading it would wait for the GPU)."""
        cfg = self.cfg
        pick = torch.randint(len(self.train), (cfg.batch,), generator=self.generator)
        frames = self.train[pick.to(self.device)]
        self._set_lr()
        world, priors = posed_with_priors(self.renderer, self.state, self.mouth, cfg.mouth_prior_weight, frames)
        rgb, alpha = self.renderer.render(self.state, frames, world)
        target = self.renderer.targets(frames)
        labels = pick_frames(self.label_store, frames, self.device)
        mask = self.renderer.mask(frames) if self.renderer.masks is not None else None
        loss = image_loss(cfg, self.renderer, self.state, frames, rgb, alpha, target, labels, mask, self.renderer.inside(frames)) + priors
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        m = self.state.model
        cfg.densify.after_backward(self.densify_state, m)
        self.optimizer.step()
        self.iteration += 1
        cfg.densify.after_step(self.densify_state, m, self.optimizer, self.iteration, cfg.iterations, self.generator)
        loss = loss.detach()
        self._unread_losses.append(loss)
        return loss

    def read_losses(self) -> list[float]:
        """Every step's loss so far (waits for the GPU to catch up)."""
        if self._unread_losses:
            self.losses.extend(torch.stack(self._unread_losses).tolist())
            self._unread_losses.clear()
        return self.losses

    # ---------------------------------------------------------------- run
    def run(self, checkpoint: Path | None = None, progress: bool = False) -> None:
        bar = tqdm(total=self.cfg.iterations, initial=self.iteration, desc="gaussians", unit="it", disable=not progress, dynamic_ncols=True)
        saved_at = time.monotonic()
        while self.iteration < self.cfg.iterations:
            self.step()
            bar.update(1)
            if self.iteration % 20 == 0:
                bar.set_postfix(loss=f"{self.read_losses()[-1]:.4f}", gaussians=self.state.model.num_gaussians, refresh=False)
            due = (
                self.iteration % self.cfg.checkpoint_every == 0
                or self.iteration == self.cfg.iterations
                or time.monotonic() - saved_at >= self.cfg.checkpoint_seconds
            )
            if checkpoint is not None and due:
                self.save_checkpoint(checkpoint)
                saved_at = time.monotonic()
        bar.close()

    def save_checkpoint(self, path: Path) -> None:
        m = self.state.model
        blob = {
            "iteration": self.iteration,
            "iterations": self.cfg.iterations,
            "model": {k: getattr(m, k).detach().cpu() for k in MODEL_ARRAYS},
            "state": {k: v.detach().cpu() for k, v in self.state.state_dict().items() if not k.startswith("model.")},
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "densify": {k: v.cpu() for k, v in self.densify_state.items()},
            "losses": self.read_losses(),
        }
        with atomic_path(path) as tmp:
            torch.save(blob, tmp)

    def load_checkpoint(self, path: Path) -> None:
        """Continue from `save_checkpoint`'s file (read with weights_only: no code in it can run)."""
        blob = load_torch_file(path, "fit checkpoint")
        try:
            model = GaussianAvatarModel(*(blob["model"][k] for k in MODEL_ARRAYS)).to(self.device)
            self.state.model = model
            self.state.load_state_dict({**blob["state"], **{f"model.{k}": v for k, v in blob["model"].items()}})
            self.optimizer = self.state.build_optimizer()
            self.optimizer.load_state_dict(blob["optimizer"])
            self.iteration = int(blob["iteration"])
            self.generator.set_state(blob["generator"])
            self.densify_state = {k: v.to(self.device) for k, v in blob["densify"].items()}
            self.losses = [float(x) for x in blob["losses"]]
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as exc:
            raise L2TError(f"{path} is not a checkpoint of this fit ({type(exc).__name__}); run without --resume") from None

    # ---------------------------------------------------------------- results
    def avatar_model(self) -> GaussianAvatarModel:
        """The fitted Gaussians as an avatar keeps them: a copy with the anti-aliasing filter baked in."""
        m = self.state.model
        model = GaussianAvatarModel(*(getattr(m, k).detach().clone() for k in MODEL_ARRAYS))
        if self.state.smoothing is not None:
            model.bake_smoothing(self.state.smoothing)
        return model

    @torch.no_grad()
    def evaluate(self, frames: np.ndarray, batch: int = 8) -> dict:
        """Mean PSNR and SSIM of the avatar over its background against the frames; PSNR by region
        of the tracked mesh (the face oval, the mouth, the grown head, and the background outside
        it), so a moving background is told apart from the avatar; and how solid the avatar is
        inside the tracked mesh's silhouette: its mean alpha there and the share of those pixels
        it leaves more than 10% see-through."""
        if len(frames) == 0:
            return {"frames": 0}
        regions = {"face": FACE, "mouth": MOUTH, "head": HEAD}
        p, s, by_region, alpha_sum, thin, area = [], [], {name: [] for name in [*regions, "background"]}, 0.0, 0.0, 0.0
        for f in torch.from_numpy(np.asarray(frames)).long().to(self.device).split(batch):
            rgb, alpha = self.renderer.render(self.state, f)
            pred, target = self.renderer.composite(self.state, f, rgb, alpha).clamp(0, 1), self.renderer.targets(f)
            inside = self.renderer.inside(f)  # the video's pixels only, not a crop's padding past its edge
            if inside is None:
                p.append(psnr(pred, target))
                s.append(ssim(pred, target))
                inside = torch.ones_like(alpha[..., 0], dtype=torch.bool)
            else:
                p.append(masked_psnr(pred, target, inside))
                s.append((ssim_map(pred, target) * inside).flatten(1).sum(1) / inside.flatten(1).sum(1).clamp_min(1))
            labels = pick_frames(self.label_store, f, self.device)
            for name, bit in regions.items():
                by_region[name].append(masked_psnr(pred, target, ((labels & bit) > 0) & inside))
            by_region["background"].append(masked_psnr(pred, target, ((labels & HEAD) == 0) & inside))
            solid = (labels & SOLID) > 0
            alpha_sum += float(alpha[..., 0][solid].sum())
            thin += float((alpha[..., 0][solid] < 0.9).sum())
            area += float(solid.sum())
        out = {"frames": len(frames), "psnr": float(torch.cat(p).nanmean()), "ssim": float(torch.cat(s).mean())}
        region_means = {name: torch.cat(values).nanmean() for name, values in by_region.items()}
        out["psnr_by_region"] = {name: float(v) for name, v in region_means.items() if not torch.isnan(v)}
        if area:
            out["silhouette"] = {"mean_alpha": alpha_sum / area, "see_through": thin / area}
        return out

    @torch.no_grad()
    def preview_frames(self, frames: np.ndarray | None = None, batch: int = 8) -> Iterator[np.ndarray]:
        """Side-by-side frames (default: every tracked frame): video | fit | avatar alone on white."""
        frames = np.arange(self.data.num_frames) if frames is None else np.asarray(frames)
        for f in torch.from_numpy(frames).long().to(self.device).split(batch):
            rgb, alpha = self.renderer.render(self.state, f)
            pred = self.renderer.composite(self.state, f, rgb, alpha)
            alone = rgb + (1 - alpha)
            row = torch.cat([self.renderer.targets(f), pred, alone], 2).clamp(0, 1)
            yield from (row * 255 + 0.5).to(torch.uint8).cpu().numpy()


def default_iterations(device: torch.device) -> int:
    """1500 iterations of 8 frames on CUDA (a step costs kernel launches more than pixels, so
    frames per step are cheap there); 300 of 1 frame on CPU."""
    return 1500 if device.type == "cuda" else 300


def heldout_split(num_frames: int, fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) frame indices: the last `fraction` of the frames are held out."""
    held = max(1, int(math.ceil(fraction * num_frames))) if num_frames > 1 else 0
    return np.arange(num_frames - held), np.arange(num_frames - held, num_frames)
