"""Make the built-in default avatar: `python -m avatar.default_avatar [--device cuda]`.

Gaussians (two per triangle of l2t-head) are optimised against renders of the rig's
procedurally coloured mesh (skin, lips, hair, teeth, mouth, eyes, with the face's painted
detail, face_detail.py, and soft shading baked into the colours), over random jaw openings, expressions and views, so the mouth interior
and the eyes are learned as well as the face. No video is involved.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from avatar.avatar import Avatar
from avatar.device import resolve_device
from avatar.gaussians import GaussianAvatarModel
from avatar.io.avatar_folder import DEFAULT_AVATAR_DIR, load_avatar, save_avatar
from avatar.render.cameras import frame_head, orbit_camera
from avatar.render.gaussian import render_gaussians
from avatar.render.mesh_raster import shade_mesh, vertex_normals
from avatar.rig import L2T_HEAD_PATH, load_rig
from avatar.rig.colors import rig_vertex_colors
from avatar.rig.face_detail import paint_face_detail

KEY_LIGHT = (0.35, 0.55, 1.0)


def baked_colors(rig) -> torch.Tensor:
    """Albedo (with the face's painted detail) times soft key-light shading on the rest pose: [V, 3]."""
    albedo = torch.from_numpy(paint_face_detail(rig.data, rig_vertex_colors(rig.data)))
    normals = vertex_normals(rig.v_template.cpu(), rig.faces.cpu())
    light = torch.nn.functional.normalize(torch.tensor(KEY_LIGHT), dim=0)
    return albedo * (0.62 + 0.38 * (normals @ light).clamp(min=0))[:, None]


def random_pose(rig, gen: torch.Generator, device) -> dict:
    """Jaw open half of the time, one random expression half of the time."""
    jaw = torch.zeros(1, 3)
    if torch.rand(1, generator=gen) < 0.5:
        jaw[0, 0] = 0.3 * torch.rand(1, generator=gen)
    expr = torch.zeros(1, rig.num_expressions)
    if torch.rand(1, generator=gen) < 0.5:
        expr[0, torch.randint(rig.num_expressions, (1,), generator=gen)] = torch.rand(1, generator=gen)
    return {"jaw": jaw.to(device), "expression": expr.to(device)}


def random_camera(target, distance, size, gen: torch.Generator):
    yaw = float(torch.empty(1).uniform_(-75, 75, generator=gen))
    pitch = float(torch.empty(1).uniform_(-25, 30, generator=gen))
    return orbit_camera(target, distance * float(torch.empty(1).uniform_(0.8, 1.1, generator=gen)), yaw, pitch, 20.0, size, size)


def build_default_avatar(
    iterations: int = 1500,
    size: int = 192,
    per_face: int = 2,
    sh_degree: int = 1,
    device="cpu",
    seed: int = 0,
    progress: bool = True,
    init: GaussianAvatarModel | None = None,
) -> tuple[Avatar, dict]:
    """Optimise the default avatar; returns it and a report (losses, PSNR on held-out views).
    init: start from these Gaussians (an earlier default avatar's) instead of fresh ones on the triangles."""
    device = torch.device(device)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    rig = load_rig(L2T_HEAD_PATH, device=device)
    faces = rig.faces
    colors = baked_colors(rig).to(device)
    if init is None:
        model = GaussianAvatarModel.on_triangles(len(faces), per_face, sh_degree, colors.cpu()[faces.cpu()].mean(1)).to(device)
    else:
        model = copy.deepcopy(init).to(device).requires_grad_(True)
        sh_degree = model.sh_degree
    target, distance = frame_head(rig.v_template[rig.region("face")])
    opt = torch.optim.Adam(
        [
            {"params": [model.xyz], "lr": 4e-3},
            {"params": [model.log_scales], "lr": 8e-3},
            {"params": [model.rotations], "lr": 2e-3},
            {"params": [model.opacity_logits], "lr": 3e-2},
            {"params": [model.sh], "lr": 5e-3},
        ]
    )
    white = torch.ones(3, device=device)

    def render_pair(pose: dict, cam):
        with torch.no_grad():
            verts = rig(**pose).vertices
            want, mask = shade_mesh(verts[0], faces, colors, cam.to(device), background=(1.0, 1.0, 1.0), ambient=1.0)
        w = model.to_world(verts, faces)
        got = render_gaussians(
            w.means,
            w.quats,
            w.scales,
            w.opacities,
            w.sh,
            cam.world_to_cam[None].to(device),
            cam.K[None].to(device),
            size,
            size,
            sh_degree,
            white,
        )
        return got.rgb[0, 0], got.alpha[0, 0, ..., 0], want, mask.float()

    losses = []
    start = time.perf_counter()
    for _ in tqdm(range(iterations), desc="default avatar", disable=not progress):
        rgb, alpha, want, mask = render_pair(random_pose(rig, gen, device), random_camera(target, distance, size, gen))
        loss = (rgb - want).abs().mean() + 0.5 * (alpha - mask).abs().mean()
        loss = loss + 0.01 * torch.relu(model.xyz.norm(dim=-1) - 1.0).mean() + 0.01 * torch.relu(model.log_scales.exp() - 0.6).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    seconds = time.perf_counter() - start
    # Held-out views (other seed) for the report.
    held = torch.Generator().manual_seed(seed + 1000)
    psnrs = []
    with torch.no_grad():
        for _ in range(8):
            rgb, _, want, _ = render_pair(random_pose(rig, held, device), random_camera(target, distance, size, held))
            psnrs.append(float(-10 * torch.log10(((rgb - want) ** 2).mean())))
    report = {
        "iterations": iterations,
        "size": size,
        "gaussians": model.num_gaussians,
        "sh_degree": sh_degree,
        "first_loss": float(np.mean(losses[:20])) if losses else None,
        "last_loss": float(np.mean(losses[-20:])) if losses else None,
        "heldout_psnr_vs_mesh": float(np.mean(psnrs)),
        "seconds": seconds,
        "device": str(device),
    }
    avatar = Avatar(rig, model.cpu().requires_grad_(False), torch.zeros(0), None, {"rig": {"name": "l2t-head"}, "made_by": report})
    return avatar.to("cpu"), report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_AVATAR_DIR, help="avatar folder to write (default: the packaged one)")
    parser.add_argument("--iterations", type=int, default=1500)
    parser.add_argument("--size", type=int, default=192, help="training render size")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", type=Path, help="start from this avatar folder's Gaussians (e.g. the packaged default), not fresh ones")
    args = parser.parse_args(argv)
    init = load_avatar(args.init).model if args.init is not None else None
    avatar, report = build_default_avatar(args.iterations, args.size, device=resolve_device(args.device), seed=args.seed, init=init)
    cmd = f"python -m avatar.default_avatar --iterations {args.iterations} --size {args.size} --seed {args.seed}"
    if args.init is not None:
        cmd += f" --init {args.init}"
    save_avatar(avatar, args.output, command=cmd)
    print(
        f"wrote {args.output}: {report['gaussians']} Gaussians, held-out PSNR vs the mesh {report['heldout_psnr_vs_mesh']:.2f} dB, "
        f"{report['seconds']:.0f} s on {report['device']}"
    )


if __name__ == "__main__":
    main()
