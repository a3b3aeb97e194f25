"""The inside of the mouth, for fits of videos that rarely or never show it.

A monocular video of someone talking shows teeth, tongue and the dark cavity for a few frames
at best, and tracking that leaves the lips a millimetre apart makes the Gaussians there learn
lip colour instead. So the fit starts the rig's mouth-interior triangles (cavity, teeth,
tongue, and the inner faces of the lips that meet them) from the default avatar's Gaussians,
which were learned from a coloured mesh with an open jaw, and keeps their colour and opacity
near those values unless the frames say otherwise (`MouthPrior.penalty`). Without the inner
lip faces, a closed-mouth video paints them lip pink, and they smear across the teeth once the
jaw opens wider. Rigs without a mouth interior (official FLAME) keep plain initialisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from avatar.gaussians import SH_C0, GaussianAvatarModel
from avatar.rig.model import Rig

INTERIOR_REGIONS = ("mouth_cavity", "teeth", "tongue")


@dataclass
class MouthPrior:
    """Which triangles are inside the mouth, and the colour and opacity expected there."""

    interior: torch.Tensor  # [F] bool
    color: torch.Tensor  # [F, 3] prior colour in [0, 1] (interior rows only are used)
    opacity: torch.Tensor  # [F] prior opacity in (0, 1)
    source: GaussianAvatarModel  # Gaussians to start the interior triangles from

    def to(self, device) -> MouthPrior:
        return MouthPrior(self.interior.to(device), self.color.to(device), self.opacity.to(device), self.source.to(device))

    def seed(self, model: GaussianAvatarModel) -> GaussianAvatarModel:
        """`model` with its Gaussians on interior triangles replaced by the prior's (a new model)."""
        keep = ~self.interior.to(model.binding.device)[model.binding]
        take = self.interior.to(self.source.binding.device)[self.source.binding]
        src = self.source
        sh = src.sh.data[take]
        if sh.shape[1] != model.sh.shape[1]:  # another SH degree: the prior's colour, no view dependence
            sh = torch.cat([sh[:, :1], torch.zeros(len(sh), model.sh.shape[1] - 1, 3, device=sh.device)], 1)[:, : model.sh.shape[1]]
        arrays = [
            torch.cat([getattr(model, name).data[keep], value.to(model.binding.device)])
            for name, value in (
                ("binding", src.binding[take]),
                ("xyz", src.xyz.data[take]),
                ("log_scales", src.log_scales.data[take]),
                ("rotations", src.rotations.data[take]),
                ("opacity_logits", src.opacity_logits.data[take]),
                ("sh", sh),
            )
        ]
        return GaussianAvatarModel(*arrays)

    def penalty(self, model: GaussianAvatarModel) -> torch.Tensor:
        """Mean squared distance of the interior Gaussians' base colour and opacity from the prior's
        (0 when no Gaussian is inside). Weighted by a mask rather than selected by it: a step
        need not wait for the GPU to count them."""
        tri = model.binding
        inside = self.interior[tri].to(model.sh.dtype)
        colour = (model.sh[:, 0] * SH_C0 + 0.5 - self.color[tri]).square().sum(-1)
        opacity = (torch.sigmoid(model.opacity_logits) - self.opacity[tri]).square()
        return ((colour + opacity) * inside).sum() / inside.sum().clamp_min(1.0)


def interior_faces(rig: Rig) -> torch.Tensor:
    """[F] bool: triangles with a vertex in the rig's mouth-interior regions (the cavity, teeth and
    tongue, and the inner faces of the lips that meet the cavity)."""
    inside = torch.zeros(rig.num_vertices, dtype=torch.bool)
    for name in INTERIOR_REGIONS:
        if name in rig.data.regions:
            inside[torch.as_tensor(rig.data.regions[name]).long()] = True
    return inside[rig.faces.cpu()].any(1)


def mouth_prior(rig: Rig, source: GaussianAvatarModel | None = None) -> MouthPrior | None:
    """The mouth prior for `rig` from `source` (default: the default avatar's Gaussians), or None
    when the rig has no mouth interior or `source` is bound to another topology."""
    interior = interior_faces(rig)
    if not interior.any():
        return None
    if source is None:
        from avatar.io.avatar_folder import load_avatar

        default = load_avatar()
        if default.rig.data.name != rig.data.name or len(default.rig.faces) != len(rig.faces):
            return None
        source = default.model
    faces = len(rig.faces)
    if int(source.binding.max()) >= faces:
        return None
    counts = torch.bincount(source.binding, minlength=faces).clamp_min(1).float()
    rgb = (source.sh.data[:, 0] * SH_C0 + 0.5).clamp(0, 1)
    color = torch.zeros(faces, 3).index_add_(0, source.binding, rgb) / counts[:, None]
    opacity = torch.zeros(faces).index_add_(0, source.binding, torch.sigmoid(source.opacity_logits.data)) / counts
    covered = torch.zeros(faces, dtype=torch.bool)
    covered[source.binding] = True
    interior &= covered
    return MouthPrior(interior, color, opacity, source) if interior.any() else None
