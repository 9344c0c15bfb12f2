// The recorder of a trace. See NOTE [Tracing] in tracer/function_core.cpp and
// NOTE [Variables in the IR] in graph/ir.h.
#include <duet/tracer/trace_context.h>

#include <atomic>
#include <cstring>

#include <fmt/format.h>

#include <duet/runtime/tensor_impl.h>

namespace duet::detail {

namespace {
std::atomic<uint64_t> g_next_trace_id{1};

// A graph-friendly name hint from a variable's name ("dense/kernel" -> dense_kernel).
std::string identifier(const std::string& s) {
  std::string out;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '_') ? c : '_';
  return out.empty() || std::isdigit(static_cast<unsigned char>(out[0])) ? "v" + out : out;
}
}  // namespace

TraceContext::TraceContext(std::string name, std::vector<Variable> arg_variables,
                           std::vector<int> arg_variable_positions, bool allow_variable_creation)
    : graph_(std::make_unique<Graph>(std::move(name))),
      id_(g_next_trace_id.fetch_add(1)),
      arg_variables_(std::move(arg_variables)),
      arg_variable_positions_(std::move(arg_variable_positions)),
      allow_variable_creation_(allow_variable_creation) {}

TraceContext::~TraceContext() = default;

Tensor TraceContext::symbolic(Value* v) {
  return Tensor(TensorImpl::create_symbolic(v->type().tensor, v, id_));
}

Tensor TraceContext::parameter(const TensorType& type, const std::string& name) {
  return symbolic(graph_->add_param(type, name));
}

Value* TraceContext::value_of(const Tensor& t, SrcLoc loc) {
  const TensorImpl* impl = t.impl();
  if (!impl->storage) {
    if (impl->trace_id != id_)
      throw TraceError(format_error("trace",
                                    fmt::format("a symbolic {} of another (finished) trace was used; traced values "
                                                "cannot leave their function",
                                                t.type().str()),
                                    loc));
    return static_cast<Value*>(impl->symbol);
  }
  auto it = constants_.find(impl);
  if (it != constants_.end()) return it->second;
  if (!impl->device().is_cpu())
    throw DeviceError(format_error("trace", "a captured tensor on " + impl->device().str() + " cannot become a constant", loc));
  // A concrete tensor met in the trace becomes a constant of the graph.
  auto data = std::make_shared<DenseData>();
  data->dtype = impl->type.dtype;
  data->shape = impl->type.shape;
  size_t bytes = static_cast<size_t>(impl->type.shape.numel()) * dtype_size(impl->type.dtype);
  data->bytes.resize(bytes);
  if (bytes) std::memcpy(data->bytes.data(), impl->data(), bytes);
  Attrs attrs{{"value", Dense{data}}};
  Node* n = graph_->create(op_def("constant"), {}, {ValueType(impl->type)}, attrs, loc);
  constants_[impl] = n->result();
  keep_alive_.push_back(t);
  return n->result();
}

TensorList TraceContext::record(const OpDef& op, const Tensor* const* inputs, int n, const Attrs& attrs,
                                const SmallVec<TensorType, 2>& result_types, SrcLoc loc) {
  std::vector<Value*> operands;
  for (int i = 0; i < n; ++i) operands.push_back(value_of(*inputs[i], loc));
  std::vector<ValueType> types;
  for (size_t i = 0; i < result_types.size(); ++i) types.push_back(result_types[i]);
  Node* node = graph_->create(op, operands, types, attrs, loc);
  TensorList out;
  for (int i = 0; i < node->num_results(); ++i) out.push_back(symbolic(node->result(i)));
  return out;
}

TraceContext::VarState& TraceContext::variable(const Variable& v) {
  auto it = var_index_.find(v.state());
  if (it != var_index_.end()) return vars_[it->second];
  // First touch: a parameter bound to the call's argument or to the captured variable.
  VariableBinding binding;
  for (size_t k = 0; k < arg_variables_.size(); ++k)
    if (arg_variables_[k].same_as(v)) binding.arg_index = arg_variable_positions_[k];
  if (binding.arg_index < 0) binding.captured = v;
  std::string name = v.name().empty() ? "variable" : v.name();
  int& seen = used_var_names_[name];
  std::string marker = seen == 0 ? name : fmt::format("{}_{}", name, seen);
  ++seen;
  Value* p = graph_->add_param(TensorType{v.dtype(), v.shape()}, identifier(marker));
  p->set_variable(marker);
  bindings_.push_back(binding);
  var_index_[v.state()] = vars_.size();
  vars_.push_back(VarState{v, p, p});
  return vars_.back();
}

Tensor TraceContext::read_variable(const Variable& v) { return symbolic(variable(v).current); }

void TraceContext::assign_variable(const Variable& v, const Tensor& value, SrcLoc loc) {
  VarState& s = variable(v);
  s.current = value_of(value, loc);
}

void TraceContext::variable_created(const Variable& v, SrcLoc loc) {
  if (!allow_variable_creation_)
    throw TraceError(format_error(
        "Variable",
        fmt::format("'{}' is created while retracing {}: variables created in a function live on as state, so "
                    "only its first trace may create them; create it outside the function",
                    v.name(), "@" + graph_->name()),
        loc));
  created_.push_back(v);
}

int TraceContext::finish_variables() {
  std::vector<Value*> results = graph_->results();
  std::vector<std::string> markers;
  for (size_t i = 0; i < results.size(); ++i) markers.push_back(graph_->result_variable(static_cast<int>(i)));
  int added = 0;
  for (size_t k = 0; k < vars_.size(); ++k) {
    if (vars_[k].current == vars_[k].param) continue;  // read only
    results.push_back(vars_[k].current);
    markers.push_back(vars_[k].param->variable());
    writebacks_.push_back(static_cast<int>(k));
    ++added;
  }
  graph_->set_results(results);
  for (size_t i = 0; i < markers.size(); ++i) graph_->set_result_variable(static_cast<int>(i), markers[i]);
  return added;
}

}  // namespace duet::detail
