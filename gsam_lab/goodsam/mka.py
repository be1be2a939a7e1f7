"""Multi-level Knowledge Adaptation (MKA): the loss that distils the TA and DAR into the student.

Our reading of GoodSAM's MKA (docs/methods/goodsam.md, MKA)::

    L = ce_weight   * CE(student logits, DAR pseudo-labels; ignore 255)
      + kd_weight   * T^2 * KL( softmax(ensemble / T) || softmax(student / T) )
      + feat_weight * mean_s  MSE( norm(adapter_s(student stage s)), norm(TA stage s) )

* logits: the student predicts at H/4 x W/4; the pseudo-labels (H x W) are compared after
  upsampling the student's logits bilinearly to H x W (no label is blurred), the ensemble logits are
  resized (bilinear) to the student's logit size for KD (cheap, and the KD target is soft anyway).
* features: stage s of the student (C_s channels) goes through a learnable 1x1 convolution to the
  TA's C'_s channels; if the two stages differ in size the student's is resized (bilinear) to the
  TA's. ``norm`` standardises every pixel's feature vector over channels (zero mean, unit variance),
  so stages of very different magnitude weigh alike and the adapter cannot shrink the loss by
  shrinking its output.

:class:`MKALoss` returns a dict ``{"total", "ce", "kd", "feat"}`` (each a scalar tensor) for logging.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MKALoss", "kd_loss", "feature_alignment_loss", "standardize_channels", "feature_pca_rgb"]


def standardize_channels(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """B x C x h x w -> the same with every pixel's C-vector at zero mean and unit variance."""
    mu = x.mean(dim=1, keepdim=True)
    var = x.var(dim=1, keepdim=True, unbiased=False)
    return (x - mu) / torch.sqrt(var + eps)


def kd_loss(student_logits: torch.Tensor, target_logits: torch.Tensor, temperature: float = 1.0,
            valid: Optional[torch.Tensor] = None) -> torch.Tensor:
    """T^2 * KL(softmax(target/T) || softmax(student/T)), averaged over pixels.

    Args:
        student_logits: B x K x h x w.
        target_logits: B x K x H x W (resized bilinearly to h x w when the sizes differ).
        valid: optional B x h x w bool; pixels where it is False are left out.
    """
    if target_logits.shape[-2:] != student_logits.shape[-2:]:
        target_logits = F.interpolate(target_logits.float(), size=student_logits.shape[-2:], mode="bilinear",
                                      align_corners=False)
    t = float(temperature)
    log_p_s = F.log_softmax(student_logits.float() / t, dim=1)
    log_p_t = F.log_softmax(target_logits.float() / t, dim=1)
    kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum(dim=1)          # B x h x w
    if valid is not None:
        kl = kl[valid]
        if kl.numel() == 0:
            return student_logits.sum() * 0.0
    return kl.mean() * t * t


def feature_alignment_loss(adapted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE of the channel-standardised ``adapted`` (B x C x h x w, resized to ``target``'s size) and ``target``."""
    if adapted.shape[-2:] != target.shape[-2:]:
        adapted = F.interpolate(adapted, size=target.shape[-2:], mode="bilinear", align_corners=False)
    return F.mse_loss(standardize_channels(adapted.float()), standardize_channels(target.float().detach()))


class MKALoss(nn.Module):
    """CE on pseudo-labels + temperature KD on ensemble logits + multi-level feature alignment.

    Args:
        ce_weight, kd_weight, feat_weight: weights of the three terms (0 switches a term off; the
            term is still reported, as 0).
        temperature: KD temperature T (> 0); the KD term is scaled by T^2.
        student_channels: C_s of the student's 4 stages (``Student.feature_channels``).
        teacher_channels: C'_s of the TA's stages (``Teacher.feature_channels``), same length.
        ignore_index: pseudo-label value that CE skips (255).

    The 1x1 adapters (``self.adapters[s]``: C_s -> C'_s) are the only parameters; train them with the student.
    """

    def __init__(self, ce_weight: float = 1.0, kd_weight: float = 1.0, feat_weight: float = 1.0,
                 temperature: float = 2.0, student_channels: Sequence[int] = (32, 64, 160, 256),
                 teacher_channels: Sequence[int] = (64, 128, 320, 512), ignore_index: int = 255):
        super().__init__()
        for name, v in (("ce_weight", ce_weight), ("kd_weight", kd_weight), ("feat_weight", feat_weight)):
            if not float(v) >= 0:
                raise ValueError(f"{name} must be a number >= 0, got {v!r}")
        if not float(temperature) > 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        student_channels = tuple(int(c) for c in student_channels)
        teacher_channels = tuple(int(c) for c in teacher_channels)
        if len(student_channels) != len(teacher_channels):
            raise ValueError(f"student has {len(student_channels)} feature stages {student_channels} but the teacher "
                             f"has {len(teacher_channels)} {teacher_channels}; MKA pairs them one to one")
        self.ce_weight, self.kd_weight, self.feat_weight = float(ce_weight), float(kd_weight), float(feat_weight)
        self.temperature = float(temperature)
        self.ignore_index = int(ignore_index)
        self.student_channels, self.teacher_channels = student_channels, teacher_channels
        self.adapters = nn.ModuleList(nn.Conv2d(cs, ct, kernel_size=1)
                                      for cs, ct in zip(student_channels, teacher_channels))

    def extra_repr(self) -> str:
        return (f"ce_weight={self.ce_weight}, kd_weight={self.kd_weight}, feat_weight={self.feat_weight}, "
                f"temperature={self.temperature}")

    def adapt(self, student_features: Sequence[torch.Tensor]):
        """The student's stages through the 1x1 adapters: stage s B x C'_s x h_s x w_s."""
        if len(student_features) != len(self.adapters):
            raise ValueError(f"expected {len(self.adapters)} student feature stages, got {len(student_features)}")
        return [a(f) for a, f in zip(self.adapters, student_features)]

    def forward(self, student_logits: torch.Tensor, pseudo_label: Optional[torch.Tensor] = None,
                ensemble_logits: Optional[torch.Tensor] = None,
                student_features: Optional[Sequence[torch.Tensor]] = None,
                teacher_features: Optional[Sequence[torch.Tensor]] = None) -> Dict[str, torch.Tensor]:
        """The loss and its parts.

        Args:
            student_logits: B x K x h x w (h = H/4 for SegFormer).
            pseudo_label: B x H x W int64 (``ignore_index`` = no label); needed when ``ce_weight > 0``.
            ensemble_logits: B x K x H' x W' float (any size; resized to h x w); needed when ``kd_weight > 0``.
            student_features / teacher_features: 4 stages each; needed when ``feat_weight > 0``.

        Returns:
            ``{"total", "ce", "kd", "feat"}``: scalar tensors; ``total`` is the weighted sum.
        """
        zero = student_logits.float().sum() * 0.0
        parts = {"ce": zero, "kd": zero, "feat": zero}
        K = student_logits.shape[1]
        if self.ce_weight > 0:
            if pseudo_label is None:
                raise ValueError("ce_weight > 0 needs pseudo_label (B x H x W int64)")
            if pseudo_label.ndim != 3 or pseudo_label.shape[0] != student_logits.shape[0]:
                raise ValueError(f"pseudo_label must be B x H x W with B={student_logits.shape[0]}, "
                                 f"got {tuple(pseudo_label.shape)}")
            up = F.interpolate(student_logits.float(), size=pseudo_label.shape[-2:], mode="bilinear",
                               align_corners=False)
            lab = pseudo_label.long()
            if (lab != self.ignore_index).any():
                bad = (lab != self.ignore_index) & ((lab < 0) | (lab >= K))
                if bad.any():
                    raise ValueError(f"pseudo_label holds class ids outside 0..{K - 1} "
                                     f"(and {self.ignore_index} = ignore): "
                                     f"{sorted(set(lab[bad].unique().tolist()))[:5]}")
                parts["ce"] = F.cross_entropy(up, lab, ignore_index=self.ignore_index)
        if self.kd_weight > 0:
            if ensemble_logits is None:
                raise ValueError("kd_weight > 0 needs ensemble_logits (B x K x H x W)")
            if ensemble_logits.ndim != 4 or ensemble_logits.shape[:2] != student_logits.shape[:2]:
                raise ValueError(f"ensemble_logits must be B x K x H x W with B, K = {tuple(student_logits.shape[:2])} "
                                 f"(the student's batch and class count), got {tuple(ensemble_logits.shape)}")
            parts["kd"] = kd_loss(student_logits, ensemble_logits, self.temperature)
        if self.feat_weight > 0:
            if student_features is None or teacher_features is None:
                raise ValueError("feat_weight > 0 needs student_features and teacher_features (4 stages each)")
            if len(teacher_features) != len(self.adapters):
                raise ValueError(f"expected {len(self.adapters)} teacher feature stages, got {len(teacher_features)}")
            adapted = self.adapt(student_features)
            terms = []
            for s, (a, t) in enumerate(zip(adapted, teacher_features)):
                if t.shape[1] != self.teacher_channels[s]:
                    raise ValueError(f"teacher stage {s} has {t.shape[1]} channels, the adapter expects "
                                     f"{self.teacher_channels[s]} (teacher_channels={self.teacher_channels})")
                terms.append(feature_alignment_loss(a, t))
            parts["feat"] = torch.stack(terms).mean()
        total = self.ce_weight * parts["ce"] + self.kd_weight * parts["kd"] + self.feat_weight * parts["feat"]
        return {"total": total, **parts}


@torch.no_grad()
def feature_pca_rgb(*features: torch.Tensor, basis_of: int = 0):
    """Show feature maps as colour images in one shared colour space (for plots).

    Args:
        features: C x h x w tensors with one C (e.g. the TA's stage and the adapted student's), each
            channel-standardised first; maps of another size are resized to the first one's.
        basis_of: which of them defines the 3 principal components (default: the first).

    Returns:
        a list of h x w x 3 float numpy arrays in [0, 1], one per input; the same colour means the same
        feature direction in every image.
    """
    if not features:
        raise ValueError("feature_pca_rgb needs at least one C x h x w tensor")
    C, h, w = features[0].shape
    flat = []
    for f in features:
        if f.ndim != 3 or f.shape[0] != C:
            raise ValueError(f"every feature map must be {C} x h x w (one channel count), got {tuple(f.shape)}")
        f = f.detach().float().cpu()[None]
        if f.shape[-2:] != (h, w):
            f = F.interpolate(f, size=(h, w), mode="bilinear", align_corners=False)
        flat.append(standardize_channels(f)[0].reshape(C, -1))
    ref = flat[basis_of]
    mean = ref.mean(1, keepdim=True)
    u, _, _ = torch.linalg.svd(ref - mean, full_matrices=False)
    basis = u[:, :3]                                   # C x 3
    proj = [basis.T @ (x - mean) for x in flat]        # 3 x N each
    lo = torch.quantile(proj[basis_of], 0.02, dim=1, keepdim=True)
    hi = torch.quantile(proj[basis_of], 0.98, dim=1, keepdim=True)
    return [((p - lo) / (hi - lo + 1e-8)).clamp(0, 1).T.reshape(h, w, -1).numpy() for p in proj]
