// cond, while_loop and print: eagerly here; traced through the recorder.
#include <duet/runtime/control_flow.h>

#include <cstdio>
#include <mutex>

#include <fmt/format.h>

#include <duet/backends/format.h>
#include <duet/runtime/dispatch.h>
#include <duet/runtime/ops.h>
#include <duet/runtime/tensor_impl.h>

namespace duet {

namespace {

void check_predicate(const char* op, const Tensor& pred, SrcLoc loc) {
  if (!pred.defined()) throw Error(format_error(op, "the predicate is an undefined tensor", loc));
  if (pred.dtype() != DType::b8)
    throw DTypeError(format_error(op, fmt::format("the predicate must be b8, got {}", pred.type().str()), loc));
  if (pred.shape().numel() != 1)
    throw ShapeError(format_error(op, fmt::format("the predicate must have one element, got {}", pred.type().str()), loc));
}

}  // namespace

std::vector<Tensor> detail::cond_impl(const Tensor& pred, const Branch& then_fn, const Branch& else_fn, SrcLoc loc) {
  check_predicate("cond", pred, loc);
  if (Recorder* rec = current_recorder()) return rec->record_cond(pred, then_fn, else_fn, loc);
  return pred.item<bool>() ? then_fn() : else_fn();
}

std::vector<Tensor> while_loop(const LoopCond& cond_fn, const LoopBody& body_fn, const std::vector<Tensor>& loop_vars,
                               int64_t maximum_iterations, Loc loc) {
  for (size_t i = 0; i < loop_vars.size(); ++i)
    if (!loop_vars[i].defined())
      throw Error(format_error("while_loop", fmt::format("loop variable {} is an undefined tensor", i), loc));
  if (Recorder* rec = current_recorder()) return rec->record_while(cond_fn, body_fn, loop_vars, maximum_iterations, loc);
  std::vector<Tensor> vars = loop_vars;
  for (int64_t it = 0; maximum_iterations < 0 || it < maximum_iterations; ++it) {
    Tensor c = cond_fn(vars);
    check_predicate("while_loop", c, loc);
    if (!c.item<bool>()) break;
    std::vector<Tensor> next = body_fn(vars);
    check_loop_vars(vars, next, loc);
    vars = std::move(next);
  }
  return vars;
}

void check_loop_vars(const std::vector<Tensor>& before, const std::vector<Tensor>& after, SrcLoc loc) {
  if (after.size() != before.size())
    throw Error(format_error("while_loop", fmt::format("the body returns {} loop variables, the loop has {}",
                                                       after.size(), before.size()), loc));
  for (size_t i = 0; i < before.size(); ++i) {
    if (!after[i].defined())
      throw Error(format_error("while_loop", fmt::format("the body returns an undefined loop variable {}", i), loc));
    if (!(after[i].type() == before[i].type()))
      throw ShapeError(format_error("while_loop", fmt::format("loop variable {} changes from {} to {} in an iteration; "
                                                              "loop variables keep their dtype and shape",
                                                              i, before[i].type().str(), after[i].type().str()), loc));
  }
}

PrintArg::PrintArg(double v, Loc loc) : text_(fmt::format("{}", v)), loc_(loc) {}
PrintArg::PrintArg(int v, Loc loc) : text_(std::to_string(v)), loc_(loc) {}
PrintArg::PrintArg(int64_t v, Loc loc) : text_(std::to_string(v)), loc_(loc) {}

namespace detail {

// The print node's format: text pieces and a "{}" for each tensor, joined by spaces.
std::string print_format(const std::vector<PrintArg>& args, std::vector<Tensor>* tensors) {
  std::string format;
  for (size_t i = 0; i < args.size(); ++i) {
    if (i) format += ' ';
    if (args[i].is_tensor()) {
      format += "{}";
      tensors->push_back(args[i].tensor());
    } else {
      for (char c : args[i].text()) {
        if (c == '{' || c == '}') format += c;  // doubled: a literal brace
        format += c;
      }
    }
  }
  return format;
}

void print_impl(const std::vector<PrintArg>& args) {
  std::vector<Tensor> tensors;
  std::string format = print_format(args, &tensors);
  SrcLoc loc = args.empty() ? SrcLoc() : SrcLoc(args[0].loc());
  if (Recorder* rec = current_recorder()) return rec->record_print(format, tensors, loc);
  std::vector<std::string> values;
  for (const Tensor& t : tensors) {
    if (!t.impl()->storage) throw TraceError(format_error("print", "a symbolic tensor of a finished trace", loc));
    Tensor c = t.cpu();
    values.push_back(format_values(c.data_ptr(), c.dtype(), c.shape()));
  }
  write_line(render_print(format, values));
}

}  // namespace detail
}  // namespace duet
