"""An avatar as browser splats: posed on the server's CPU each frame, sent in chunks that move
together, so that an update carries only the parts of the face that moved.

Posing in closed form: a Gaussian with local mean mu and covariance S (from its local rotation
and scale) on a triangle with frame R, scale k and centre T sits at k R mu + T with covariance
k^2 R S R^T. The head's global rotation and translation are rigid (a rotation about the root
joint), so they travel as the transform of the scene node, not as Gaussians.

Chunks: the Gaussians that expressions, jaw and eyes can move are cut into horizontal bands
(brows, eyes, nose, lips, chin...); everything else is one chunk that changes only with neck or
identity. A chunk is sent when one of its vertices moved more than ``tolerance`` since it was
last sent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from avatar.avatar import Avatar
from avatar.gaussians import SH_C0, triangle_frames
from avatar.rig.rotations import matrix_to_quaternion, quaternion_to_matrix, to_rotation_matrix

RIGID_KEYS = ("rotation", "translation")
BYTES_PER_SPLAT = 32  # viser's packed layout: centre, covariance (fp16), rgba


def to_uint8(values: np.ndarray) -> np.ndarray:
    """[0, 1] -> 0..255."""
    return np.clip(np.round(np.asarray(values, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)


@dataclass
class PosedSplats:
    """One frame: the head's rigid transform and its local pose (before that transform)."""

    wxyz: np.ndarray  # [4] head rotation
    position: np.ndarray  # [3] head translation (rotation about the root joint folded in)
    vertices: torch.Tensor  # [V, 3] posed mesh, head-local


@dataclass
class Chunk:
    gaussians: np.ndarray  # indices into the avatar's Gaussians
    vertices: np.ndarray  # the mesh vertices those Gaussians ride on
    faces: torch.Tensor  # [f, 3] the triangles they are bound to
    slot: torch.Tensor  # [n] each Gaussian's row in `faces`
    rgba: np.ndarray  # [n] colour and opacity, packed as viser sends them
    local_means: torch.Tensor  # [n, 3] in their triangles' frames
    local_covariances: torch.Tensor  # [n, 3, 3]


class SplatPoser:
    """Poses one avatar's Gaussians for the browser, chunk by chunk."""

    def __init__(self, avatar: Avatar, bands: int = 8, tolerance: float = 1e-5):
        self.avatar = avatar
        self.tolerance = tolerance
        model = avatar.model
        with torch.no_grad():
            self.binding = model.binding.cpu()
            self.local_means = model.xyz.detach().float().cpu()
            local_rot = quaternion_to_matrix(model.rotations.detach().float().cpu())
            variances = torch.exp(2 * model.log_scales.detach().float().cpu())
            self.local_covariances = local_rot @ torch.diag_embed(variances) @ local_rot.transpose(-1, -2)
            rgb = (SH_C0 * model.sh.detach()[:, 0].float().cpu() + 0.5).clamp(0, 1)
            self.rgbs = rgb.numpy().astype(np.float32)
            self.opacities = torch.sigmoid(model.opacity_logits.detach().float().cpu())[:, None].numpy()
            self.faces = avatar.rig.faces.cpu()
            self.chunks = self._make_chunks(bands)

    @property
    def num_gaussians(self) -> int:
        return int(self.binding.shape[0])

    # ------------------------------------------------------------ posing
    @torch.no_grad()
    def pose(self, params: dict[str, torch.Tensor], shape: torch.Tensor | None = None) -> PosedSplats:
        """Pose the rig for one frame: params name -> [D] (any of the Motion keys), shape [S]
        (identity coefficients; default the avatar's own)."""
        avatar, rig = self.avatar, self.avatar.rig
        local = {k: v[None].float().to(avatar.device) for k, v in params.items() if k not in RIGID_KEYS}
        shape = avatar.shape if shape is None else shape.float().to(avatar.device)
        out = rig(shape=shape[None] if shape.numel() else None, vertex_offsets=avatar.vertex_offsets, batch_size=1, **local)
        vertices, root = out.vertices[0].float().cpu(), out.joints[0, 0].float().cpu()
        rotation = params.get("rotation")
        rot = to_rotation_matrix(rotation[None].float().cpu())[0] if rotation is not None else torch.eye(3)
        position = root - rot @ root
        if params.get("translation") is not None:
            position = position + params["translation"].float().cpu()
        return PosedSplats(matrix_to_quaternion(rot).numpy().astype(np.float64), position.numpy().astype(np.float64), vertices)

    def chunk(self, index: np.ndarray) -> Chunk:
        """A chunk of Gaussians `index`, with what posing and packing them needs."""
        index = np.sort(np.asarray(index))
        rows = torch.from_numpy(index)
        needed, slot = torch.unique(self.binding[rows], return_inverse=True)
        faces = self.faces[needed]
        rgba = np.concatenate([to_uint8(self.rgbs[index]), to_uint8(self.opacities[index])], axis=1)
        return Chunk(
            index,
            np.unique(faces.numpy()),
            faces,
            slot,
            np.ascontiguousarray(rgba).view(np.uint32)[:, 0],
            self.local_means[rows],
            self.local_covariances[rows],
        )

    @torch.no_grad()
    def geometry(self, vertices: torch.Tensor, chunk: Chunk) -> tuple[torch.Tensor, torch.Tensor]:
        """Centres [n, 3] and covariances [n, 3, 3] of a chunk's Gaussians on a posed mesh [V, 3]."""
        rot, k, centre = triangle_frames(vertices, chunk.faces)
        rot, k, centre = rot[chunk.slot], k[chunk.slot], centre[chunk.slot]
        means = k[:, None] * (rot @ chunk.local_means[:, :, None])[..., 0] + centre
        cov = (k**2)[:, None, None] * (rot @ chunk.local_covariances @ rot.transpose(-1, -2))
        return means, cov

    @torch.no_grad()
    def pack(self, vertices: torch.Tensor, chunk: Chunk) -> np.ndarray:
        """A chunk posed on a mesh, in viser's splat buffer layout ([n, 8] uint32: centre as
        float32, a reserved word, the covariance's upper triangle as float16, RGBA).

        Packing here in torch is several times faster than handing float32 covariances to
        viser's set_gaussians, whose float16 conversion dominated the update."""
        means, cov = self.geometry(vertices, chunk)
        n = len(chunk.gaussians)
        buffer = torch.zeros(n, 8, dtype=torch.int32)
        buffer[:, 0:3] = means.float().contiguous().view(torch.int32)
        triu = cov.reshape(n, 9)[:, [0, 1, 2, 4, 5, 8]].to(torch.float16).contiguous()
        buffer[:, 4:7] = triu.view(torch.int32)
        out = buffer.numpy().view(np.uint32)
        out[:, 7] = chunk.rgba
        return out

    # ------------------------------------------------------------ chunks
    def _make_chunks(self, bands: int) -> list[Chunk]:
        """The rest of the head, then `bands` horizontal slices of what the face rig moves."""
        moving_vertices = self._moving_vertices()
        moving_faces = moving_vertices[self.faces].any(-1)
        moving = moving_faces[self.binding].numpy()
        rest_pose = self.avatar.neutral_vertices()[0].detach().float().cpu()
        centres = triangle_frames(rest_pose, self.faces)[2][self.binding].numpy()
        chunks = [np.flatnonzero(~moving)]
        face = np.flatnonzero(moving)
        if len(face):
            order = face[np.argsort(centres[face, 1], kind="stable")]
            chunks += [part for part in np.array_split(order, min(bands, len(order)))]
        return [self.chunk(g) for g in chunks if len(g)]

    def _moving_vertices(self) -> torch.Tensor:
        """Vertices that expressions, jaw or eyes move (found by posing a few random faces)."""
        rig = self.avatar.rig
        base = rig(batch_size=1).vertices[0]
        gen = torch.Generator().manual_seed(0)
        moved = torch.zeros(rig.num_vertices, dtype=torch.bool)
        for _ in range(3):
            pose = {"expression": torch.randn(1, rig.num_expressions, generator=gen), "jaw": 0.3 * torch.randn(1, 3, generator=gen)}
            if rig.num_joints >= 5:
                pose["eyes"] = 0.3 * torch.randn(1, 6, generator=gen)
            pose = {k: v.to(base.device) for k, v in pose.items()}
            moved |= ((rig(**pose).vertices[0] - base).abs().amax(-1) > 1e-7).cpu()
        return moved


class ChunkTracker:
    """Which chunks changed since they were last sent."""

    def __init__(self, poser: SplatPoser):
        self.poser = poser
        self.sent: list[torch.Tensor | None] = [None] * len(poser.chunks)

    def reset(self) -> None:
        self.sent = [None] * len(self.poser.chunks)

    def dirty(self, vertices: torch.Tensor) -> list[int]:
        """Chunks whose vertices moved more than the poser's tolerance; marks them sent."""
        out = []
        for i, chunk in enumerate(self.poser.chunks):
            now = vertices[chunk.vertices]
            last = self.sent[i]
            if last is None or float((now - last).abs().max()) > self.poser.tolerance:
                self.sent[i] = now.clone()
                out.append(i)
        return out


class SplatNodes:
    """An avatar in a viser scene: a frame node carrying the head's rigid motion, one splat node
    per chunk under it, and an optional wireframe of the mesh."""

    def __init__(self, scene, poser: SplatPoser, root: str = "/avatar", wireframe: bool = False):
        self.poser, self.tracker = poser, ChunkTracker(poser)
        self.root = scene.add_frame(root, show_axes=False)
        self.chunks = []
        for i, chunk in enumerate(poser.chunks):
            n = len(chunk.gaussians)
            handle = scene.add_gaussian_splats(
                f"{root}/splats_{i}",
                centers=np.zeros((n, 3), np.float32),
                covariances=np.zeros((n, 3, 3), np.float32),
                rgbs=poser.rgbs[chunk.gaussians],
                opacities=poser.opacities[chunk.gaussians],
            )
            self.chunks.append(handle)
        faces = poser.faces.numpy()
        self.wire = scene.add_mesh_simple(
            f"{root}/wireframe",
            np.zeros((int(faces.max()) + 1, 3), np.float32),
            faces,
            color=(40, 90, 200),
            wireframe=True,
            visible=wireframe,
        )

    def show(self, posed: PosedSplats, wireframe: bool = False) -> int:
        """Send a pose: the transform, the chunks that moved, the wireframe if shown. Returns splat bytes sent."""
        sent = 0
        self.root.wxyz, self.root.position = posed.wxyz, posed.position
        for i in self.tracker.dirty(posed.vertices):
            chunk = self.poser.chunks[i]
            self.chunks[i].buffer = self.poser.pack(posed.vertices, chunk)
            sent += len(chunk.gaussians) * BYTES_PER_SPLAT
        self.wire.visible = wireframe
        if wireframe:
            self.wire.vertices = posed.vertices.numpy()
        return sent

    def set_visible(self, visible: bool) -> None:
        for handle in self.chunks:
            handle.visible = visible

    def remove(self) -> None:
        for handle in (*self.chunks, self.wire, self.root):
            handle.remove()
