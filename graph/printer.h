// The IR's text form, written (DESIGN.md §2.3). The parser reads exactly
// this back: print(parse(print(g))) == print(g).
#pragma once

#include <string>

#include <duet/graph/ir.h>

namespace duet {

std::string print_graph(const Graph& g);
// One node's line (without regions), named as in its whole function: for
// diagnostics.
std::string print_node(const Node& n);
// "loc("file.cpp":12)", or "" when unknown.
std::string print_loc(SrcLoc loc);

}  // namespace duet
