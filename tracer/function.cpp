// duet::function and the signature cache (DESIGN.md §1, §2.6). The tracer
// issue fills this layer; for now it anchors the library above runtime,
// passes and codegen.
#include <duet/runtime/dispatch.h>

namespace duet::tracer {
int layer_version() { return 0; }
}  // namespace duet::tracer
