"""Linear blend skinning with pose correctives, FLAME/SMPL style (batched, differentiable)."""

from __future__ import annotations

import torch

from avatar.rig.rotations import compose, rotate


def joint_transforms(
    joints: torch.Tensor,  # [B, J, 3] rest-pose joint positions
    rotmats: torch.Tensor,  # [B, J, 3, 3] local joint rotations
    parents: list[int],  # parent index per joint, -1 for the root; parents[j] < j
) -> tuple[torch.Tensor, torch.Tensor]:
    """World transforms of each joint along the kinematic tree.

    Returns (world_rot [B, J, 3, 3], world_trans [B, J, 3]) such that a rest-pose point p
    bound rigidly to joint j moves to world_rot[j] @ p + world_trans[j].
    """
    rots: list[torch.Tensor] = []
    posed_joints: list[torch.Tensor] = []
    local, rest = rotmats.unbind(1), joints.unbind(1)  # unbind, not per-joint indexing: one stack backward
    for j, parent in enumerate(parents):
        if parent < 0:
            rots.append(local[j])
            posed_joints.append(rest[j])
        else:
            offset = rest[j] - rest[parent]
            rots.append(compose(rots[parent], local[j]))
            posed_joints.append(posed_joints[parent] + rotate(rots[parent], offset))
    world_rot = torch.stack(rots, dim=1)
    posed = torch.stack(posed_joints, dim=1)
    world_trans = posed - rotate(world_rot, joints)
    return world_rot, world_trans


def linear_blend_skinning(
    v_shaped: torch.Tensor,  # [B, V, 3] template + shape + expression offsets
    rotmats: torch.Tensor,  # [B, J, 3, 3]
    joints: torch.Tensor,  # [B, J, 3] rest-pose joints (regressed from v_shaped)
    parents: list[int],
    lbs_weights: torch.Tensor,  # [V, J]
    posedirs: torch.Tensor | None,  # [(J-1)*9, V*3] pose correctives, or None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pose the shaped mesh. Returns (vertices [B, V, 3], posed joints [B, J, 3])."""
    batch, num_verts = v_shaped.shape[:2]
    v_posed = v_shaped
    if posedirs is not None and rotmats.shape[1] > 1:
        eye = torch.eye(3, dtype=rotmats.dtype, device=rotmats.device)
        pose_feature = (rotmats[:, 1:] - eye).reshape(batch, -1)
        v_posed = v_shaped + (pose_feature @ posedirs).reshape(batch, num_verts, 3)
    world_rot, world_trans = joint_transforms(joints, rotmats, parents)
    verts = skin(v_posed, world_rot, world_trans, lbs_weights)
    posed_joints = rotate(world_rot, joints) + world_trans
    return verts, posed_joints


def skin(points: torch.Tensor, world_rot: torch.Tensor, world_trans: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Points [B, V, 3] moved by their weights' [V, J] blend of the joints' transforms (world_rot [B, J, 3, 3],
    world_trans [B, J, 3]): one product of the weights with every joint's [R | t], then one per point."""
    transforms = torch.cat([world_rot.flatten(-2), world_trans], -1)  # [B, J, 12]
    blended = weights @ transforms  # [B, V, 12]
    return rotate(blended[..., :9].unflatten(-1, (3, 3)), points) + blended[..., 9:]
