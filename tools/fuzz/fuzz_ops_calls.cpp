// fuzz_ops's shape, math and nn calls (the harness: fuzz_ops.cpp).
#include "fuzz_ops.h"

namespace fuzz_ops {

using namespace duet;

void Program::shape_op(Op op) {
  switch (op) {
    case Op::reshape: {
      Slot a = slot();
      std::vector<int64_t> dims = shape();
      if (!a) return;
      // A view of the same elements: nothing is allocated, so any dims go.
      Verdict v;
      int unknown = 0;
      for (int64_t d : dims) unknown += d == -1;
      for (int64_t d : dims)
        if (d < -1) v = {Expect::error, kDims, "a dim below -1"};
      if (unknown > 1) v = {Expect::error, kDims, "more than one -1"};
      if (dims.size() > size_t(Shape::kMaxRank)) v = {Expect::error, kDims, "a rank over 8"};
      const Tensor& in = a.t;
      Tensor t = call("reshape(" + a.name + ", " + dims_text(dims) + ")", v, [&] { return reshape(in, dims); });
      if (t.defined() && t.numel() != in.numel() && (enabled_checks() & kResults))
        finding("reshape of " + in.type().str() + " to " + dims_text(dims) + " gave " + t.type().str());
      return;
    }
    case Op::broadcast_to: {
      Slot a = slot();
      std::vector<int64_t> dims = shape();
      if (!a) return;
      call("broadcast_to(" + a.name + ", " + dims_text(dims) + ")", judge(dims, a.t.dtype(), true),
           [&] { return broadcast_to(a.t, dims); }, &dims);
      return;
    }
    case Op::concat: {
      int n = in_.byte() % 5;
      std::vector<Tensor> parts;
      std::string list = "{";
      for (int i = 0; i < n; ++i) {
        Slot s = slot();
        if (!s) return;
        parts.push_back(s.t);
        list += (i ? ", " : "") + s.name;
      }
      int64_t axis = in_.integer();
      call("concat(" + list + "}, " + int_text(axis) + ")", Verdict{}, [&] { return concat(parts, axis); });
      return;
    }
    case Op::slice: {
      Slot a = slot();
      int64_t axis = in_.integer(), begin = in_.integer(), end = in_.integer();
      if (!a) return;
      call("slice(" + a.name + ", " + int_text(axis) + ", " + int_text(begin) + ", " + int_text(end) + ")",
           Verdict{}, [&] { return slice(a.t, axis, begin, end); });
      return;
    }
    case Op::gather: {
      Slot a = slot();
      Slot idx = slot();
      int64_t axis = in_.integer();
      if (!a || !idx) return;
      // The result: a's dims with the axis replaced by the indices' dims.
      std::vector<int64_t> adims = dims_of(a.t), dims;
      int64_t r = static_cast<int64_t>(adims.size());
      bool axis_ok = axis >= -r && axis < r;
      int64_t ax = axis < 0 ? axis + r : axis;
      if (axis_ok) {
        dims.assign(adims.begin(), adims.begin() + ax);
        for (int64_t d : dims_of(idx.t)) dims.push_back(d);
        dims.insert(dims.end(), adims.begin() + ax + 1, adims.end());
      }
      Verdict v = axis_ok ? judge_result(dims) : Verdict{};
      Tensor t = call("gather(" + a.name + ", " + idx.name + ", " + int_text(axis) + ")", v,
           [&] { return gather(a.t, idx.t, axis); });
      if (t.defined() && axis_ok) labels_in_range(t, idx.t, adims[ax], "gather");
      return;
    }
    case Op::one_hot: {
      Slot labels = slot();
      int64_t depth = in_.dim();
      if (!labels) return;
      std::vector<int64_t> dims = dims_of(labels.t);
      dims.push_back(depth);
      Verdict v = judge(dims, DType::f32, true);
      Tensor t = call("one_hot(" + labels.name + ", " + int_text(depth) + ")", v, [&] { return one_hot(labels.t, depth); },
           &dims);
      if (t.defined()) labels_in_range(t, labels.t, depth, "one_hot");
      return;
    }
    case Op::transpose: {
      Slot a = slot();
      std::vector<int64_t> perm(in_.byte() % 10);
      for (int64_t& p : perm) p = in_.integer();
      if (!a) return;
      call("transpose(" + a.name + ", " + dims_text(perm) + ")", Verdict{}, [&] { return transpose(a.t, perm); });
      return;
    }
    case Op::expand_dims: {
      Slot a = slot();
      int64_t axis = in_.integer();
      if (!a) return;
      call("expand_dims(" + a.name + ", " + int_text(axis) + ")", Verdict{}, [&] { return expand_dims(a.t, axis); });
      return;
    }
    case Op::squeeze: {
      Slot a = slot();
      std::vector<int64_t> axes(in_.byte() % 4);
      for (int64_t& x : axes) x = in_.integer();
      if (!a) return;
      call("squeeze(" + a.name + ", " + dims_text(axes) + ")", Verdict{}, [&] { return squeeze(a.t, axes); });
      return;
    }
    case Op::broadcast_like: {
      Slot a = slot();
      Slot b = slot();
      if (!a || !b) return;
      call("broadcast_like(" + a.name + ", " + b.name + ")", Verdict{}, [&] { return broadcast_like(a.t, b.t); });
      return;
    }
    default: {  // zeros_like, ones_like
      bool ones = in_.byte() & 1;
      Slot a = slot();
      if (!a) return;
      std::vector<int64_t> dims = dims_of(a.t);
      call(std::string(ones ? "ones_like(" : "zeros_like(") + a.name + ")", Verdict{},
           [&] { return ones ? ones_like(a.t) : zeros_like(a.t); }, &dims);
      return;
    }
  }
}

// Reductions and argmax: the dims left after the axes go (all when empty);
// false when an axis is out of range (an error is due; the call is made).
bool reduced_dims(const std::vector<int64_t>& in, const std::vector<int64_t>& axes, bool keepdims,
                  std::vector<int64_t>* out) {
  int64_t r = static_cast<int64_t>(in.size());
  std::vector<bool> gone(in.size(), axes.empty());
  for (int64_t a : axes) {
    if (a < -r || a >= r) return false;
    gone[a < 0 ? a + r : a] = true;
  }
  out->clear();
  for (size_t i = 0; i < in.size(); ++i)
    if (!gone[i]) out->push_back(in[i]);
    else if (keepdims) out->push_back(1);
  return true;
}

void Program::math_op(Op op) {
  switch (op) {
    case Op::unary: {
      static const char* const names[] = {"neg",  "abs",     "square", "exp",  "log", "sqrt",
                                          "rsqrt", "tanh", "sigmoid", "relu",   "gelu", "erf", "logical_not",
                                          "gelu_tanh", "log1p", "softplus", "sign"};
      using F = Tensor (*)(const Tensor&, Loc);
      static const F fns[] = {neg,  abs,  square, exp, log, sqrt, rsqrt, tanh, sigmoid, relu, gelu, erf, logical_not,
                              [](const Tensor& x, Loc l) { return gelu(x, "tanh", l); }, log1p, softplus, sign};
      static_assert(std::size(names) == std::size(fns));
      int k = in_.byte() % static_cast<int>(std::size(fns));
      Slot a = slot();
      if (!a) return;
      call(std::string(names[k]) + "(" + a.name + ")", Verdict{}, [&] { return fns[k](a.t, Loc::current()); });
      return;
    }
    case Op::binary: {
      static const char* const names[] = {"add", "sub", "mul", "div", "mod", "pow", "maximum", "minimum",
                                          "less", "less_equal", "greater", "greater_equal", "equal", "not_equal",
                                          "logical_and", "logical_or"};
      using F = Tensor (*)(const Operand&, const Operand&);
      static const F fns[] = {add, sub, mul, div, mod, pow, maximum, minimum, less, less_equal, greater,
                              greater_equal, equal, not_equal, logical_and, logical_or};
      int k = in_.byte() % 16;
      Arg a, b;
      if (!arg(&a) || !arg(&b)) return;
      std::vector<int64_t> dims;
      Verdict v = broadcast_dims({a.dims(), b.dims()}, &dims) ? judge_result(dims) : Verdict{};
      call(std::string(names[k]) + "(" + a.text + ", " + b.text + ")", v,
           [&] { return fns[k](a.operand(), b.operand()); });
      return;
    }
    case Op::reduce: {
      static const char* const names[] = {"sum", "mean", "max", "min"};
      using F = Tensor (*)(const Tensor&, const Axes&, bool, Loc);
      static const F fns[] = {sum, mean, max, min};
      int k = in_.byte() % 4;
      Slot a = slot();
      std::vector<int64_t> axes(in_.byte() % 5);
      for (int64_t& x : axes) x = in_.integer();
      bool keepdims = in_.byte() & 1;
      if (!a) return;
      std::vector<int64_t> dims;
      Verdict v = reduced_dims(dims_of(a.t), axes, keepdims, &dims) ? judge_result(dims) : Verdict{};
      call(std::string(names[k]) + "(" + a.name + ", " + dims_text(axes) + ", " + (keepdims ? "true" : "false") + ")",
           v, [&] { return fns[k](a.t, axes, keepdims, Loc::current()); });
      return;
    }
    case Op::argmax: {
      Slot a = slot();
      int64_t axis = in_.integer();
      if (!a) return;
      std::vector<int64_t> dims;
      Verdict v = reduced_dims(dims_of(a.t), {axis}, false, &dims) ? judge_result(dims) : Verdict{};
      call("argmax(" + a.name + ", " + int_text(axis) + ")", v, [&] { return argmax(a.t, axis); });
      return;
    }
    case Op::softmax: {
      bool is_log = in_.byte() & 1;
      Slot a = slot();
      int64_t axis = in_.integer();
      if (!a) return;
      call(std::string(is_log ? "log_softmax(" : "softmax(") + a.name + ", " + int_text(axis) + ")", Verdict{},
           [&] { return is_log ? log_softmax(a.t, axis) : softmax(a.t, axis); });
      return;
    }
    case Op::cast: {
      Slot a = slot();
      DType d = in_.dtype();
      if (!a) return;
      call("cast(" + a.name + ", " + dtype_text(d) + ")", Verdict{}, [&] { return cast(a.t, d); });
      return;
    }
    case Op::where: {
      Slot c = slot();
      Arg a, b;
      if (!arg(&a) || !arg(&b) || !c) return;
      std::vector<int64_t> dims;
      Verdict v = broadcast_dims({dims_of(c.t), a.dims(), b.dims()}, &dims) ? judge_result(dims)
                                                                             : Verdict{};
      call("where(" + c.name + ", " + a.text + ", " + b.text + ")", v,
           [&] { return where(c.t, a.operand(), b.operand()); });
      return;
    }
    case Op::read: {
      int k = in_.byte() % 6;
      Slot a = slot();
      if (!a) return;
      static const char* const forms[] = {"item<double>", "item<int64_t>", "to_vector<double>",
                                          "to_vector<int32_t>", "to_string", "bool"};
      std::string text = std::string(forms[k]) + "(" + a.name + ")";
      text_ += text + ";\n";
      if (print_mode()) std::fprintf(stderr, "%s;\n", text.c_str());
      try {
        size_t n = a.t.numel();
        switch (k) {
          case 0: (void)a.t.item<double>(); break;
          case 1: (void)a.t.item<int64_t>(); break;
          case 2: n = a.t.to_vector<double>().size(); break;
          case 3: n = a.t.to_vector<int32_t>().size(); break;
          case 4: (void)to_string(a.t); break;
          default: (void)static_cast<bool>(a.t); break;
        }
        if (k < 2 || k == 5) n = 1;
        if (a.t.numel() != int64_t(n) && (enabled_checks() & kResults))
          finding(text + " gave " + std::to_string(n) + " values for " + a.t.type().str());
        if ((k < 2 || k == 5) && a.t.numel() != 1 && (enabled_checks() & kResults))
          finding(text + " read one value of " + a.t.type().str());
      } catch (const Error& e) {
        if (print_mode()) std::fprintf(stderr, "  // -> %s\n", e.what());
        text_ += "  // -> duet::Error: " + std::string(e.what()) + "\n";
      } catch (const std::exception& e) {
        finding(std::string("an exception that is not a duet::Error (") + typeid(e).name() + "): " + e.what());
      } catch (...) {
        finding("an exception that is not a std::exception");
      }
      return;
    }
    case Op::mean_squared_error: {
      Slot a = slot();
      Slot b = slot();
      if (!a || !b) return;
      call("losses::mean_squared_error(" + a.name + ", " + b.name + ")", Verdict{},
           [&] { return losses::mean_squared_error(a.t, b.t); });
      return;
    }
    default: {  // sparse_softmax_cross_entropy
      Slot labels = slot();
      Slot logits = slot();
      if (!labels || !logits) return;
      Tensor t = call("losses::sparse_softmax_cross_entropy(" + labels.name + ", " + logits.name + ")", Verdict{},
           [&] { return losses::sparse_softmax_cross_entropy(labels.t, logits.t); });
      if (t.defined() && logits.t.rank() == 2)
        labels_in_range(t, labels.t, logits.t.shape()[1], "sparse_softmax_cross_entropy");
      return;
    }
  }
}

// conv2d's output dims, from NCHW x and OIHW w; false when they do not make
// a convolution (an error is due; the call is made).
bool conv_dims(const std::vector<int64_t>& x, const std::vector<int64_t>& w, int64_t stride, int64_t padding,
               std::vector<int64_t>* out) {
  if (x.size() != 4 || w.size() != 4 || stride <= 0 || padding < 0 || x[1] != w[1]) return false;
  __int128 h = (__int128(x[2]) + 2 * __int128(padding) - w[2]), wd = (__int128(x[3]) + 2 * __int128(padding) - w[3]);
  if (h < 0 || wd < 0) return false;
  h = h / stride + 1, wd = wd / stride + 1;
  if (h > kMax || wd > kMax) return false;
  *out = {x[0], w[0], static_cast<int64_t>(h), static_cast<int64_t>(wd)};
  return true;
}
__int128 elements(const std::vector<int64_t>& dims) { Count c = count_of(dims); return c.negative ? 0 : c.n; }

void Program::nn_op(Op op) {
  switch (op) {
    case Op::matmul: {
      Slot a = slot();
      Slot b = slot();
      if (!a || !b) return;
      std::vector<int64_t> ad = dims_of(a.t), bd = dims_of(b.t), dims;
      Verdict v;
      if (ad.size() >= 2 && bd.size() >= 2 &&
          broadcast_dims({{ad.begin(), ad.end() - 2}, {bd.begin(), bd.end() - 2}}, &dims)) {
        dims.push_back(ad[ad.size() - 2]);
        dims.push_back(bd.back());
        v = judge_result(dims);
        if (v.expect == Expect::call && elements(dims) * std::max<int64_t>(ad.back(), 1) > kMaxWork)
          v.expect = Expect::refuse;
      }
      call("matmul(" + a.name + ", " + b.name + ")", v, [&] { return matmul(a.t, b.t); });
      return;
    }
    case Op::conv2d: {
      Slot x = slot();
      Slot w = slot();
      int64_t stride = in_.integer(), padding = in_.integer();
      if (!x || !w) return;
      std::vector<int64_t> xd = dims_of(x.t), wd = dims_of(w.t), dims;
      Verdict v;
      if (conv_dims(xd, wd, stride, padding, &dims)) {
        v = judge_result(dims);
        if (v.expect == Expect::call && elements(dims) * elements({wd[1], wd[2], wd[3]}) > kMaxWork)
          v.expect = Expect::refuse;
      }
      call("conv2d(" + x.name + ", " + w.name + ", " + int_text(stride) + ", " + int_text(padding) + ")", v,
           [&] { return conv2d(x.t, w.t, stride, padding); });
      return;
    }
    case Op::max_pool2d: case Op::max_pool2d_backward: {
      Slot x = slot();
      Slot dy = op == Op::max_pool2d ? Slot{} : slot();
      int64_t kernel = in_.integer(), stride = in_.integer();
      if (!x || (op == Op::max_pool2d_backward && !dy)) return;
      // At most as many windows as x has elements, each kernel^2 reads.
      Verdict v;
      const __int128 k = std::min<__int128>(kernel < 0 ? -__int128(kernel) : kernel, 1 << 20);
      if (elements(dims_of(x.t)) * k * k > kMaxWork) v.expect = Expect::refuse;
      if (op == Op::max_pool2d)
        call("max_pool2d(" + x.name + ", " + int_text(kernel) + ", " + int_text(stride) + ")", v,
             [&] { return max_pool2d(x.t, kernel, stride); });
      else
        call("max_pool2d_backward(" + x.name + ", " + dy.name + ", " + int_text(kernel) + ", " + int_text(stride) +
                 ")", v, [&] { return max_pool2d_backward(x.t, dy.t, kernel, stride); });
      return;
    }
    case Op::conv2d_backward_input: case Op::conv2d_backward_filter: {
      Slot a = slot();  // dy, or x
      Slot b = slot();  // w, or dy
      std::vector<int64_t> dims = shape();
      int64_t stride = in_.integer(), padding = in_.integer();
      if (!a || !b) return;
      Verdict v = judge(dims, a.t.dtype(), true);
      if (v.expect == Expect::call && elements(dims_of(a.t)) * elements(dims_of(b.t)) > kMaxWork)
        v.expect = Expect::refuse;
      const bool input = op == Op::conv2d_backward_input;
      // The shapes must be those of a convolution: conv2d(x, w) gives dy.
      std::vector<int64_t> conv;
      const std::vector<int64_t> x = input ? dims : dims_of(a.t), w = input ? dims_of(b.t) : dims,
                                 dy = dims_of(input ? a.t : b.t);
      if (v.expect == Expect::call && !(conv_dims(x, w, stride, padding, &conv) && conv == dy))
        v = {Expect::error, kDims, "x " + dims_text(x) + ", w " + dims_text(w) + " and dy " + dims_text(dy) +
                                       " are not the shapes of a convolution with this stride and padding"};
      call(std::string(input ? "conv2d_backward_input(" : "conv2d_backward_filter(") + a.name + ", " + b.name +
               ", " + dims_text(dims) + ", " + int_text(stride) + ", " + int_text(padding) + ")",
           v, [&] {
             return input ? conv2d_backward_input(a.t, b.t, dims, stride, padding)
                          : conv2d_backward_filter(a.t, b.t, dims, stride, padding);
           }, &dims);
      return;
    }
    case Op::dropout: {
      Slot x = slot();
      double rate = in_.value() / 16;
      uint64_t seed = in_.byte();
      if (!x) return;
      call("dropout(" + x.name + ", " + double_text(rate) + ", " + std::to_string(seed) + ")", Verdict{},
           [&] { return dropout(x.t, rate, seed); });
      return;
    }
    default: {  // scatter_add
      Slot base = slot();
      Slot idx = slot();
      Slot updates = slot();
      int64_t axis = in_.integer();
      if (!base || !idx || !updates) return;
      std::vector<int64_t> dims = dims_of(base.t);
      int64_t r = base.t.rank();
      Tensor t = call("scatter_add(" + base.name + ", " + idx.name + ", " + updates.name + ", " + int_text(axis) + ")",
           Verdict{}, [&] { return scatter_add(base.t, idx.t, updates.t, axis); }, &dims);
      if (t.defined() && axis >= -r && axis < r) labels_in_range(t, idx.t, dims[axis < 0 ? axis + r : axis], "scatter_add");
      return;
    }
  }
}

}  // namespace fuzz_ops
