// The IR's text form, read (DESIGN.md §2.3). Errors are ParseErrors with
// line, column, the offending line and a caret under the column.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <duet/graph/ir.h>

namespace duet {

// Every `func` in the text, in order. Limits, each a ParseError before
// anything is allocated: a tensor type may take 2^48 bytes (256 TiB; its
// static dims multiplied, a 0 counted as 1), so that no size computed from
// types overflows int64; the dense values of one text may take 1 GiB
// together (a splat, dense<0.0> : f32[N], counts N elements).
std::vector<std::unique_ptr<Graph>> parse_module(std::string_view text, const std::string& source_name = "<input>");
// Exactly one `func`.
std::unique_ptr<Graph> parse_graph(std::string_view text, const std::string& source_name = "<input>");

}  // namespace duet
