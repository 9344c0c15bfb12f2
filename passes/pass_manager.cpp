// The pass manager (DESIGN.md §2.4). The IR issue fills this layer; for now
// it only anchors the library in the dependency order graph <- passes.
#include <duet/graph/op_def.h>

namespace duet::passes {
int layer_version() { return 0; }
}  // namespace duet::passes
