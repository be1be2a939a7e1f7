"""``PromptPredictor``: one image embedding, many prompts decoded in one batched call.

Meta's ``SamPredictor.predict`` decodes one prompt per call; sweeping 20 noisy boxes for 15
objects is then 300 decoder calls. ``PromptPredictor.predict`` takes ``N`` prompts at once and
runs the prompt encoder and mask decoder on a batch of ``N`` (in chunks of ``max_batch`` to bound
memory), with the same pre- and post-processing as ``SamPredictor`` so that the masks are the same.

The decoder runs SAM's own modules (:func:`gsam_lab.sam.decoding.shared_predict_masks`: SAM's
``predict_masks`` without its per-prompt copies of the image embedding), so forward hooks on the
decoder's modules fire and a debugger steps through SAM's code. ``PromptPredictor(model, fast=True)``
opts in to an optional optimisation that gives the same masks up to float rounding, kept apart in
:mod:`gsam_lab.sam.fast` and loaded only then.

``PromptPredictor(model, zoom=True)`` segments box prompts through a window around each box
(:mod:`gsam_lab.sam.zoom`): the window is cropped from the image, resized to the encoder's input and
embedded on its own, so a small object gets as many image tokens as a large one.

Subclasses (e.g. Stable-SAM's predictor) can override :meth:`PromptPredictor.decode`, the one
place that calls the prompt encoder and the mask decoder.
"""
from __future__ import annotations

import hashlib
import warnings
from collections import OrderedDict
from typing import NamedTuple, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from segment_anything.modeling import Sam
from segment_anything.utils.transforms import ResizeLongestSide

from gsam_lab.images import as_rgb_uint8

from .decoding import shared_predict_masks, warn_many_prompts
from .embeddings import shared_embedding
from .zoom import box_in_window, zoom_window

__all__ = ["PromptPredictor", "Prediction"]

ArrayLike = Union[np.ndarray, torch.Tensor, list, tuple]


class Prediction(NamedTuple):
    """Output of :meth:`PromptPredictor.predict` (torch tensors on the model's device).

    Attributes:
        masks: ``N x H x W`` bool (``N x 3 x H x W`` with ``multimask=True``) at the image's size;
            float logits instead of bool with ``return_logits=True``.
        iou_predictions: ``N`` (or ``N x 3``) float, the model's estimate of each mask's IoU.
        low_res_logits: ``N x 1 x h x w`` (or ``N x 3 x h x w``), the decoder's logits (``h = w = 256``
            for Meta's SAM, 128 for ``tiny-synth``); pass one channel back as ``mask_input``.
    """

    masks: torch.Tensor
    iou_predictions: torch.Tensor
    low_res_logits: torch.Tensor


def _as_float_array(x: ArrayLike, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must be a numeric array, got {type(x).__name__}") from e
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} has NaN or infinite values")
    return arr


class PromptPredictor:
    """Batched prompt predictor over one cached image embedding.

    Args:
        model: a ``segment_anything`` ``Sam`` (e.g. from :func:`gsam_lab.sam.load_sam`); it is put
            in eval mode. Runs on the model's device.
        max_batch: most prompts per decoder call; ``None`` picks a size that keeps one decoder
            activation (``batch x 256 x h x w`` floats) near 256 MB on CUDA (64 prompts for Meta's
            SAM, 256 for ``tiny-synth``) and near 16 MB elsewhere (4 and 16 prompts): on a CPU,
            larger batches are slower per prompt (memory traffic; ``benchmarks/bench_prompts.py
            --sweep-batch`` measures it).
        cache_size: how many image embeddings to keep, keyed by the image's bytes, so that setting the same
            image again is free, as is one its encoder embedded for another predictor (:mod:`.embeddings`); 0: neither.
        fast: decode with the optional fast path, :func:`gsam_lab.sam.fast.fast_decode` (same masks up to
            float rounding), whenever the decoder has SAM's layout and no forward hooks; default ``False``:
            SAM's own modules (:func:`~gsam_lab.sam.decoding.shared_predict_masks`).
        zoom: crop-and-zoom box prompts (:mod:`gsam_lab.sam.zoom`): each prompt that has a box (and no
            ``mask_input``) is decoded on the embedding of a square window around its box, ``(1 +
            zoom_context)`` times the box's longer side, resized to the encoder's input; the mask is
            pasted back (nothing outside the window). Boxes whose window would not be smaller than the
            image's longer side or would not hold the whole box, and prompts without a box, take the
            usual path. One encoder pass per
            zoomed prompt.
        zoom_context: the surroundings kept around a zoomed box (see :func:`gsam_lab.sam.zoom.zoom_window`).

    Example::

        pred = PromptPredictor(load_sam("tiny-synth"))
        pred.set_image(img)                                       # H x W x 3 uint8
        out = pred.predict(boxes=np.array([[10, 20, 80, 90], [5, 5, 40, 60]]))
        out.masks.shape                                           # 2 x H x W
    """

    def __init__(self, model: Sam, max_batch: Optional[int] = None, cache_size: int = 4, fast: bool = False,
                 zoom: bool = False, zoom_context: float = 1.0):
        if max_batch is not None and (isinstance(max_batch, bool) or not isinstance(max_batch, (int, np.integer))
                                      or max_batch < 1):
            raise ValueError(f"max_batch must be None or a positive int (prompts per decoder call), got {max_batch!r}")
        self.model = model.eval()
        self.fast = bool(fast)
        if not isinstance(zoom, (bool, np.bool_)):
            raise TypeError(f"zoom must be True or False, got {zoom!r}")
        if not (isinstance(zoom_context, (int, float)) and np.isfinite(zoom_context) and zoom_context >= 0):
            raise ValueError(f"zoom_context must be a number >= 0, got {zoom_context!r}")
        self.zoom, self.zoom_context = bool(zoom), float(zoom_context)
        self.transform = ResizeLongestSide(model.image_encoder.img_size)
        self.max_batch = max_batch
        self.cache_size = int(cache_size)
        self._cache: "OrderedDict[str, torch.Tensor]" = OrderedDict()
        self._pe: Optional[torch.Tensor] = None
        self.reset_image()

    # -- image --------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.model.device

    def reset_image(self) -> None:
        """Forget the current image (the embedding cache is kept)."""
        self.features: Optional[torch.Tensor] = None
        self.image: Optional[np.ndarray] = None
        self.original_size: Optional[Tuple[int, int]] = None
        self.input_size: Optional[Tuple[int, int]] = None

    @property
    def is_image_set(self) -> bool:
        return self.features is not None

    @torch.no_grad()
    def set_image(self, image: Union[np.ndarray, torch.Tensor]) -> "PromptPredictor":
        """Compute (or fetch from the cache) the embedding of ``image``.

        Args:
            image: ``H x W x 3`` RGB uint8. Also accepted: ``H x W x 3`` float in ``[0, 1]``
                (converted with ``round(255 x)``) and torch tensors ``3 x H x W``; anything else is a
                ``ValueError``/``TypeError`` (see :func:`gsam_lab.images.as_rgb_uint8`).

        Returns:
            ``self`` (so ``pred.set_image(img).predict(...)`` chains).
        """
        img = as_rgb_uint8(image)
        key = hashlib.blake2b(img.tobytes(), digest_size=16).hexdigest() + str(img.shape)
        input_size = self.transform.get_preprocess_shape(img.shape[0], img.shape[1], self.transform.target_length)
        if min(input_size) < 1:
            raise ValueError(f"image of {img.shape[0]} x {img.shape[1]} px is too elongated for SAM: its longer side "
                             f"is resized to {self.transform.target_length} px, which leaves the shorter one 0 px")
        self.reset_image()
        self.original_size = tuple(img.shape[:2])
        self.input_size = input_size
        self.image = img if self.zoom else None          # zoom crops windows out of it
        if key in self._cache:
            self._cache.move_to_end(key)
            self.features = self._cache[key]
            return self
        if self.cache_size < 1:
            self.features = self._embed(img)
        else:
            self.features = shared_embedding(self.model.image_encoder, key, lambda: self._embed(img),
                                             also=(self.model.pixel_mean, self.model.pixel_std))
            self._cache[key] = self.features
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return self

    def _embed(self, img: np.ndarray) -> torch.Tensor:
        """The image encoder's embedding of an ``H x W x 3`` uint8 image (resized and padded as SAM does)."""
        x = torch.as_tensor(self.transform.apply_image(img), device=self.device)
        x = x.permute(2, 0, 1).contiguous()[None]
        return self.model.image_encoder(self.model.preprocess(x))

    def get_image_embedding(self) -> torch.Tensor:
        """The cached embedding, ``1 x 256 x h x w``."""
        self._require_image()
        return self.features

    def _require_image(self) -> None:
        if self.features is None:
            raise RuntimeError("no image set: call .set_image(image) before .predict(...)")

    # -- prompts ------------------------------------------------------------------------------
    def _check_inside(self, xy: np.ndarray, what: str, clip: bool, valid: Optional[np.ndarray] = None) -> np.ndarray:
        """``xy``: ``... x 2`` (x, y); allowed range ``[0, W] x [0, H]``."""
        H, W = self.original_size
        lim = np.array([W, H], dtype=np.float64)
        bad = ((xy < 0) | (xy > lim)).any(-1)
        if valid is not None:
            bad &= valid
        if bad.any():
            first = np.argwhere(bad)[0]
            msg = (f"{bad.sum()} {what} coordinate(s) fall outside the {H} x {W} image "
                   f"(allowed x in [0, {W}], y in [0, {H}]); first at index {tuple(int(i) for i in first)}: "
                   f"{xy[tuple(first)].tolist()}")
            if not clip:
                raise ValueError(msg + ". Pass clip=True to clip them to the image (with a warning).")
            warnings.warn(msg + "; clipped to the image.", stacklevel=3)
            xy = np.clip(xy, 0, lim)
        return xy

    def _prepare(self, boxes, points, labels, mask_input, clip):
        """Checked prompts in the model's input frame: ``(N, points, labels, boxes, mask_input)``, each
        a tensor on the model's device or None."""
        box_t = self._boxes(boxes, clip) if boxes is not None else None
        pts_t = lab_t = mask_t = None
        if points is not None or labels is not None:
            pts_t, lab_t = self._points(points, labels, clip)
            if box_t is not None and len(pts_t) != len(box_t):
                raise ValueError(f"boxes and points must describe the same N prompts, got {len(box_t)} boxes "
                                 f"and {len(pts_t)} point sets")
        if mask_input is not None:
            mask_t = self._mask_input(mask_input)
            given = box_t if box_t is not None else pts_t
            if given is not None and len(mask_t) != len(given):
                raise ValueError(f"mask_input has {len(mask_t)} masks for {len(given)} prompts")
        given = [t for t in (box_t, pts_t, mask_t) if t is not None]
        if not given:
            raise ValueError("no prompt given: pass boxes (N x 4) and/or points (N x K x 2) with labels (N x K)")
        return len(given[0]), pts_t, lab_t, box_t, mask_t

    def _boxes(self, boxes, clip: bool) -> torch.Tensor:
        b = _as_float_array(boxes, "boxes")
        if b.ndim == 1:
            b = b[None]
        if b.ndim != 2 or b.shape[1] != 4:
            raise ValueError(f"boxes must be N x 4 (x0, y0, x1, y1), got shape {b.shape}")
        if b.shape[0] == 0:
            raise ValueError("boxes is empty (N = 0)")
        flipped = (b[:, 2] < b[:, 0]) | (b[:, 3] < b[:, 1])
        if flipped.any():
            i = int(np.argwhere(flipped)[0, 0])
            raise ValueError(f"box {i} = {b[i].tolist()} has x1 < x0 or y1 < y0; boxes are XYXY")
        b = self._check_inside(b.reshape(-1, 2, 2), "box", clip).reshape(-1, 4)
        return torch.as_tensor(self.transform.apply_boxes(b, self.original_size), dtype=torch.float, device=self.device)

    def _points(self, points, labels, clip: bool) -> Tuple[torch.Tensor, torch.Tensor]:
        if points is None or labels is None:
            raise ValueError("points and labels go together: pass both (labels 1 = positive, 0 = negative)")
        p = _as_float_array(points, "points")
        lab = _as_float_array(labels, "labels")
        if p.ndim == 2:
            p = p[None]
        if lab.ndim == 1:
            lab = lab[None]
        if p.ndim != 3 or p.shape[-1] != 2:
            raise ValueError(f"points must be N x K x 2 (x, y), got shape {p.shape}")
        if p.shape[0] == 0 or p.shape[1] == 0:
            raise ValueError(f"empty point list (points shape {p.shape}): give at least one point per prompt")
        if lab.shape != p.shape[:2]:
            raise ValueError(f"labels must be N x K matching points {p.shape[:2]}, got shape {lab.shape}")
        if not np.isin(lab, (-1, 0, 1)).all():
            raise ValueError("labels must be 1 (positive), 0 (negative) or -1 (padding)")
        if (lab == -1).all(1).any():
            raise ValueError("a prompt has only padding points (label -1)")
        p = self._check_inside(p, "point", clip, valid=lab != -1)
        pts_t = torch.as_tensor(self.transform.apply_coords(p, self.original_size), dtype=torch.float,
                                device=self.device)
        return pts_t, torch.as_tensor(lab, dtype=torch.int, device=self.device)

    def _mask_input(self, mask_input) -> torch.Tensor:
        m = mask_input if isinstance(mask_input, torch.Tensor) else torch.as_tensor(np.asarray(mask_input))
        m = m.to(self.device, torch.float)
        if not bool(torch.isfinite(m).all()):
            raise ValueError("mask_input has NaN or infinite values")
        want = tuple(4 * s for s in self.features.shape[-2:])
        if m.ndim == 3:
            m = m[:, None]
        if m.ndim != 4 or m.shape[1] != 1 or tuple(m.shape[-2:]) != want:
            raise ValueError(f"mask_input must be N x 1 x {want[0]} x {want[1]} low-res logits, got {tuple(m.shape)}")
        return m

    # -- decoding -----------------------------------------------------------------------------
    def decode(self, points: Optional[torch.Tensor], labels: Optional[torch.Tensor],
               boxes: Optional[torch.Tensor], mask_input: Optional[torch.Tensor],
               multimask: bool) -> Tuple[torch.Tensor, torch.Tensor]:
        """One decoder call on prompts already in the model's input frame.

        Args:
            points: ``B x K x 2`` or None; labels ``B x K``; boxes ``B x 4``; mask_input ``B x 1 x h x w``.

        Returns:
            low-res logits ``B x C x h x w`` and IoU predictions ``B x C`` (``C`` = 3 or 1).
        """
        sparse, dense = self.model.prompt_encoder(
            points=(points, labels) if points is not None else None, boxes=boxes, masks=mask_input)
        dec = self.model.mask_decoder
        if self.uses_fast_decoder():
            from .fast import fast_decode
            return fast_decode(dec, self.features, self._dense_pe(), sparse, dense, multimask)
        low, iou = shared_predict_masks(dec, self.features, self._dense_pe(), sparse, dense)
        keep = slice(1, None) if multimask else slice(0, 1)    # as MaskDecoder.forward
        return low[:, keep], iou[:, keep]

    def uses_fast_decoder(self) -> bool:
        """Whether :meth:`decode` takes the fast path now (``fast=True``, SAM's decoder layout, no hooks)."""
        if not self.fast:
            return False
        from .fast import can_fold  # the optional fast path, imported only by fast=True
        return can_fold(self.model.mask_decoder)

    def _postprocess(self, low: torch.Tensor) -> torch.Tensor:
        """``Sam.postprocess_masks``: low-res logits -> the padded input frame -> crop -> the original size.
        The last resize is skipped when it is to the same size (bilinear at scale 1 returns its input)."""
        if tuple(self.input_size) != tuple(self.original_size):
            return self.model.postprocess_masks(low, self.input_size, self.original_size)
        size = self.model.image_encoder.img_size
        up = F.interpolate(low, (size, size), mode="bilinear", align_corners=False)
        return up[..., : self.input_size[0], : self.input_size[1]]

    def _dense_pe(self) -> torch.Tensor:
        """``prompt_encoder.get_dense_pe()``, computed once per predictor (it depends on no input)."""
        if self._pe is None or self._pe.device != self.device:
            self._pe = self.model.prompt_encoder.get_dense_pe()
        return self._pe

    def _chunk(self) -> int:
        if self.max_batch is not None:
            return max(1, int(self.max_batch))
        c, h, w = self.features.shape[-3:]
        budget = 1 << (26 if self.device.type == "cuda" else 22)   # floats in one activation: 256 MB / 16 MB
        return max(1, budget // (c * h * w))

    @torch.no_grad()
    def predict(self, boxes: Optional[ArrayLike] = None, points: Optional[ArrayLike] = None,
                labels: Optional[ArrayLike] = None, mask_input: Optional[ArrayLike] = None,
                multimask: bool = False, return_logits: bool = False, clip: bool = False) -> Prediction:
        """Masks for ``N`` prompts on the current image, decoded in batches.

        Args:
            boxes: ``N x 4`` XYXY pixel boxes (a single ``(4,)`` box means ``N = 1``).
            points: ``N x K x 2`` ``(x, y)`` pixel points (``K x 2`` means ``N = 1``), with
            labels: ``N x K``: 1 positive, 0 negative, -1 padding (ignored, lets prompts have
                different numbers of points).
            mask_input: optional ``N x 1 x h x w`` low-res logits from an earlier prediction.
            multimask: return SAM's 3 candidate masks per prompt instead of one.
            return_logits: float mask logits instead of bool masks.
            clip: prompts outside the image (``x`` outside ``[0, W]`` or ``y`` outside ``[0, H]``) are
                an error by default; ``clip=True`` clips them to the image and warns instead.

        Returns:
            :class:`Prediction` ``(masks, iou_predictions, low_res_logits)``; see its docstring.

        Raises:
            RuntimeError: no image set. ValueError: empty/mismatched/malformed prompts or
            prompts outside the image. RuntimeWarning (once per predictor): the ``N`` prompts' masks and
            logits take 128 MB or more (:func:`~gsam_lab.sam.decoding.warn_many_prompts`): pass them in batches.
        """
        self._require_image()
        n, pts, lab, box, mask = self._prepare(boxes, points, labels, mask_input, clip)
        warn_many_prompts(self, n, 3 if multimask else 1, self.features.shape[-2:], self.original_size, return_logits)
        if self.zoom and box is not None and mask is None:
            return self._predict_zoomed(pts, lab, box, multimask, return_logits)
        step = self._chunk()
        masks, ious, lows = [], [], []
        for start in range(0, n, step):
            rows = slice(start, start + step)
            low, iou = self.decode(_rows(pts, rows), _rows(lab, rows), _rows(box, rows), _rows(mask, rows),
                                   multimask)
            up = self._postprocess(low)
            masks.append(up if return_logits else up > self.model.mask_threshold)
            ious.append(iou)
            lows.append(low)
        masks, ious, lows = torch.cat(masks), torch.cat(ious), torch.cat(lows)
        if not multimask:
            masks, ious = masks[:, 0], ious[:, 0]
        return Prediction(masks, ious, lows)


    # -- crop-and-zoom --------------------------------------------------------------------------
    def _predict_zoomed(self, pts, lab, box, multimask: bool, return_logits: bool) -> Prediction:
        """:meth:`predict` with ``zoom=True``: every boxed prompt decoded on its own window's embedding.

        The prompts arrive in the model's input frame; each goes back to image pixels, into its window,
        and its window-frame logits are pasted into an image-size canvas (outside the window: a large
        negative logit). The low-res logits returned are the canvas brought back to SAM's low-res frame,
        so they can be passed as ``mask_input`` to a later, unzoomed call.
        """
        H, W = self.original_size
        size = self.model.image_encoder.img_size
        to_image = np.array([W, H, W, H], dtype=np.float64) / np.array(self.input_size[::-1] * 2, dtype=np.float64)
        boxes_img = box.cpu().numpy() * to_image
        full, masks, ious, lows = self.features, [], [], []
        try:
            for i, b in enumerate(boxes_img):
                window = zoom_window(b, (H, W), context=self.zoom_context)
                if not _zooms_in(window, b, (H, W)):             # the image's own embedding
                    self.features = full
                    low, iou = self.decode(_rows(pts, slice(i, i + 1)), _rows(lab, slice(i, i + 1)), box[i:i + 1],
                                           None, multimask)
                    logits = self._postprocess(low)
                else:
                    logits, iou = self._decode_window(window, b, pts, lab, i, multimask, to_image, size)
                masks.append(logits)
                ious.append(iou)
                lows.append(self._to_low_res(logits))
        finally:
            self.features = full
        logits, ious, lows = torch.cat(masks), torch.cat(ious), torch.cat(lows)
        masks_out = logits if return_logits else logits > self.model.mask_threshold
        if not multimask:
            masks_out, ious = masks_out[:, 0], ious[:, 0]
        return Prediction(masks_out, ious, lows)

    def _decode_window(self, window, box_img, pts, lab, i, multimask, to_image, size):
        """Logits ``1 x C x H x W`` and IoU predictions of prompt ``i`` decoded inside ``window``."""
        H, W = self.original_size
        x0, y0, x1, y1 = window
        self.features = self._embed(self.image[y0:y1, x0:x1])           # a square window: resized to size x size
        wbox = torch.as_tensor(box_in_window(box_img, window, size), dtype=torch.float, device=self.device)[None]
        wpts = None
        if pts is not None:
            p = pts[i:i + 1].cpu().numpy() * to_image[:2]
            p = (p - np.array([x0, y0])) * size / (x1 - x0)
            wpts = torch.as_tensor(p, dtype=torch.float, device=self.device)
        low, iou = self.decode(wpts, _rows(lab, slice(i, i + 1)), wbox, None, multimask)
        up = F.interpolate(low, (size, size), mode="bilinear", align_corners=False)
        up = F.interpolate(up, (y1 - y0, x1 - x0), mode="bilinear", align_corners=False)
        canvas = torch.full((1, up.shape[1], H, W), -1e4, device=up.device, dtype=up.dtype)
        canvas[..., y0:y1, x0:x1] = up
        return canvas, iou

    def _to_low_res(self, logits: torch.Tensor) -> torch.Tensor:
        """Image-size logits ``B x C x H x W`` -> SAM's low-res frame (resized, padded, 4 x the embedding grid)."""
        size = self.model.image_encoder.img_size
        h, w = self.input_size
        x = F.interpolate(logits, (h, w), mode="bilinear", align_corners=False)
        x = F.pad(x, (0, size - w, 0, size - h), value=-1e4)
        return F.interpolate(x, tuple(4 * s for s in self.features.shape[-2:]), mode="bilinear", align_corners=False)


def _zooms_in(window, box, hw) -> bool:
    """Whether ``window`` magnifies (smaller than the image's longer side) and holds the whole ``box``."""
    x0, y0, x1, y1 = window
    holds = x0 <= box[0] and y0 <= box[1] and box[2] < x1 and box[3] < y1
    return holds and (x1 - x0) < max(hw)


def _rows(t: Optional[torch.Tensor], rows: slice) -> Optional[torch.Tensor]:
    return None if t is None else t[rows]
