// The kernel IR (codegen/kernel_ir.h): fusion bodies, softmax rows and
// fused_matmul epilogues described as BodySpecs, and which of them each
// device's generator takes.
#include <duet/codegen/kernel_ir.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <unordered_map>

namespace duet::codegen {

namespace {

// An elementwise op the generators have scalar code for.
bool known_scalar(const Node& n) {
  ScalarOp s = n.op().scalar_op();
  if (s == ScalarOp::none) return false;
  DType t = n.operand(0)->type().tensor.dtype;
  if (s == ScalarOp::pow && !is_floating(t)) return false;  // integer pow: a loop, left to the eager kernel
  return true;
}

// 1: a reduction over the innermost axis alone; 2: over every axis but the
// innermost; 0: neither.
int reduction_kind(const Node& n) {
  const std::string& op = n.name();
  if (op != "sum" && op != "mean" && op != "max" && op != "min") return 0;
  if (n.operand(0)->type().tensor.dtype == DType::b8) return 0;
  const Shape& in = n.operand(0)->type().tensor.shape;
  std::vector<int64_t> axes = n.attrs().get_ints("axes");
  if (axes.empty()) return 0;  // every axis
  for (int64_t& a : axes) a = a < 0 ? a + in.rank() : a;
  std::sort(axes.begin(), axes.end());
  if (axes.size() == 1 && axes[0] == in.rank() - 1) return 1;
  if (static_cast<int>(axes.size()) != in.rank() - 1) return 0;
  for (size_t k = 0; k < axes.size(); ++k)
    if (axes[k] != static_cast<int64_t>(k)) return 0;
  return 2;
}

}  // namespace

std::string unsupported(const Graph& body) {
  if (body.results().empty() || body.nodes().empty()) return "no results";
  const Node& last = *body.nodes().back();
  const bool reduces = last.op().has(kReduction);
  if (reduces && reduction_kind(last) == 0)
    return last.name() + " is not a sum, mean, max or min over the innermost axis alone or every other axis";
  const Shape& space = reduces ? last.operand(0)->type().tensor.shape : body.results()[0]->type().tensor.shape;
  for (const Value* r : body.results())
    if (!(reduces && r == last.result()) && !(r->type().tensor.shape == space)) return "its results differ in shape";
  for (const auto& n : body.nodes()) {
    if (reduces && n.get() == &last) continue;
    if (!n->op().has(kElementwise)) return n->name() + " is not elementwise";
    if (!known_scalar(*n)) return "no scalar code for " + n->name() + " on " + n->operand(0)->type().str();
  }
  return "";
}

BodySpec describe(const Graph& body) {
  BodySpec spec;
  std::unordered_map<const Value*, int> id;
  for (int i = 0; i < body.num_params(); ++i) {
    id[body.param(i)] = i;
    spec.params.push_back(body.param(i)->type().tensor.dtype);
  }
  for (const auto& n : body.nodes()) {
    BodySpec::Op op;
    op.scalar = n->op().scalar_op();  // none for the reduction
    op.name = n->name();
    for (Value* v : n->operands()) op.in.push_back(id.at(v));
    op.operand = n->operand(op.scalar == ScalarOp::where ? 1 : 0)->type().tensor.dtype;
    op.result = n->result()->type().tensor.dtype;
    id[n->result()] = static_cast<int>(spec.params.size() + spec.ops.size());
    spec.ops.push_back(std::move(op));
  }
  for (const Value* v : body.results()) spec.yields.push_back(id.at(v));
  if (body.nodes().back()->op().has(kReduction)) {
    spec.columns = reduction_kind(*body.nodes().back()) == 2;
    const int red = static_cast<int>(spec.params.size() + spec.ops.size()) - 1;
    for (size_t k = 0; k < spec.yields.size(); ++k)
      if (spec.yields[k] == red) spec.reduction_yield = static_cast<int>(k);
  }
  return spec;
}

std::string unsupported_normalization(const Node& n) {
  if (n.name() != "softmax" && n.name() != "log_softmax") return n.name() + " is not softmax or log_softmax";
  const TensorType& t = n.operand(0)->type().tensor;
  if (t.dtype != DType::f32) return "the row kernel is f32 only, not " + n.operand(0)->type().str();
  const int rank = t.shape.rank();
  int64_t axis = n.attrs().get_int("axis");
  if (axis < 0) axis += rank;
  if (rank == 0 || axis != rank - 1) return "not over the innermost axis";
  return "";
}

BodySpec describe_normalization(const Node& n) {
  BodySpec spec;
  spec.params = {DType::f32};
  BodySpec::Op op;
  op.name = n.name();
  op.in = {0};
  spec.ops.push_back(op);
  spec.yields = {1};
  spec.normalizes = true;
  return spec;
}

BodySpec describe_epilogue(const Node& n) {
  BodySpec spec;
  if (n.name() != "fused_matmul" || n.num_operands() < 2) return spec;
  for (int i = 0; i < n.num_operands(); ++i)
    if (n.operand(i)->type().tensor.dtype != DType::f32) return spec;
  const AttrValue* act = n.attrs().find("activation");
  const std::string activation = act ? std::get<std::string>(*act) : "none";
  ScalarOp scalar = activation == "tanh" ? ScalarOp::tanh
                    : activation == "sigmoid" ? ScalarOp::sigmoid
                    : activation == "gelu" ? ScalarOp::gelu
                                           : ScalarOp::none;
  if (scalar == ScalarOp::none) return spec;
  const int biases = n.num_operands() - 2;
  spec.params.assign(static_cast<size_t>(1 + biases), DType::f32);
  int last = 0;
  for (int k = 0; k < biases; ++k) {
    spec.ops.push_back(BodySpec::Op{ScalarOp::add, "add", {last, 1 + k}, DType::f32, DType::f32});
    last = static_cast<int>(spec.params.size() + spec.ops.size()) - 1;
  }
  spec.ops.push_back(BodySpec::Op{scalar, activation, {last}, DType::f32, DType::f32});
  spec.yields = {static_cast<int>(spec.params.size() + spec.ops.size()) - 1};
  return spec;
}

std::vector<int64_t> broadcast_strides(const Shape& s, const Shape& space) {
  const int rank = space.rank();
  std::vector<int64_t> st(static_cast<size_t>(rank));
  int64_t stride = 1;
  for (int d = rank - 1; d >= 0; --d) {
    int sd = d - (rank - s.rank());
    int64_t dim = sd >= 0 ? s.dim(sd) : 1;
    st[static_cast<size_t>(d)] = dim == 1 ? 0 : stride;
    stride *= dim;
  }
  return st;
}

std::string libdevice_path() {
  if (const char* v = std::getenv("DUET_LIBDEVICE"); v && *v) return v;
#ifdef DUET_LIBDEVICE
  std::error_code ec;
  if (std::filesystem::exists(DUET_LIBDEVICE, ec)) return DUET_LIBDEVICE;
#endif
  return "";
}

bool is_transcendental(ScalarOp s) {
  switch (s) {
    case ScalarOp::exp: case ScalarOp::log: case ScalarOp::tanh: case ScalarOp::sigmoid:
    case ScalarOp::gelu: case ScalarOp::erf: case ScalarOp::gelu_tanh: case ScalarOp::log1p:
    case ScalarOp::softplus: case ScalarOp::sin: case ScalarOp::cos:
      return true;
    default: return false;
  }
}

bool calls_math_library(const BodySpec::Op& op) {
  if (op.scalar == ScalarOp::pow || op.scalar == ScalarOp::sin || op.scalar == ScalarOp::cos) return true;
  return is_transcendental(op.scalar) && op.operand != DType::f32;
}

std::string gpu_refusal(const BodySpec& body) {
  if (body.normalizes) return "a softmax row (not generated for GPUs yet)";
  for (const BodySpec::Op& op : body.ops) {
    // As on the CPU (known_scalar): pow by squaring is a loop, left to the eager kernel.
    if (op.scalar == ScalarOp::pow && !is_floating(op.operand)) return "pow on integers";
    if (calls_math_library(op) && libdevice_path().empty())
      return op.name + " in " + std::string(dtype_name(op.operand)) + " needs CUDA's libdevice, which was not found";
  }
  return "";
}

std::string fusion_refusal(const Node& fusion, Device::Type device) {
  const Graph& body = *fusion.region(0);
  if (std::string why = unsupported(body); !why.empty()) return why;
  if (device == Device::Type::cpu) return "";
  int rank = 0;  // of the iteration space: the widest operand or result
  for (const Value* v : fusion.operands()) rank = std::max(rank, v->type().tensor.shape.rank());
  for (int i = 0; i < fusion.num_results(); ++i) rank = std::max(rank, fusion.result(i)->type().tensor.shape.rank());
  if (rank > kMaxGpuRank)
    return "its iteration space has rank " + std::to_string(rank) + ", GPU kernels take at most " + std::to_string(kMaxGpuRank);
  return gpu_refusal(describe(body));
}

}  // namespace duet::codegen
