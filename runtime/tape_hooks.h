// Internal hooks between tapes (runtime/autodiff.cpp) and the rest of
// duet: variable reads and ops that bypass dispatch (custom gradients,
// compiled functions).
#pragma once

#include <memory>
#include <vector>

#include <duet/runtime/autodiff.h>

namespace duet::detail {

// Whether any tape records on this thread.
bool tapes_recording();
// A variable was read: recording tapes that watch it remember the tensor.
void tape_variable_read(const Variable& v, const Tensor& value);
// Records one op-like entry with a hand-written backward.
void tape_record_custom(const std::vector<Tensor>& inputs, const Tensor& output,
                        std::shared_ptr<const CustomBackward> backward, SrcLoc loc);

}  // namespace duet::detail
