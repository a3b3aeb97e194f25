"""Deform + render speed of Gaussian avatars, against raw gsplat. Prints and saves JSON with the device name.

    python bench/render.py [--out bench/results/render.json] [--cpu-only]

GPU, 512x512, batch 1 and 8 (frames per call), for the default avatar and a ~100k-Gaussian one:
- "ours": rig parameters to a finished image, as `speak` and `render` do it (FramePoser: the
  fused Triton kernel for local to world, CUDA graphs for the whole deformation, then gsplat);
- "ours, unfused": the same with the differentiable path's tensor operations in the graph instead
  of the kernel (what rendering did before the kernel);
- "ours, eager": neither graphs nor kernel (the differentiable path fitting uses);
- "raw gsplat": `gsplat.rasterization` alone on the same Gaussians already posed (frame 0),
  RGB, the same number of images per call: the ceiling. `ratio` = ours / raw.
CPU: the default avatar at 256x256 with the PyTorch renderer.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from avatar.gaussians import GaussianAvatarModel
from avatar.io.avatar_folder import load_avatar
from avatar.motion import demo_motion
from avatar.render.animate import avatar_cameras
from avatar.render.gaussian import NEAR_PLANE, render_gaussians
from avatar.render.poser import FramePoser


def frames_per_second(render_batch, batch: int, frames: int, device: torch.device) -> float:
    """Frames per second of `render_batch(start)` over `frames` frames, `batch` a call, after a warm-up."""

    def run(n_frames: int) -> None:
        for start in range(0, n_frames, batch):
            render_batch(start)
        if device.type == "cuda":
            torch.cuda.synchronize()

    with torch.no_grad():
        run(min(frames, 4 * batch))  # warm-up (gsplat's JIT, graph capture)
        t = time.perf_counter()
        run(frames)
        return frames / (time.perf_counter() - t)


def time_render(
    avatar, motion, size: int, batch: int, frames: int, backend: str, graphs: bool | None = None, fused: bool | None = None
) -> float:
    """Our path: motion frames -> FramePoser -> render_gaussians (colour only)."""
    cams = avatar_cameras(avatar, "front", 1, size)
    dev = avatar.device
    vm, ks = cams[0].world_to_cam.to(dev)[None], cams[0].K.to(dev)[None]
    bg = torch.ones(3, device=dev)
    poser = FramePoser(avatar, graphs=graphs, fused=fused)
    params = {k: v.to(dev) for k, v in motion.params.items()}

    def render_batch(start: int) -> None:
        w = poser.pose({k: v[start : start + batch] for k, v in params.items()})
        render_gaussians(w.means, w.quats, w.scales, w.opacities, w.sh, vm, ks, size, size, w.sh_degree, bg, backend=backend, depth=False)

    return frames_per_second(render_batch, batch, frames, dev)


def time_raw_gsplat(avatar, motion, size: int, batch: int, frames: int) -> float:
    """gsplat.rasterization alone, on frame 0's posed Gaussians repeated `batch` times per call."""
    from gsplat import rasterization

    cams = avatar_cameras(avatar, "front", 1, size)
    dev = avatar.device
    with torch.no_grad():
        w = avatar.world(avatar.vertices(motion, 0, 1))
    means, quats, scales = (t.expand(batch, -1, -1).contiguous() for t in (w.means, w.quats, w.scales))
    opacities = w.opacities.expand(batch, -1).contiguous()
    sh = w.sh.expand(batch, -1, -1, -1).contiguous()
    vm = cams[0].world_to_cam.to(dev).expand(batch, 1, 4, 4).contiguous()
    ks = cams[0].K.to(dev).expand(batch, 1, 3, 3).contiguous()
    bg = torch.ones(batch, 1, 3, device=dev)

    def render_batch(start: int) -> None:
        rasterization(
            means,
            quats,
            scales,
            opacities,
            sh,
            vm,
            ks,
            size,
            size,
            near_plane=NEAR_PLANE,
            sh_degree=w.sh_degree,
            backgrounds=bg,
            packed=False,
        )

    return frames_per_second(render_batch, batch, frames, dev)


def densified(avatar, per_face: int):
    """The same rig with `per_face` Gaussians on every triangle (for a ~100k-Gaussian case)."""
    import copy

    big = copy.copy(avatar)
    faces = avatar.rig.faces
    colors = torch.rand(len(faces), 3)
    big.model = GaussianAvatarModel.on_triangles(len(faces), per_face, avatar.model.sh_degree, colors).to(avatar.device)
    return big


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench/results/render.json"))
    parser.add_argument("--cpu-only", action="store_true")
    args = parser.parse_args()
    results = {
        "cpu": platform.processor() or platform.machine(),
        "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "runs": [],
    }
    motion = demo_motion(load_avatar().rig.data.expression_names, seconds=40.0)  # 1000 frames
    if torch.cuda.is_available() and not args.cpu_only:
        results["device"] = torch.cuda.get_device_name()
        avatar = load_avatar(device="cuda")
        for name, av in (("default avatar", avatar), ("100k Gaussians", densified(avatar, 11))):
            for batch in (1, 8):
                frames = 800 if batch == 8 else 400
                ours = time_render(av, motion, 512, batch, frames, "gsplat")
                unfused = time_render(av, motion, 512, batch, frames, "gsplat", fused=False)
                eager = time_render(av, motion, 512, batch, frames, "gsplat", graphs=False, fused=False)
                raw = time_raw_gsplat(av, motion, 512, batch, frames)
                row = {
                    "avatar": name,
                    "gaussians": av.model.num_gaussians,
                    "size": 512,
                    "batch": batch,
                    "backend": "gsplat",
                    "frames_per_s": round(ours, 1),
                    "unfused_frames_per_s": round(unfused, 1),
                    "eager_frames_per_s": round(eager, 1),
                    "raw_gsplat_frames_per_s": round(raw, 1),
                    "ratio": round(ours / raw, 3),
                }
                results["runs"].append(row)
                print(row, flush=True)
                save(args.out, results)  # a run cut short keeps its finished rows
    else:
        results["device"] = "cpu"
    avatar = load_avatar(device="cpu")
    fps = time_render(avatar, motion, 256, 4, 12, "torch")
    row = {
        "avatar": "default avatar",
        "gaussians": avatar.model.num_gaussians,
        "size": 256,
        "batch": 4,
        "backend": "torch (cpu)",
        "frames_per_s": round(fps, 2),
    }
    results["runs"].append(row)
    print(row)
    save(args.out, results)
    print(f"saved {args.out}")


def save(path: Path, results: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
