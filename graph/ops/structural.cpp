// Ops the Program engine runs itself rather than through a kernel:
// constant, the region ops (cond, while, fusion), and print, the side
// effect ordered by tokens.
//
// NOTE [Tokens]
// Side-effecting nodes are ordered by a token chain: a side-effecting node
// takes the previous side effect's token as its first operand (the first in
// a function takes none) and yields a new token as its last result. Tokens
// are not tensors: infer never sees them; Graph::append adds the token result
// of a side-effecting op, and the verifier checks the chain is one line.
#include <fmt/format.h>

#include <duet/graph/op_def.h>

namespace duet {
namespace {

void infer_constant(InferContext& ctx) {
  const Dense& d = ctx.attrs().get_dense("value");
  if (!d.data) ctx.error("has no value");
  int64_t n = d.data->shape.numel();
  if (n < 0 || static_cast<size_t>(n) * dtype_size(d.data->dtype) != d.data->bytes.size())
    ctx.error(fmt::format("value holds {} bytes, not {} elements of {}", d.data->bytes.size(), n,
                          dtype_name(d.data->dtype)));
  ctx.add_result(d.data->dtype, d.data->shape);
}

void infer_print(InferContext& ctx) {}  // only the token result

}  // namespace

DUET_OP(constant).traits(kPure | kStructural | kNotDifferentiable).operands(0)
    .attr("value", AttrKind::dense).infer(infer_constant);
DUET_OP(print).traits(kSideEffecting | kStructural | kVariadic | kNotDifferentiable).operands(-1)
    .optional_attr("format", AttrKind::string).infer(infer_print);
// cond(pred, captured...) {then} {else}: result types are the regions' yields.
DUET_OP(cond).traits(kPure | kStructural | kVariadic).operands(-1);
// while(init...) {cond(vars) -> b8[]} {body(vars) -> vars}
DUET_OP(while).traits(kPure | kStructural | kVariadic).operands(-1).optional_attr("max_iterations", AttrKind::integer);
// after_all(): a fresh token, where a chain must start without an effect
// before it (a branch without prints, a loop that prints).
DUET_OP(after_all).traits(kSideEffecting | kStructural | kNotDifferentiable).operands(0).infer(infer_print);
// fusion(inputs...) {body(params) -> results}: an elementwise group.
DUET_OP(fusion).traits(kPure | kStructural | kVariadic).operands(-1);

}  // namespace duet
