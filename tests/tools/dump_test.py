#!/usr/bin/env python3
"""duet-dump end to end (ctest tools.duet_dump).

Every built-in example and a saved function, at every stage and in every
format: exit 0; IR text parses back with duet-opt; JSON parses; dot renders
with Graphviz. --stats and --svg work. Bad inputs exit non-zero with exactly
one line on stderr.

usage: dump_test.py DUET_DUMP DUET_OPT WORK_DIR
"""
import json
import os
import shutil
import subprocess
import sys

dump, opt, work = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
failures = []


def run(args, stdin=None):
    return subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=300)


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)


if shutil.which("dot") is None:
    sys.exit("dump_test: Graphviz's dot is not installed (./bootstrap.sh installs graphviz)")

examples = [line.split()[0] for line in run([dump, "--list"]).stdout.splitlines()]
check(len(examples) >= 5, "--list names the examples: %r" % examples)

saved = os.path.join(work, "saved-mlp-train")
r = run([dump, "mlp-train", "--stage", "traced", "--save", saved])
check(r.returncode == 0 and os.path.isfile(os.path.join(saved, "function.duet")), "--save writes a saved function")

for source in examples + [saved]:
    for stage in ["traced", "optimized", "lowered", "llvm", "asm"]:
        for fmt in ["text", "dot", "json"]:
            what = "%s --stage %s --format %s" % (os.path.basename(source), stage, fmt)
            r = run([dump, source, "--stage", stage, "--format", fmt])
            check(r.returncode == 0, what + ": exit %d: %s" % (r.returncode, r.stderr.strip()))
            if r.returncode != 0:
                continue
            check(r.stdout.strip() != "", what + ": prints something")
            if fmt == "text" and stage in ("traced", "optimized"):
                p = run([opt, "-"], stdin=r.stdout)
                check(p.returncode == 0, what + ": duet-opt reads it back: " + p.stderr.strip()[:300])
                check(p.stdout == r.stdout, what + ": duet-opt prints it back unchanged")
            elif fmt == "json":
                try:
                    doc = json.loads(r.stdout)
                    check(isinstance(doc, dict) and "function" in doc, what + ": names the function")
                    if stage in ("traced", "optimized"):
                        check(len(doc["body"]["nodes"]) > 0, what + ": has nodes")
                except ValueError as e:
                    check(False, what + ": JSON parses: %s" % e)
            elif fmt == "dot":
                d = run(["dot", "-Tsvg"], stdin=r.stdout)
                check(d.returncode == 0 and "<svg" in d.stdout, what + ": Graphviz renders it: " + d.stderr.strip()[:300])

r = run([dump, "cnn", "--stats"])
check(r.returncode == 0 and "memory plan: peak" in r.stdout and "conv2d" in r.stdout, "--stats: " + r.stdout[:200])
svg = os.path.join(work, "mlp.svg")
r = run([dump, "mlp-train", "--svg", svg])
check(r.returncode == 0 and os.path.isfile(svg) and "<svg" in open(svg).read(), "--svg writes an SVG: " + r.stderr)

# Bad inputs: a non-zero exit and one line on stderr, never a crash.
damaged = os.path.join(work, "damaged")
shutil.copytree(saved, damaged)
fn = os.path.join(damaged, "function.duet")
text = open(fn).read()
bad_cases = [
    ("a missing path", [dump, os.path.join(work, "nowhere")], 1, None),
    ("a bad stage", [dump, "collatz", "--stage", "ptx"], 2, None),
    ("a bad format", [dump, "collatz", "--format", "png"], 2, None),
    ("an unknown option", [dump, "collatz", "--fast"], 2, None),
    ("no source", [dump], 2, None),
    ("a missing value", [dump, "collatz", "--stage"], 2, None),
    ("a truncated function.duet", [dump, damaged], 1, text[: len(text) // 2]),
    ("a wrong magic line", [dump, damaged], 1, "// not duet\n" + text),
    ("another format version", [dump, damaged], 1, text.replace("format: 1", "format: 7", 1)),
    ("an empty function.duet", [dump, damaged], 1, ""),
]
for what, args, code, content in bad_cases:
    if content is not None:
        open(fn, "w").write(content)
    r = run(args)
    lines = r.stderr.strip().splitlines()
    check(r.returncode == code, "%s: exit %d, want %d (%s)" % (what, r.returncode, code, r.stderr.strip()))
    check(len(lines) == 1 and lines[0].startswith("duet-dump: "), "%s: one line on stderr: %r" % (what, r.stderr))
open(fn, "w").write(text)
os.remove(os.path.join(damaged, "variables.safetensors"))
r = run([dump, damaged])
check(r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, "missing weights: one-line error: " + r.stderr)
r = run([dump, "--help"])
check(r.returncode == 0 and all(o in r.stdout for o in ["--stage", "--format", "--svg", "--stats", "--save", "--list"]),
      "--help documents every option")

print("dump_test: %d failures" % len(failures))
sys.exit(1 if failures else 0)
