// Internal hooks between tapes (runtime/autodiff.cpp) and the rest of
// duet: variable reads and ops that bypass dispatch (custom gradients,
// compiled functions).
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include <duet/runtime/autodiff.h>

namespace duet::detail {

// Whether any tape records on this thread.
bool tapes_recording();
// A variable was read: recording tapes that watch it remember the tensor.
void tape_variable_read(const Variable& v, const Tensor& value);
// The backward of an op-like call with several outputs: output gradients
// (zeros where none) in, one gradient per input out.
using OpBackward = std::function<std::vector<Tensor>(const std::vector<Tensor>& output_grads)>;
void tape_record_op(const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
                    std::shared_ptr<const OpBackward> backward, SrcLoc loc);
// Whether a recording tape watches any of these tensors.
bool tapes_watch_any(const std::vector<Tensor>& tensors);

}  // namespace duet::detail
