"""From rig parameters to the vertices the losses and metrics compare (corpus data).

``ParamSpace`` splits the parameter vector (jaw axis-angle, then expression) and poses the rig's
lip, upper-face and inner-lip vertices through ``RegionRig`` — cheap and differentiable.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from avatar.rig.model import Rig
from avatar.rig.region import RegionRig

JAW_WIDTH = 3
LIP_LANDMARKS = ("upper_lip_inner", "lower_lip_inner")  # named landmarks whose distance is the inner-lip gap


class ParamSpace(nn.Module):
    def __init__(self, rig: Rig, lip_indices: np.ndarray | torch.Tensor):
        super().__init__()
        self.lips = RegionRig(rig, torch.as_tensor(lip_indices))
        self.upper_face = RegionRig(rig, rig.region("upper_face")) if "upper_face" in rig.data.regions else None
        self.inner_lips = RegionRig(rig, torch.tensor([rig.data.named_landmarks[n] for n in LIP_LANDMARKS]))
        self.num_expressions = rig.num_expressions

    @staticmethod
    def split(params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """params [..., 3 + E] -> (expression [..., E], jaw [..., 3])."""
        return params[..., JAW_WIDTH:], params[..., :JAW_WIDTH]

    @staticmethod
    def join(expression: torch.Tensor, jaw: torch.Tensor) -> torch.Tensor:
        """(expression [..., E], jaw axis-angle [..., 3]) -> params [..., 3 + E]; ``split``'s inverse."""
        return torch.cat([jaw, expression], dim=-1)

    def _pose(self, region: RegionRig, params: torch.Tensor) -> torch.Tensor:
        shape = params.shape[:-1]
        expression, jaw = self.split(params.reshape(-1, params.shape[-1]))
        verts = region(expression, jaw)
        return verts.view(*shape, *verts.shape[1:])

    def lip_vertices(self, params: torch.Tensor) -> torch.Tensor:
        """[..., P] -> lip vertices [..., L, 3] (metres, rig space without head pose)."""
        return self._pose(self.lips, params)

    def upper_face_vertices(self, params: torch.Tensor) -> torch.Tensor:
        return self._pose(self.upper_face, params)

    def lip_gap(self, params: torch.Tensor) -> torch.Tensor:
        """Inner-lip gap [...] in metres."""
        v = self._pose(self.inner_lips, params)
        return (v[..., 0, :] - v[..., 1, :]).norm(dim=-1)


def motion_lip_gap(motion, rig: Rig) -> np.ndarray:
    """Inner-lip gap per frame of a Motion, in mm: its vertices' when it has them, else the rig
    posed with all of its parameters (head pose included; the gap does not depend on it)."""
    upper, lower = (rig.data.named_landmarks[name] for name in LIP_LANDMARKS)
    device = rig.v_template.device
    with torch.no_grad():
        if motion.vertices is not None:
            verts = motion.vertices.to(device)
        else:
            params = {k: v.float().to(device) for k, v in motion.params.items()}
            verts = rig(batch_size=motion.num_frames, **params).vertices
    return 1000.0 * (verts[:, upper] - verts[:, lower]).norm(dim=-1).cpu().numpy()
