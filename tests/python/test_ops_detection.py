"""Per-op tests of torchvision's detection ops (translators/detection.cpp): nms (selection order and
equal scores, a count known only at run time), batched_nms, roi_align (aligned both ways, fixed
and adaptive sampling), roi_pool, deform_conv2d (with and without mask, groups, offset groups,
stride, padding, dilation). Same helper and rules as test_ops.py: scripted and traced, static and
dynamic shapes, against torchvision at rtol = atol = 1e-4.
"""
import pytest
import torch
import torchvision
from torch import nn
from torchvision import ops

from test_ops import C, In, check, fn, params


class Nms(nn.Module):
    def __init__(self, iou=0.5, ties=False):
        super().__init__()
        self.iou = iou
        self.ties = ties

    def forward(self, boxes, scores):
        # Boxes from corners and sizes (x1 < x2, y1 < y2), scores rounded to a few values when
        # testing ties (many equal scores: torchvision keeps them in index order).
        b = torch.cat([boxes[:, :2] * 10, boxes[:, :2] * 10 + boxes[:, 2:].abs() * 5 + 1], 1)
        s = torch.floor(scores * 2) / 2 if self.ties else scores
        keep = ops.nms(b, s, self.iou)
        return keep, b[keep]


class BatchedNms(nn.Module):
    def forward(self, boxes, scores, classes):
        b = torch.cat([boxes[:, :2] * 10, boxes[:, :2] * 10 + boxes[:, 2:].abs() * 5 + 1], 1)
        return ops.batched_nms(b, scores, classes, 0.4)


def _rois(boxes, idx, h: float, w: float):
    """[K, 5] rois (batch index, x1, y1, x2, y2) inside about a h x w image, some reaching past it."""
    x1 = boxes[:, 0].abs() * w * 0.6 - 1
    y1 = boxes[:, 1].abs() * h * 0.6 - 1
    x2 = x1 + boxes[:, 2].abs() * w * 0.5 + 0.3
    y2 = y1 + boxes[:, 3].abs() * h * 0.5 + 0.3
    return torch.stack([idx.to(boxes.dtype), x1, y1, x2, y2], 1)


class RoiAlign(nn.Module):
    def __init__(self, size=(3, 2), scale=0.5, sampling=2, aligned=False):
        super().__init__()
        self.size, self.scale, self.sampling, self.aligned = size, scale, sampling, aligned

    def forward(self, x, boxes, idx):
        rois = _rois(boxes, idx, x.shape[2] / self.scale, x.shape[3] / self.scale)
        return ops.roi_align(x, rois, self.size, self.scale, self.sampling, self.aligned)


class RoiPool(nn.Module):
    def forward(self, x, boxes, idx):
        rois = _rois(boxes, idx, x.shape[2] * 2.0, x.shape[3] * 2.0)
        return ops.roi_pool(x, rois, (2, 3), 0.5)


class RoiAlignModule(nn.Module):
    def __init__(self):
        super().__init__()
        self.r = ops.RoIAlign((2, 2), 1.0, -1, aligned=True)

    def forward(self, x, boxes, idx):
        return self.r(x, _rois(boxes, idx, float(x.shape[2]), float(x.shape[3])))


class DeformConv(nn.Module):
    def __init__(self, cin=4, cout=6, k=3, stride=1, padding=1, dilation=1, groups=1, offset_groups=1, mask=True):
        super().__init__()
        self.conv = ops.DeformConv2d(cin, cout, k, stride, padding, dilation, groups)
        n_off = 2 * offset_groups * k * k
        self.offset = nn.Conv2d(cin, n_off, k, stride, padding, dilation)
        self.mask = nn.Conv2d(cin, offset_groups * k * k, k, stride, padding, dilation) if mask else None
        with torch.no_grad():
            self.offset.weight.mul_(3.0)  # offsets of a pixel or more, some reaching outside the image

    def forward(self, x):
        off = self.offset(x)
        if self.mask is None:
            return self.conv(x, off)
        return self.conv(x, off, torch.sigmoid(self.mask(x)))


@fn
def DeformConvFunctional(self, x, off, w):
    return ops.deform_conv2d(x, off, w, stride=(2, 1), padding=(0, 1))


NO_GROUPS = ("ConversionError: torchvision::deform_conv2d: the number of weight groups is computed from a channel "
             "count not known at conversion: give the input's channel dimension with input=")
BOXES = In((12, 4), alt=(20, 4))
SCORES = In((12,), alt=(20,), values="unit")
IMG = In((2, 3, 10, 12), alt=(3, 3, 9, 14))
ROI_BOXES = In((5, 4), alt=(7, 4), values="unit")
ROI_IDX = In((5,), alt=(7,), dtype="int64", values="idx:2")

CASES = [
    C("nms", Nms, [BOXES, SCORES]),
    C("nms_iou_0.2", lambda: Nms(0.2), [BOXES, SCORES]),
    C("nms_equal_scores", lambda: Nms(0.6, ties=True), [BOXES, SCORES]),
    C("batched_nms", BatchedNms, [BOXES, SCORES, In((12,), alt=(20,), dtype="int64", values="idx:3")]),
    C("roi_align", RoiAlign, [IMG, ROI_BOXES, ROI_IDX]),
    C("roi_align_aligned", lambda: RoiAlign(aligned=True), [IMG, ROI_BOXES, ROI_IDX]),
    C("roi_align_adaptive", lambda: RoiAlign((2, 2), 0.25, 0, False), [IMG, ROI_BOXES, ROI_IDX]),
    C("roi_align_adaptive_aligned", lambda: RoiAlign((4, 3), 1.0, -1, True), [IMG, ROI_BOXES, ROI_IDX]),
    # float(x.shape[2]) is a Python number: tracing records it for the example's size.
    C("roi_align_module", RoiAlignModule, [IMG, ROI_BOXES, ROI_IDX], trace_dynamic=False),
    C("roi_pool", RoiPool, [IMG, ROI_BOXES, ROI_IDX]),
    C("deform_conv2d_mask", DeformConv, In((2, 4, 7, 8), alt=(1, 4, 9, 6)), xfail={"script-dynamic": NO_GROUPS}),
    C("deform_conv2d_no_mask", lambda: DeformConv(mask=False), In((2, 4, 7, 8), alt=(1, 4, 9, 6)),
      xfail={"script-dynamic": NO_GROUPS}),
    C("deform_conv2d_groups", lambda: DeformConv(4, 6, 3, 2, 2, 2, groups=2, offset_groups=2),
      In((2, 4, 9, 8), alt=(1, 4, 11, 10)), xfail={"script-dynamic": NO_GROUPS}),
    C("deform_conv2d_functional", DeformConvFunctional,
      [In((1, 2, 6, 5), alt=(2, 2, 8, 5)), In((1, 18, 2, 5), alt=(2, 18, 3, 5)), In((3, 2, 3, 3), alt=(3, 2, 3, 3))],
      xfail={"script-dynamic": NO_GROUPS, "export-dynamic": NO_GROUPS}),
]


@pytest.mark.parametrize("case,dtype,capture,shapes", list(params(CASES)))
def test_op(case, dtype, capture, shapes):
    check(case.module(), case.ins, capture=capture, shapes=shapes, dtype=dtype)
