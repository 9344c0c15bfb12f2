// Graph, Node and Value: construction, use lists, erasure.
#include <duet/graph/ir.h>

#include <algorithm>
#include <mutex>
#include <set>

#include <fmt/format.h>

namespace duet {

std::string ValueType::str() const { return is_token ? "token" : tensor.str(); }

const char* intern_file_name(const std::string& file) {
  static std::mutex mu;
  static auto* names = new std::set<std::string>;  // never destroyed: SrcLocs point into it
  std::lock_guard<std::mutex> lock(mu);
  return names->insert(file).first->c_str();
}

// ---- Value -------------------------------------------------------------------------

void Value::replace_all_uses_with(Value* v) {
  if (v == this) return;
  std::vector<Use> uses = uses_;
  for (const Use& u : uses) u.user->set_operand(u.operand_index, v);
  // Graph results that name this value.
  Graph* g = producer_ ? producer_->parent() : owner_;
  if (returned_ > 0 && g) {
    // Results can only refer to values visible in their graph: this graph
    // or a region nested in it. Walk them all.
    std::vector<Graph*> stack{g};
    while (!stack.empty() && returned_ > 0) {
      Graph* cur = stack.back();
      stack.pop_back();
      for (size_t i = 0; i < cur->results().size(); ++i)
        if (cur->results()[i] == this) cur->set_result(static_cast<int>(i), v);
      for (const auto& n : cur->nodes())
        for (int r = 0; r < n->num_regions(); ++r) stack.push_back(n->region(r));
    }
  }
}

std::vector<Node*> Value::region_yielders() const {
  std::vector<Node*> out;
  Graph* g = producer_ ? producer_->parent() : owner_;
  int own = 0;
  if (g)
    for (const Value* r : g->results()) own += r == this;
  if (returned_ <= own || !g) return out;
  std::vector<Graph*> stack;
  for (const auto& n : g->nodes())
    for (int r = 0; r < n->num_regions(); ++r) stack.push_back(n->region(r));
  while (!stack.empty()) {
    Graph* cur = stack.back();
    stack.pop_back();
    if (std::find(cur->results().begin(), cur->results().end(), this) != cur->results().end())
      out.push_back(cur->parent_node());
    for (const auto& n : cur->nodes())
      for (int r = 0; r < n->num_regions(); ++r) stack.push_back(n->region(r));
  }
  return out;
}

// ---- Node --------------------------------------------------------------------------

Node::~Node() = default;

void Node::remove_use(Value* v, Node* user, int index) {
  auto& uses = v->uses_;
  for (size_t i = 0; i < uses.size(); ++i)
    if (uses[i].user == user && uses[i].operand_index == index) {
      uses[i] = uses.back();
      uses.pop_back();
      return;
    }
}

void Node::set_operand(int i, Value* v) {
  remove_use(operands_[i], this, i);
  operands_[i] = v;
  v->uses_.push_back({this, i});
}

void Node::add_operand(Value* v) {
  operands_.push_back(v);
  v->uses_.push_back({this, static_cast<int>(operands_.size()) - 1});
}

Value* Node::add_result(const ValueType& type) {
  auto v = std::make_unique<Value>();
  v->type_ = type;
  v->producer_ = this;
  v->owner_ = parent_;
  v->index_ = static_cast<int>(results_.size());
  results_.push_back(std::move(v));
  return results_.back().get();
}

Graph* Node::add_region() {
  regions_.push_back(std::make_unique<Graph>());
  regions_.back()->parent_node_ = this;
  return regions_.back().get();
}

bool Node::is_removable() const {
  if (!op_->has(kPure) || op_->has(kSideEffecting)) return false;
  for (const auto& r : regions_)
    for (const auto& n : r->nodes())
      if (!n->is_removable()) return false;
  return true;
}

bool Node::unused() const {
  for (const auto& r : results_)
    if (!r->unused()) return false;
  return true;
}

static void drop_all_uses(Graph& g);

void Node::erase() {
  DUET_CHECK(unused(), "erasing node " + name() + " whose results are still used");
  // Drop the uses that nodes inside the regions hold on outer values.
  for (auto& r : regions_) drop_all_uses(*r);
  drop_operands();
  parent_->nodes_.erase(self_);  // destroys this
}

// ---- Graph -------------------------------------------------------------------------

Graph::Graph(std::string name) : name_(std::move(name)) {}

// Drops every use that nodes of g (and of its regions) hold, while every
// value is still alive; then nothing dangles whatever order nodes die in
// (a graph being verified may hold a use before its definition).
static void drop_all_uses(Graph& g) {
  for (Node* n : g.nodes_snapshot()) {
    for (int r = 0; r < n->num_regions(); ++r) drop_all_uses(*n->region(r));
    n->drop_operands();
  }
}

Graph::~Graph() {
  if (!parent_node_) drop_all_uses(*this);  // a region's uses were dropped with its function's
  else
    for (Node* n : nodes_snapshot()) n->drop_operands();
  for (Value* v : results_) --v->returned_;
  while (!nodes_.empty()) nodes_.pop_back();
}

void Node::drop_operands() {
  for (int i = 0; i < num_operands(); ++i) remove_use(operands_[i], this, i);
  operands_.clear();
}

Value* Graph::add_param(const ValueType& type, std::string name) {
  auto v = std::make_unique<Value>();
  v->type_ = type;
  v->owner_ = this;
  v->index_ = static_cast<int>(params_.size());
  v->name_ = std::move(name);
  params_.push_back(std::move(v));
  return params_.back().get();
}

SmallVec<TensorType, 2> infer_types(const OpDef& op, const std::vector<const TensorType*>& operands,
                                    const Attrs& attrs, SrcLoc loc) {
  InferContext ctx(op, operands.data(), static_cast<int>(operands.size()), attrs, loc);
  op.run_infer(ctx);
  return ctx.results;
}

Node* Graph::append(const OpDef& op, const std::vector<Value*>& operands, const Attrs& attrs, SrcLoc loc) {
  std::vector<const TensorType*> types;
  for (Value* v : operands) {
    if (v->type().is_token) throw Error(format_error(op.name(), "a token is not a tensor operand", loc));
    types.push_back(&v->type().tensor);
  }
  SmallVec<TensorType, 2> results = infer_types(op, types, attrs, loc);
  std::vector<ValueType> rt;
  for (size_t i = 0; i < results.size(); ++i) rt.push_back(results[i]);
  return create(op, operands, rt, attrs, loc);
}

Node* Graph::create(const OpDef& op, const std::vector<Value*>& operands, const std::vector<ValueType>& result_types,
                    const Attrs& attrs, SrcLoc loc, Node* before) {
  std::unique_ptr<Node> node(new Node);
  Node* n = node.get();
  n->op_ = &op;
  n->attrs_ = attrs;
  n->loc_ = loc;
  n->parent_ = this;
  for (size_t i = 0; i < operands.size(); ++i) {
    n->operands_.push_back(operands[i]);
    operands[i]->uses_.push_back({n, static_cast<int>(i)});
  }
  for (size_t i = 0; i < result_types.size(); ++i) {
    auto v = std::make_unique<Value>();
    v->type_ = result_types[i];
    v->producer_ = n;
    v->owner_ = this;
    v->index_ = static_cast<int>(i);
    n->results_.push_back(std::move(v));
  }
  auto pos = before ? before->self_ : nodes_.end();
  n->self_ = nodes_.insert(pos, std::move(node));
  return n;
}

std::vector<Node*> Graph::nodes_snapshot() const {
  std::vector<Node*> out;
  out.reserve(nodes_.size());
  for (const auto& n : nodes_) out.push_back(n.get());
  return out;
}

int64_t Graph::total_nodes() const {
  int64_t n = 0;
  for (const auto& node : nodes_) {
    ++n;
    for (int r = 0; r < node->num_regions(); ++r) n += node->region(r)->total_nodes();
  }
  return n;
}

void Graph::set_results(const std::vector<Value*>& values) {
  for (Value* v : results_) --v->returned_;
  results_ = values;
  result_variables_.assign(values.size(), "");
  for (Value* v : results_) ++v->returned_;
}

void Graph::set_result(int i, Value* v) {
  --results_[i]->returned_;
  results_[i] = v;
  ++v->returned_;
}

bool Graph::encloses(const Graph* inner) const {
  for (const Graph* g = inner; g; g = g->parent_node_ ? g->parent_node_->parent() : nullptr)
    if (g == this) return true;
  return false;
}

}  // namespace duet
