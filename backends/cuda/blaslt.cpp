// cuBLASLt matmul descriptors for duet's matmuls, and running them.
//
// NOTE [Matmul through cuBLASLt]
// duet's tensors are row-major; cuBLASLt's matrices column-major. A row-major
// [r, c] buffer is the column-major [c, r] matrix, so C = A x B is computed as
// C^T = B^T x A^T: cuBLASLt's A is duet's B (n x k, ld n), its B is duet's A
// (k x m, ld k), its C is n x m with ld n, no transposes. An operand duet
// reads transposed is stored the other way round ([n, k] for B), so
// cuBLASLt reads it with CUBLAS_OP_T (k x n, ld k). A bias over duet's last
// dim (n) is then per row of cuBLASLt's C: CUBLASLT_EPILOGUE_BIAS. A batch is
// a strided batch (stride 0 for a broadcast operand). f32 computes in
// CUBLAS_COMPUTE_32F (not TF32: the CPU's precision), f64 in 64F.
//
// Running one: a plan is the descriptors plus the algorithm
// cublasLtMatmulAlgoGetHeuristic ranks first with at most kWorkspaceLimit
// bytes of workspace, cached by (device, spec, the buffers' alignments: the
// heuristic assumes 256-byte aligned buffers unless told less, and reads the
// bias pointer for its alignment). A spec with no algorithm is cached too, as
// unusable. One mutex guards the handles, the cache and each call's queueing,
// which sets the plan's bias pointer in its shared descriptor; queueing is
// short, and a device's work is serialized on its one stream anyway (NOTE
// [One stream per device] in runtime.h). The cache is dropped whole when it
// passes kMaxPlans. Handles (one per device, created on first use) are never
// destroyed: at process exit the driver may be gone before static
// destructors run.
#include <duet/backends/cuda/blaslt.h>

#include <duet/graph/error.h>

#ifdef DUET_WITH_CUDA
#include <cublasLt.h>

#include <algorithm>
#include <climits>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include <duet/backends/cuda/library.h>
#include <duet/backends/cuda/runtime.h>
#include <duet/backends/storage.h>
#endif

namespace duet::cuda {

std::string lt_epilogue_unsupported(const std::string& activation) {
  if (activation.empty() || activation == "none") return "";
  if (activation == "relu") return "cuBLASLt's RELU is max(x, 0), which maps NaN to 0; duet's relu keeps NaN";
  if (activation == "gelu") return "cuBLASLt's GELU is the tanh approximation; duet's gelu is the erf form";
  return "cuBLASLt has no " + activation + " epilogue";
}

#ifndef DUET_WITH_CUDA

LtMatmul::LtMatmul(const LtMatmulSpec&) { throw DeviceError("cuBLASLt: this build has no CUDA backend"); }
LtMatmul::~LtMatmul() = default;
LtDescription LtMatmul::describe() const { return {}; }
bool lt_matmul(const LtMatmulSpec&, const LtOperands&, int) {
  throw DeviceError("cuBLASLt: this build has no CUDA backend");
}

#else

namespace {

struct Lt {
  Library lib{{DUET_CUDA_LIBDIR "/libcublasLt.so." DUET_CUDA_MAJOR, "libcublasLt.so." DUET_CUDA_MAJOR}, "cuBLASLt"};
#define DUET_LT_FN(name) decltype(&cublasLt##name) name = get<decltype(&cublasLt##name)>(lib, "cublasLt" #name)
  DUET_LT_FN(GetStatusName);
  DUET_LT_FN(GetStatusString);
  DUET_LT_FN(Create);
  DUET_LT_FN(MatmulDescCreate);
  DUET_LT_FN(MatmulDescDestroy);
  DUET_LT_FN(MatmulDescSetAttribute);
  DUET_LT_FN(MatmulDescGetAttribute);
  DUET_LT_FN(MatrixLayoutCreate);
  DUET_LT_FN(MatrixLayoutDestroy);
  DUET_LT_FN(MatrixLayoutSetAttribute);
  DUET_LT_FN(MatrixLayoutGetAttribute);
  DUET_LT_FN(MatmulPreferenceCreate);
  DUET_LT_FN(MatmulPreferenceDestroy);
  DUET_LT_FN(MatmulPreferenceSetAttribute);
  DUET_LT_FN(MatmulAlgoGetHeuristic);
  DUET_LT_FN(Matmul);
#undef DUET_LT_FN
};

const Lt& lt() {
  static const Lt l;  // a DeviceError on first use if cuBLASLt is missing; retried next time
  return l;
}

// "cuBLASLt: cublasLtMatmul failed: <cuBLASLt's words> (CUBLAS_STATUS_...)"
void check(cublasStatus_t s, const char* call) {
  if (s == CUBLAS_STATUS_SUCCESS) return;
  throw DeviceError(std::string("cuBLASLt: ") + call + " failed: " + lt().GetStatusString(s) + " (" +
                    lt().GetStatusName(s) + ")");
}

std::string epilogue_name(cublasLtEpilogue_t e) {
  switch (e) {
    case CUBLASLT_EPILOGUE_DEFAULT: return "DEFAULT";
    case CUBLASLT_EPILOGUE_RELU: return "RELU";
    case CUBLASLT_EPILOGUE_BIAS: return "BIAS";
    case CUBLASLT_EPILOGUE_RELU_BIAS: return "RELU_BIAS";
    default: return "epilogue " + std::to_string(static_cast<int>(e));
  }
}
std::string compute_name(cublasComputeType_t c) {
  switch (c) {
    case CUBLAS_COMPUTE_32F: return "32F";
    case CUBLAS_COMPUTE_32F_FAST_TF32: return "32F_FAST_TF32";
    case CUBLAS_COMPUTE_64F: return "64F";
    default: return "compute " + std::to_string(static_cast<int>(c));
  }
}
std::string data_name(cudaDataType_t t) {
  switch (t) {
    case CUDA_R_32F: return "R_32F";
    case CUDA_R_64F: return "R_64F";
    default: return "data " + std::to_string(static_cast<int>(t));
  }
}

constexpr uint64_t kWorkspaceLimit = 32ull << 20;
constexpr size_t kMaxPlans = 256;

// The largest power of two, up to 256, that divides the address.
uint32_t alignment(const void* p) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  return a == 0 ? 256u : static_cast<uint32_t>(std::min<uintptr_t>(256, a & (~a + 1)));
}

}  // namespace

LtMatmul::LtMatmul(const LtMatmulSpec& s) {
  if (s.dtype != DType::f32 && s.dtype != DType::f64)
    throw Error(std::string("cuBLASLt: matmul of ") + dtype_name(s.dtype) + " runs as a generated kernel, not cuBLASLt");
  const Lt& f = lt();
  const bool f64 = s.dtype == DType::f64;
  const cudaDataType_t data = f64 ? CUDA_R_64F : CUDA_R_32F;
  cublasLtMatmulDesc_t desc = nullptr;
  check(f.MatmulDescCreate(&desc, f64 ? CUBLAS_COMPUTE_64F : CUBLAS_COMPUTE_32F, data), "cublasLtMatmulDescCreate");
  desc_ = desc;
  cublasLtEpilogue_t ep = s.epilogue == LtEpilogue::bias        ? CUBLASLT_EPILOGUE_BIAS
                          : s.epilogue == LtEpilogue::relu      ? CUBLASLT_EPILOGUE_RELU
                          : s.epilogue == LtEpilogue::relu_bias ? CUBLASLT_EPILOGUE_RELU_BIAS
                                                                : CUBLASLT_EPILOGUE_DEFAULT;
  check(f.MatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &ep, sizeof ep), "cublasLtMatmulDescSetAttribute(EPILOGUE)");
  // NOTE [Matmul through cuBLASLt]: cuBLASLt's (A, B, C) = duet's (B, A, C), transposed views.
  const int32_t trans_a = s.b_transposed ? CUBLAS_OP_T : CUBLAS_OP_N, trans_b = s.a_transposed ? CUBLAS_OP_T : CUBLAS_OP_N;
  check(f.MatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &trans_a, sizeof trans_a), "cublasLtMatmulDescSetAttribute(TRANSA)");
  check(f.MatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &trans_b, sizeof trans_b), "cublasLtMatmulDescSetAttribute(TRANSB)");
  struct Shape2 { int64_t rows, cols, stride; };
  const Shape2 shapes[3] = {
      {s.b_transposed ? s.k : s.n, s.b_transposed ? s.n : s.k, s.b_batched ? s.k * s.n : 0},
      {s.a_transposed ? s.m : s.k, s.a_transposed ? s.k : s.m, s.a_batched ? s.m * s.k : 0},
      {s.n, s.m, s.m * s.n}};
  for (int i = 0; i < 3; ++i) {
    cublasLtMatrixLayout_t l = nullptr;
    check(f.MatrixLayoutCreate(&l, data, static_cast<uint64_t>(shapes[i].rows), static_cast<uint64_t>(shapes[i].cols),
                               shapes[i].rows),
          "cublasLtMatrixLayoutCreate");
    layout_[i] = l;
    int32_t batch = static_cast<int32_t>(s.batch);
    check(f.MatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch, sizeof batch),
          "cublasLtMatrixLayoutSetAttribute(BATCH_COUNT)");
    int64_t stride = shapes[i].stride;
    check(f.MatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride),
          "cublasLtMatrixLayoutSetAttribute(STRIDED_BATCH_OFFSET)");
  }
}

LtMatmul::~LtMatmul() {
  const Lt& f = lt();
  for (void* l : layout_)
    if (l) f.MatrixLayoutDestroy(static_cast<cublasLtMatrixLayout_t>(l));
  if (desc_) f.MatmulDescDestroy(static_cast<cublasLtMatmulDesc_t>(desc_));
}

LtDescription LtMatmul::describe() const {
  const Lt& f = lt();
  LtDescription d;
  auto desc = static_cast<cublasLtMatmulDesc_t>(desc_);
  size_t written = 0;
  auto get = [&](cublasLtMatmulDescAttributes_t attr, auto* value, const char* call) {
    check(f.MatmulDescGetAttribute(desc, attr, value, sizeof *value, &written), call);
  };
  cublasLtEpilogue_t ep{};
  get(CUBLASLT_MATMUL_DESC_EPILOGUE, &ep, "cublasLtMatmulDescGetAttribute(EPILOGUE)");
  cublasComputeType_t compute{};
  get(CUBLASLT_MATMUL_DESC_COMPUTE_TYPE, &compute, "cublasLtMatmulDescGetAttribute(COMPUTE_TYPE)");
  cudaDataType_t scale{};
  get(CUBLASLT_MATMUL_DESC_SCALE_TYPE, &scale, "cublasLtMatmulDescGetAttribute(SCALE_TYPE)");
  int32_t trans_a = 0, trans_b = 0;
  get(CUBLASLT_MATMUL_DESC_TRANSA, &trans_a, "cublasLtMatmulDescGetAttribute(TRANSA)");
  get(CUBLASLT_MATMUL_DESC_TRANSB, &trans_b, "cublasLtMatmulDescGetAttribute(TRANSB)");
  d.epilogue = epilogue_name(ep);
  d.compute = compute_name(compute);
  d.scale = data_name(scale);
  d.trans_a = trans_a == CUBLAS_OP_T;
  d.trans_b = trans_b == CUBLAS_OP_T;
  LtLayout* out[3] = {&d.a, &d.b, &d.c};
  for (int i = 0; i < 3; ++i) {
    auto l = static_cast<cublasLtMatrixLayout_t>(layout_[i]);
    auto get_layout = [&](cublasLtMatrixLayoutAttribute_t attr, auto* value, const char* call) {
      check(f.MatrixLayoutGetAttribute(l, attr, value, sizeof *value, &written), call);
    };
    get_layout(CUBLASLT_MATRIX_LAYOUT_ROWS, &out[i]->rows, "cublasLtMatrixLayoutGetAttribute(ROWS)");
    get_layout(CUBLASLT_MATRIX_LAYOUT_COLS, &out[i]->cols, "cublasLtMatrixLayoutGetAttribute(COLS)");
    get_layout(CUBLASLT_MATRIX_LAYOUT_LD, &out[i]->ld, "cublasLtMatrixLayoutGetAttribute(LD)");
    get_layout(CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &out[i]->batch, "cublasLtMatrixLayoutGetAttribute(BATCH_COUNT)");
    get_layout(CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &out[i]->batch_stride,
               "cublasLtMatrixLayoutGetAttribute(STRIDED_BATCH_OFFSET)");
  }
  return d;
}

// A spec's descriptors with the algorithm chosen for them (NOTE [Matmul
// through cuBLASLt]); usable false when cuBLASLt offered none.
struct LtPlan {
  LtMatmul matmul;
  cublasLtMatmulAlgo_t algo{};
  size_t workspace = 0;
  bool usable = false;

  cublasLtMatmulDesc_t desc() const { return static_cast<cublasLtMatmulDesc_t>(matmul.desc_); }
  cublasLtMatrixLayout_t layout(int i) const { return static_cast<cublasLtMatrixLayout_t>(matmul.layout_[i]); }

  // align: duet's a, b, c and bias buffers' alignments.
  LtPlan(const LtMatmulSpec& spec, cublasLtHandle_t handle, const uint32_t align[4], const void* bias) : matmul(spec) {
    const Lt& f = lt();
    if (spec.epilogue == LtEpilogue::bias || spec.epilogue == LtEpilogue::relu_bias) set_bias(bias);
    cublasLtMatmulPreference_t pref = nullptr;
    check(f.MatmulPreferenceCreate(&pref), "cublasLtMatmulPreferenceCreate");
    std::unique_ptr<cublasLtMatmulPreferenceOpaque_t, decltype(f.MatmulPreferenceDestroy)> owned(
        pref, f.MatmulPreferenceDestroy);
    auto set = [&](cublasLtMatmulPreferenceAttributes_t attr, const auto& value, const char* call) {
      check(f.MatmulPreferenceSetAttribute(pref, attr, &value, sizeof value), call);
    };
    set(CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, kWorkspaceLimit, "cublasLtMatmulPreferenceSetAttribute(MAX_WORKSPACE_BYTES)");
    // cuBLASLt's A is duet's b, its B duet's a; C and D are both duet's c.
    set(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, align[1], "cublasLtMatmulPreferenceSetAttribute(MIN_ALIGNMENT_A_BYTES)");
    set(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, align[0], "cublasLtMatmulPreferenceSetAttribute(MIN_ALIGNMENT_B_BYTES)");
    set(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, align[2], "cublasLtMatmulPreferenceSetAttribute(MIN_ALIGNMENT_C_BYTES)");
    set(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, align[2], "cublasLtMatmulPreferenceSetAttribute(MIN_ALIGNMENT_D_BYTES)");
    cublasLtMatmulHeuristicResult_t best{};
    int found = 0;
    cublasStatus_t s = f.MatmulAlgoGetHeuristic(handle, desc(), layout(0), layout(1), layout(2), layout(2), pref, 1,
                                                &best, &found);
    if (s == CUBLAS_STATUS_NOT_SUPPORTED) return;  // no heuristic for this configuration
    check(s, "cublasLtMatmulAlgoGetHeuristic");
    if (found < 1 || best.state != CUBLAS_STATUS_SUCCESS || best.workspaceSize > kWorkspaceLimit) return;
    algo = best.algo;
    workspace = best.workspaceSize;
    usable = true;
  }

  void set_bias(const void* bias) {
    check(lt().MatmulDescSetAttribute(desc(), CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias),
          "cublasLtMatmulDescSetAttribute(BIAS_POINTER)");
  }
};

namespace {

struct LtKey {
  int device;
  LtMatmulSpec spec;
  uint32_t align[4];  // duet's a, b, c, bias
  auto tie() const {
    return std::tie(device, spec.dtype, spec.m, spec.n, spec.k, spec.batch, spec.a_batched, spec.b_batched,
                    spec.epilogue, spec.a_transposed, spec.b_transposed, align[0], align[1], align[2], align[3]);
  }
  bool operator<(const LtKey& o) const { return tie() < o.tie(); }
};

struct LtState {
  std::mutex mu;
  std::map<int, cublasLtHandle_t> handles;
  std::map<LtKey, std::unique_ptr<LtPlan>> plans;
};

LtState& state() {
  static auto* s = new LtState;  // never destroyed (NOTE [Matmul through cuBLASLt])
  return *s;
}

// The device's handle; the caller holds state().mu and has made the device current.
cublasLtHandle_t handle(LtState& st, int device) {
  cublasLtHandle_t& h = st.handles[device];
  if (!h) check(lt().Create(&h), "cublasLtCreate");
  return h;
}

// Releases a workspace once its use is queued (NOTE [One stream per device]).
struct Workspace {
  Storage* storage = nullptr;
  ~Workspace() {
    if (storage) storage->release();
  }
};

}  // namespace

bool lt_matmul(const LtMatmulSpec& spec, const LtOperands& p, int device) {
  if (spec.batch > INT32_MAX) return false;  // cuBLASLt's batch count is an int32
  const Lt& f = lt();
  const bool has_bias = spec.epilogue == LtEpilogue::bias || spec.epilogue == LtEpilogue::relu_bias;
  const LtKey key{device, spec, {alignment(p.a), alignment(p.b), alignment(p.c), has_bias ? alignment(p.bias) : 0u}};
  LtState& st = state();
  std::lock_guard<std::mutex> lock(st.mu);
  set_device(device);
  cublasLtHandle_t h = handle(st, device);
  auto it = st.plans.find(key);
  if (it == st.plans.end()) {
    if (st.plans.size() >= kMaxPlans) st.plans.clear();
    it = st.plans.emplace(key, std::make_unique<LtPlan>(spec, h, key.align, p.bias)).first;
  }
  LtPlan& plan = *it->second;
  if (!plan.usable) return false;
  if (has_bias) plan.set_bias(p.bias);
  Workspace ws;
  if (plan.workspace > 0) ws.storage = Storage::allocate(plan.workspace, Device::cuda(device));
  const float one_f = 1, zero_f = 0;
  const double one_d = 1, zero_d = 0;
  const bool f64 = spec.dtype == DType::f64;
  const void* alpha = f64 ? static_cast<const void*>(&one_d) : &one_f;
  const void* beta = f64 ? static_cast<const void*>(&zero_d) : &zero_f;
  // NOTE [Matmul through cuBLASLt]: cuBLASLt's A is duet's b, its B duet's a; C = D = duet's c, beta 0.
  check(f.Matmul(h, plan.desc(), alpha, p.b, plan.layout(0), p.a, plan.layout(1), beta, p.c, plan.layout(2), p.c,
                 plan.layout(2), &plan.algo, ws.storage ? ws.storage->data() : nullptr, plan.workspace,
                 static_cast<cudaStream_t>(stream(device))),
        "cublasLtMatmul");
  return true;
}

#endif

}  // namespace duet::cuda
