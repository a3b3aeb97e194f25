"""Deform + render speed of Gaussian avatars. Prints and saves JSON with the device name.

    python bench/render.py [--out bench/results/render.json] [--cpu-only]

GPU: the default avatar and a ~100k-Gaussian avatar at 512x512, batch 1 and batch 8
(frames per call), timed from rig parameters to a finished image (deformation included).
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
from avatar.render.gaussian import render_gaussians


def time_render(avatar, motion, size: int, batch: int, frames: int, backend: str) -> float:
    """Frames per second for rendering `frames` frames, `batch` at a time (after a warm-up)."""
    cams = avatar_cameras(avatar, "front", 1, size)
    dev = avatar.device
    vm, ks = cams[0].world_to_cam.to(dev)[None], cams[0].K.to(dev)[None]
    bg = torch.ones(3, device=dev)

    def run(n_frames: int) -> None:
        for start in range(0, n_frames, batch):
            stop = min(start + batch, n_frames)
            w = avatar.world(avatar.vertices(motion, start, stop))
            render_gaussians(w.means, w.quats, w.scales, w.opacities, w.sh, vm, ks, size, size, w.sh_degree, bg, backend=backend)
        if dev.type == "cuda":
            torch.cuda.synchronize()

    with torch.no_grad():
        run(min(frames, 2 * batch))  # warm-up (and gsplat's JIT)
        t = time.perf_counter()
        run(frames)
        return frames / (time.perf_counter() - t)


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
    motion = demo_motion(load_avatar().rig.data.expression_names, seconds=20.0)  # 500 frames
    if torch.cuda.is_available() and not args.cpu_only:
        results["device"] = torch.cuda.get_device_name()
        avatar = load_avatar(device="cuda")
        for name, av in (("default avatar", avatar), ("100k Gaussians", densified(avatar, 11))):
            for batch in (1, 8):
                fps = time_render(av, motion, 512, batch, 400, "gsplat")
                row = {
                    "avatar": name,
                    "gaussians": av.model.num_gaussians,
                    "size": 512,
                    "batch": batch,
                    "backend": "gsplat",
                    "frames_per_s": round(fps, 1),
                }
                results["runs"].append(row)
                print(row)
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
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
