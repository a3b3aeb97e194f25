"""Audio2Mesh: speech features -> per-frame rig parameters and lip/face vertex offsets.

A convolutional front-end brings the features to 50 Hz hidden frames; a pre-norm transformer
whose attention sees only ``left`` frames back and ``right`` frames ahead (a learned relative
bias per head and offset) keeps the receptive field bounded, so any length runs in chunks
that agree exactly with a single pass (see ``audio2mesh.inference``). Output frames at any
fps are read off the hidden sequence by linear interpolation in time, then two heads give
rig parameters (jaw axis-angle then expression coefficients) and vertex offsets in mm.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from sync_expert.features import MEL_RATE


@dataclass
class ModelConfig:
    input_dim: int = 80  # feature channels (log-mel bands, or a pretrained encoder's width)
    input_rate: float = float(MEL_RATE)  # feature frames per second (log-mel: MEL_RATE; wav2vec2-style encoders: 50)
    width: int = 192
    layers: int = 4
    heads: int = 4
    ff_mult: int = 4
    left: int = 25  # attention frames to the left, per layer (50 Hz)
    right: int = 3  # attention frames to the right (look-ahead), per looking-ahead layer
    lookahead_layers: int | None = None  # how many leading layers look ``right`` ahead (None: all; the rest are causal)
    num_params: int = 42  # jaw (3) + expression coefficients
    num_offsets: int = 268  # vertices of the offsets head
    dropout: float = 0.1
    closure_head: bool = False  # also predict per frame whether it is inside an M/B/P (see audio2mesh.lip_closure)

    @property
    def stride(self) -> int:
        return 2 if self.input_rate >= MEL_RATE else 1

    @property
    def hidden_rate(self) -> float:
        return self.input_rate / self.stride

    def layer_right(self, layer: int) -> int:
        """Frames layer ``layer`` (0-based) looks ahead."""
        looking = self.layers if self.lookahead_layers is None else self.lookahead_layers
        return self.right if layer < looking else 0

    @property
    def future_frames(self) -> int:
        """Hidden frames ahead that the transformer layers see, all layers together."""
        return sum(self.layer_right(i) for i in range(self.layers))

    @property
    def context(self) -> tuple[int, int]:
        """Hidden frames (left, right) that one hidden frame depends on, front-end included."""
        return self.layers * self.left + 2, self.future_frames + 2

    def lookahead_seconds(self, window_seconds: float = 0.0125) -> float:
        """Audio needed after a frame's time before it is final: transformer + front-end + interpolation + STFT half-window."""
        return (self.future_frames + 2) / self.hidden_rate + window_seconds

    def to_dict(self) -> dict:
        return asdict(self)


class BandAttention(nn.Module):
    """Multi-head self-attention over key offsets [-left, right] with a learned relative bias per head.

    Queries go in blocks of ``BLOCK`` frames, each against its own window of keys, so cost and
    memory grow linearly with length (no N x N mask).
    """

    BLOCK = 64

    def __init__(self, width: int, heads: int, left: int, right: int, dropout: float):
        super().__init__()
        self.heads, self.left, self.right, self.dropout = heads, left, right, dropout
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.bias = nn.Parameter(torch.zeros(heads, left + right + 1))

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)  # [B, H, N, d]
        blk, span = self.BLOCK, self.BLOCK + self.left + self.right
        nb = -(-n // blk)
        pad_q = nb * blk - n
        q = F.pad(q, (0, 0, 0, pad_q)).view(b, self.heads, nb, blk, -1)
        # keys/values padded so that block i sees keys [i*blk - left, i*blk + blk + right)
        k = F.pad(k, (0, 0, self.left, self.right + pad_q)).unfold(2, span, blk).transpose(-1, -2)  # [B, H, nb, span, d]
        v = F.pad(v, (0, 0, self.left, self.right + pad_q)).unfold(2, span, blk).transpose(-1, -2)
        key_ok = torch.zeros(b, n + self.left + self.right + pad_q, dtype=torch.bool, device=x.device)
        key_ok[:, self.left : self.left + n] = True if valid is None else valid
        key_ok = key_ok.unfold(1, span, blk)  # [B, nb, span]
        rel = torch.arange(span, device=x.device)[None, :] - self.left - torch.arange(blk, device=x.device)[:, None]
        inside = (rel >= -self.left) & (rel <= self.right)  # [blk, span]
        bias = self.bias[:, (rel + self.left).clamp(0, self.left + self.right)]  # [H, blk, span]
        mask = bias.masked_fill(~inside, float("-inf"))[None, :, None]  # [1, H, 1, blk, span]
        mask = mask.masked_fill(~key_ok[:, None, :, None, :], float("-inf"))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask.to(q.dtype), dropout_p=self.dropout if self.training else 0.0)
        y = y.reshape(b, self.heads, nb * blk, -1)[:, :, :n]
        return self.out(y.transpose(1, 2).reshape(b, n, c))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, right: int):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(cfg.width), nn.LayerNorm(cfg.width)
        self.attn = BandAttention(cfg.width, cfg.heads, cfg.left, right, cfg.dropout)
        self.ff = nn.Sequential(
            nn.Linear(cfg.width, cfg.ff_mult * cfg.width), nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(cfg.ff_mult * cfg.width, cfg.width)
        )
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x), valid))
        return x + self.drop(self.ff(self.norm2(x)))


@dataclass
class Audio2MeshOutput:
    params: torch.Tensor  # [B, T, num_params]: jaw axis-angle (3) then expression coefficients
    offsets: torch.Tensor | None  # [B, T, num_offsets, 3] vertex offsets from the rest shape, metres
    hidden: torch.Tensor  # [B, T, width] per-frame features (what distillation matches)
    closure: torch.Tensor | None = None  # [B, T] logits that the frame is inside a bilabial (closure head)


class Audio2Mesh(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.conv_in = nn.Conv1d(cfg.input_dim, cfg.width, 3, padding=1)
        self.conv_down = nn.Conv1d(cfg.width, cfg.width, 3, stride=cfg.stride, padding=1)
        self.blocks = nn.ModuleList(Block(cfg, cfg.layer_right(i)) for i in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.width)
        self.trunk = nn.Sequential(nn.Linear(cfg.width, cfg.width), nn.GELU())
        # vertex-only data (VOCASET/BIWI) has no rig parameters: no parameter head
        self.param_head = nn.Linear(cfg.width, cfg.num_params) if cfg.num_params else None
        self.offset_head = nn.Linear(cfg.width, cfg.num_offsets * 3)
        self.closure_head = nn.Linear(cfg.width, 1) if cfg.closure_head else None
        for head in (h for h in (self.param_head, self.offset_head) if h is not None):
            nn.init.normal_(head.weight, std=1e-3)
            nn.init.zeros_(head.bias)

    def num_hidden(self, num_features: int) -> int:
        return (num_features - 1) // self.cfg.stride + 1

    def encode(self, features: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Features [B, F, D] (zero-padded past ``lengths``) -> hidden frames [B, H, width] at ``hidden_rate``."""
        x = F.gelu(self.conv_in(features.transpose(1, 2)))
        if lengths is not None:  # padding behaves like the zero padding at a clip's end
            x = x * (torch.arange(x.shape[-1], device=x.device)[None] < lengths[:, None])[:, None].to(x.dtype)
        x = F.gelu(self.conv_down(x)).transpose(1, 2)
        valid = None
        if lengths is not None:
            hidden_lengths = (lengths - 1) // self.cfg.stride + 1
            valid = torch.arange(x.shape[1], device=x.device)[None] < hidden_lengths[:, None]
        for block in self.blocks:
            x = block(x, valid)
        return self.norm(x)

    def frame_positions(self, num_frames: int, fps: float, start_frame: int = 0, device=None) -> torch.Tensor:
        """Hidden-frame positions (fractional) of output frames start..start+num at ``fps``."""
        k = torch.arange(start_frame, start_frame + num_frames, device=device, dtype=torch.float64)
        return (k / fps * self.cfg.hidden_rate).float()

    def decode(self, hidden: torch.Tensor, positions: torch.Tensor, with_offsets: bool = True) -> Audio2MeshOutput:
        """Interpolate hidden [B, H, C] at positions [T] or [B, T] (hidden-frame units) and apply the heads."""
        last = hidden.shape[1] - 1
        positions = positions.expand(hidden.shape[0], -1) if positions.dim() == 1 else positions  # [B, T]
        lo = positions.floor().long().clamp(0, last)
        hi = (lo + 1).clamp(max=last)
        w = (positions - lo.to(positions.dtype)).clamp(0, 1)[..., None].to(hidden.dtype)
        width = hidden.shape[-1]
        h = (
            torch.gather(hidden, 1, lo[..., None].expand(-1, -1, width)) * (1 - w)
            + torch.gather(hidden, 1, hi[..., None].expand(-1, -1, width)) * w
        )
        z = self.trunk(h)
        offsets = None
        if with_offsets:
            offsets = self.offset_head(z).view(z.shape[0], z.shape[1], self.cfg.num_offsets, 3) * 1e-3
        params = self.param_head(z) if self.param_head is not None else z.new_zeros(*z.shape[:2], 0)
        closure = self.closure_head(z)[..., 0] if self.closure_head is not None else None
        return Audio2MeshOutput(params, offsets, h, closure)

    def forward(
        self, features: torch.Tensor, positions: torch.Tensor, lengths: torch.Tensor | None = None, with_offsets: bool = True
    ) -> Audio2MeshOutput:
        """Features [B, F, D] -> output frames at hidden positions [T] or [B, T] (see ``frame_positions``)."""
        return self.decode(self.encode(features, lengths), positions, with_offsets)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


PRESETS = {
    # the shipped student: small and fast
    "student": dict(width=160, layers=4, heads=4, left=25, right=3),
    # live speech: the student with 20 ms of attention look-ahead in its first layer only (72.5 ms in all),
    # distilled from the shipped student (README, "Live speech")
    "live": dict(width=160, layers=4, heads=4, left=25, right=1, lookahead_layers=1),
    # the large model distilled into the student: wider, deeper, longer context and look-ahead
    "large": dict(width=384, layers=8, heads=6, left=50, right=6),
    # CPU tests
    "tiny": dict(width=32, layers=2, heads=2, left=8, right=2, dropout=0.0),
}


def preset_config(name: str, **overrides) -> ModelConfig:
    if name not in PRESETS:
        raise KeyError(f"unknown model size {name!r}; one of {', '.join(PRESETS)}")
    return ModelConfig(**{**PRESETS[name], **overrides})
