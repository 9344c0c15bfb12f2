// The walks of compiled fusions (codegen/compiled_fusion.h): contiguous runs
// of an elementwise space, rows of an innermost-axis reduction, column ranges
// of a reduction over every other axis.
#include <duet/codegen/compiled_fusion.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <string>
#include <type_traits>

#include <duet/backends/cpu/loops.h>

namespace duet::codegen {

namespace {

// Rough work per element, for the parallel split: 1 per op, 20 per transcendental.
int64_t work_per_element(const BodySpec& body) {
  int64_t cost = 1;
  for (const BodySpec::Op& op : body.ops) {
    const bool heavy = is_transcendental(op.scalar) || op.scalar == ScalarOp::pow || op.name == "softmax" ||
                       op.name == "log_softmax";
    cost += heavy ? 20 : 1;
  }
  return cost;
}

// Calls body(position, input offsets, count) for each contiguous run of
// [begin, end) in the iteration space (the compiled-fusion twin of
// cpu::for_each_run, for any number of inputs).
template <class Body>
void walk_runs(const CompiledRun& run, int64_t begin, int64_t end, int64_t* idx, int64_t* off, Body&& body) {
  const int r = static_cast<int>(run.dims.size());
  const size_t n_in = run.strides.size();
  int64_t rem = begin;
  for (int d = r - 1; d >= 0; --d) {
    idx[d] = rem % run.dims[static_cast<size_t>(d)];
    rem /= run.dims[static_cast<size_t>(d)];
  }
  for (size_t k = 0; k < n_in; ++k) {
    off[k] = 0;
    for (int d = 0; d < r; ++d) off[k] += idx[d] * run.strides[k][static_cast<size_t>(d)];
  }
  int64_t pos = begin;
  const int64_t inner = run.dims.back();
  while (pos < end) {
    int64_t count = std::min(inner - idx[r - 1], end - pos);
    body(pos, off, count);
    pos += count;
    for (size_t k = 0; k < n_in; ++k) off[k] += count * run.strides[k].back();
    idx[r - 1] += count;
    for (int d = r - 1; d > 0 && idx[d] == run.dims[static_cast<size_t>(d)]; --d) {
      for (size_t k = 0; k < n_in; ++k)
        off[k] -= run.dims[static_cast<size_t>(d)] * run.strides[k][static_cast<size_t>(d)] -
                  run.strides[k][static_cast<size_t>(d - 1)];
      idx[d] = 0;
      ++idx[d - 1];
    }
  }
}

// A column reduction's accumulator: f64 for floating sums (as the eager
// kernel), else the operand's type; its start and its finish into the output.
template <class T>
void column_reduce(const std::string& op, int64_t rows, int64_t count, const std::function<void(char*)>& accumulate,
                   T* out) {
  using A = std::conditional_t<std::is_floating_point_v<T>, double, T>;
  const bool sum = op == "sum" || op == "mean";
  if (sum) {
    std::vector<A> acc(static_cast<size_t>(count), A(0));
    accumulate(reinterpret_cast<char*>(acc.data()));
    for (int64_t i = 0; i < count; ++i) {
      T v = T(acc[static_cast<size_t>(i)]);
      if constexpr (std::is_floating_point_v<T>)
        if (op == "mean") v = T(double(v) * (1.0 / static_cast<double>(rows)));
      out[i] = v;
    }
    return;
  }
  T start = op == "max" ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max();
  std::vector<T> acc(static_cast<size_t>(count), start);
  accumulate(reinterpret_cast<char*>(acc.data()));
  std::copy(acc.begin(), acc.end(), out);
}

void run_columns(const BodySpec& body, const CompiledRun& run, const std::vector<char*>& base,
                 const std::vector<int64_t>& width, int64_t cost, void* out) {
  const size_t n_in = body.params.size(), n_all = base.size();
  const int red = body.reduction_yield;
  const BodySpec::Op& op = body.ops.back();
  const int64_t rows = run.numel, cols = run.row;
  cpu::parallel_for(cols, std::max<int64_t>(16, cpu::kParallelGrain / (cost * std::max<int64_t>(rows, 1))),
                    [&](int64_t lo, int64_t hi) {
    auto accumulate = [&](char* acc) {
      std::vector<char*> ptrs(n_all);
      for (int64_t r = 0; r < rows; ++r) {
        int64_t rem = r;
        for (size_t k = 0; k < n_in; ++k) ptrs[k] = base[k] + (run.inner_scalar[k] ? 0 : lo * width[k]);
        for (size_t d = run.dims.size(); d-- > 0;) {
          int64_t i = rem % run.dims[d];
          rem /= run.dims[d];
          for (size_t k = 0; k < n_in; ++k) ptrs[k] += i * run.strides[k][d] * width[k];
        }
        for (size_t k = n_in; k < n_all; ++k) ptrs[k] = base[k] + (r * cols + lo) * width[k];
        ptrs[n_in + static_cast<size_t>(red)] = acc;
        run.fn(ptrs.data(), hi - lo);
      }
    };
    switch (op.operand) {
      case DType::f32: return column_reduce(op.name, rows, hi - lo, accumulate, static_cast<float*>(out) + lo);
      case DType::f64: return column_reduce(op.name, rows, hi - lo, accumulate, static_cast<double*>(out) + lo);
      case DType::i32: return column_reduce(op.name, rows, hi - lo, accumulate, static_cast<int32_t*>(out) + lo);
      case DType::i64: return column_reduce(op.name, rows, hi - lo, accumulate, static_cast<int64_t*>(out) + lo);
      case DType::b8: break;
    }
  });
}


// A row reduction's walk: `dims` and `strides` span the rows (every dim but
// the last, unmerged), `row` is the last dim's extent; an input is read along
// the row or repeats one element.
CompiledRun plan_rows(const BodySpec& body, const std::vector<const Shape*>& inputs, const Shape& space) {
  CompiledRun run;
  const size_t n_in = inputs.size();
  const int rank = space.rank();
  run.row = space.dim(rank - 1);
  run.dims.assign(space.begin(), space.end() - 1);
  if (run.dims.empty()) run.dims.push_back(1);
  std::vector<bool> scalar(n_in);
  run.strides.assign(n_in, std::vector<int64_t>(run.dims.size(), 0));
  for (size_t k = 0; k < n_in; ++k) {
    std::vector<int64_t> st = broadcast_strides(*inputs[k], space);
    scalar[k] = st.back() == 0;  // read along the row, or one element
    for (int d = 0; d + 1 < rank; ++d) run.strides[k][static_cast<size_t>(d)] = st[static_cast<size_t>(d)];
  }
  run.numel = 1;
  for (int64_t d : run.dims) run.numel *= d;  // rows
  if (space.numel() == 0 && run.row != 0) run.numel = 0;
  run.inner_scalar = scalar;
  run.cost = work_per_element(body);
  jit::Kernel kernel = jit::kernel_for(body, scalar);
  run.fn = kernel.fn;
  run.kernel = std::move(kernel.owner);
  return run;
}

}  // namespace

CompiledRun plan_compiled(const BodySpec& body, const std::vector<const Shape*>& inputs, const Shape& space) {
  CompiledRun run;
  const size_t n_in = inputs.size();
  const int rank = space.rank();
  if (body.reduction_yield >= 0 || body.normalizes) return plan_rows(body, inputs, space);
  std::vector<std::vector<int64_t>> st(n_in);
  for (size_t k = 0; k < n_in; ++k) st[k] = broadcast_strides(*inputs[k], space);
  run.strides.assign(n_in, {});
  for (int d = 0; d < rank; ++d) {  // drop size-1 dims; merge a dim into the previous where every input allows
    int64_t n = space.dim(d);
    if (n == 1) continue;
    bool merge = !run.dims.empty();
    for (size_t k = 0; merge && k < n_in; ++k)
      merge = run.strides[k].back() == st[k][static_cast<size_t>(d)] * n;
    if (merge) {
      run.dims.back() *= n;
      for (size_t k = 0; k < n_in; ++k) run.strides[k].back() = st[k][static_cast<size_t>(d)];
      continue;
    }
    run.dims.push_back(n);
    for (size_t k = 0; k < n_in; ++k) run.strides[k].push_back(st[k][static_cast<size_t>(d)]);
  }
  if (run.dims.empty()) {
    run.dims.push_back(1);
    for (auto& v : run.strides) v.push_back(0);
  }
  run.numel = space.numel();
  std::vector<bool> scalar(n_in);
  for (size_t k = 0; k < n_in; ++k) scalar[k] = run.strides[k].back() == 0;
  run.cost = work_per_element(body);
  jit::Kernel kernel = jit::kernel_for(body, scalar);
  run.fn = kernel.fn;
  run.kernel = std::move(kernel.owner);
  return run;
}

void run_compiled(const BodySpec& body, const CompiledRun& run, const std::vector<char*>& base,
                  const std::vector<int64_t>& width) {
  if (run.numel == 0 && !(run.row >= 0 && body.columns)) return;  // an empty column reduction still writes its identity
  const size_t n_in = body.params.size(), n_all = base.size();
  const int64_t cost = run.cost;
  if (run.row >= 0 && body.columns) {  // columns split over the team, each with its accumulator row
    run_columns(body, run, base, width, cost, base[n_in + static_cast<size_t>(body.reduction_yield)]);
    return;
  }
  if (run.row >= 0) {  // one kernel call per row
    const int red = body.reduction_yield;
    cpu::parallel_for(run.numel, std::max<int64_t>(1, cpu::kParallelGrain / (cost * std::max<int64_t>(run.row, 1))),
                      [&](int64_t lo, int64_t hi) {
      std::vector<char*> ptrs(n_all + 1);
      for (int64_t r = lo; r < hi; ++r) {
        int64_t rem = r;
        for (size_t k = 0; k < n_in; ++k) ptrs[k] = base[k];
        for (size_t d = run.dims.size(); d-- > 0;) {
          int64_t i = rem % run.dims[d];
          rem /= run.dims[d];
          for (size_t k = 0; k < n_in; ++k) ptrs[k] += i * run.strides[k][d] * width[k];
        }
        for (size_t k = n_in; k < n_all; ++k)
          ptrs[k] = base[k] + (static_cast<int>(k - n_in) == red ? r : r * run.row) * width[k];
        if (body.normalizes)  // the row kernel prefetches the next row (its input is contiguous)
          ptrs[n_all] = ptrs[0] + (r + 1 < hi ? run.row * width[0] : 0);
        run.fn(ptrs.data(), run.row);
      }
    });
    return;
  }
  cpu::parallel_for(run.numel, std::max<int64_t>(1024, cpu::kParallelGrain / cost), [&](int64_t lo, int64_t hi) {
    std::vector<char*> ptrs(n_all);
    std::vector<int64_t> idx(run.dims.size()), off(n_in);
    walk_runs(run, lo, hi, idx.data(), off.data(), [&](int64_t pos, const int64_t* o, int64_t count) {
      for (size_t k = 0; k < n_in; ++k) ptrs[k] = base[k] + o[k] * width[k];
      for (size_t k = n_in; k < n_all; ++k) ptrs[k] = base[k] + pos * width[k];
      run.fn(ptrs.data(), count);
    });
  });
}

}  // namespace duet::codegen
