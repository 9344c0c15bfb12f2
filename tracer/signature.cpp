// What a call looks like to the trace cache: its arguments as specs, the key
// of a spec, whether a trace's spec serves a call, and the words for what
// changed between two (NOTE [Tracing] in function_core.cpp).
#include <algorithm>

#include <fmt/format.h>

#include <duet/graph/printer.h>
#include <duet/tracer/function_core.h>

namespace duet::detail {

namespace {

const char* kind_name(ArgValue::Kind k) {
  switch (k) {
    case ArgValue::Kind::tensor: return "Tensor";
    case ArgValue::Kind::variable: return "Variable";
    case ArgValue::Kind::tensor_list: return "std::vector<Tensor>";
    case ArgValue::Kind::boolean: return "bool";
    case ArgValue::Kind::integer: return "integer";
    case ArgValue::Kind::real: return "floating";
    case ArgValue::Kind::string: return "std::string";
  }
  return "?";
}

std::string spec_text(const ArgSpec& s) {
  switch (s.kind) {
    case ArgValue::Kind::tensor: return s.types[0].str();
    case ArgValue::Kind::variable: return "Variable " + s.types[0].str() + (s.value.empty() ? "" : " " + s.value);
    case ArgValue::Kind::tensor_list: {
      std::string t = "[";
      for (size_t i = 0; i < s.types.size(); ++i) t += (i ? ", " : "") + s.types[i].str();
      return t + "]";
    }
    default: return s.value;
  }
}

std::string value_text(double d) { return fmt::format("{}", d); }

}  // namespace

std::string key_of(const std::vector<ArgSpec>& spec) {
  std::string k;
  for (const ArgSpec& s : spec) {
    k += kind_name(s.kind);
    k += ':';
    k += spec_text(s);
    if (s.kind == ArgValue::Kind::tensor || s.kind == ArgValue::Kind::tensor_list || s.kind == ArgValue::Kind::variable) {
      k += '@';
      k += s.device.str();
    }
    k += '|';
  }
  return k;
}

bool dims_fit(const Shape& want, const Shape& got) {
  if (want.rank() != got.rank()) return false;
  for (int i = 0; i < want.rank(); ++i)
    if (want.dim(i) >= 0 && want.dim(i) != got.dim(i)) return false;
  return true;
}

bool spec_fits(const std::vector<ArgSpec>& want, const std::vector<ArgSpec>& got) {
  if (want.size() != got.size()) return false;
  for (size_t i = 0; i < want.size(); ++i) {
    const ArgSpec &w = want[i], &g = got[i];
    if (w.kind != g.kind || w.types.size() != g.types.size() || w.value != g.value || !(w.device == g.device)) return false;
    for (size_t k = 0; k < w.types.size(); ++k)
      if (w.types[k].dtype != g.types[k].dtype || !dims_fit(w.types[k].shape, g.types[k].shape)) return false;
  }
  return true;
}

std::string difference(const std::vector<ArgSpec>& from, const std::vector<ArgSpec>& to) {
  for (size_t i = 0; i < std::min(from.size(), to.size()); ++i) {
    const ArgSpec &a = from[i], &b = to[i];
    if (a.kind != b.kind) return fmt::format("arg {}: {} -> {}", i, kind_name(a.kind), kind_name(b.kind));
    if (a.value != b.value) return fmt::format("arg {}: value {} -> {}", i, a.value, b.value);
    if (a.types.size() != b.types.size())
      return fmt::format("arg {}: {} tensors -> {}", i, a.types.size(), b.types.size());
    for (size_t k = 0; k < a.types.size(); ++k) {
      std::string where = a.kind == ArgValue::Kind::tensor_list ? fmt::format("arg {}[{}]", i, k) : fmt::format("arg {}", i);
      if (a.types[k].dtype != b.types[k].dtype)
        return fmt::format("{}: dtype {} -> {}", where, dtype_name(a.types[k].dtype), dtype_name(b.types[k].dtype));
      if (!(a.types[k].shape == b.types[k].shape))
        return fmt::format("{}: shape {} -> {}", where, a.types[k].shape.str(), b.types[k].shape.str());
    }
    if (!(a.device == b.device)) return fmt::format("arg {}: device {} -> {}", i, a.device.str(), b.device.str());
  }
  if (from.size() != to.size()) return fmt::format("{} arguments -> {}", from.size(), to.size());
  return "a new signature";
}

std::vector<ArgSpec> generalize_changed_dims(const std::vector<ArgSpec>& last, const std::vector<ArgSpec>& spec) {
  std::vector<ArgSpec> general = spec;
  if (last.empty() || last.size() != spec.size()) return general;
  // Same kinds and ranks only.
  for (size_t i = 0; i < spec.size(); ++i) {
    const ArgSpec &a = last[i], &b = spec[i];
    if (a.kind != b.kind || a.value != b.value || a.types.size() != b.types.size()) return general;
    for (size_t k = 0; k < a.types.size(); ++k)
      if (a.types[k].dtype != b.types[k].dtype || a.types[k].shape.rank() != b.types[k].shape.rank()) return general;
  }
  for (size_t i = 0; i < spec.size(); ++i)
    for (size_t k = 0; k < spec[i].types.size(); ++k)
      for (int d = 0; d < spec[i].types[k].shape.rank(); ++d)
        if (last[i].types[k].shape.dim(d) != spec[i].types[k].shape.dim(d)) general[i].types[k].shape.at(d) = -1;
  return general;
}

std::vector<ArgSpec> FunctionCore::spec_of(const std::vector<ArgValue>& args) const {
  std::vector<ArgSpec> spec;
  size_t next_sig = 0;
  const auto& sig = options_.input_signature;
  // `element` is the index in a tensor list, or -1; the argument's name is
  // only formatted for an error (this runs on every call).
  auto tensor_type = [&](const Tensor& t, size_t arg, long element) {
    auto where = [&] { return element < 0 ? fmt::format("arg {}", arg) : fmt::format("arg {}[{}]", arg, element); };
    if (!t.defined()) throw Error(fmt::format("function '{}': {} is an undefined tensor", name(), where()));
    TensorType type = t.type();
    if (!sig.empty()) {
      if (next_sig >= sig.size())
        throw Error(fmt::format("function '{}': {} has no entry in the input_signature ({} specs)", name(), where(),
                                sig.size()));
      const TensorSpec& want = sig[next_sig++];
      if (want.dtype != type.dtype || !dims_fit(want.shape, type.shape))
        throw Error(fmt::format("function '{}': {} is {}, which does not fit the input_signature {}", name(), where(),
                                type.str(), TensorType{want.dtype, want.shape}.str()));
      type.shape = want.shape;
    }
    return type;
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const ArgValue& a = args[i];
    ArgSpec s;
    s.kind = a.kind;
    switch (a.kind) {
      case ArgValue::Kind::tensor:
        s.types.push_back(tensor_type(a.tensor, i, -1));
        s.device = a.tensor.device();
        break;
      case ArgValue::Kind::variable:
        if (!a.variable.defined()) throw Error(fmt::format("function '{}': arg {} is an empty Variable", name(), i));
        s.types.push_back(TensorType{a.variable.dtype(), a.variable.shape()});
        s.device = a.variable.device();
        // Aliasing is part of the key: (v, v) and (v, w) need different traces.
        for (size_t j = 0; j < i; ++j)
          if (args[j].kind == ArgValue::Kind::variable && args[j].variable.same_as(a.variable)) {
            s.value = fmt::format("(the variable of arg {})", j);
            break;
          }
        break;
      case ArgValue::Kind::tensor_list:
        for (size_t k = 0; k < a.list.size(); ++k) {
          s.types.push_back(tensor_type(a.list[k], i, static_cast<long>(k)));
          s.device = a.list[k].device();
        }
        break;
      case ArgValue::Kind::boolean: s.value = a.i ? "true" : "false"; break;
      case ArgValue::Kind::integer: s.value = std::to_string(a.i); break;
      case ArgValue::Kind::real: s.value = value_text(a.d); break;
      case ArgValue::Kind::string: s.value = quote_string(a.s); break;
    }
    spec.push_back(std::move(s));
  }
  if (!sig.empty() && next_sig != sig.size())
    throw Error(fmt::format("function '{}': the input_signature has {} specs but the call has {} tensors", name(),
                            sig.size(), next_sig));
  return spec;
}

}  // namespace duet::detail
