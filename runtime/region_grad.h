// Internal: the tape entries of a traced cond or while_loop, whose backward
// replays the recorded regions (NOTE [Gradients through a traced cond] and
// NOTE [Gradients through a traced while_loop] in runtime/region_grad.cpp).
#pragma once

#include <duet/runtime/tensor.h>

namespace duet {
class Node;
class Value;
}  // namespace duet

namespace duet::detail {

// What the region gradients need from the trace that recorded the node. The
// tracer sits above the runtime (DESIGN.md §2), so it implements this.
class RegionTrace {
 public:
  virtual ~RegionTrace() = default;
  // The one symbolic tensor of an IR value of the trace.
  virtual Tensor symbolic(Value* v) = 0;
  // The IR value of a tensor met in the trace: its symbol, or a new constant.
  virtual Value* value_of(const Tensor& t, SrcLoc loc) = 0;
};

// Tells recording tapes about a traced cond node (pred: its predicate): one
// entry whose backward is a cond. Nothing when no tape watches its inputs.
void record_cond_gradient(RegionTrace& trace, Node* node, Value* pred, SrcLoc loc);
// Tells recording tapes about a traced while node: one entry whose backward
// is a loop. When a tape watches its inputs the node gets its trip count as
// one more loop variable and result, after all others.
void record_while_gradient(RegionTrace& trace, Node* node, SrcLoc loc);

}  // namespace duet::detail
