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
// "loc("file.cpp":12)", or "" when unknown (or the file has no base name).
std::string print_loc(SrcLoc loc);

// The graph as Graphviz dot (one box per node, an edge per use, cond/while
// regions as clusters, a fusion's body as one line of ops in its box, the
// memory plan's attributes left out) and as JSON (params, nodes with operands, results, types,
// attributes as their IR text, locations and regions; results), both named
// as print_graph names values. For duet-dump.
std::string graph_dot(const Graph& g);
std::string graph_json(const Graph& g);
// A string as a JSON string literal.
std::string json_quote(const std::string& s);

}  // namespace duet
