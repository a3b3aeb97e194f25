"""`l2t-avatar view`'s server render toggle: full-quality gsplat frames of the default avatar for a
browser camera, posed per frame from speech motion, timed per frame (pose + render + to uint8 on
the host; JPEG encoding and sending are viser's and not included).

    python bench/viewer_server_render.py [--frames 200] [--height 720] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from avatar.io.avatar_folder import load_avatar  # noqa: E402
from avatar.motion import demo_motion  # noqa: E402
from avatar.render.animate import head_framing  # noqa: E402
from avatar.render.cameras import orbit_camera  # noqa: E402
from viewer.server_render import BrowserCamera, render_view  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    device = torch.device(args.device)
    avatar = load_avatar(None, device=device)
    target, distance = head_framing(avatar)
    camera = BrowserCamera.from_world_to_cam(orbit_camera(target, distance * 1.35, 20.0, 5.0).world_to_cam, np.radians(20.0), 16 / 9)
    motion = demo_motion(avatar.rig.data.expression_names, seconds=args.frames / 25.0)
    frames = [{k: v[i] for k, v in motion.params.items()} for i in range(motion.num_frames)]
    for params in frames[:10]:  # warm-up (gsplat's kernels, allocator)
        render_view(avatar, params, avatar.shape, camera, height=args.height)
    times = []
    for params in frames:
        t0 = time.perf_counter()
        image = render_view(avatar, params, avatar.shape, camera, height=args.height)
        times.append(time.perf_counter() - t0)
    ms = np.array(times) * 1000
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    record = {
        "device": name,
        "torch": torch.__version__,
        "gaussians": avatar.model.num_gaussians,
        "sh_degree": avatar.model.sh_degree,
        "image": list(image.shape),
        "frames": len(frames),
        "ms_p50": round(float(np.percentile(ms, 50)), 2),
        "ms_p95": round(float(np.percentile(ms, 95)), 2),
        "frames_per_s": round(len(frames) / float(np.sum(times)), 1),
    }
    print(json.dumps(record, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
