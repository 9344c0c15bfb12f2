// The Program engine (DESIGN.md §2.5). The tracer and LLVM issues fill this
// layer; for now it only anchors the library in the order graph, backends <- codegen.
#include <duet/backends/kernel.h>

namespace duet::codegen {
int layer_version() { return 0; }
}  // namespace duet::codegen
