// oneDNN primitives for f32 matmul, conv2d and max_pool2d. Primitives are
// built once per shape and kept in a cache under a mutex (building one costs
// far more than running a small one); execution needs no lock.
//
// NOTE [oneDNN scratchpads]
// By default oneDNN gives every primitive one library-owned scratchpad that
// is shared unless the library was built with DNNL_ENABLE_CONCURRENT_EXEC,
// which Debian's is not: two threads running matmuls at once would scribble
// on each other's scratch memory. So every primitive is built with a
// user-managed scratchpad, and each execution passes a per-thread buffer.
#include <duet/backends/cpu/onednn.h>

#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include <duet/graph/error.h>

namespace duet::cpu::onednn {
namespace {

using dims = dnnl::memory::dims;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

dnnl::engine& engine() {
  static dnnl::engine* e = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *e;
}

dnnl::stream& stream() {
  thread_local dnnl::stream s(engine());
  return s;
}

// Row-major strides of dims.
dims plain_strides(const dims& d) {
  dims s(d.size());
  int64_t acc = 1;
  for (size_t i = d.size(); i-- > 0;) {
    s[i] = acc;
    acc *= d[i];
  }
  return s;
}

dnnl::memory::desc plain(const dims& d) { return dnnl::memory::desc(d, dt::f32, plain_strides(d)); }

dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

// A primitive and the size of the scratchpad it needs.
template <class Prim>
struct Cached {
  Prim prim;
  dnnl::memory::desc scratch;
};

template <class Prim>
class Cache {
 public:
  template <class Make>
  std::shared_ptr<Cached<Prim>> get(const std::vector<int64_t>& key, Make make) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(key);
    if (it != map_.end()) return it->second;
    auto pd = make();
    auto p = std::make_shared<Cached<Prim>>(Cached<Prim>{Prim(pd), pd.scratchpad_desc()});
    if (map_.size() > 4096) map_.clear();  // a crude bound; shapes rarely vary this much
    map_.emplace(key, p);
    return p;
  }

 private:
  std::mutex mu_;
  std::map<std::vector<int64_t>, std::shared_ptr<Cached<Prim>>> map_;
};

// Runs a cached primitive with this thread's scratchpad (NOTE [oneDNN scratchpads]).
template <class Prim>
void execute(const Cached<Prim>& c, std::unordered_map<int, dnnl::memory> args) {
  thread_local std::vector<uint8_t> scratch;
  size_t bytes = c.scratch.get_size();
  if (scratch.size() < bytes) scratch.resize(bytes);
  args.emplace(DNNL_ARG_SCRATCHPAD, dnnl::memory(c.scratch, engine(), scratch.data()));
  c.prim.execute(stream(), args);
  stream().wait();
}

// oneDNN wants equal ranks: pad with leading 1s.
dims padded(const Shape& s, size_t rank) {
  dims d(rank - s.rank(), 1);
  for (int64_t v : s) d.push_back(v);
  return d;
}

void rethrow(const dnnl::error& e, const char* op) {
  throw Error(std::string(op) + ": oneDNN failed: " + e.what());
}

// The desc of an operand with logical dims `d`, stored with its last two
// dims swapped when `transposed`.
dnnl::memory::desc operand(const dims& d, bool transposed) {
  if (!transposed) return plain(d);
  dims physical = d;
  std::swap(physical[d.size() - 1], physical[d.size() - 2]);
  dims st = plain_strides(physical);
  std::swap(st[d.size() - 1], st[d.size() - 2]);
  return dnnl::memory::desc(d, dt::f32, st);
}

dims swapped_last_two(dims d) {
  std::swap(d[d.size() - 1], d[d.size() - 2]);
  return d;
}

// NOTE [oneDNN call overhead]
// A small matmul (the RNN cell's [32,128] x [128,128]) runs in about 3 us, so
// the call around it matters: building dims vectors, a locked map lookup,
// three dnnl::memory objects and an argument map cost about as much. Each
// thread therefore keeps, per shape, the primitive bound to its memory
// objects, its scratchpad and its argument map, and a call only re-points the
// three data handles. The key is a fixed array (no allocation per call).
struct MatmulKey {
  std::array<int64_t, 4 + 2 * Shape::kMaxRank> v{};
  bool operator==(const MatmulKey& o) const { return v == o.v; }
};
struct MatmulKeyHash {
  size_t operator()(const MatmulKey& k) const {
    uint64_t h = 1469598103934665603ull;
    for (int64_t x : k.v) h = (h ^ static_cast<uint64_t>(x)) * 1099511628211ull;
    return static_cast<size_t>(h);
  }
};
struct BoundMatmul {
  std::shared_ptr<Cached<dnnl::matmul>> prim;
  dnnl::memory a, b, c;
  std::vector<uint8_t> scratch;
  std::unordered_map<int, dnnl::memory> args;
};

BoundMatmul& bound_matmul(const Shape& as, bool ta, const Shape& bs, bool tb, const Shape& cs) {
  MatmulKey key;
  size_t i = 0;
  key.v[i++] = cs.rank();
  key.v[i++] = ta * 2 + tb;
  key.v[i++] = as.rank();
  for (int64_t d : as) key.v[i++] = d;
  key.v[i++] = bs.rank();
  for (int64_t d : bs) key.v[i++] = d;
  thread_local std::unordered_map<MatmulKey, std::unique_ptr<BoundMatmul>, MatmulKeyHash> bound;
  auto it = bound.find(key);
  if (it != bound.end()) return *it->second;
  size_t rank = static_cast<size_t>(cs.rank());
  dims ad = padded(as, rank), bd = padded(bs, rank), cd = padded(cs, rank);
  if (ta) ad = swapped_last_two(ad);  // logical dims
  if (tb) bd = swapped_last_two(bd);
  static Cache<dnnl::matmul> cache;
  std::vector<int64_t> shared_key(key.v.begin(), key.v.end());
  auto m = std::make_unique<BoundMatmul>();
  m->prim = cache.get(shared_key, [&] {
    dnnl::matmul::desc desc(operand(ad, ta), operand(bd, tb), plain(cd));
    return dnnl::matmul::primitive_desc(desc, user_scratchpad(), engine());
  });
  m->a = dnnl::memory(operand(ad, ta), engine(), nullptr);
  m->b = dnnl::memory(operand(bd, tb), engine(), nullptr);
  m->c = dnnl::memory(plain(cd), engine(), nullptr);
  m->scratch.resize(m->prim->scratch.get_size());
  m->args = {{DNNL_ARG_SRC, m->a}, {DNNL_ARG_WEIGHTS, m->b}, {DNNL_ARG_DST, m->c},
             {DNNL_ARG_SCRATCHPAD, dnnl::memory(m->prim->scratch, engine(), m->scratch.data())}};
  if (bound.size() > 1024) bound.clear();  // many shapes: start over rather than grow without bound
  return *bound.emplace(key, std::move(m)).first->second;
}

}  // namespace

void matmul_f32(const float* a, const Shape& as, bool ta, const float* b, const Shape& bs, bool tb, float* c,
                const Shape& cs) {
  try {
    BoundMatmul& m = bound_matmul(as, ta, bs, tb, cs);
    m.a.set_data_handle(const_cast<float*>(a));
    m.b.set_data_handle(const_cast<float*>(b));
    m.c.set_data_handle(c);
    m.prim->prim.execute(stream(), m.args);
    stream().wait();
  } catch (const dnnl::error& e) {
    rethrow(e, "matmul");
  }
}

void conv2d_f32(const float* x, const Shape& xs, const float* w, const Shape& ws, float* y, const Shape& ys,
                int64_t stride, int64_t padding) {
  try {
    dims xd = xs.vec(), wd = ws.vec(), yd = ys.vec();
    static Cache<dnnl::convolution_forward> cache;
    std::vector<int64_t> key = xd;
    key.insert(key.end(), wd.begin(), wd.end());
    key.push_back(stride);
    key.push_back(padding);
    auto prim = cache.get(key, [&] {
      dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                           plain(xd), plain(wd), plain(yd), {stride, stride}, {padding, padding},
                                           {padding, padding});
      return dnnl::convolution_forward::primitive_desc(desc, user_scratchpad(), engine());
    });
    dnnl::memory mx(plain(xd), engine(), const_cast<float*>(x));
    dnnl::memory mw(plain(wd), engine(), const_cast<float*>(w));
    dnnl::memory my(plain(yd), engine(), y);
    execute(*prim, {{DNNL_ARG_SRC, mx}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DST, my}});
  } catch (const dnnl::error& e) {
    rethrow(e, "conv2d");
  }
}

void max_pool2d_f32(const float* x, const Shape& xs, float* y, const Shape& ys, int64_t kernel, int64_t stride) {
  try {
    dims xd = xs.vec(), yd = ys.vec();
    static Cache<dnnl::pooling_forward> cache;
    std::vector<int64_t> key = xd;
    key.push_back(kernel);
    key.push_back(stride);
    auto prim = cache.get(key, [&] {
      dnnl::pooling_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::pooling_max, plain(xd),
                                       plain(yd), {stride, stride}, {kernel, kernel}, {0, 0}, {0, 0});
      return dnnl::pooling_forward::primitive_desc(desc, user_scratchpad(), engine());
    });
    dnnl::memory mx(plain(xd), engine(), const_cast<float*>(x));
    dnnl::memory my(plain(yd), engine(), y);
    execute(*prim, {{DNNL_ARG_SRC, mx}, {DNNL_ARG_DST, my}});
  } catch (const dnnl::error& e) {
    rethrow(e, "max_pool2d");
  }
}

}  // namespace duet::cpu::onednn
