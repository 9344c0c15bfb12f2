// The IR verifier: types agree with each op's infer, SSA dominance, regions
// well formed, side effects threaded by one token chain. Errors are
// duet::Errors that quote the node and its location.
#pragma once

#include <duet/graph/ir.h>

namespace duet {

void verify(const Graph& g);

}  // namespace duet
