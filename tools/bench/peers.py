#!/usr/bin/env python3
"""Runs WORKLOADS.md's W1..W7 in the peers a duet user would pick instead.

  tools/bench/peers.py [--build-dir build] [--peers torch,tensorflow,jax]
                       [--threads 2] [--quick] [--out-dir DIR]

Each peer is installed from PyPI into its own virtual environment under
BUILD_DIR/peers/ (created on first use; duet itself never needs them), then
this script runs itself there in worker mode and writes
OUT_DIR/peer-<name>.json in duet-bench's JSON shape (modes such as
"torch-eager", "torch-compile", "tf-function-xla", "jax-jit"). A peer that
cannot be installed or imported is reported as missing, with the reason, in
its JSON file and on stdout: never silently dropped. Same thread count as
duet (--threads), warm-up calls first; each compiled mode's first call is
timed apart as a "<workload>-compile" row. tools/bench/compare merges these
files with duet-bench's.
"""
import argparse
import gzip
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import time

PEERS = {
    # name: (pip requirements, modes)
    "torch": (["torch", "numpy"], ["torch-eager", "torch-compile"]),
    "tensorflow": (["tensorflow-cpu", "numpy"], ["tf-eager", "tf-function", "tf-function-xla"]),
    "jax": (["jax", "numpy"], ["jax-eager", "jax-jit"]),
}
DATA = "/usr/share/datasets/fashion-mnist"


# ---------------------------------------------------------------- the driver

def driver(args):
    os.makedirs(args.out_dir, exist_ok=True)
    root = os.path.join(args.build_dir, "peers")
    ok = True
    for peer in args.peers.split(","):
        if peer not in PEERS:
            sys.exit("peers.py: unknown peer '%s' (%s)" % (peer, ", ".join(PEERS)))
        out = os.path.join(args.out_dir, "peer-%s.json" % peer)
        venv = os.path.join(root, peer)
        py = os.path.join(venv, "bin", "python")
        reason = None
        try:
            stamp = os.path.join(venv, "duet-installed")  # written once pip succeeded; a failed install is retried
            if not os.path.exists(stamp):
                print("peers.py: creating %s and installing %s from PyPI" % (venv, " ".join(PEERS[peer][0])), flush=True)
                subprocess.run([sys.executable, "-m", "venv", venv], check=True)
                r = subprocess.run([py, "-m", "pip", "install", "--quiet"] + PEERS[peer][0], capture_output=True, text=True)
                if r.returncode != 0:
                    reason = "pip install %s failed: %s" % (" ".join(PEERS[peer][0]), r.stderr.strip().splitlines()[-1:])
                else:
                    open(stamp, "w").close()
            if reason is None:
                cmd = [py, os.path.abspath(__file__), "--worker", peer, "--threads", str(args.threads), "--json", out]
                if args.quick:
                    cmd.append("--quick")
                print("peers.py: running %s" % peer, flush=True)
                r = subprocess.run(cmd, env=thread_env(args.threads))
                if r.returncode != 0:
                    reason = "the %s worker failed (exit %d)" % (peer, r.returncode)
        except (OSError, subprocess.SubprocessError) as e:
            reason = str(e)
        if reason is not None:
            ok = False
            print("peers.py: %s is MISSING: %s" % (peer, reason), flush=True)
            with open(out, "w") as f:
                json.dump({"machine": machine(args.threads), "peer": peer, "missing": reason, "results": []}, f, indent=2)
        else:
            print("peers.py: wrote %s" % out, flush=True)
    return 0 if ok else 1


def thread_env(threads):
    env = dict(os.environ)
    env.update({"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "TF_NUM_INTRAOP_THREADS": str(threads),
                "TF_NUM_INTEROP_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
                "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads=%d" % threads})
    return env


def machine(threads):
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "threads": threads, "python": platform.python_version()}


# ---------------------------------------------------------------- timing

class Results:
    def __init__(self, peer, threads):
        self.doc = {"machine": machine(threads), "peer": peer, "results": []}

    def add(self, workload, mode, metric, values):
        values = sorted(values)
        self.doc["results"].append({"workload": workload, "mode": mode, "metric": metric,
                                    "median": statistics.median(values), "min": values[0], "max": values[-1]})
        print("  %-10s %-16s %-12s %10.4g" % (workload, mode, metric, statistics.median(values)), flush=True)


def timed(fn, sync, repeats, warmup):
    for _ in range(warmup):
        sync(fn())
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        sync(fn())
        out.append(time.perf_counter() - t0)
    return out


def first_call(fn, sync):
    t0 = time.perf_counter()
    sync(fn())
    return time.perf_counter() - t0


# ---------------------------------------------------------------- data

def fashion_mnist(n=1280):
    import numpy as np
    with gzip.open(os.path.join(DATA, "train-images-idx3-ubyte.gz")) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)[:n].astype(np.float32) / 255.0
    with gzip.open(os.path.join(DATA, "train-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)[:n].astype(np.int32)
    return images, labels


def inputs():
    import numpy as np
    rng = np.random.default_rng(0)
    f32 = np.float32
    d = {
        "w1": rng.standard_normal(8).astype(f32), "w1x": rng.standard_normal(8).astype(f32),
        "x": rng.standard_normal(1 << 24).astype(f32), "a": rng.standard_normal(1 << 24).astype(f32),
        "b": rng.standard_normal(1 << 24).astype(f32),
        "rows": rng.standard_normal((4096, 1024)).astype(f32),
        "gamma": rng.standard_normal(1024).astype(f32), "beta": rng.standard_normal(1024).astype(f32),
        "mlp_x": rng.standard_normal((256, 784)).astype(f32),
        "mlp_w": [(rng.standard_normal((i, o)) / np.sqrt(i)).astype(f32) for i, o in [(784, 512), (512, 512), (512, 10)]],
        "mlp_b": [np.zeros(o, f32) for o in (512, 512, 10)],
        "rnn_xs": rng.standard_normal((50, 32, 64)).astype(f32), "rnn_h": rng.standard_normal((32, 128)).astype(f32),
        "rnn_wx": (rng.standard_normal((64, 128)) * 0.125).astype(f32),
        "rnn_wh": (rng.standard_normal((128, 128)) * 0.088).astype(f32),
        "rnn_b": (rng.standard_normal(128) * 0.1).astype(f32),
        "cnn_x": rng.standard_normal((64, 1, 28, 28)).astype(f32),
        "cnn_k1": (rng.standard_normal((8, 1, 5, 5)) * 0.2).astype(f32), "cnn_b1": np.zeros(8, f32),
        "cnn_k2": (rng.standard_normal((16, 8, 5, 5)) * 0.07).astype(f32), "cnn_b2": np.zeros(16, f32),
        "cnn_w": (rng.standard_normal((256, 10)) * 0.06).astype(f32), "cnn_bd": np.zeros(10, f32),
        "w5_w1": (rng.uniform(-1, 1, (784, 256)) / 28.0).astype(f32), "w5_b1": np.zeros(256, f32),
        "w5_w2": (rng.uniform(-1, 1, (256, 10)) / 16.0).astype(f32), "w5_b2": np.zeros(10, f32),
    }
    d["w5_x"], d["w5_y"] = fashion_mnist()
    return d


GB = 1e9
W2_BYTES = 4.0 * (1 << 24) * 4
W3_BYTES = 2.0 * 4096 * 1024 * 4


def run_all(res, name, fns, sync, plan, mode_of):
    """fns: workload -> callable taking nothing; mode_of(mode_kind) gives the row's mode."""
    conv = {
        "W1": ("us_per_op", lambda s: s / 1000 * 1e6),
        "W2": ("gbps", lambda s: W2_BYTES / s / GB),
        "W3a": ("gbps", lambda s: W3_BYTES / s / GB),
        "W3b": ("gbps", lambda s: W3_BYTES / s / GB),
        "W4": ("ms", lambda s: s * 1e3),
        "W5": ("ms_per_step", lambda s: s * 1e3),
        "W6": ("ms", lambda s: s * 1e3),
        "W7": ("ms", lambda s: s * 1e3),
    }
    for w, fn in fns.items():
        metric, f = conv[w]
        warm, reps = plan.get(w, plan["default"])
        res.add(w, name, metric, [f(s) for s in timed(fn, sync, reps, warm)])


# ---------------------------------------------------------------- torch

def torch_worker(res, args, plan):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(args.threads)
    res.doc["version"] = torch.__version__
    d = inputs()
    t = {k: (torch.from_numpy(v) if not isinstance(v, list) else [torch.from_numpy(u) for u in v]) for k, v in d.items()}

    def w1(y, x):
        for _ in range(1000):
            y = y + x
        return y
    w2 = lambda x, a, b: torch.tanh(x * a + b) * torch.sigmoid(x) - 0.5 * x
    w3a = lambda r: torch.softmax(r, -1)
    w3b = lambda r, g, b: F.layer_norm(r, (1024,), g, b)

    def w4(x):
        for i, (w, b) in enumerate(zip(t["mlp_w"], t["mlp_b"])):
            x = x @ w + b
            if i < 2:
                x = torch.relu(x)
        return x

    def w6(xs, h):
        for s in range(50):
            h = torch.tanh(xs[s] @ t["rnn_wx"] + h @ t["rnn_wh"] + t["rnn_b"])
        return h

    def w7(x):
        x = F.max_pool2d(torch.relu(F.conv2d(x, t["cnn_k1"], t["cnn_b1"])), 2)
        x = F.max_pool2d(torch.relu(F.conv2d(x, t["cnn_k2"], t["cnn_b2"])), 2)
        return x.flatten(1) @ t["cnn_w"] + t["cnn_bd"]

    params = [t[k].clone().requires_grad_(True) for k in ("w5_w1", "w5_b1", "w5_w2", "w5_b2")]
    opt = torch.optim.SGD(params, lr=0.1)

    def w5_loss(x, y):  # what a user compiles: the model and its loss; backward and the update as usual
        w1, b1, w2_, b2 = params
        return F.cross_entropy(torch.relu(x @ w1 + b1) @ w2_ + b2, y)

    def w5_step_with(loss_fn):
        def step(x, y):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(x, y)
            loss.backward()
            opt.step()
            return loss.detach()
        return step
    xs, ys = torch.from_numpy(d["w5_x"]), torch.from_numpy(d["w5_y"]).long()
    batches = [(xs[i * 128:(i + 1) * 128], ys[i * 128:(i + 1) * 128]) for i in range(10)]
    turn = itertools.count()
    sync = lambda r: r

    def suite(wrap):
        f1, f2, f3a, f3b, f4, f6, f7 = (wrap(f) for f in (w1, w2, w3a, w3b, w4, w6, w7))
        f5 = w5_step_with(wrap(w5_loss))
        return {
            "W1": lambda: f1(t["w1"], t["w1x"]),
            "W2": lambda: f2(t["x"], t["a"], t["b"]), "W3a": lambda: f3a(t["rows"]),
            "W3b": lambda: f3b(t["rows"], t["gamma"], t["beta"]), "W4": lambda: f4(t["mlp_x"]),
            "W5": lambda: f5(*batches[next(turn) % len(batches)]),
            "W6": lambda: f6(t["rnn_xs"], t["rnn_h"]), "W7": lambda: f7(t["cnn_x"]),
        }
    eager = {k: v for k, v in suite(ident).items() if v is not None}
    run_all(res, "torch-eager", eager, sync, plan, None)
    compiled = {k: v for k, v in suite(lambda f: torch.compile(f)).items() if v is not None}
    for w, fn in compiled.items():
        res.add(w + "-compile", "torch-compile", "ms", [first_call(fn, sync) * 1e3])
    run_all(res, "torch-compile", compiled, sync, plan, None)


def ident(f):
    return f


# ---------------------------------------------------------------- tensorflow

def tf_worker(res, args, plan):
    import tensorflow as tf
    res.doc["version"] = tf.__version__
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    d = inputs()
    c = {k: (tf.constant(v) if not isinstance(v, list) else [tf.constant(u) for u in v]) for k, v in d.items()}

    def w1(y, x):
        for _ in range(1000):
            y = y + x
        return y
    w2 = lambda x, a, b: tf.tanh(x * a + b) * tf.sigmoid(x) - 0.5 * x
    w3a = lambda r: tf.nn.softmax(r, -1)

    def w3b(r, g, b):
        mean, var = tf.nn.moments(r, axes=[-1], keepdims=True)
        return (r - mean) * tf.math.rsqrt(var + 1e-5) * g + b

    def w4(x):
        for i, (w, b) in enumerate(zip(c["mlp_w"], c["mlp_b"])):
            x = tf.matmul(x, w) + b
            if i < 2:
                x = tf.nn.relu(x)
        return x

    def w6(xs, h):
        for s in range(50):
            h = tf.tanh(tf.matmul(xs[s], c["rnn_wx"]) + tf.matmul(h, c["rnn_wh"]) + c["rnn_b"])
        return h
    k1, k2 = tf.transpose(c["cnn_k1"], [2, 3, 1, 0]), tf.transpose(c["cnn_k2"], [2, 3, 1, 0])
    x7 = tf.transpose(c["cnn_x"], [0, 2, 3, 1])

    def w7(x):
        x = tf.nn.max_pool2d(tf.nn.relu(tf.nn.conv2d(x, k1, 1, "VALID") + c["cnn_b1"]), 2, 2, "VALID")
        x = tf.nn.max_pool2d(tf.nn.relu(tf.nn.conv2d(x, k2, 1, "VALID") + c["cnn_b2"]), 2, 2, "VALID")
        return tf.matmul(tf.reshape(x, [-1, 256]), c["cnn_w"]) + c["cnn_bd"]
    vs = [tf.Variable(d[k]) for k in ("w5_w1", "w5_b1", "w5_w2", "w5_b2")]
    opt = tf.keras.optimizers.SGD(0.1)

    def w5(x, y):
        with tf.GradientTape() as tape:
            logits = tf.matmul(tf.nn.relu(tf.matmul(x, vs[0]) + vs[1]), vs[2]) + vs[3]
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
        opt.apply_gradients(zip(tape.gradient(loss, vs), vs))
        return loss
    bx, by = tf.constant(d["w5_x"][:128]), tf.constant(d["w5_y"][:128])
    sync = lambda r: r.numpy() if hasattr(r, "numpy") else r

    def suite(wrap):
        f = {k: wrap(v) for k, v in dict(w1=w1, w2=w2, w3a=w3a, w3b=w3b, w4=w4, w5=w5, w6=w6, w7=w7).items()}
        return {"W1": lambda: f["w1"](c["w1"], c["w1x"]), "W2": lambda: f["w2"](c["x"], c["a"], c["b"]),
                "W3a": lambda: f["w3a"](c["rows"]), "W3b": lambda: f["w3b"](c["rows"], c["gamma"], c["beta"]),
                "W4": lambda: f["w4"](c["mlp_x"]), "W5": lambda: f["w5"](bx, by),
                "W6": lambda: f["w6"](c["rnn_xs"], c["rnn_h"]), "W7": lambda: f["w7"](x7)}
    run_all(res, "tf-eager", suite(ident), sync, plan, None)
    for mode, wrap in (("tf-function", lambda f: tf.function(f)), ("tf-function-xla", lambda f: tf.function(f, jit_compile=True))):
        fns = suite(wrap)
        for w, fn in fns.items():
            res.add(w + "-compile", mode, "ms", [first_call(fn, sync) * 1e3])
        run_all(res, mode, fns, sync, plan, None)


# ---------------------------------------------------------------- jax

def jax_worker(res, args, plan):
    import jax
    import jax.numpy as jnp
    res.doc["version"] = jax.__version__
    d = inputs()
    c = {k: (jnp.asarray(v) if not isinstance(v, list) else [jnp.asarray(u) for u in v]) for k, v in d.items()}

    def w1(y, x):
        for _ in range(1000):
            y = y + x
        return y
    w2 = lambda x, a, b: jnp.tanh(x * a + b) * jax.nn.sigmoid(x) - 0.5 * x
    w3a = lambda r: jax.nn.softmax(r, -1)

    def w3b(r, g, b):
        mean = r.mean(-1, keepdims=True)
        var = ((r - mean) ** 2).mean(-1, keepdims=True)
        return (r - mean) * jax.lax.rsqrt(var + 1e-5) * g + b

    def w4(x):
        for i, (w, b) in enumerate(zip(c["mlp_w"], c["mlp_b"])):
            x = x @ w + b
            if i < 2:
                x = jax.nn.relu(x)
        return x

    def w6(xs, h):
        for s in range(50):
            h = jnp.tanh(xs[s] @ c["rnn_wx"] + h @ c["rnn_wh"] + c["rnn_b"])
        return h

    def conv(x, k, b):
        return jax.lax.conv_general_dilated(x, k, (1, 1), "VALID") + b[None, :, None, None]

    def pool(x):
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

    def w7(x):
        x = pool(jax.nn.relu(conv(x, c["cnn_k1"], c["cnn_b1"])))
        x = pool(jax.nn.relu(conv(x, c["cnn_k2"], c["cnn_b2"])))
        return x.reshape(x.shape[0], -1) @ c["cnn_w"] + c["cnn_bd"]

    def loss_fn(p, x, y):
        logits = jax.nn.relu(x @ p[0] + p[1]) @ p[2] + p[3]
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], 1))

    def w5(p, x, y):
        loss, g = jax.value_and_grad(loss_fn)(p, x, y)
        return [u - 0.1 * v for u, v in zip(p, g)], loss
    state = {"p": [c[k] for k in ("w5_w1", "w5_b1", "w5_w2", "w5_b2")]}
    bx, by = c["w5_x"][:128], c["w5_y"][:128]

    def sync(r):
        jax.block_until_ready(r)
        return r

    def suite(wrap):
        f = {k: wrap(v) for k, v in dict(w1=w1, w2=w2, w3a=w3a, w3b=w3b, w4=w4, w5=w5, w6=w6, w7=w7).items()}

        def step():
            state["p"], loss = f["w5"](state["p"], bx, by)
            return loss
        return {"W1": lambda: f["w1"](c["w1"], c["w1x"]), "W2": lambda: f["w2"](c["x"], c["a"], c["b"]),
                "W3a": lambda: f["w3a"](c["rows"]), "W3b": lambda: f["w3b"](c["rows"], c["gamma"], c["beta"]),
                "W4": lambda: f["w4"](c["mlp_x"]), "W5": step, "W6": lambda: f["w6"](c["rnn_xs"], c["rnn_h"]),
                "W7": lambda: f["w7"](c["cnn_x"])}
    run_all(res, "jax-eager", suite(ident), sync, plan, None)
    fns = suite(jax.jit)
    for w, fn in fns.items():
        res.add(w + "-compile", "jax-jit", "ms", [first_call(fn, sync) * 1e3])
    run_all(res, "jax-jit", fns, sync, plan, None)


# ---------------------------------------------------------------- main

def worker(args):
    plan = {"default": (3, 20), "W1": (3, 20), "W2": (2, 10), "W3a": (2, 10), "W3b": (2, 10), "W5": (5, 30)}
    if args.quick:
        plan = {"default": (1, 3)}
    res = Results(args.worker, args.threads)
    {"torch": torch_worker, "tensorflow": tf_worker, "jax": jax_worker}[args.worker](res, args, plan)
    with open(args.json, "w") as f:
        json.dump(res.doc, f, indent=2)
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build-dir", default="build")
    p.add_argument("--peers", default="torch,tensorflow,jax")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out-dir", default=None)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--json", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)
    if args.out_dir is None:
        args.out_dir = os.path.join(args.build_dir, "peers")
    return driver(args)


if __name__ == "__main__":
    sys.exit(main())
