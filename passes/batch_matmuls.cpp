// batch-matmuls — matmuls of single slices of one tensor along a batch axis
// by one shared matrix (an unrolled RNN's x_t Wx for every step t) become one
// matmul of the whole tensor, each original product a slice of it: one large
// call instead of T small ones (a small oneDNN matmul costs ~3 us in calls
// and setup alone).
// Needs: a verified graph. Preserves: results up to the product's summation
// order, which matmul leaves unspecified (the library picks its blocking).
// Fires only when the slices used cover at least half of the batch axis, so
// it never computes much more than before. The slices and squeezes it leaves
// unused are dce's.
//
//   %s = slice(%x) {axis=0, begin=1, end=2} : f32[1,32,64]       %f = reshape(%x) : f32[T*32,64]
//   %l = squeeze(%s) {axes=[0]} : f32[32,64]               ->    %p = reshape(matmul(%f, %w)) : f32[T,32,128]
//   %m = matmul(%l, %w) : f32[32,128]                             %m = squeeze(slice(%p) {axis=0, begin=1, end=2})
#include <map>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include <duet/graph/printer.h>
#include <duet/passes/pass.h>

namespace duet::passes {
namespace {

struct Candidate {
  Node* matmul;
  int64_t begin;
};

// m = matmul(squeeze(slice(x, axis a, t, t+1), [a]), w) with a a batch axis
// of x and w a matrix: the key (x, a, w) and t.
bool match(Node& m, std::tuple<Value*, int64_t, Value*>* key, int64_t* t) {
  if (m.name() != "matmul") return false;
  Node* sq = m.operand(0)->producer();
  if (!sq || sq->name() != "squeeze" || sq->parent() != m.parent()) return false;
  Node* sl = sq->operand(0)->producer();
  if (!sl || sl->name() != "slice" || sl->parent() != m.parent()) return false;
  const Shape& xs = sl->operand(0)->type().tensor.shape;
  const int r = xs.rank();
  int64_t a = sl->attrs().get_int("axis");
  a = a < 0 ? a + r : a;
  const std::vector<int64_t>& axes = sq->attrs().get_ints("axes");
  if (axes.size() != 1 || (axes[0] < 0 ? axes[0] + r : axes[0]) != a || a >= r - 2) return false;
  if (m.operand(1)->type().tensor.shape.rank() != 2 || !xs.is_static()) return false;
  int64_t n = xs.dim(static_cast<int>(a)), b = sl->attrs().get_int("begin"), e = sl->attrs().get_int("end");
  b = b < 0 ? b + n : b;
  e = e < 0 ? e + n : e;
  if (b < 0 || e != b + 1 || e > n) return false;
  *key = {sl->operand(0), a, m.operand(1)};
  *t = b;
  return true;
}

int batch_graph(Graph& g, PassContext& ctx) {
  int rewritten = 0;
  for (const auto& n : g.nodes())
    for (int r = 0; r < n->num_regions(); ++r) rewritten += batch_graph(*n->region(r), ctx);
  std::map<std::tuple<Value*, int64_t, Value*>, std::vector<Candidate>> groups;
  for (const auto& n : g.nodes()) {
    std::tuple<Value*, int64_t, Value*> key;
    int64_t t;
    if (match(*n, &key, &t)) groups[key].push_back(Candidate{n.get(), t});
  }
  const OpDef &matmul = op_def("matmul"), &slice = op_def("slice"), &squeeze = op_def("squeeze");
  for (auto& [key, members] : groups) {
    auto [x, axis, w] = key;
    const int64_t n = x->type().tensor.shape.dim(static_cast<int>(axis));
    if (members.size() < 2 || static_cast<int64_t>(members.size()) * 2 < n) {
      ctx.remark(fmt::format("batch-matmuls: {} matmul(s) of slices of {} along axis {} cover too little of its {}, left alone",
                             members.size(), x->type().str(), axis, n));
      continue;
    }
    Node* first = members.front().matmul;  // the graph order: members were collected in it
    // One 2-D product: x's leading dims flattened into rows (a free reshape
    // of contiguous data), then shaped back to [..., N].
    const TensorType& xt = x->type().tensor;
    const Shape& xs = xt.shape;
    int64_t rows = 1;
    for (int d = 0; d + 1 < xs.rank(); ++d) rows *= xs.dim(d);
    const int64_t k = xs.dim(xs.rank() - 1), cols = w->type().tensor.shape.dim(1);
    const OpDef& reshape = op_def("reshape");
    Node* flat = g.create(reshape, {x}, {TensorType{xt.dtype, Shape{rows, k}}}, Attrs{{"shape", std::vector<int64_t>{rows, k}}},
                          first->loc(), first);
    Node* prod = g.create(matmul, {flat->result(), w}, {TensorType{xt.dtype, Shape{rows, cols}}}, {}, first->loc(), first);
    std::vector<int64_t> back = xs.vec();
    back.back() = cols;
    Node* placed = g.create(reshape, {prod->result()}, {TensorType{xt.dtype, Shape(back)}}, Attrs{{"shape", back}},
                            first->loc(), first);
    for (const Candidate& c : members) {
      Attrs sa{{"axis", axis}, {"begin", c.begin}, {"end", c.begin + 1}};
      std::vector<int64_t> shape = placed->result()->type().tensor.shape.vec();
      shape[static_cast<size_t>(axis)] = 1;
      Node* s = g.create(slice, {placed->result()}, {TensorType{placed->result()->type().tensor.dtype, Shape(shape)}}, sa,
                         c.matmul->loc(), c.matmul);
      Node* q = g.create(squeeze, {s->result()}, {c.matmul->result()->type()}, Attrs{{"axes", std::vector<int64_t>{axis}}},
                         c.matmul->loc(), c.matmul);
      c.matmul->result()->replace_all_uses_with(q->result());
      c.matmul->erase();
    }
    ctx.stat("matmuls batched", static_cast<int64_t>(members.size()));
    ++rewritten;
  }
  return rewritten;
}

PassResult batch_matmuls(Graph& g, PassContext& ctx) { return PassResult::changed_if(batch_graph(g, ctx) > 0); }

}  // namespace

DUET_PASS("batch-matmuls", batch_matmuls, "matmuls of slices of one tensor by one matrix -> one matmul, sliced");

}  // namespace duet::passes
