"""Tracking the rig to face landmarks over a whole video, batched over frames.

What is solved: one camera focal length and one identity (shape coefficients plus smooth
per-vertex static offsets) shared by all frames, and per frame the global rotation and
translation, neck, jaw, eyes and expression. The data term is the reprojection error of
the rig's 478 landmarks (1:1 with MediaPipe's on l2t-head; through the rig's landmark
embedding on FLAME) against the detected ones, normalised by the face size, with extra
weight on the lips and eyes. Temporal smoothness and small priors keep it well posed.

World and camera: the camera sits at the origin looking down -z with +y up (OpenGL axes, so
a frontal head has rotation ~0); in OpenCV terms its world_to_cam is diag(1, -1, -1).
MediaPipe's head transform (canonical face -> camera, OpenGL axes) seeds the rotation and
its blendshape scores seed the expressions the rig names the same way.
"""

from __future__ import annotations

import functools
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from avatar.errors import L2TError
from avatar.fit.graphed_step import GraphedStep
from avatar.io.atomic import atomic_path
from avatar.io.torch_file import load_torch_file
from avatar.render.cameras import pinhole_intrinsics, project_points
from avatar.rig import mediapipe_topology as mp
from avatar.rig.landmark_rig import LandmarkRig
from avatar.rig.model import Rig
from avatar.rig.rotations import matrix_to_axis_angle

TRACKING_VIEW = torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0]))


@dataclass(frozen=True)
class TrackingConfig:
    """The tracking recipe: steps, seeds, the weights of every term and the learning rates.

    Two stages: ``rigid`` (head rotation and translation only) and ``track`` (every per-frame
    parameter plus the shared identity, vertex offsets and focal length). Learning rates decay
    to ``lr_decay`` of their start over each stage."""

    rigid_steps: int = 150
    steps: int = 450
    checkpoint_seconds: float = 60.0  # with a checkpoint file: saved this often (a kill loses at most this)
    initial_fov_deg: float = 35.0  # horizontal field of view the focal length starts from
    jaw_per_jaw_open: float = 0.3  # radians of jaw rotation for MediaPipe's jawOpen = 1
    offset_smoothing_steps: int = 12  # neighbour averagings of the free vertex offsets
    # temporal smoothness between consecutive frames
    smooth_rotation: float = 1e-4
    smooth_translation: float = 1e-4  # on translation / face width
    smooth_jaw: float = 1e-4
    smooth_expression: float = 2e-5
    smooth_eyes: float = 1e-5
    # priors towards rest
    prior_expression: float = 1e-5
    prior_neck: float = 1e-4
    prior_eyes: float = 1e-5
    prior_shape: float = 1e-5
    prior_offsets: float = 1e-1  # on offsets / face width
    prior_lip_gap: float = 10.0  # on how far the offsets part the inner lips at rest / face width (MediaPipe layout only)
    prior_focal: float = 1e-4  # on log focal length from its start
    # learning rates
    lr_rigid_rotation: float = 1e-2
    lr_rigid_translation: float = 2e-3
    lr_pose: float = 5e-3  # rotation, neck, jaw, eyes
    lr_translation: float = 1e-3
    lr_expression: float = 2e-2
    lr_shape: float = 2e-2
    lr_offsets: float = 2e-3
    lr_focal: float = 5e-3
    lr_decay: float = 0.1
    cuda_graph: bool = True  # on CUDA, replay each stage's step as one captured graph (avatar/fit/graphed_step.py)


@dataclass
class TrackedSequence:
    """Shared identity and camera, and rig parameters per tracked frame."""

    frame_indices: np.ndarray  # [N] video frame of each tracked frame
    params: dict[str, torch.Tensor]  # rotation, translation, neck, jaw, eyes, expression -> [N, D]
    shape: torch.Tensor  # [S]
    vertex_offsets: torch.Tensor  # [V, 3]
    K: torch.Tensor  # [3, 3] intrinsics of the (possibly downscaled) video frame
    image_size: tuple[int, int]  # (width, height) of the frame K belongs to
    fps: float
    landmark_error_px: np.ndarray  # [N] mean landmark reprojection error per frame, pixels

    def vertices(self, rig: Rig, frames: torch.Tensor | slice | None = None) -> torch.Tensor:
        """Posed vertices [n, V, 3] of the chosen frames (world space as documented above)."""
        frames = slice(None) if frames is None else frames
        params = {k: v[frames].to(rig.v_template.device) for k, v in self.params.items()}
        n = params["rotation"].shape[0]
        return rig(
            shape=self.shape.to(rig.v_template.device)[None].expand(n, -1),
            vertex_offsets=self.vertex_offsets.to(rig.v_template.device),
            batch_size=n,
            **params,
        ).vertices


def landmark_weights(num_landmarks: int) -> torch.Tensor:
    """Per-landmark weights: lips x3, eyelids and irises x2, the face outline x0.5."""
    w = torch.ones(num_landmarks)
    if num_landmarks != mp.NUM_LANDMARKS:
        return w
    lips = mp.LIPS_INNER_UPPER + mp.LIPS_INNER_LOWER + mp.LIPS_OUTER_UPPER + mp.LIPS_OUTER_LOWER
    eyes = mp.LEFT_EYE_UPPER + mp.LEFT_EYE_LOWER + mp.RIGHT_EYE_UPPER + mp.RIGHT_EYE_LOWER + mp.LEFT_IRIS + mp.RIGHT_IRIS
    w[list(mp.FACE_OVAL)] = 0.5
    w[list(eyes)] = 2.0
    w[list(lips)] = 3.0
    return w


class _SparseProduct(torch.autograd.Function):
    """``matrix @ x`` whose backward uses a transpose made once (torch re-transposes a sparse
    matrix on every backward pass, ten times the product's own cost)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, matrix: torch.Tensor, transposed: torch.Tensor) -> torch.Tensor:
        ctx.transposed = transposed
        return matrix @ x

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return ctx.transposed @ grad, None, None


class VertexSmoother:
    """Averaging over each vertex and its mesh neighbours (a sparse [V, V] matrix, rows sum to 1)."""

    def __init__(self, faces: torch.Tensor, num_vertices: int):
        edges = torch.cat([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
        edges = torch.cat([edges, edges.flip(1), torch.arange(num_vertices, device=faces.device)[:, None].expand(-1, 2)])
        edges = torch.unique(edges, dim=0)
        degree = torch.bincount(edges[:, 0], minlength=num_vertices).float()
        values = 1.0 / degree[edges[:, 0]]
        with warnings.catch_warnings():  # torch flags CSR as beta; the product we use is long supported
            warnings.simplefilter("ignore", UserWarning)
            coo = torch.sparse_coo_tensor(edges.T, values, (num_vertices, num_vertices), check_invariants=False).coalesce()
            self.matrix = coo.to_sparse_csr()
            self.transposed = coo.t().coalesce().to_sparse_csr()

    def __call__(self, x: torch.Tensor, steps: int = 1) -> torch.Tensor:
        """`x` [V, C] averaged `steps` times."""
        for _ in range(steps):
            x = _SparseProduct.apply(x, self.matrix, self.transposed)
        return x


def expression_seed(rig: Rig, blendshapes: np.ndarray, names: list[str]) -> torch.Tensor:
    """[N, E] expression coefficients from MediaPipe blendshape scores with matching names."""
    seed = torch.zeros(len(blendshapes), rig.num_expressions)
    lookup = {n: i for i, n in enumerate(names)}
    for e, name in enumerate(rig.data.expression_names):
        mp_name = name.replace("_L", "Left").replace("_R", "Right")
        if mp_name in lookup:
            seed[:, e] = torch.from_numpy(blendshapes[:, lookup[mp_name]]).float()
    return seed


def _seed_rotation(head_transforms: np.ndarray) -> torch.Tensor:
    """Axis-angle [N, 3] from MediaPipe's transforms (rotation part, re-orthonormalised)."""
    m = torch.from_numpy(head_transforms[:, :3, :3]).double()
    u, _, vh = torch.linalg.svd(m)
    r = u @ vh
    r = torch.where(torch.det(r)[:, None, None] < 0, u @ torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=r.dtype)) @ vh, r)
    return matrix_to_axis_angle(r).float()


def track_sequence(
    rig: Rig,
    landmarks: np.ndarray,  # [N, L, 2+] pixel landmarks of the tracked frames
    image_size: tuple[int, int],
    frame_indices: np.ndarray,
    fps: float,
    blendshapes: np.ndarray | None = None,
    blendshape_names: list[str] | None = None,
    head_transforms: np.ndarray | None = None,
    cfg: TrackingConfig = TrackingConfig(),
    progress: bool = False,
    checkpoint: Path | None = None,
) -> TrackedSequence:
    """Fit the rig to landmarks of every frame at once (on the rig's device).

    With `checkpoint`, the solve is saved there every `cfg.checkpoint_seconds` and continued
    from it when the file exists (an interrupted fit's --resume loses at most that long)."""
    dev = rig.v_template.device
    n = len(landmarks)
    width, height = image_size
    target = torch.from_numpy(np.asarray(landmarks)[..., :2]).float().to(dev)
    face_size = (target.amax(1) - target.amin(1)).norm(dim=-1).clamp_min(1.0)  # [N] bounding-box diagonal, px
    weights = landmark_weights(target.shape[1]).to(dev)
    view = TRACKING_VIEW.to(dev)

    f0 = 0.5 * width / math.tan(math.radians(cfg.initial_fov_deg) / 2)
    log_focal = torch.tensor(math.log(f0), device=dev, requires_grad=True)

    def intrinsics() -> torch.Tensor:
        return pinhole_intrinsics(log_focal.exp(), width, height)

    # Seeds: depth from the face's width, position from the landmarks' centre.
    rest = rig.landmarks(rig.v_template[None])[0]
    rest_width = float(rest[:, 0].max() - rest[:, 0].min())
    depth = f0 * rest_width / (target[..., 0].amax(1) - target[..., 0].amin(1)).clamp_min(1.0)
    centre = target.mean(1)
    translation = torch.stack([(centre[:, 0] - width / 2) * depth / f0, -(centre[:, 1] - height / 2) * depth / f0, -depth], -1) - rest.mean(
        0
    )
    p = {
        "rotation": _seed_rotation(head_transforms).to(dev) if head_transforms is not None else torch.zeros(n, 3, device=dev),
        "translation": translation,
        "neck": torch.zeros(n, 3, device=dev),
        "jaw": torch.zeros(n, 3, device=dev),
        "eyes": torch.zeros(n, 6, device=dev),
        "expression": torch.zeros(n, rig.num_expressions, device=dev),
    }
    if blendshapes is not None and blendshape_names:
        p["expression"] = expression_seed(rig, blendshapes, blendshape_names).to(dev)
        if "jawOpen" in blendshape_names:
            p["jaw"][:, 0] = cfg.jaw_per_jaw_open * torch.from_numpy(blendshapes[:, blendshape_names.index("jawOpen")]).float().to(dev)
    p = {k: v.clone().requires_grad_(True) for k, v in p.items()}
    shape = torch.zeros(rig.num_shapes, device=dev, requires_grad=True)
    free_offsets = torch.zeros(rig.num_vertices, 3, device=dev, requires_grad=True)
    smoother = VertexSmoother(rig.faces, rig.num_vertices)
    landmark_rig = LandmarkRig(rig)
    # Frames next to each other in the video are smoothed; across a dropped stretch they are not.
    consecutive = torch.from_numpy(np.diff(frame_indices) == 1).float().to(dev)

    full_layout = rig.landmark_faces.numel() == mp.NUM_LANDMARKS

    def offsets() -> torch.Tensor:
        return smoother(free_offsets, cfg.offset_smoothing_steps)

    def loss_terms(with_identity: bool, offs: torch.Tensor | None):
        """(the loss, each frame's landmark error), with the identity's vertex offsets `offs` when solved."""
        uv = project_points(landmark_rig(shape=shape[None].expand(n, -1), vertex_offsets=offs, **p), view, intrinsics())
        err = ((uv - target) / face_size[:, None, None]).square().sum(-1)  # [N, L]
        per_frame = (err * weights).sum(1) / weights.sum()
        data = per_frame.mean()

        def smooth(x: torch.Tensor) -> torch.Tensor:
            if len(x) < 2:
                return x.sum() * 0
            return ((x[1:] - x[:-1]).square().sum(-1) * consecutive).mean()

        def prior(x: torch.Tensor) -> torch.Tensor:
            return x.square().sum(-1).mean()

        reg = (
            cfg.smooth_rotation * smooth(p["rotation"])
            + cfg.smooth_translation * smooth(p["translation"] / rest_width)
            + cfg.smooth_jaw * smooth(p["jaw"])
            + cfg.smooth_expression * smooth(p["expression"])
            + cfg.smooth_eyes * smooth(p["eyes"])
        )
        reg = reg + cfg.prior_expression * prior(p["expression"]) + cfg.prior_neck * prior(p["neck"]) + cfg.prior_eyes * prior(p["eyes"])
        if with_identity:
            reg = reg + cfg.prior_shape * shape.square().sum() + cfg.prior_offsets * prior(offs / rest_width)
            if full_layout:
                reg = reg + cfg.prior_lip_gap * prior(lip_gap(rig, offs) / rest_width)
            reg = reg + cfg.prior_focal * (log_focal - math.log(f0)).square()
        return data + reg, per_frame

    stages = [
        (
            "rigid",
            cfg.rigid_steps,
            [{"params": [p["rotation"]], "lr": cfg.lr_rigid_rotation}, {"params": [p["translation"]], "lr": cfg.lr_rigid_translation}],
            False,
        ),
        (
            "track",
            cfg.steps,
            [
                {"params": [p["rotation"], p["neck"], p["jaw"], p["eyes"]], "lr": cfg.lr_pose},
                {"params": [p["translation"]], "lr": cfg.lr_translation},
                {"params": [p["expression"]], "lr": cfg.lr_expression},
                {"params": [shape], "lr": cfg.lr_shape},
                {"params": [free_offsets], "lr": cfg.lr_offsets},
                {"params": [log_focal], "lr": cfg.lr_focal},
            ],
            True,
        ),
    ]
    variables = {**p, "shape": shape, "free_offsets": free_offsets, "log_focal": log_focal}
    resumed = _read_tracking_checkpoint(checkpoint, variables) if checkpoint is not None and checkpoint.is_file() else None
    start_stage, start_step = (resumed["stage"], resumed["step"]) if resumed else (0, 0)
    done = sum(count for _, count, _, _ in stages[:start_stage]) + start_step
    bar = tqdm(total=cfg.rigid_steps + cfg.steps, initial=done, desc="tracking", unit="step", disable=not progress, dynamic_ncols=True)
    saved_at = time.monotonic()
    for stage, (_, count, groups, with_identity) in enumerate(stages):
        if stage < start_stage:
            continue
        on_cuda = dev.type == "cuda"
        opt = torch.optim.Adam(groups, fused=on_cuda, capturable=on_cuda)  # fused: one kernel a group
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i, c=count: cfg.lr_decay ** (i / max(c, 1)))
        first = 0
        if resumed and stage == start_stage:
            opt.load_state_dict(resumed["optimizer"])
            sched.load_state_dict(resumed["scheduler"])
            for group in opt.param_groups:  # a graphed run saves its learning rates as tensors
                group["lr"] = float(group["lr"])
            first = start_step
        trainer = GraphedStep(lambda w=with_identity: loss_terms(w, offsets() if w else None)[0], opt, use_graph=on_cuda and cfg.cuda_graph)
        for step in range(first, count):
            loss = trainer.step()
            sched.step()
            bar.update(1)
            if step % 20 == 0:  # reading the loss waits for the GPU: not every step
                bar.set_postfix(loss=f"{loss.item():.2e}", refresh=False)
            if checkpoint is not None and time.monotonic() - saved_at >= cfg.checkpoint_seconds:
                _write_tracking_checkpoint(checkpoint, variables, stage, step + 1, opt, sched)
                saved_at = time.monotonic()
    bar.close()
    with torch.no_grad():
        _, per_frame = loss_terms(True, offsets())
        error_px = (per_frame.sqrt() * face_size).cpu().numpy()
        return TrackedSequence(
            frame_indices=np.asarray(frame_indices),
            params={k: v.detach().clone() for k, v in p.items()},
            shape=shape.detach().clone(),
            vertex_offsets=offsets().detach().clone(),
            K=intrinsics().detach().clone(),
            image_size=(width, height),
            fps=fps,
            landmark_error_px=error_px,
        )


def _write_tracking_checkpoint(path: Path, variables: dict[str, torch.Tensor], stage: int, step: int, opt, sched) -> None:
    blob = {
        "stage": stage,
        "step": step,
        "variables": {k: v.detach().cpu() for k, v in variables.items()},
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
    }
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)


def _read_tracking_checkpoint(path: Path, variables: dict[str, torch.Tensor]) -> dict:
    """Restore the solved variables in place; the stage, step and optimiser state to go on from."""
    blob = load_torch_file(path, "tracking checkpoint")
    try:
        saved = blob["variables"]
        if set(saved) != set(variables) or any(saved[k].shape != v.shape for k, v in variables.items()):
            raise ValueError("other variables")
        with torch.no_grad():
            for k, v in variables.items():
                v.copy_(saved[k].to(v.device))
        return {"stage": int(blob["stage"]), "step": int(blob["step"]), "optimizer": blob["optimizer"], "scheduler": blob["scheduler"]}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise L2TError(f"{path} is not a tracking checkpoint of this video ({exc}); run without --resume") from None


def lip_gap(rig: Rig, vertex_offsets: torch.Tensor) -> torch.Tensor:
    """How far vertex offsets [V, 3] move each inner upper-lip landmark from its lower partner: [9, 3].
    Tracking keeps it near zero, so a person who talks with the mouth open most of the time is tracked
    with an open jaw, not with an identity whose lips are parted at rest (the avatar could not close them)."""
    at_landmarks = rig.landmarks(vertex_offsets[None])[0]
    upper, lower = _inner_lip_pairs(vertex_offsets.device)
    return at_landmarks[upper] - at_landmarks[lower]


@functools.cache
def _inner_lip_pairs(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the inner upper-lip landmarks and their lower partners, made once per device
    (an index made from a list inside a captured CUDA graph would be a host copy)."""
    upper, lower = mp.LIPS_INNER_UPPER[1:-1], mp.LIPS_INNER_LOWER[1:-1]
    return torch.tensor(list(upper), device=device), torch.tensor(list(lower), device=device)
