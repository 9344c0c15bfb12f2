// Losses (DESIGN.md §1), numerically stable.
#pragma once

#include <duet/runtime/tensor.h>

namespace duet::losses {

// Mean over the batch of -log softmax(logits)[label]; labels i32 or i64 [B],
// logits [B, C]. Through log_softmax (max subtracted first), so large logits
// do not overflow. A label outside [0, C) contributes 0 (one_hot's rule).
Tensor sparse_softmax_cross_entropy(const Tensor& labels, const Tensor& logits, Loc loc = Loc::current());

// mean((y_pred - y_true)^2) over every element.
Tensor mean_squared_error(const Tensor& y_true, const Tensor& y_pred, Loc loc = Loc::current());

}  // namespace duet::losses
