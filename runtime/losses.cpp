// Losses written with duet ops: differentiable, traceable.
#include <duet/runtime/losses.h>

#include <fmt/format.h>

#include <duet/runtime/ops.h>
#include <duet/runtime/tensor_impl.h>

namespace duet::losses {

namespace {
// An IndexError naming the first label outside the classes of `logits`.
void check_labels(const char* op, const Tensor& labels, const Tensor& logits, SrcLoc loc) {
  const int64_t classes = logits.shape()[1];
  auto check = [&](const auto* p) {
    for (int64_t i = 0; i < labels.numel(); ++i)
      if (p[i] < 0 || p[i] >= classes)
        throw IndexError(format_error(op, fmt::format("label {} at position {} of {} is out of range [0, {}) (the "
                                                      "classes of logits {})",
                                                      static_cast<int64_t>(p[i]), i, labels.type().str(), classes,
                                                      logits.type().str()),
                                      loc));
  };
  if (labels.dtype() == DType::i32) check(labels.impl()->ptr<int32_t>());
  if (labels.dtype() == DType::i64) check(labels.impl()->ptr<int64_t>());
}
}  // namespace

Tensor sparse_softmax_cross_entropy(const Tensor& labels, const Tensor& logits, Loc loc) {
  const char* op = "sparse_softmax_cross_entropy";
  if (!labels.defined() || !logits.defined()) throw Error(format_error(op, "an operand is undefined", loc));
  if (logits.rank() != 2 || labels.rank() != 1)
    throw ShapeError(format_error(op, fmt::format("expects labels [B] and logits [B, C], got {} and {}",
                                                  labels.type().str(), logits.type().str()), loc));
  if (labels.shape()[0] != logits.shape()[0] && labels.shape()[0] >= 0 && logits.shape()[0] >= 0)
    throw ShapeError(format_error(op, fmt::format("batch sizes differ: labels {}, logits {}", labels.type().str(),
                                                  logits.type().str()), loc));
  // Concrete labels are checked here, so the error names this loss; traced
  // ones by one_hot's kernel (NOTE [Labels are checked]).
  if (labels.impl()->storage && labels.device().is_cpu() && logits.shape()[1] >= 0)
    check_labels(op, labels, logits, loc);
  Tensor log_p = log_softmax(logits, -1, loc);
  Tensor picked = sum(cast(one_hot(labels, logits.shape()[1], loc), logits.dtype(), loc) * log_p, {1}, false, loc);
  return neg(mean(picked, {}, false, loc), loc);
}

Tensor mean_squared_error(const Tensor& y_true, const Tensor& y_pred, Loc loc) {
  // Equal shapes only: a silent broadcast ([2,1] against [1,3]) is a classic wrong loss.
  if (y_true.defined() && y_pred.defined() && !(y_true.shape() == y_pred.shape()))
    throw ShapeError(format_error("mean_squared_error", fmt::format("shapes differ: y_true {}, y_pred {}",
                                                                    y_true.type().str(), y_pred.type().str()), loc));
  return mean(square(sub(Operand(y_pred, loc), y_true), loc), {}, false, loc);
}

}  // namespace duet::losses
