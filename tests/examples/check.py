#!/usr/bin/env python3
"""ctest's example.* entries: runs one example and checks its exit status and
the values it prints against the numbers expected here. Integers and text
must match exactly; floating-point values within a tolerance, since an f32
matmul through oneDNN may round differently on another CPU. The expected
numbers were printed by the examples themselves (Release build, x86-64).

usage: check.py NAME EXE [ARGS...]   (NAME: collatz, rnn, eager_showcase, fashion_mnist)
"""
import math
import re
import subprocess
import sys

# fashion_mnist --steps 60: test accuracy and last loss, either mode.
ACCURACY, LAST_LOSS = 67.8, 0.88

NUMBER = r"(-?[0-9][0-9.e+-]*|-?nan|-?inf)"


class Checker:
    def __init__(self, output):
        self.output = output
        self.failures = []

    def text(self, expected):
        """A line of the output holds `expected` verbatim."""
        if expected not in self.output:
            self.failures.append("missing: " + expected)

    def values(self, pattern, expected, rel=0.0, abs_tol=0.0):
        """The first match of `pattern` (NUMBER marks each value) gives the
        `expected` values: an int exactly, a float within rel/abs_tol.
        Returns the values read, or None."""
        regex = re.escape(pattern).replace(re.escape("NUMBER"), NUMBER)
        m = re.search(regex, self.output)
        if not m:
            self.failures.append("no line matches: " + pattern)
            return None
        got = []
        for text, want in zip(m.groups(), expected):
            try:
                value = float(text)
            except ValueError:
                self.failures.append(f"{pattern}: '{text}' is not a number")
                return None
            got.append(value)
            if want is None:
                continue
            if isinstance(want, int):
                ok = value == want
            else:
                ok = math.isclose(value, want, rel_tol=rel, abs_tol=abs_tol)
            if not ok:
                tol = "exactly" if isinstance(want, int) else f"within rel {rel} / abs {abs_tol}"
                self.failures.append(f"{pattern}: got {text}, expected {want} {tol} (line: {m.group(0)!r})")
        return got

    def holds(self, cond, what):
        if not cond:
            self.failures.append(what)


def collatz(c):
    # Steps from n to 1: known values of the sequence (27 takes 111, 97 takes 118).
    for n, steps in [(12, 9), (27, 111), (1, 0), (97, 118)]:
        c.values(f"collatz({n}): NUMBER steps eagerly, NUMBER traced", [steps, steps])
    c.values("traces: NUMBER", [1])
    # The optimized IR it prints keeps the loop and the branch.
    c.text("= while(")
    c.text("= cond(")


def rnn(c):
    # f64 throughout: the loss and |d loss / d wh| per sequence length, and
    # traced results identical to eager ones (max |eager - traced| is 0).
    for steps, loss, grad in [(3, 0.149149, 0.227601), (7, -0.162233, 0.25701), (12, 0.0180741, 0.229752)]:
        c.values(f"T = {steps}: loss NUMBER, |grad wh| NUMBER, max |eager - traced| NUMBER",
                 [loss, grad, 0.0], rel=1e-4)
    c.values("traces: NUMBER", [1])


def eager_showcase(c):
    c.text("a         = tensor([[1, 2], [3, 4]], shape=[2,2], dtype=f32)")
    c.text("a + b     = tensor([[11, 22], [13, 24]], shape=[2,2], dtype=f32)")
    c.text("a * 2     = tensor([[2, 4], [6, 8]], shape=[2,2], dtype=f32)")
    c.text("i / 2     = tensor([0, 1, 1], shape=[3], dtype=i32)")
    c.text("i * 0.5   = tensor([0.5, 1, 1.5], shape=[3], dtype=f32)")
    c.text("sum(a, 1) = tensor([3, 7], shape=[2], dtype=f32)")
    lo, hi = 1 / (1 + math.e), 1 / (1 + math.exp(-1))  # softmax of [1, 2] and of [3, 4]
    c.values("softmax   = tensor([[NUMBER, NUMBER], [NUMBER, NUMBER]], shape=[2,2], dtype=f32)",
             [lo, hi, lo, hi], abs_tol=1e-7)
    c.values("relu(x @ w): [256,128], mean NUMBER", [11.212], rel=1e-4)
    c.text("variable  = tensor([1, 1], shape=[2], dtype=f32), snapshot before = tensor([0, 0], shape=[2], dtype=f32)")
    c.text("error     : matmul: inner dims differ: f32[2,3] x f32[4,5] (eager_showcase.cpp:31)")


def fashion_mnist(c):
    # Run as `fashion_mnist --steps 60`: 60 batches of 128, eagerly and traced.
    c.text("Fashion-MNIST: 60000 training and 10000 test images; MLP 784-256-10, batch 128, SGD lr 0.1, "
           "the first 60 batches")
    rows = {}
    for mode in ("eager", "traced"):
        m = re.search(rf"^ +{mode} +([0-9.]+)% +([0-9.]+) +([0-9.]+) +([0-9.]+) *$", c.output, re.M)
        c.holds(m is not None, f"no '{mode}' row of test acc, ms/step, first loss, last loss")
        if m:
            rows[mode] = [float(v) for v in m.groups()]
    if len(rows) < 2:
        return
    for mode, (acc, _ms, first, last) in rows.items():
        c.holds(math.isclose(first, math.log(10), abs_tol=0.15),
                f"{mode}: the first loss {first} is not about ln 10 = 2.3026 (10 classes, a fresh model)")
        c.holds(math.isclose(acc, ACCURACY, abs_tol=2.0),
                f"{mode}: test accuracy {acc}% after 60 steps, expected {ACCURACY} +- 2")
        c.holds(math.isclose(last, LAST_LOSS, abs_tol=0.1), f"{mode}: last loss {last}, expected {LAST_LOSS} +- 0.1")
    (acc_e, _, first_e, last_e), (acc_t, _, first_t, last_t) = rows["eager"], rows["traced"]
    # The same seed and data: the traced step computes what the eager one does.
    c.holds(abs(acc_e - acc_t) <= 0.05, f"test accuracy eager {acc_e}% vs traced {acc_t}%")
    c.holds(abs(first_e - first_t) <= 1e-4 and abs(last_e - last_t) <= 1e-3,
            f"losses eager {first_e} -> {last_e} vs traced {first_t} -> {last_t}")


CHECKS = {"collatz": collatz, "rnn": rnn, "eager_showcase": eager_showcase, "fashion_mnist": fashion_mnist}


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in CHECKS:
        print(__doc__, file=sys.stderr)
        return 2
    name, cmd = sys.argv[1], sys.argv[2:]
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        print(f"{name}: no exit within 600 s", file=sys.stderr)
        return 1
    c = Checker(p.stdout)
    c.holds(p.returncode == 0, f"exit status {p.returncode}, expected 0")
    CHECKS[name](c)
    print(p.stdout, end="")
    if c.failures:
        print(f"\n{name}: {len(c.failures)} check(s) failed:", file=sys.stderr)
        for f in c.failures:
            print("  " + f, file=sys.stderr)
        return 1
    print(f"\n{name}: exit status 0 and every printed value as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
