"""A vectorised z-buffer triangle rasterizer in PyTorch (CPU or CUDA, not differentiable).

Used to look at the rig (contact sheets, wireframe previews) and to make the coloured
target images the default avatar is optimised against. Triangles are grouped by the size
of their screen bounding box, and every candidate pixel of a group is tested at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from avatar.render.cameras import Camera

_MAX_CANDIDATES = 1 << 22  # pixels tested per chunk
_NEAR = 1e-3


@dataclass
class Fragments:
    face_index: torch.Tensor  # [..., H, W] long, -1 where no triangle covers the pixel
    bary: torch.Tensor  # [..., H, W, 3] perspective-correct barycentric coordinates
    depth: torch.Tensor  # [..., H, W] camera-space z, +inf on background


def rasterize(verts_cam: torch.Tensor, faces: torch.Tensor, camera: Camera) -> Fragments:
    """Rasterize camera-space vertices [V, 3] with faces [F, 3] into camera's image."""
    verts_cam = verts_cam.float()
    frags = rasterize_pixels(camera.project(verts_cam)[None], verts_cam[None, :, 2], faces, camera.height, camera.width)
    return Fragments(frags.face_index[0], frags.bary[0], frags.depth[0])


def rasterize_pixels(pix: torch.Tensor, depth: torch.Tensor, faces: torch.Tensor, height: int, width: int) -> Fragments:
    """Rasterize B projected meshes at once: pixel positions [B, V, 2] and camera-space depths
    [B, V] of each mesh's vertices, faces [F, 3]; fragments [B, H, W]."""
    h, w = height, width
    device = pix.device
    num_images, num_faces = pix.shape[0], faces.shape[0]
    tri_xy = pix.float()[:, faces].reshape(-1, 3, 2)  # [B*F, 3, 2]
    tri_z = depth.float()[:, faces].reshape(-1, 3)
    first_pixel = torch.arange(num_images, device=device).repeat_interleave(num_faces) * (h * w)  # each triangle's image
    # Pixel centres sit at i + 0.5: candidate columns ceil(min - .5) .. floor(max - .5).
    lo = torch.ceil(tri_xy.min(1).values - 0.5).long()
    hi = torch.floor(tri_xy.max(1).values - 0.5).long()
    lo[:, 0].clamp_(min=0)
    lo[:, 1].clamp_(min=0)
    hi[:, 0].clamp_(max=w - 1)
    hi[:, 1].clamp_(max=h - 1)
    extent = hi - lo + 1
    area = _edge(tri_xy[:, 0], tri_xy[:, 1], tri_xy[:, 2])
    ok = (tri_z > _NEAR).all(1) & (extent > 0).all(1) & (area.abs() > 1e-12)
    side = extent.max(1).values
    buckets = torch.where(ok, torch.ceil(torch.log2(side.clamp(min=1).float())).long(), torch.full_like(side, -1))

    cand_pix, cand_face, cand_bary, cand_depth = [], [], [], []
    for b in torch.unique(buckets).tolist():
        if b < 0:
            continue
        size = 1 << b
        ids = torch.nonzero(buckets == b).squeeze(1)
        oy, ox = torch.meshgrid(torch.arange(size, device=device), torch.arange(size, device=device), indexing="ij")
        offsets = torch.stack([ox.reshape(-1), oy.reshape(-1)], 1)  # [S*S, 2]
        per_chunk = max(1, _MAX_CANDIDATES // (size * size))
        for chunk in ids.split(per_chunk):
            px = lo[chunk, None, :] + offsets[None]  # [C, S*S, 2]
            inside_box = (offsets[None] < extent[chunk, None, :]).all(-1)
            centre = px.float() + 0.5
            a, b_, c = (tri_xy[chunk, k, None, :] for k in range(3))
            ar = area[chunk, None]
            l0 = _edge(b_, c, centre) / ar
            l1 = _edge(c, a, centre) / ar
            l2 = 1.0 - l0 - l1
            lam = torch.stack([l0, l1, l2], -1)  # [C, S*S, 3]
            inside = inside_box & (lam >= -1e-6).all(-1)
            if not inside.any():
                continue
            lam = lam[inside]
            tidx = chunk[:, None].expand_as(inside)[inside]
            inv_z = lam / tri_z[tidx]
            depth_here = 1.0 / inv_z.sum(-1)
            cand_bary.append(inv_z * depth_here[:, None])
            cand_depth.append(depth_here)
            cand_face.append(tidx)
            p = px[inside]
            cand_pix.append(first_pixel[tidx] + p[:, 1] * w + p[:, 0])

    total = num_images * h * w
    face_index = torch.full((total,), -1, dtype=torch.long, device=device)
    bary = torch.zeros(total, 3, device=device)
    zbuf = torch.full((total,), float("inf"), device=device)
    if cand_pix:
        pix_all, depth_all = torch.cat(cand_pix), torch.cat(cand_depth)
        zbuf.scatter_reduce_(0, pix_all, depth_all, reduce="amin")
        win = depth_all <= zbuf[pix_all]
        face_index[pix_all[win]] = torch.cat(cand_face)[win] % num_faces
        bary[pix_all[win]] = torch.cat(cand_bary)[win]
    return Fragments(face_index.view(num_images, h, w), bary.view(num_images, h, w, 3), zbuf.view(num_images, h, w))


def _edge(a: torch.Tensor, b: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Twice the signed area of (a, b, p) for [..., 2] points."""
    return (b[..., 0] - a[..., 0]) * (p[..., 1] - a[..., 1]) - (b[..., 1] - a[..., 1]) * (p[..., 0] - a[..., 0])


def vertex_normals(verts: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Area-weighted unit vertex normals [V, 3]."""
    v0, v1, v2 = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    fn = torch.linalg.cross(v1 - v0, v2 - v0)
    normals = torch.zeros_like(verts).index_add_(0, faces.reshape(-1), fn.repeat_interleave(3, 0))
    return torch.nn.functional.normalize(normals, dim=-1)


def shade_mesh(
    verts: torch.Tensor,  # [V, 3] world space
    faces: torch.Tensor,  # [F, 3]
    colors: torch.Tensor,  # [V, 3] in [0, 1]
    camera: Camera,
    background=(1.0, 1.0, 1.0),
    ambient: float = 0.35,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Render a vertex-coloured mesh with a head-light: (rgb [H, W, 3], mask [H, W])."""
    frags = rasterize(camera.transform(verts), faces, camera)
    mask = frags.face_index >= 0
    fi = frags.face_index.clamp(min=0)
    corners = faces[fi]  # [H, W, 3]
    w = frags.bary[..., None]
    normal = torch.nn.functional.normalize((vertex_normals(verts, faces)[corners] * w).sum(-2), dim=-1)
    color = (colors.float()[corners] * w).sum(-2)
    to_cam = torch.nn.functional.normalize(camera.position.to(verts.dtype) - (verts[corners] * w).sum(-2), dim=-1)
    lambert = (normal * to_cam).sum(-1).abs()
    rgb = color * (ambient + (1 - ambient) * lambert)[..., None]
    bg = torch.tensor(background, dtype=rgb.dtype, device=rgb.device)
    return torch.where(mask[..., None], rgb, bg), mask
