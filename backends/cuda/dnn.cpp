// cuDNN descriptors for convolutions, pooling and softmax, and running them.
//
// NOTE [Convolutions through cuDNN]
// duet's conv2d is NCHW x KCRS cross-correlation with one stride and one
// zero padding for both spatial dims, no dilation, no groups; max_pool2d
// drops windows that do not fit (floor) and propagates NaN (duet's maximum
// does). The descriptors say exactly that (CUDNN_CROSS_CORRELATION,
// dilation 1, CUDNN_POOLING_MAX with no padding and CUDNN_PROPAGATE_NAN),
// and cuDNN's own output-dimension queries must agree with duet's shape
// inference (tests/unit/test_cuda.cpp checks random configurations here,
// without a GPU). Softmax over an axis is CUDNN_SOFTMAX_MODE_CHANNEL over
// the NCHW tensor (outer, axis length, inner, 1).
//
// Running them: a cuDNN handle per device, created on first use and bound
// to the device's stream once (cudnnSetStream; a device's stream never
// changes). cuDNN forbids two threads using one handle at once, so one mutex
// guards the handles, the plan cache and each call's queueing (short; a
// device's work is serialized on its stream anyway, NOTE [One stream per
// device] in runtime.h). A plan is one configuration's descriptors and, for
// a convolution pass, its algorithm: the first that
// cudnnGetConvolution*Algorithm_v7 ranks (a heuristic: nothing runs) which
// succeeded, needs at most kWorkspaceLimit bytes, and computes f32 in
// CUDNN_FMA_MATH (cuDNN's default math allows TF32 on Ampere and later, not
// the CPU's precision; f64 takes the default). A configuration cuDNN cannot
// run, or whose shapes are not one convolution's, is cached as unusable and
// its op runs on the host. The workspace comes from Storage::allocate and is
// released as soon as the call is queued. beta is 0, so cuDNN never reads
// the output. Handles are never destroyed (the driver may be gone before
// static destructors run); the cache is dropped whole past kMaxPlans.
#include <duet/backends/cuda/dnn.h>

#include <string>

#include <duet/graph/error.h>

#ifdef DUET_WITH_CUDA
#include <cudnn.h>

#include <algorithm>
#include <climits>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include <duet/backends/cuda/library.h>
#include <duet/backends/cuda/runtime.h>
#include <duet/backends/storage.h>
#endif

namespace duet::cuda {

#ifndef DUET_WITH_CUDA

namespace {
[[noreturn]] void no_cudnn() { throw DeviceError("cuDNN: this build has no CUDA backend"); }
}  // namespace

Shape cudnn_conv2d_output(DType, const Shape&, const Shape&, int64_t, int64_t) { no_cudnn(); }
Shape cudnn_max_pool2d_output(DType, const Shape&, int64_t, int64_t) { no_cudnn(); }
bool cudnn_convolution(ConvPass, const ConvSpec&, const void*, const void*, void*, int) { no_cudnn(); }
bool cudnn_max_pool2d(DType, const Shape&, const Shape&, int64_t, int64_t, const void*, void*, int) { no_cudnn(); }
bool cudnn_softmax(DType, int64_t, int64_t, int64_t, bool, const void*, void*, int) { no_cudnn(); }

#else

namespace {

#define DUET_STR2(x) #x
#define DUET_STR(x) DUET_STR2(x)

struct Dnn {
  Library lib{{DUET_CUDA_LIBDIR "/libcudnn.so." DUET_STR(CUDNN_MAJOR), "libcudnn.so." DUET_STR(CUDNN_MAJOR)}, "cuDNN"};
#define DUET_DNN_FN(name) decltype(&cudnn##name) name = get<decltype(&cudnn##name)>(lib, "cudnn" #name)
  DUET_DNN_FN(GetErrorString);
  DUET_DNN_FN(Create);
  DUET_DNN_FN(Destroy);
  DUET_DNN_FN(SetStream);
  DUET_DNN_FN(CreateTensorDescriptor);
  DUET_DNN_FN(DestroyTensorDescriptor);
  DUET_DNN_FN(SetTensor4dDescriptor);
  DUET_DNN_FN(CreateFilterDescriptor);
  DUET_DNN_FN(DestroyFilterDescriptor);
  DUET_DNN_FN(SetFilter4dDescriptor);
  DUET_DNN_FN(CreateConvolutionDescriptor);
  DUET_DNN_FN(DestroyConvolutionDescriptor);
  DUET_DNN_FN(SetConvolution2dDescriptor);
  DUET_DNN_FN(SetConvolutionMathType);
  DUET_DNN_FN(GetConvolution2dForwardOutputDim);
  DUET_DNN_FN(CreatePoolingDescriptor);
  DUET_DNN_FN(DestroyPoolingDescriptor);
  DUET_DNN_FN(SetPooling2dDescriptor);
  DUET_DNN_FN(GetPooling2dForwardOutputDim);
  DUET_DNN_FN(GetConvolutionForwardAlgorithmMaxCount);
  DUET_DNN_FN(GetConvolutionBackwardDataAlgorithmMaxCount);
  DUET_DNN_FN(GetConvolutionBackwardFilterAlgorithmMaxCount);
  DUET_DNN_FN(GetConvolutionForwardAlgorithm_v7);
  DUET_DNN_FN(GetConvolutionBackwardDataAlgorithm_v7);
  DUET_DNN_FN(GetConvolutionBackwardFilterAlgorithm_v7);
  DUET_DNN_FN(GetConvolutionForwardWorkspaceSize);
  DUET_DNN_FN(GetConvolutionBackwardDataWorkspaceSize);
  DUET_DNN_FN(GetConvolutionBackwardFilterWorkspaceSize);
  DUET_DNN_FN(ConvolutionForward);
  DUET_DNN_FN(ConvolutionBackwardData);
  DUET_DNN_FN(ConvolutionBackwardFilter);
  DUET_DNN_FN(PoolingForward);
  DUET_DNN_FN(SoftmaxForward);
#undef DUET_DNN_FN
};

const Dnn& dnn() {
  static const Dnn d;  // a DeviceError on first use if cuDNN is missing; retried next time
  return d;
}

// "cuDNN: cudnnConvolutionForward failed: CUDNN_STATUS_..."
void check(cudnnStatus_t s, const char* call) {
  if (s != CUDNN_STATUS_SUCCESS)
    throw DeviceError(std::string("cuDNN: ") + call + " failed: " + dnn().GetErrorString(s));
}

// Whether s says cuDNN cannot run this configuration (as opposed to failing).
bool unsupported(cudnnStatus_t s) {
  return s == CUDNN_STATUS_NOT_SUPPORTED || s == CUDNN_STATUS_NOT_SUPPORTED_SHAPE ||
         s == CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE || s == CUDNN_STATUS_NOT_SUPPORTED_LAYOUT ||
         s == CUDNN_STATUS_NOT_SUPPORTED_PADDING;
}

cudnnDataType_t data_type(DType t) {
  if (t == DType::f32) return CUDNN_DATA_FLOAT;
  if (t == DType::f64) return CUDNN_DATA_DOUBLE;
  throw Error(std::string("cuDNN: no ") + dtype_name(t) + " convolutions");
}

int dim(const Shape& s, int i) { return static_cast<int>(s.dim(i)); }

// cuDNN's descriptors take int dims: each in [1, INT_MAX], and the element
// count too.
bool fits(int64_t v) { return v >= 1 && v <= INT_MAX; }
bool fits(const Shape& s) {
  for (int64_t d : s)
    if (!fits(d)) return false;
  return fits(s.numel());
}

// A descriptor destroyed on every path.
template <class T>
struct Owned {
  T value = nullptr;
  cudnnStatus_t (*destroy)(T) = nullptr;
  Owned() = default;
  Owned(Owned&& o) noexcept : value(std::exchange(o.value, nullptr)), destroy(o.destroy) {}
  Owned& operator=(Owned&& o) noexcept {
    std::swap(value, o.value);
    std::swap(destroy, o.destroy);
    return *this;
  }
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  ~Owned() {
    if (value) destroy(value);
  }
};

Owned<cudnnTensorDescriptor_t> tensor4d(cudnnDataType_t t, int n, int c, int h, int w) {
  const Dnn& f = dnn();
  Owned<cudnnTensorDescriptor_t> d;
  d.destroy = f.DestroyTensorDescriptor;
  check(f.CreateTensorDescriptor(&d.value), "cudnnCreateTensorDescriptor");
  check(f.SetTensor4dDescriptor(d.value, CUDNN_TENSOR_NCHW, t, n, c, h, w), "cudnnSetTensor4dDescriptor");
  return d;
}

Owned<cudnnTensorDescriptor_t> nchw(cudnnDataType_t t, const Shape& x) {
  return tensor4d(t, dim(x, 0), dim(x, 1), dim(x, 2), dim(x, 3));
}

Owned<cudnnFilterDescriptor_t> filter(cudnnDataType_t t, const Shape& w) {
  const Dnn& f = dnn();
  Owned<cudnnFilterDescriptor_t> d;
  d.destroy = f.DestroyFilterDescriptor;
  check(f.CreateFilterDescriptor(&d.value), "cudnnCreateFilterDescriptor");
  check(f.SetFilter4dDescriptor(d.value, t, CUDNN_TENSOR_NCHW, dim(w, 0), dim(w, 1), dim(w, 2), dim(w, 3)),
        "cudnnSetFilter4dDescriptor");
  return d;
}

Owned<cudnnConvolutionDescriptor_t> convolution(cudnnDataType_t t, int64_t stride, int64_t padding) {
  const Dnn& f = dnn();
  Owned<cudnnConvolutionDescriptor_t> d;
  d.destroy = f.DestroyConvolutionDescriptor;
  check(f.CreateConvolutionDescriptor(&d.value), "cudnnCreateConvolutionDescriptor");
  int p = static_cast<int>(padding), s = static_cast<int>(stride);
  check(f.SetConvolution2dDescriptor(d.value, p, p, s, s, 1, 1, CUDNN_CROSS_CORRELATION, t),
        "cudnnSetConvolution2dDescriptor");
  check(f.SetConvolutionMathType(d.value, t == CUDNN_DATA_FLOAT ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH),
        "cudnnSetConvolutionMathType");
  return d;
}

Owned<cudnnPoolingDescriptor_t> max_pooling(int64_t kernel, int64_t stride) {
  const Dnn& f = dnn();
  Owned<cudnnPoolingDescriptor_t> d;
  d.destroy = f.DestroyPoolingDescriptor;
  check(f.CreatePoolingDescriptor(&d.value), "cudnnCreatePoolingDescriptor");
  int k = static_cast<int>(kernel), s = static_cast<int>(stride);
  check(f.SetPooling2dDescriptor(d.value, CUDNN_POOLING_MAX, CUDNN_PROPAGATE_NAN, k, k, 0, 0, s, s),
        "cudnnSetPooling2dDescriptor");
  return d;
}

Shape conv_output(const Owned<cudnnConvolutionDescriptor_t>& conv, const Owned<cudnnTensorDescriptor_t>& x,
                  const Owned<cudnnFilterDescriptor_t>& w) {
  int n = 0, c = 0, h = 0, wo = 0;
  check(dnn().GetConvolution2dForwardOutputDim(conv.value, x.value, w.value, &n, &c, &h, &wo),
        "cudnnGetConvolution2dForwardOutputDim");
  return Shape{n, c, h, wo};
}

Shape pool_output(const Owned<cudnnPoolingDescriptor_t>& pool, const Owned<cudnnTensorDescriptor_t>& x) {
  int n = 0, c = 0, h = 0, w = 0;
  check(dnn().GetPooling2dForwardOutputDim(pool.value, x.value, &n, &c, &h, &w), "cudnnGetPooling2dForwardOutputDim");
  return Shape{n, c, h, w};
}

constexpr size_t kWorkspaceLimit = size_t{256} << 20;
constexpr size_t kMaxPlans = 256;

// One configuration's descriptors and algorithm (NOTE [Convolutions through cuDNN]).
struct DnnPlan {
  Owned<cudnnTensorDescriptor_t> x, y;
  Owned<cudnnFilterDescriptor_t> w;
  Owned<cudnnConvolutionDescriptor_t> conv;
  Owned<cudnnPoolingDescriptor_t> pool;
  int algo = 0;
  size_t workspace = 0;
  bool usable = true;
};

struct DnnState {
  std::mutex mu;
  std::map<int, cudnnHandle_t> handles;
  std::map<std::vector<int64_t>, std::unique_ptr<DnnPlan>> plans;  // key: device, what, dtype, sizes
};

DnnState& state() {
  static auto* s = new DnnState;  // never destroyed (NOTE [Convolutions through cuDNN])
  return *s;
}

// The device's handle, on its stream; the caller holds state().mu and has
// made the device current.
cudnnHandle_t handle(DnnState& st, int device) {
  cudnnHandle_t& h = st.handles[device];
  if (!h) {
    const Dnn& f = dnn();
    cudnnHandle_t created = nullptr;
    check(f.Create(&created), "cudnnCreate");
    cudnnStatus_t s = f.SetStream(created, static_cast<cudaStream_t>(stream(device)));
    if (s != CUDNN_STATUS_SUCCESS) f.Destroy(created);
    check(s, "cudnnSetStream");
    h = created;
  }
  return h;
}

// Runs queue(handle, plan) under the lock with key's plan, made by
// build(handle) on first use; false when the plan is unusable.
template <class Build, class Queue>
bool with_plan(int device, std::vector<int64_t> key, Build build, Queue queue) {
  DnnState& st = state();
  std::lock_guard<std::mutex> lock(st.mu);
  set_device(device);
  cudnnHandle_t h = handle(st, device);
  auto it = st.plans.find(key);
  if (it == st.plans.end()) {
    if (st.plans.size() >= kMaxPlans) st.plans.clear();
    it = st.plans.emplace(std::move(key), build(h)).first;
  }
  if (!it->second->usable) return false;
  queue(h, *it->second);
  return true;
}

// A workspace for one queued call, released once it is queued (NOTE [One
// stream per device]).
struct Workspace {
  Storage* storage = nullptr;
  Workspace(size_t bytes, int device) {
    if (bytes > 0) storage = Storage::allocate(bytes, Device::cuda(device));
  }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  ~Workspace() {
    if (storage) storage->release();
  }
  void* data() const { return storage ? storage->data() : nullptr; }
};

// alpha = 1 and beta = 0 in the type cuDNN reads them as: double for double
// data, float otherwise.
struct Scale {
  float f[2] = {1, 0};
  double d[2] = {1, 0};
  bool f64;
  explicit Scale(DType t) : f64(t == DType::f64) {}
  const void* one() const { return f64 ? static_cast<const void*>(&d[0]) : &f[0]; }
  const void* zero() const { return f64 ? static_cast<const void*>(&d[1]) : &f[1]; }
};

// Picks the first of cuDNN's ranked algorithms perf[0, count) that
// succeeded, keeps f32 in FMA math and fits the workspace limit, and leaves
// its math type on the descriptor; plan.usable false when none does.
template <class Perf, class WorkspaceOf>
void choose(const Perf* perf, int count, bool f32, DnnPlan& plan, WorkspaceOf workspace_of) {
  plan.usable = false;
  for (int i = 0; i < count; ++i) {
    const Perf& p = perf[i];
    if (p.status != CUDNN_STATUS_SUCCESS) continue;
    if (f32 ? p.mathType != CUDNN_FMA_MATH : (p.mathType != CUDNN_DEFAULT_MATH && p.mathType != CUDNN_FMA_MATH))
      continue;
    check(dnn().SetConvolutionMathType(plan.conv.value, p.mathType), "cudnnSetConvolutionMathType");
    size_t bytes = 0;
    if (workspace_of(p.algo, &bytes) != CUDNN_STATUS_SUCCESS || bytes > kWorkspaceLimit) continue;
    plan.algo = static_cast<int>(p.algo);
    plan.workspace = bytes;
    plan.usable = true;
    return;
  }
}

// The ranking call's status: false (plan unusable) when cuDNN cannot run
// the configuration, a DeviceError when it failed.
bool ranked(cudnnStatus_t s, const char* call) {
  if (unsupported(s)) return false;
  check(s, call);
  return true;
}

// How many ranked algorithms the _v7 query of a pass can return (every
// algorithm in every math type).
int max_count(cudnnStatus_t (*query)(cudnnHandle_t, int*), cudnnHandle_t h, const char* call) {
  int n = 0;
  check(query(h, &n), call);
  return std::max(n, 1);
}

std::unique_ptr<DnnPlan> conv_plan(cudnnHandle_t h, ConvPass pass, const ConvSpec& s) {
  const Dnn& f = dnn();
  const cudnnDataType_t t = data_type(s.dtype);
  auto plan = std::make_unique<DnnPlan>();
  DnnPlan& p = *plan;
  p.x = nchw(t, s.x);
  p.y = nchw(t, s.y);
  p.w = filter(t, s.w);
  p.conv = convolution(t, s.stride, s.padding);
  // The gradient ops take x's or w's shape from attributes nothing checks
  // against dy: cuDNN must see one convolution.
  if (s.x.dim(1) != s.w.dim(1) || s.x.dim(2) + 2 * s.padding < s.w.dim(2) || s.x.dim(3) + 2 * s.padding < s.w.dim(3) ||
      !(conv_output(p.conv, p.x, p.w) == s.y)) {
    p.usable = false;
    return plan;
  }
  const bool f32 = t == CUDNN_DATA_FLOAT;
  int count = 0;
  switch (pass) {
    case ConvPass::forward: {
      std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(max_count(f.GetConvolutionForwardAlgorithmMaxCount, h,
                                                                 "cudnnGetConvolutionForwardAlgorithmMaxCount"));
      p.usable = ranked(f.GetConvolutionForwardAlgorithm_v7(h, p.x.value, p.w.value, p.conv.value, p.y.value,
                                                            static_cast<int>(perf.size()), &count, perf.data()),
                        "cudnnGetConvolutionForwardAlgorithm_v7");
      if (p.usable)
        choose(perf.data(), count, f32, p, [&](cudnnConvolutionFwdAlgo_t a, size_t* bytes) {
          return f.GetConvolutionForwardWorkspaceSize(h, p.x.value, p.w.value, p.conv.value, p.y.value, a, bytes);
        });
      break;
    }
    case ConvPass::backward_data: {
      std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(max_count(
          f.GetConvolutionBackwardDataAlgorithmMaxCount, h, "cudnnGetConvolutionBackwardDataAlgorithmMaxCount"));
      p.usable = ranked(f.GetConvolutionBackwardDataAlgorithm_v7(h, p.w.value, p.y.value, p.conv.value, p.x.value,
                                                                 static_cast<int>(perf.size()), &count, perf.data()),
                        "cudnnGetConvolutionBackwardDataAlgorithm_v7");
      if (p.usable)
        choose(perf.data(), count, f32, p, [&](cudnnConvolutionBwdDataAlgo_t a, size_t* bytes) {
          return f.GetConvolutionBackwardDataWorkspaceSize(h, p.w.value, p.y.value, p.conv.value, p.x.value, a, bytes);
        });
      break;
    }
    case ConvPass::backward_filter: {
      std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(max_count(
          f.GetConvolutionBackwardFilterAlgorithmMaxCount, h, "cudnnGetConvolutionBackwardFilterAlgorithmMaxCount"));
      p.usable = ranked(f.GetConvolutionBackwardFilterAlgorithm_v7(h, p.x.value, p.y.value, p.conv.value, p.w.value,
                                                                   static_cast<int>(perf.size()), &count, perf.data()),
                        "cudnnGetConvolutionBackwardFilterAlgorithm_v7");
      if (p.usable)
        choose(perf.data(), count, f32, p, [&](cudnnConvolutionBwdFilterAlgo_t a, size_t* bytes) {
          return f.GetConvolutionBackwardFilterWorkspaceSize(h, p.x.value, p.y.value, p.conv.value, p.w.value, a,
                                                             bytes);
        });
      break;
    }
  }
  return plan;
}

}  // namespace

Shape cudnn_conv2d_output(DType dtype, const Shape& x, const Shape& w, int64_t stride, int64_t padding) {
  cudnnDataType_t t = data_type(dtype);
  return conv_output(convolution(t, stride, padding), nchw(t, x), filter(t, w));
}

Shape cudnn_max_pool2d_output(DType dtype, const Shape& x, int64_t kernel, int64_t stride) {
  return pool_output(max_pooling(kernel, stride == 0 ? kernel : stride), nchw(data_type(dtype), x));
}

bool cudnn_convolution(ConvPass pass, const ConvSpec& s, const void* in0, const void* in1, void* out, int device) {
  if (!fits(s.x) || !fits(s.w) || !fits(s.y) || !fits(s.stride) || s.padding < 0 || s.padding > INT_MAX) return false;
  std::vector<int64_t> key{device, static_cast<int64_t>(pass), static_cast<int64_t>(s.dtype), s.stride, s.padding};
  for (const Shape* shape : {&s.x, &s.w, &s.y}) key.insert(key.end(), shape->begin(), shape->end());
  return with_plan(
      device, std::move(key), [&](cudnnHandle_t h) { return conv_plan(h, pass, s); },
      [&](cudnnHandle_t h, const DnnPlan& p) {
        const Dnn& f = dnn();
        const Scale scale(s.dtype);
        Workspace ws(p.workspace, device);
        switch (pass) {
          case ConvPass::forward:
            check(f.ConvolutionForward(h, scale.one(), p.x.value, in0, p.w.value, in1, p.conv.value,
                                       static_cast<cudnnConvolutionFwdAlgo_t>(p.algo), ws.data(), p.workspace,
                                       scale.zero(), p.y.value, out),
                  "cudnnConvolutionForward");
            break;
          case ConvPass::backward_data:  // (in0, in1) = (dy, w)
            check(f.ConvolutionBackwardData(h, scale.one(), p.w.value, in1, p.y.value, in0, p.conv.value,
                                            static_cast<cudnnConvolutionBwdDataAlgo_t>(p.algo), ws.data(), p.workspace,
                                            scale.zero(), p.x.value, out),
                  "cudnnConvolutionBackwardData");
            break;
          case ConvPass::backward_filter:  // (in0, in1) = (x, dy)
            check(f.ConvolutionBackwardFilter(h, scale.one(), p.x.value, in0, p.y.value, in1, p.conv.value,
                                              static_cast<cudnnConvolutionBwdFilterAlgo_t>(p.algo), ws.data(),
                                              p.workspace, scale.zero(), p.w.value, out),
                  "cudnnConvolutionBackwardFilter");
            break;
        }
      });
}

bool cudnn_max_pool2d(DType dtype, const Shape& x, const Shape& y, int64_t kernel, int64_t stride, const void* xp,
                      void* yp, int device) {
  if (!fits(x) || !fits(y) || !fits(kernel) || !fits(stride)) return false;
  std::vector<int64_t> key{device, 3, static_cast<int64_t>(dtype), kernel, stride};
  key.insert(key.end(), x.begin(), x.end());
  key.insert(key.end(), y.begin(), y.end());
  return with_plan(
      device, std::move(key),
      [&](cudnnHandle_t) {
        const cudnnDataType_t t = data_type(dtype);
        auto plan = std::make_unique<DnnPlan>();
        plan->x = nchw(t, x);
        plan->y = nchw(t, y);
        plan->pool = max_pooling(kernel, stride);
        plan->usable = pool_output(plan->pool, plan->x) == y;
        return plan;
      },
      [&](cudnnHandle_t h, const DnnPlan& p) {
        const Scale scale(dtype);
        check(dnn().PoolingForward(h, p.pool.value, scale.one(), p.x.value, xp, scale.zero(), p.y.value, yp),
              "cudnnPoolingForward");
      });
}

bool cudnn_softmax(DType dtype, int64_t outer, int64_t n, int64_t inner, bool log, const void* xp, void* yp,
                   int device) {
  if (!fits(outer) || !fits(n) || !fits(inner) || !fits(outer * n * inner)) return false;  // a tensor's size: no overflow
  std::vector<int64_t> key{device, 4, static_cast<int64_t>(dtype), outer, n, inner};
  return with_plan(
      device, std::move(key),
      [&](cudnnHandle_t) {
        auto plan = std::make_unique<DnnPlan>();
        plan->x = tensor4d(data_type(dtype), static_cast<int>(outer), static_cast<int>(n), static_cast<int>(inner), 1);
        return plan;
      },
      [&](cudnnHandle_t h, const DnnPlan& p) {
        const Scale scale(dtype);
        check(dnn().SoftmaxForward(h, log ? CUDNN_SOFTMAX_LOG : CUDNN_SOFTMAX_ACCURATE, CUDNN_SOFTMAX_MODE_CHANNEL,
                                   scale.one(), p.x.value, xp, scale.zero(), p.x.value, yp),
              "cudnnSoftmaxForward");
      });
}

#endif

}  // namespace duet::cuda
