// duet::function: trace a callable into a graph on the first call with a new
// input signature, optimize and compile it, cache it by that signature, and
// run the compiled program on later calls (DESIGN.md §1, §2.6).
// NOTE [Tracing] in tracer/function_core.cpp describes the mechanics.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <duet/runtime/dispatch.h>
#include <duet/runtime/tensor.h>
#include <duet/runtime/variable.h>

namespace duet {

// The shape (-1 = any size) and dtype an argument must have.
struct TensorSpec {
  Shape shape;
  DType dtype = DType::f32;
  TensorSpec(const Shape& s, DType d = DType::f32) : shape(s), dtype(d) {}  // NOLINT
};

struct FunctionOptions {
  std::string name;                         // "" -> "function"
  std::vector<TensorSpec> input_signature;  // empty: none; one spec per tensor argument
  bool reduce_retracing = false;  // after a shape change, retrace once with the changed dims dynamic
  int max_traces = 0;             // > 0: one more trace is a TraceError ("locked")
  int cache_size = 64;            // traces kept (least recently used dropped first)
  size_t cache_bytes = size_t{256} << 20;  // and at most this much memory held by them (an estimate:
                                           // IR text, constants, steps, plans); the newest is always kept
};

enum class Stage { traced, optimized, lowered };

// Debugging switch: every function runs its callable eagerly.
void run_functions_eagerly(bool on);
bool functions_run_eagerly();

namespace detail {

// One argument of a call, as the cache and the tracer see it.
struct ArgValue {
  enum class Kind : uint8_t { tensor, variable, tensor_list, boolean, integer, real, string };
  Kind kind = Kind::tensor;
  Tensor tensor;
  Variable variable;
  std::vector<Tensor> list;
  int64_t i = 0;
  double d = 0;
  std::string s;
};

struct Trace;
class FunctionCore;

// The callable with its typed arguments rebuilt from ArgValues; returns the
// flattened results.
using Body = std::function<std::vector<Tensor>(std::vector<ArgValue>&)>;

std::shared_ptr<FunctionCore> make_core(Body body, FunctionOptions options, const char* result_kind);
std::vector<Tensor> call_core(FunctionCore& core, std::vector<ArgValue>& args, SrcLoc loc = SrcLoc());
std::shared_ptr<const Trace> concrete_core(FunctionCore& core, std::vector<ArgValue>& args);
int trace_count(const FunctionCore& core);
std::vector<std::string> retrace_reasons(const FunctionCore& core);
// Inline the body into an enclosing trace (or run it eagerly), guarding
// against recursion while tracing.
std::vector<Tensor> call_inline(FunctionCore& core, std::vector<ArgValue>& args);

template <class T> struct always_false : std::false_type {};

template <class T>
ArgValue to_arg(const T& v) {
  ArgValue a;
  if constexpr (std::is_same_v<T, Tensor>) {
    a.kind = ArgValue::Kind::tensor;
    a.tensor = v;
  } else if constexpr (std::is_same_v<T, Variable>) {
    a.kind = ArgValue::Kind::variable;
    a.variable = v;
  } else if constexpr (std::is_same_v<T, std::vector<Tensor>>) {
    a.kind = ArgValue::Kind::tensor_list;
    a.list = v;
  } else if constexpr (std::is_same_v<T, bool>) {
    a.kind = ArgValue::Kind::boolean;
    a.i = v;
  } else if constexpr (std::is_same_v<T, int> || std::is_same_v<T, int64_t>) {
    a.kind = ArgValue::Kind::integer;
    a.i = v;
  } else if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    a.kind = ArgValue::Kind::real;
    a.d = v;
  } else if constexpr (std::is_same_v<T, std::string>) {
    a.kind = ArgValue::Kind::string;
    a.s = v;
  } else {
    static_assert(always_false<T>::value,
                  "duet::function: arguments are Tensor, Variable, std::vector<Tensor>, bool, int, int64_t, "
                  "float, double or std::string");
  }
  return a;
}

template <class T>
T from_arg(ArgValue& a) {
  if constexpr (std::is_same_v<T, Tensor>) return a.tensor;
  else if constexpr (std::is_same_v<T, Variable>) return a.variable;
  else if constexpr (std::is_same_v<T, std::vector<Tensor>>) return a.list;
  else if constexpr (std::is_same_v<T, bool>) return a.i != 0;
  else if constexpr (std::is_integral_v<T>) return static_cast<T>(a.i);
  else if constexpr (std::is_floating_point_v<T>) return static_cast<T>(a.d);
  else return a.s;
}

template <class R> struct result_traits {
  static_assert(always_false<R>::value,
                "duet::function: results are Tensor, std::vector<Tensor>, std::tuple or std::pair of Tensors, "
                "or void");
};
template <> struct result_traits<void> {
  static constexpr const char* kind = "void";
};
template <> struct result_traits<Tensor> {
  static constexpr const char* kind = "Tensor";
  static void flatten(const Tensor& r, std::vector<Tensor>& out) { out.push_back(r); }
  static Tensor unflatten(std::vector<Tensor>& v) { return std::move(v.at(0)); }
};
template <> struct result_traits<std::vector<Tensor>> {
  static constexpr const char* kind = "std::vector<Tensor>";
  static void flatten(const std::vector<Tensor>& r, std::vector<Tensor>& out) { out.insert(out.end(), r.begin(), r.end()); }
  static std::vector<Tensor> unflatten(std::vector<Tensor>& v) { return std::move(v); }
};
template <class... Ts> struct result_traits<std::tuple<Ts...>> {
  static_assert((std::is_same_v<Ts, Tensor> && ...), "duet::function: a tuple result holds Tensors only");
  static constexpr const char* kind = "std::tuple of Tensors";
  static void flatten(const std::tuple<Ts...>& r, std::vector<Tensor>& out) {
    std::apply([&](const auto&... t) { (out.push_back(t), ...); }, r);
  }
  static std::tuple<Ts...> unflatten(std::vector<Tensor>& v) {
    return unflatten_at(v, std::index_sequence_for<Ts...>{});
  }
  template <size_t... I>
  static std::tuple<Ts...> unflatten_at(std::vector<Tensor>& v, std::index_sequence<I...>) {
    return std::tuple<Ts...>{std::move(v.at(I))...};
  }
};
template <class A, class B> struct result_traits<std::pair<A, B>> {
  static_assert(std::is_same_v<A, Tensor> && std::is_same_v<B, Tensor>, "duet::function: a pair result holds Tensors");
  static constexpr const char* kind = "std::pair of Tensors";
  static void flatten(const std::pair<A, B>& r, std::vector<Tensor>& out) {
    out.push_back(r.first);
    out.push_back(r.second);
  }
  static std::pair<A, B> unflatten(std::vector<Tensor>& v) { return {std::move(v.at(0)), std::move(v.at(1))}; }
};

// The call signature of a callable: one non-template operator() or a
// function (pointer).
template <class F, class = void>
struct signature_of {
  static_assert(always_false<F>::value,
                "duet::function needs a callable with one non-template call signature; a generic lambda "
                "(auto parameters) or an overloaded functor has none: give its parameters concrete types");
};
template <class R, class... A> struct signature_of<R(A...)> { using type = R(A...); };
template <class R, class... A> struct signature_of<R (*)(A...)> { using type = R(A...); };
template <class M> struct member_signature;
template <class C, class R, class... A> struct member_signature<R (C::*)(A...)> { using type = R(A...); };
template <class C, class R, class... A> struct member_signature<R (C::*)(A...) const> { using type = R(A...); };
template <class C, class R, class... A> struct member_signature<R (C::*)(A...) noexcept> { using type = R(A...); };
template <class C, class R, class... A> struct member_signature<R (C::*)(A...) const noexcept> { using type = R(A...); };
template <class F>
struct signature_of<F, std::void_t<decltype(&F::operator())>> {
  using type = typename member_signature<decltype(&F::operator())>::type;
};

}  // namespace detail

// A traced function specialized to one input signature.
class ConcreteFunction {
 public:
  ConcreteFunction() = default;
  explicit ConcreteFunction(std::shared_ptr<const detail::Trace> t) : trace_(std::move(t)) {}
  // The graph as recorded (traced), after the pass pipeline (optimized), or
  // the Program's steps (lowered).
  std::string ir(Stage stage = Stage::optimized) const;
  const std::string& name() const;
  // Runs the compiled program on the flattened tensor arguments.
  std::vector<Tensor> operator()(const std::vector<Tensor>& inputs, Loc loc = Loc::current()) const;

 private:
  friend void save(const ConcreteFunction& function, const std::string& path);
  std::shared_ptr<const detail::Trace> trace_;
};

template <class Sig> class Function;

template <class R, class... Args>
class Function<R(Args...)> {
 public:
  template <class F>
  Function(F&& f, FunctionOptions options) {
    auto fp = std::make_shared<std::decay_t<F>>(std::forward<F>(f));
    detail::Body body = [fp](std::vector<detail::ArgValue>& vals) -> std::vector<Tensor> {
      return invoke(*fp, vals, std::index_sequence_for<Args...>{});
    };
    const char* kind = "void";
    if constexpr (!std::is_void_v<R>) kind = detail::result_traits<std::decay_t<R>>::kind;
    core_ = detail::make_core(std::move(body), std::move(options), kind);
  }

  // The caller's line is named by errors of the compiled call (out of memory).
  R operator()(std::decay_t<Args>... args, Loc loc = Loc::current()) const {
    std::vector<detail::ArgValue> vals{detail::to_arg(args)...};
    std::vector<Tensor> out = (functions_run_eagerly() || current_recorder()) ? detail::call_inline(*core_, vals)
                                                                             : detail::call_core(*core_, vals, loc);
    if constexpr (!std::is_void_v<R>) return detail::result_traits<std::decay_t<R>>::unflatten(out);
  }

  // Traces (if this signature has no trace yet) without running.
  ConcreteFunction get_concrete_function(std::decay_t<Args>... args) const {
    std::vector<detail::ArgValue> vals{detail::to_arg(args)...};
    return ConcreteFunction(detail::concrete_core(*core_, vals));
  }
  int trace_count() const { return detail::trace_count(*core_); }
  // Why each of the last 100 retraces happened ("arg 0: shape [32,784] -> [16,784]").
  std::vector<std::string> retrace_reasons() const { return detail::retrace_reasons(*core_); }

 private:
  template <class F, size_t... I>
  static std::vector<Tensor> invoke(F& f, std::vector<detail::ArgValue>& vals, std::index_sequence<I...>) {
    std::vector<Tensor> out;
    if constexpr (std::is_void_v<R>) {
      f(detail::from_arg<std::decay_t<Args>>(vals[I])...);
    } else {
      detail::result_traits<std::decay_t<R>>::flatten(f(detail::from_arg<std::decay_t<Args>>(vals[I])...), out);
    }
    return out;
  }
  std::shared_ptr<detail::FunctionCore> core_;
};

// function(f) / function(f, options): f is a lambda (mutable too), a free
// function, a function pointer, a std::function or any functor with one
// non-template call signature.
template <class F>
auto function(F&& f, FunctionOptions options = {}) {
  using Sig = typename detail::signature_of<std::remove_cv_t<std::remove_reference_t<F>>>::type;
  return Function<Sig>(std::forward<F>(f), std::move(options));
}

}  // namespace duet
