// torchvision's detection ops: nms (NonMaxSuppression-9), roi_align (ROIAlign-9), roi_pool
// (ROIPooling-2), deform_conv2d (DeformableConvolution-8).
//
// nms: one batch, one class; torchvision's boxes (x1, y1, x2, y2) go in as they are (the opset's
// corner encoding is [y1, x1, y2, x2], and IoU does not change when x and y trade places); no
// score threshold (the lowest float) and no limit on the count. The kept indices come in
// selection order, which is decreasing score with equal scores in index order (torchvision sorts
// stably). The number kept is known only when the op has run: the plan after it is made per count.
#include <limits>

#include "kiln/frontend/pytorch/translators/common.hpp"
#include "kiln/frontend/pytorch/translators/translators.hpp"
#include "kiln/ops/detection.hpp"

namespace kiln::frontend::pytorch {

namespace {

Outs nms(NodeContext& ctx) {  // torchvision::nms(dets [N, 4], scores [N], iou_threshold) -> [K] i64
    Output boxes = ctx.input(0), scores = ctx.input(1);
    const Type t = scores.type() == Type::dynamic ? Type::f32 : scores.type();
    boxes = to_type(ctx, boxes, t);
    Output b = ctx.make<op::Unsqueeze>({boxes, ctx.i64({0})});
    Output s = ctx.make<op::Unsqueeze>({scores, ctx.i64({0, 1})});
    Output max_out = ctx.make<op::Unsqueeze>({dim_of(ctx, boxes, 0), ctx.i64({0})});
    Output iou = typed_scalar(ctx, t, ctx.const_float(2));
    Output score = typed_scalar(ctx, t, -std::numeric_limits<double>::infinity());
    auto n = ctx.make_node<op::NonMaxSuppression>({b, s, max_out, iou, score}, op::NonMaxSuppression::BoxEncoding::corner,
                                                  false, Type::i64);
    return {ctx.make<op::Gather>({n->output(0), ctx.i64_scalar(2), ctx.i64_scalar(1)}, int64_t{0})};
}

// roi_align(input, rois [K, 5] (batch index, x1, y1, x2, y2), spatial_scale, pooled_height,
// pooled_width, sampling_ratio, aligned); sampling_ratio <= 0 is the adaptive ceil(bin size).
Outs roi_align(NodeContext& ctx) {
    Output x = ctx.input(0), rois = to_type(ctx, ctx.input(1), ctx.input(0).type());
    Output idx = to_type(ctx, ctx.make<op::Gather>({rois, ctx.i64_scalar(0), ctx.i64_scalar(1)}, int64_t{0}), Type::i64);
    Output boxes = ctx.make<op::Slice>({rois, ctx.i64({1}), ctx.i64({5}), ctx.i64({1}), ctx.i64({1})});
    const int64_t sr = std::max<int64_t>(ctx.const_int(5), 0);
    const auto aligned = ctx.const_bool(6) ? op::ROIAlign::AlignedMode::half_pixel : op::ROIAlign::AlignedMode::asymmetric;
    return {ctx.make<op::ROIAlign>({x, boxes, idx}, ctx.const_int(3), ctx.const_int(4), sr, ctx.const_float(2),
                                   op::ROIAlign::Mode::avg, aligned)};
}

// roi_pool(input, rois, spatial_scale, pooled_height, pooled_width) -> (output, argmax). The
// opset has no argmax output: it is left undefined (torchvision's roi_pool discards it; a model
// that reads it fails to convert there).
Outs roi_pool(NodeContext& ctx) {
    Output x = ctx.input(0), rois = to_type(ctx, ctx.input(1), ctx.input(0).type());
    return {ctx.make<op::ROIPooling>({x, rois}, ctx.const_int(3), ctx.const_int(4), ctx.const_float(2)), ConstValue::none()};
}

// deform_conv2d(input, weight, offset, mask, bias, stride_h, stride_w, pad_h, pad_w, dilation_h,
// dilation_w, groups, offset_groups, use_mask)
Outs deform_conv2d(NodeContext& ctx) {
    Output x = ctx.input(0), w = ctx.input(1), off = ctx.input(2);
    std::vector<int64_t> stride{ctx.const_int(5), ctx.const_int(6)}, pad{ctx.const_int(7), ctx.const_int(8)},
        dil{ctx.const_int(9), ctx.const_int(10)};
    // torchvision computes the groups from the channel counts: known here when those are.
    auto groups_of = [&](size_t i, const Output& v, int64_t per, const char* what) -> int64_t {
        if (ctx.is_const(i)) return ctx.const_int(i);
        const PartialShape& s = v.shape();
        const PartialShape& ws = w.shape();
        ctx.check(s.rank_is_static() && s.rank() == 4 && s[1].is_static() && ws.rank_is_static() && ws.is_static(), what,
                  " is computed from a channel count not known at conversion (", s.to_string(),
                  "): give the input's channel dimension with input=");
        return s[1].get_length() / per;
    };
    const PartialShape& ws = w.shape();
    auto wdim = [&](size_t k) { return ws.rank_is_static() && ws[k].is_static() ? ws[k].get_length() : 1; };
    const int64_t groups = groups_of(11, x, wdim(1), "the number of weight groups");
    const int64_t offset_groups = groups_of(12, off, 2 * wdim(2) * wdim(3), "the number of offset groups");
    OutputVector ins{x, off, w};
    if (ctx.const_bool(13)) ins.push_back(ctx.input(3));
    Output y = ctx.make<op::DeformableConvolution>(ins, stride, pad, pad, dil, groups, offset_groups, true);
    if (ctx.has_input(4))
        y = ctx.make<op::Add>({y, ctx.make<op::Reshape>({ctx.input(4), ctx.i64({1, -1, 1, 1})}, false)});
    return {y};
}

}  // namespace

void add_detection_translators(TranslatorTable& t) {
    t["torchvision::nms"] = nms;
    t["torchvision::roi_align"] = roi_align;
    t["torchvision::roi_pool"] = roi_pool;
    t["torchvision::deform_conv2d"] = deform_conv2d;
}

}  // namespace kiln::frontend::pytorch
