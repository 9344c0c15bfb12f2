// Control flow and side effects that work in both modes (DESIGN.md §1):
// eagerly cond runs one branch, while_loop is a C++ loop and print prints;
// traced, they become a `cond` node with two regions, a `while` node with a
// condition and a body region, and a `print` node on the token chain.
// NOTE [Control flow in traces] in tracer/trace_context.cpp.
#pragma once

#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include <duet/runtime/tensor.h>
#include <duet/runtime/variable.h>

namespace duet {

namespace detail {
using Branch = std::function<std::vector<Tensor>()>;
std::vector<Tensor> cond_impl(const Tensor& pred, const Branch& then_fn, const Branch& else_fn, SrcLoc loc);
}  // namespace detail

// cond(pred, then_fn, else_fn): pred is a one-element b8 tensor; the
// branches take no arguments (they capture) and return a Tensor or a
// std::vector<Tensor> of the same types. Only the taken branch's effects
// happen.
template <class F, class G>
auto cond(const Tensor& pred, F&& then_fn, G&& else_fn, Loc loc = Loc::current()) {
  using R = std::decay_t<decltype(then_fn())>;
  static_assert(std::is_same_v<R, std::decay_t<decltype(else_fn())>>,
                "cond: both branches must return the same C++ type (Tensor or std::vector<Tensor>)");
  static_assert(std::is_same_v<R, Tensor> || std::is_same_v<R, std::vector<Tensor>>,
                "cond: branches return a Tensor or a std::vector<Tensor>");
  auto wrap = [](auto& f) -> detail::Branch {
    return [&f]() -> std::vector<Tensor> {
      if constexpr (std::is_same_v<R, Tensor>) return {f()};
      else return f();
    };
  };
  std::vector<Tensor> out = detail::cond_impl(pred, wrap(then_fn), wrap(else_fn), loc);
  if constexpr (std::is_same_v<R, Tensor>) return out.at(0);
  else return out;
}

using LoopCond = std::function<Tensor(const std::vector<Tensor>&)>;
using LoopBody = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

// Runs body while cond holds (and at most maximum_iterations times when
// >= 0). Every iteration must keep each loop variable's dtype and shape.
std::vector<Tensor> while_loop(const LoopCond& cond_fn, const LoopBody& body_fn, const std::vector<Tensor>& loop_vars,
                               int64_t maximum_iterations = -1, Loc loc = Loc::current());

// One argument of print: a string, a tensor, a variable or a number.
class PrintArg {
 public:
  PrintArg(const char* s, Loc loc = Loc::current()) : text_(s), loc_(loc) {}          // NOLINT
  PrintArg(const std::string& s, Loc loc = Loc::current()) : text_(s), loc_(loc) {}   // NOLINT
  PrintArg(const Tensor& t, Loc loc = Loc::current()) : tensor_(t), loc_(loc) {}      // NOLINT
  PrintArg(const Variable& v, Loc loc = Loc::current()) : tensor_(v), loc_(loc) {}    // NOLINT
  PrintArg(double v, Loc loc = Loc::current());                                        // NOLINT
  PrintArg(int v, Loc loc = Loc::current());                                           // NOLINT
  PrintArg(int64_t v, Loc loc = Loc::current());                                       // NOLINT
  bool is_tensor() const { return tensor_.defined(); }
  const Tensor& tensor() const { return tensor_; }
  const std::string& text() const { return text_; }
  const Loc& loc() const { return loc_; }

 private:
  std::string text_;
  Tensor tensor_;
  Loc loc_;
};

namespace detail {
void print_impl(const std::vector<PrintArg>& args);
}  // namespace detail

// A ShapeError naming the loop variable whose dtype or shape changed.
void check_loop_vars(const std::vector<Tensor>& before, const std::vector<Tensor>& after, SrcLoc loc);

// Prints its arguments separated by spaces and a newline, on every call:
// eagerly at once, traced each time the function runs, in program order
// with the function's other side effects (like tf.print). std::cout inside a
// traced callable prints only while tracing.
template <class... Rest>
void print(const PrintArg& first, const Rest&... rest) {
  detail::print_impl({first, PrintArg(rest)...});
}

}  // namespace duet
