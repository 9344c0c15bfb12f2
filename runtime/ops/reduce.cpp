// Public reductions and normalizations: sum, mean, max, min, argmax,
// softmax, log_softmax, one_hot.
#include <duet/runtime/dispatch.h>
#include <duet/runtime/ops.h>

namespace duet {

namespace {
const OpDef& k_sum = op_def("sum");
const OpDef& k_mean = op_def("mean");
const OpDef& k_max = op_def("max");
const OpDef& k_min = op_def("min");
const OpDef& k_argmax = op_def("argmax");
const OpDef& k_softmax = op_def("softmax");
const OpDef& k_log_softmax = op_def("log_softmax");
const OpDef& k_one_hot = op_def("one_hot");

Tensor reduce(const OpDef& op, const Tensor& a, const Axes& axes, bool keepdims, Loc loc) {
  Attrs attrs{{"axes", axes.vec()}, {"keepdims", keepdims}};
  return dispatch1(op, {&a}, attrs, loc);
}

Tensor along_axis(const OpDef& op, const Tensor& a, int64_t axis, Loc loc) {
  Attrs attrs{{"axis", axis}};
  return dispatch1(op, {&a}, attrs, loc);
}
}  // namespace

Tensor sum(const Tensor& a, const Axes& axes, bool keepdims, Loc loc) { return reduce(k_sum, a, axes, keepdims, loc); }
Tensor mean(const Tensor& a, const Axes& axes, bool keepdims, Loc loc) { return reduce(k_mean, a, axes, keepdims, loc); }
Tensor max(const Tensor& a, const Axes& axes, bool keepdims, Loc loc) { return reduce(k_max, a, axes, keepdims, loc); }
Tensor min(const Tensor& a, const Axes& axes, bool keepdims, Loc loc) { return reduce(k_min, a, axes, keepdims, loc); }
Tensor argmax(const Tensor& a, int64_t axis, Loc loc) { return along_axis(k_argmax, a, axis, loc); }
Tensor softmax(const Tensor& a, int64_t axis, Loc loc) { return along_axis(k_softmax, a, axis, loc); }
Tensor log_softmax(const Tensor& a, int64_t axis, Loc loc) { return along_axis(k_log_softmax, a, axis, loc); }

Tensor one_hot(const Tensor& labels, int64_t depth, Loc loc) {
  Attrs attrs{{"depth", depth}};
  return dispatch1(k_one_hot, {&labels}, attrs, loc);
}

}  // namespace duet
