// memory-plan — decides which intermediate values of a function share a
// buffer, from liveness, and which are computed in place. The plan is a set
// of annotations the Program engine follows and the dump shows:
//  - on each node, `plan.buffers=[b, ...]`: the buffer of each result (-1:
//    not planned: returned values get their own buffer, views alias their
//    operand, tokens need none);
//  - an elementwise op or fusion whose operand dies there and has the
//    result's type writes into the operand's buffer (the same id);
//  - `plan.donate=[r, k]` on the node that computes a variable's next value
//    from its current one (w = w - lr*g): result r may be written into
//    operand k, the variable's buffer, when the caller donates it (nothing
//    else references that buffer; see NOTE [Donated variables]);
//  - on the function, `plan.peak_bytes` (the planned buffers' total),
//    `plan.intermediate_bytes` (the sum of every planned value's size, what
//    one buffer per value would take) and `plan.sizes` (each buffer's size);
//    with dynamic dims these are symbolic, "64 + 16*?" with one `?` per
//    dynamic dim, and the engine resolves them once per call shape.
// Values inside regions (cond, while, fusion bodies) are left to the engine.
// Needs: a verified graph; must run last (a later pass would leave the
// annotations stale). Preserves: everything but the annotations it rewrites.
//
//   %0 = exp(%x) : f32[64]         %0 = exp(%x) {plan.buffers=[0]} : f32[64]
//   %1 = neg(%0) : f32[64]    ->   %1 = neg(%0) {plan.buffers=[0]} : f32[64]     (in place)
//   %2 = mul(%1, %x) : f32[64]     %2 = mul(%1, %x) {plan.buffers=[-1]} : f32[64] (returned)
#include <algorithm>
#include <limits>
#include <map>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>

#include <duet/passes/pass.h>

namespace duet::passes {
namespace {

// A value's size: bytes times `?` to the power `dynamic`.
struct Size {
  int64_t bytes = 0;
  int dynamic = 0;
  std::string str() const {
    if (dynamic == 0) return std::to_string(bytes);
    return fmt::format("{}*?{}", bytes, dynamic > 1 ? "^" + std::to_string(dynamic) : "");
  }
};

// A sum of sizes: bytes per power of `?`.
struct Total {
  std::map<int, int64_t> terms;
  void add(const Size& s) { terms[s.dynamic] += s.bytes; }
  bool is_static() const { return terms.empty() || (terms.size() == 1 && terms.begin()->first == 0); }
  AttrValue value() const {
    if (is_static()) return terms.empty() ? int64_t(0) : terms.begin()->second;
    std::string out;
    for (const auto& [power, bytes] : terms) out += (out.empty() ? "" : " + ") + Size{bytes, power}.str();
    return out;
  }
};

Size size_of(const TensorType& t) {
  Size s{static_cast<int64_t>(dtype_size(t.dtype)), 0};
  for (int64_t d : t.shape) {
    if (d < 0) ++s.dynamic;
    else s.bytes *= d;
  }
  return s;
}

struct Buffer {
  Size size;
  size_t busy_until = 0;  // the last position its current value is used at
};

class Planner {
 public:
  Planner(Graph& g, PassContext& ctx) : g_(g), ctx_(ctx) {}

  void run() {
    std::vector<Node*> nodes = g_.nodes_snapshot();
    for (size_t i = 0; i < nodes.size(); ++i) position_[nodes[i]] = i;
    const size_t end = nodes.size();  // returned values live to the end
    for (Value* r : g_.results()) extend(root(r), end);
    for (int i = 0; i < g_.num_params(); ++i) note_uses(g_.param(i));
    for (Node* n : nodes)
      for (int k = 0; k < n->num_results(); ++k) note_uses(n->result(k));
    Total intermediate;
    for (Node* n : nodes) {
      std::vector<int64_t> ids;
      taken_.clear();
      for (int k = 0; k < n->num_results(); ++k) {
        Value* r = n->result(k);
        int id = planned(*n, r) ? assign(*n, r) : -1;
        ids.push_back(id);
        if (id >= 0) intermediate.add(size_of(r->type().tensor));
      }
      if (n->num_results() > 0 && n->name() != "constant") n->mutable_attrs().set("plan.buffers", ids);
      donate(*n);
    }
    Total peak;
    std::string sizes;
    for (size_t b = 0; b < buffers_.size(); ++b) {
      peak.add(buffers_[b].size);
      sizes += fmt::format("{}b{}={}", b ? " " : "", b, buffers_[b].size.str());
    }
    // Sizes with dynamic dims are strings like "1024 + 512*?" (each ? one dynamic dim).
    Attrs& a = g_.mutable_attrs();
    a.set("plan.peak_bytes", peak.value());
    a.set("plan.intermediate_bytes", intermediate.value());
    a.set("plan.sizes", sizes);
    ctx_.stat("buffers", static_cast<int64_t>(buffers_.size()));
    ctx_.stat("planned values", planned_values_);
    ctx_.stat("in place", in_place_);
    if (peak.is_static()) ctx_.stat("peak bytes", std::get<int64_t>(peak.value()));
    if (intermediate.is_static()) ctx_.stat("intermediate bytes", std::get<int64_t>(intermediate.value()));
  }

 private:
  // The value whose buffer v lives in: views follow their operand.
  Value* root(Value* v) const {
    while (v->producer() && v->producer()->op().has(kView)) v = v->producer()->operand(0);
    return v;
  }
  // The position of the node in this graph that holds `user`.
  size_t top_position(Node* user) const {
    while (user->parent() != &g_) user = user->parent()->parent_node();
    return position_.at(user);
  }
  void extend(Value* v, size_t at) { last_use_[v] = std::max(last_use_[v], at); }
  void note_uses(Value* v) {
    Value* r = root(v);
    for (const Use& u : v->uses()) extend(r, top_position(u.user));
    for (Node* y : v->region_yielders()) extend(r, top_position(y));  // a region yields it
  }
  size_t last_use(Value* v) const {
    auto it = last_use_.find(v);
    return it == last_use_.end() ? 0 : it->second;
  }

  bool planned(const Node& n, const Value* r) const {
    if (r->type().is_token || n.name() == "constant" || n.op().has(kView)) return false;
    return std::find(g_.results().begin(), g_.results().end(), r) == g_.results().end();
  }

  // An op that reads each operand element at the index it writes: an
  // elementwise op, or a fusion of elementwise ops whose results all have one
  // shape (a reduction or a smaller export would read across indices).
  static bool elementwise_step(const Node& n) {
    if (n.op().has(kElementwise)) return true;
    if (n.name() != "fusion") return false;
    for (int k = 1; k < n.num_results(); ++k)
      if (!(n.result(k)->type().tensor.shape == n.result(0)->type().tensor.shape)) return false;
    for (const auto& m : n.region(0)->nodes())
      if (!m->op().has(kElementwise)) return false;
    return true;
  }

  int assign(Node& n, Value* r) {
    const size_t at = position_.at(&n);
    const Size need = size_of(r->type().tensor);
    ++planned_values_;
    // In place: an operand of the same type that dies here, in a buffer of its own.
    if (elementwise_step(n))
      for (Value* v : n.operands()) {
        auto it = buffer_of_.find(v);
        if (it == buffer_of_.end() || !(v->type() == r->type()) || last_use(v) != at) continue;
        if (taken_.count(it->second)) continue;  // another result of n writes there
        bool aliased = false;  // a view of v read at other indices
        for (Value* o : n.operands()) aliased |= o != v && root(o) == v;
        if (aliased) continue;
        buffers_[it->second].busy_until = std::max(last_use(r), at);
        taken_.insert(it->second);
        buffer_of_[r] = it->second;
        ++in_place_;
        return it->second;
      }
    // Best fit among free buffers of the same kind (static, or the same power of ?).
    int best = -1;
    for (size_t b = 0; b < buffers_.size(); ++b) {
      const Buffer& buf = buffers_[b];
      if (buf.busy_until >= at || buf.size.dynamic != need.dynamic) continue;
      if (best < 0) { best = static_cast<int>(b); continue; }
      const Buffer& cur = buffers_[static_cast<size_t>(best)];
      bool fits = buf.size.bytes >= need.bytes, cur_fits = cur.size.bytes >= need.bytes;
      if ((fits && (!cur_fits || buf.size.bytes < cur.size.bytes)) || (!fits && !cur_fits && buf.size.bytes > cur.size.bytes))
        best = static_cast<int>(b);
    }
    if (best < 0) {
      buffers_.push_back(Buffer{need, 0});
      best = static_cast<int>(buffers_.size() - 1);
    }
    Buffer& buf = buffers_[static_cast<size_t>(best)];
    buf.size.bytes = std::max(buf.size.bytes, need.bytes);
    buf.busy_until = std::max(last_use(r), at);
    taken_.insert(best);
    buffer_of_[r] = best;
    return best;
  }

  // w_next = f(w, ...) returned as w's next value, with w dead after f.
  void donate(Node& n) {
    if (!elementwise_step(n)) return;
    for (int k = 0; k < n.num_results(); ++k) {
      Value* r = n.result(k);
      for (size_t i = 0; i < g_.results().size(); ++i) {
        const std::string& var = g_.result_variable(static_cast<int>(i));
        if (g_.results()[i] != r || var.empty()) continue;
        for (int op = 0; op < n.num_operands(); ++op) {
          Value* w = n.operand(op);
          if (w->producer() || w->variable() != var || !(w->type() == r->type())) continue;
          if (last_use(w) != position_.at(&n)) {
            ctx_.remark(fmt::format("memory-plan: variable '{}' is read after its update, so it is not updated in place", var));
            continue;
          }
          n.mutable_attrs().set("plan.donate", std::vector<int64_t>{k, op});
          ctx_.stat("variables updated in place");
          return;
        }
      }
    }
  }

  Graph& g_;
  PassContext& ctx_;
  std::unordered_map<const Node*, size_t> position_;
  std::unordered_map<const Value*, size_t> last_use_;
  std::unordered_map<const Value*, int> buffer_of_;
  std::vector<Buffer> buffers_;
  std::unordered_set<int> taken_;  // buffers the current node's results write
  int64_t planned_values_ = 0, in_place_ = 0;
};

PassResult memory_plan(Graph& g, PassContext& ctx) {
  Planner(g, ctx).run();
  return PassResult::changed_if(true);
}

}  // namespace

DUET_PASS("memory-plan", memory_plan, "buffer sharing from liveness, in-place updates, peak bytes (run last)");

}  // namespace duet::passes
