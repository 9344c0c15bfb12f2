// Polynomial f32 exp, log and tanh in IR (the coefficients are the classic
// Cephes single-precision ones: minimax on the reduced range, about 1 ulp for
// exp and log, 2 for tanh), Horner steps and range reductions as fused
// multiply-adds, exactly as graph/scalar.h. Branch-free (both sides computed
// and selected), so a loop of them vectorizes.
#include <duet/codegen/emit/math.h>

#include <initializer_list>

#include <llvm/IR/IntrinsicsX86.h>

namespace duet::codegen::emit {
namespace {

// Constants of a value's type: a float (or i32), or a vector of them (splat),
// so the same code serves scalar loops and explicitly vector kernels.
llvm::Value* c(llvm::Type* t, double v) { return llvm::ConstantFP::get(t, v); }
llvm::Value* ci(llvm::Type* t, int64_t v) { return llvm::ConstantInt::get(t, static_cast<uint64_t>(v)); }
llvm::Type* int_like(llvm::IRBuilder<>& b, llvm::Type* t) { return t->getWithNewType(b.getInt32Ty()); }
llvm::Type* float_like(llvm::IRBuilder<>& b, llvm::Type* t) { return t->getWithNewType(b.getFloatTy()); }

// a * x + y rounded once (llvm.fma: std::fma in graph/scalar.h).
llvm::Value* fma(llvm::IRBuilder<>& b, llvm::Value* a, llvm::Value* x, llvm::Value* y) {
  return b.CreateIntrinsic(llvm::Intrinsic::fma, {a->getType()}, {a, x, y});
}

// Horner: ((k0*x + k1)*x + k2)..., a fused multiply-add per step.
llvm::Value* horner(llvm::IRBuilder<>& b, llvm::Value* x, std::initializer_list<double> k) {
  llvm::Value* acc = nullptr;
  for (double v : k) acc = acc ? fma(b, acc, x, c(x->getType(), v)) : c(x->getType(), v);
  return acc;
}

llvm::Value* is_nan(llvm::IRBuilder<>& b, llvm::Value* x) { return b.CreateFCmpUNO(x, x); }

llvm::Value* clamp(llvm::IRBuilder<>& b, llvm::Value* x, double lo, double hi) {
  llvm::Type* t = x->getType();
  x = b.CreateSelect(b.CreateFCmpOLT(x, c(t, lo)), c(t, lo), x);
  return b.CreateSelect(b.CreateFCmpOGT(x, c(t, hi)), c(t, hi), x);
}

// 2^k as a float, for k in [-126, 127].
llvm::Value* pow2i(llvm::IRBuilder<>& b, llvm::Value* k) {
  llvm::Type* t = k->getType();
  return b.CreateBitCast(b.CreateShl(b.CreateAdd(k, ci(t, 127)), ci(t, 23)), float_like(b, t));
}

}  // namespace

llvm::Value* emit_exp_f32(llvm::IRBuilder<>& b, llvm::Value* x0, bool avx512) {
  llvm::Type* ft = x0->getType();
  llvm::Type* it = int_like(b, ft);
  // exp(x) = 2^n * exp(r), n = round(x / ln2), |r| <= ln2/2.
  llvm::Value* x = clamp(b, x0, -104.0, 89.0);
  // n = x / ln2 rounded to nearest by adding and subtracting 1.5 * 2^23, as scalar.h.
  llvm::Value* fx = b.CreateFSub(fma(b, x, c(ft, 1.44269504088896341), c(ft, 12582912.0)), c(ft, 12582912.0));
  llvm::Value* r = fma(b, fx, c(ft, -0.693359375), x);
  r = fma(b, fx, c(ft, 2.12194440e-4), r);
  llvm::Value* z = b.CreateFMul(r, r);
  llvm::Value* p = horner(b, r, {1.9875691500E-4, 1.3981999507E-3, 8.3334519073E-3, 4.1665795894E-2, 1.6666665459E-1,
                                 5.0000001201E-1});
  llvm::Value* y = b.CreateFAdd(fma(b, p, z, r), c(ft, 1.0));
  if (avx512 && ft->isVectorTy() && llvm::cast<llvm::FixedVectorType>(ft)->getNumElements() == 16) {
    // y * 2^fx rounded once: vscalefps. The two factors below round once as
    // well (y * 2^n1 is exact), so both give the same bits, in 1 instruction
    // instead of 9.
    y = b.CreateIntrinsic(llvm::Intrinsic::x86_avx512_mask_scalef_ps_512, {},
                          {y, fx, llvm::Constant::getNullValue(ft), b.getInt16(0xffff), b.getInt32(4)});
    return b.CreateSelect(is_nan(b, x0), x0, y);
  }
  // 2^n in two factors, so n in [-150, 129] never leaves the exponent range.
  llvm::Value* n = b.CreateFPToSI(fx, it);
  llvm::Value* n1 = b.CreateAShr(n, ci(it, 1));
  llvm::Value* n2 = b.CreateSub(n, n1);
  y = b.CreateFMul(b.CreateFMul(y, pow2i(b, n1)), pow2i(b, n2));
  return b.CreateSelect(is_nan(b, x0), x0, y);
}

llvm::Value* emit_log_f32(llvm::IRBuilder<>& b, llvm::Value* x0) {
  llvm::Type* ft = x0->getType();
  llvm::Type* it = int_like(b, ft);
  // Subnormals: scale by 2^23 first.
  llvm::Value* tiny = b.CreateFCmpOLT(x0, c(ft, 1.17549435e-38));
  llvm::Value* x = b.CreateSelect(tiny, b.CreateFMul(x0, c(ft, 8388608.0)), x0);
  llvm::Value* bias = b.CreateSelect(tiny, ci(it, -23), ci(it, 0));
  // x = m * 2^e with m in [0.5, 1).
  llvm::Value* bits = b.CreateBitCast(x, it);
  llvm::Value* e = b.CreateAdd(b.CreateSub(b.CreateLShr(bits, ci(it, 23)), ci(it, 126)), bias);
  llvm::Value* m = b.CreateBitCast(b.CreateOr(b.CreateAnd(bits, ci(it, 0x807fffff)), ci(it, 0x3f000000)), ft);
  // m < sqrt(1/2): use 2m - 1 and e - 1, so the argument stays in [sqrt(1/2)-1, sqrt(2)-1).
  llvm::Value* small = b.CreateFCmpOLT(m, c(ft, 0.707106781186547524));
  llvm::Value* ef = b.CreateSIToFP(b.CreateSub(e, b.CreateZExt(small, it)), ft);
  llvm::Value* f = b.CreateFSub(b.CreateSelect(small, b.CreateFAdd(m, m), m), c(ft, 1.0));
  llvm::Value* z = b.CreateFMul(f, f);
  llvm::Value* y = horner(b, f, {7.0376836292E-2, -1.1514610310E-1, 1.1676998740E-1, -1.2420140846E-1, 1.4249322787E-1,
                                 -1.6668057665E-1, 2.0000714765E-1, -2.4999993993E-1, 3.3333331174E-1});
  y = b.CreateFMul(b.CreateFMul(y, f), z);
  y = fma(b, ef, c(ft, -2.12194440e-4), y);
  y = fma(b, z, c(ft, -0.5), y);
  llvm::Value* r = fma(b, ef, c(ft, 0.693359375), b.CreateFAdd(f, y));
  // Special values: log(0) = -inf, log(<0) = NaN, log(inf) = inf, log(NaN) = NaN.
  const float inf = __builtin_inff();
  r = b.CreateSelect(b.CreateFCmpOEQ(x0, c(ft, 0.0)), c(ft, -inf), r);
  r = b.CreateSelect(b.CreateFCmpOLT(x0, c(ft, 0.0)), c(ft, __builtin_nanf("")), r);
  r = b.CreateSelect(b.CreateFCmpOEQ(x0, c(ft, inf)), c(ft, inf), r);
  return b.CreateSelect(is_nan(b, x0), x0, r);
}

llvm::Value* emit_tanh_f32(llvm::IRBuilder<>& b, llvm::Value* x, bool avx512) {
  llvm::Type* ft = x->getType();
  llvm::Value* z = b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x);
  // |x| > 0.625: 1 - 2 / (e^(2|x|) + 1), with x's sign (e^(2|x|) = inf gives 1).
  llvm::Value* s = emit_exp_f32(b, b.CreateFAdd(z, z), avx512);
  llvm::Value* big = b.CreateFSub(c(ft, 1.0), b.CreateFDiv(c(ft, 2.0), b.CreateFAdd(s, c(ft, 1.0))));
  big = b.CreateBinaryIntrinsic(llvm::Intrinsic::copysign, big, x);
  // Otherwise x + x^3 P(x^2).
  llvm::Value* x2 = b.CreateFMul(x, x);
  llvm::Value* p = horner(b, x2, {-5.70498872745E-3, 2.06390887954E-2, -5.37397155531E-2, 1.33314422036E-1,
                                  -3.33332819422E-1});
  llvm::Value* small = fma(b, b.CreateFMul(p, x2), x, x);
  small = b.CreateBinaryIntrinsic(llvm::Intrinsic::copysign, small, x);  // tanh is odd: keeps -0
  return b.CreateSelect(b.CreateFCmpOGT(z, c(ft, 0.625)), big, small);  // NaN takes the polynomial: NaN
}

// erf as scalar_math::poly::erf (graph/scalar.h), step for step.
llvm::Value* emit_erf_f32(llvm::IRBuilder<>& b, llvm::Value* x, bool avx512) {
  llvm::Type* ft = x->getType();
  llvm::Value* a = b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x);
  llvm::Value* t = b.CreateFMul(a, a);
  llvm::Value* small = b.CreateFMul(a, horner(b, t, {-9.667044571486996e-06, 0.00011265959025606609, -0.0008484080405535107, 0.005221031807858023, -0.026865430727670243, 0.11283782495236845, -0.3761263846802871, 1.1283791670615435}));
  llvm::Value* u = b.CreateFMul(b.CreateFSub(a, c(ft, 2.5)), c(ft, 0.66666666666666667));
  llvm::Value* q = horner(b, u, {-3.566417876899525e-05, 9.629120195463984e-05, -0.00014741614293549128, 0.000368151097857375, -0.0010136625981274393, 0.0024256389379578133, -0.005568837645570178, 0.012484123148533609, -0.027005458212834586, 0.05611094755697202, -0.11152101793723113, 0.21080635774313639});
  llvm::Value* large = fma(b, b.CreateFNeg(emit_exp_f32(b, b.CreateFNeg(t), avx512)), q, c(ft, 1.0));
  llvm::Value* r = b.CreateSelect(b.CreateFCmpOLT(a, c(ft, 1.0)), small,
                                  b.CreateSelect(b.CreateFCmpOLT(a, c(ft, 4.0)), large, c(ft, 1.0)));
  r = b.CreateBinaryIntrinsic(llvm::Intrinsic::copysign, r, x);
  return b.CreateSelect(is_nan(b, x), x, r);
}

const char* math_build_stamp() { return __DATE__ " " __TIME__; }

}  // namespace duet::codegen::emit
