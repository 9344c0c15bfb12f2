#!/usr/bin/env python3
"""Size limits of the compile road (issue 20): no .h/.cpp file over 600 lines
and no function body over 80 lines in the folders given (default: codegen
tracer). Prints file:line and the function of each excess; exits 1 if any.

  tools/ci/check_sizes.py [--max-file N] [--max-function N] [FOLDER...]
  tools/ci/check_sizes.py --self-test

A function's body counts from the line of its opening brace to the line of
the matching close, both included. The scan is lexical, not a parser: it
blanks comments, string/char literals (raw strings too) and preprocessor
lines, then classifies each brace it meets outside a function. namespace,
class/struct/union/enum and extern "C" bodies are containers it looks
inside; a definition's body (one after a parameter list, a constructor's
initializer list, or a lambda introducer) is a function, and everything in
it (lambdas, local classes) counts toward it; any other brace (an
initializer) is looked through for lambdas. Braces that do not balance are
an error, never a silent pass.
"""
import argparse
import os
import re
import sys

DEFAULT_FOLDERS = ["codegen", "tracer"]
SOURCE_SUFFIXES = (".h", ".cpp")


class ScanError(Exception):
    pass


def quoted_end(text, i, what):
    """The offset past the quote that closes the literal opened at text[i]
    (escapes skipped); a newline before it is an error."""
    quote, end = text[i], i + 1
    while end < len(text) and text[end] != quote:
        if text[end] == "\n":
            raise ScanError(f"offset {i}: unterminated {what}")
        end += 2 if text[end] == "\\" else 1
    return end + 1


def blank(text):
    """The text with comments, literals and preprocessor lines blanked.

    Same length and same newlines, so offsets keep their line numbers. A
    string literal keeps its two quotes (so `extern "C"` reads `extern ""`),
    a char literal becomes `' '`; digit separators (1'000) stay as they are.
    """
    out = list(text)
    n = len(text)
    i = 0
    at_line_start = True  # only whitespace since the last newline

    def wipe(a, b):
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = text[i]
        if c == "\n":
            at_line_start = True
            i += 1
            continue
        if c in " \t\r\f\v":
            i += 1
            continue
        if at_line_start and c == "#":
            # A directive runs to the end of its line, with \-continuations.
            j = i
            while j < n and text[j] != "\n":
                j += 2 if text[j] == "\\" and j + 1 < n else 1
            wipe(i, j)
            i = j
            continue
        at_line_start = False
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            wipe(i, j)
            i = j
            continue
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j < 0:
                raise ScanError(f"offset {i}: unterminated /* comment")
            wipe(i, j + 2)
            i = j + 2
            continue
        if c == '"':
            raw = re.search(r"(?:\b|^)(?:u8|u|U|L)?R$", text[max(0, i - 3):i])
            if raw and (i - len(raw.group(0)) == 0 or not (text[i - len(raw.group(0)) - 1].isalnum()
                                                             or text[i - len(raw.group(0)) - 1] == "_")):
                m = re.match(r'"([^()\\\s]{0,16})\(', text[i:])
                if not m:
                    raise ScanError(f"offset {i}: malformed raw string")
                end = text.find(")" + m.group(1) + '"', i + len(m.group(0)))
                if end < 0:
                    raise ScanError(f"offset {i}: unterminated raw string")
                end += len(m.group(1)) + 2
            else:
                end = quoted_end(text, i, "string")
            wipe(i + 1, end - 1)
            i = end
            continue
        if c == "'":
            # A digit separator sits inside a number token: 1'000, 0xFF'FF.
            j = i
            while j > 0 and (text[j - 1].isalnum() or text[j - 1] in "_.'"):
                j -= 1
            if j < i and text[j].isdigit():
                i += 1
                continue
            end = quoted_end(text, i, "char literal")
            wipe(i + 1, end - 1)
            i = end
            continue
        i += 1
    return "".join(out)


def matching(text, pos, open_c, close_c, step):
    """The index of the bracket that matches text[pos], scanning by step."""
    depth = 0
    k = pos
    while 0 <= k < len(text):
        if text[k] == open_c:
            depth += 1
        elif text[k] == close_c:
            depth -= 1
            if depth == 0:
                return k
        k += step
    return -1


def strip_braced(header):
    """`b_{1}, c_{d}` -> `b_{}, c_{}`: an initializer's contents say nothing."""
    out, depth = [], 0
    for c in header:
        if c == "{":
            if depth == 0:
                out.append(c)
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                out.append(c)
        elif depth == 0:
            out.append(c)
    return "".join(out)


def strip_template_prefix(header):
    header = header.lstrip()
    while True:
        m = re.match(r"template\s*<", header)
        if not m:
            return header
        depth, k = 0, m.end() - 1
        while k < len(header):
            if header[k] == "<":
                depth += 1
            elif header[k] == ">":
                depth -= 1
                if depth == 0:
                    break
            k += 1
        header = header[k + 1:].lstrip()


SPECIFIERS = ("const", "volatile", "override", "final", "mutable", "constexpr", "consteval", "noexcept", "&&", "&",
              "try")
LAMBDA_PRECEDERS = ("return", "co_return", "co_yield", "throw", "case", "else", "do")


def strip_trailing_specifiers(h):
    """`f(int) const noexcept(x) -> T` -> `f(int)`; `[&] mutable` -> `[&]`."""
    while True:
        h = h.rstrip()
        m = re.search(r"->[^;{}]*$", h)
        if m:
            h = h[:m.start()]
            continue
        if h.endswith(")"):
            k = matching(h, len(h) - 1, ")", "(", -1)
            if k > 0 and re.search(r"\b(noexcept|throw)\s*$", h[:k]):
                h = re.sub(r"\b(noexcept|throw)\s*$", "", h[:k])
                continue
        for s in SPECIFIERS:
            if h.endswith(s) and (not s[0].isalpha() or not re.search(r"[\w]$", h[:-len(s)])):
                h = h[:-len(s)]
                break
        else:
            return h


def lambda_introducer(h):
    """Whether h (the text before a brace) ends in a lambda's `[..](..) specs`."""
    h = strip_trailing_specifiers(h)
    if h.endswith(")"):
        k = matching(h, len(h) - 1, ")", "(", -1)
        if k < 0:
            return False
        h = h[:k].rstrip()
    if not h.endswith("]"):
        return False
    k = matching(h, len(h) - 1, "]", "[", -1)
    if k < 0:
        return False
    before = h[:k].rstrip()
    if not before:
        return True
    if before.endswith("["):  # [[attribute]]
        return False
    m = re.search(r"(\w+)$", before)
    if m:
        return m.group(1) in LAMBDA_PRECEDERS
    return before[-1] not in ")]>\"'"


def function_name(h):
    """The name a definition's header gives: `Foo::bar`, `operator()`, `TEST_CASE`."""
    h = strip_template_prefix(strip_braced(h))
    # A constructor's initializer list follows `) :`; the name is before that `(`.
    depth, sig_end = 0, -1
    for k, c in enumerate(h):
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
            if depth == 0 and c == ")" and re.match(r"\s*(noexcept\s*)?:(?!:)", h[k + 1:]):
                sig_end = k
                break
    if sig_end < 0:
        h = strip_trailing_specifiers(h)
        sig_end = len(h) - 1
    k = matching(h, sig_end, ")", "(", -1) if sig_end >= 0 and h[sig_end] == ")" else -1
    pre = h[:k].rstrip() if k > 0 else h.rstrip()
    m = (re.search(r"((?:[\w~]+\s*::\s*)*operator\s*(?:\(\)|\[\]|[^\w\s(]+|\s[\w:<>*&\s]+?))$", pre)
         or re.search(r"([\w:~]+)$", pre))
    return re.sub(r"\s+", " ", m.group(1)).strip() if m else "?"


def is_definition(header):
    """Whether a brace after this header (at namespace or class scope) opens a function body."""
    h = strip_template_prefix(strip_braced(header))
    if not h:
        return False
    depth = 0
    for k, c in enumerate(h):
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0 and re.match(r"\s*(noexcept\s*)?:(?!:)", h[k + 1:]) and h.rstrip().endswith((")", "}")):
                return True  # Foo::Foo(int a) : a_(a), b_{} {
    return strip_trailing_specifiers(h).endswith(")")


CONTAINER = re.compile(r'^(?:(?:inline|export)\s+)*(?:namespace\b|extern\s*"\s*"|(?:typedef\s+)?(?:class|struct|union|enum)\b)')


def is_container(header):
    h = strip_template_prefix(strip_braced(header))
    h = re.sub(r"^(?:\[\[[^\]]*\]\]\s*)+", "", h)
    h = re.sub(r"^(?:public|private|protected)\s*:\s*", "", h)
    return bool(CONTAINER.match(h))


def is_namespace(header):
    """namespace and extern "C" bodies: never a definition's, even if the text before ends in `)`."""
    return bool(re.match(r'^(?:(?:inline|export)\s+)*(?:namespace\b|extern\s*"\s*")', strip_braced(header).strip()))


def scan(text):
    """(lines, [(line, name, body_lines)]) for one file's text."""
    clean = blank(text)
    line_at = [0] * (len(clean) + 1)
    line = 1
    for k, c in enumerate(clean):
        line_at[k] = line
        if c == "\n":
            line += 1
    line_at[len(clean)] = line
    functions = []
    stack = []  # ("container", None) or ("other", the header start to resume)
    header_start = 0
    i = 0
    while i < len(clean):
        c = clean[i]
        if c == ";":
            header_start = i + 1
        elif c == "{":
            header = clean[header_start:i]
            in_other = bool(stack) and stack[-1][0] == "other"
            lam = lambda_introducer(header)
            if lam or (not in_other and not is_namespace(header) and is_definition(header)):
                close = matching(clean, i, "{", "}", 1)
                if close < 0:
                    raise ScanError(f"line {line_at[i]}: the brace opened here never closes")
                if lam:
                    m = re.search(r"(\w+)\s*(?:\{\})?\s*=\s*\[[^\[\]]*\][^\[\]]*$", strip_braced(header))
                    name = f"lambda '{m.group(1)}'" if m else "lambda"
                else:
                    name = function_name(header)
                functions.append((line_at[i], name, line_at[close] - line_at[i] + 1))
                i = close
                header_start = close + 1
            elif not in_other and is_container(header):
                stack.append(("container", None))
                header_start = i + 1
            else:
                stack.append(("other", header_start))
                header_start = i + 1
        elif c == "}":
            if not stack:
                raise ScanError(f"line {line_at[i]}: a close brace with nothing open")
            kind, resume = stack.pop()
            header_start = i + 1 if kind == "container" else resume
        elif c == "," and stack and stack[-1][0] == "other":
            header_start = i + 1
        i += 1
    if stack:
        raise ScanError("end of file: a brace is still open")
    lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
    return lines, functions


def sources(folders):
    for folder in folders:
        if os.path.isfile(folder):
            yield folder
            continue
        if not os.path.isdir(folder):
            raise ScanError(f"{folder}: no such folder")
        for root, dirs, files in os.walk(folder):
            dirs.sort()
            for f in sorted(files):
                if f.endswith(SOURCE_SUFFIXES):
                    yield os.path.join(root, f)


def check(folders, max_file, max_function, out=sys.stdout):
    problems = 0
    count = 0
    for path in sources(folders):
        count += 1
        with open(path, encoding="utf-8") as f:
            text = f.read()
        try:
            lines, functions = scan(text)
        except ScanError as e:
            print(f"{path}: cannot check: {e}", file=out)
            problems += 1
            continue
        if lines > max_file:
            print(f"{path}:1: {lines} lines, over {max_file}", file=out)
            problems += 1
        for line, name, body in functions:
            if body > max_function:
                print(f"{path}:{line}: function {name}: body of {body} lines, over {max_function}", file=out)
                problems += 1
    if count == 0:
        print(f"no .h/.cpp files under {' '.join(folders)}", file=out)
        return 1
    if problems:
        print(f"{problems} over the limits in {count} files", file=out)
        return 1
    print(f"{count} files, none over {max_file} lines or with a function over {max_function} lines", file=out)
    return 0


# Cases of the lexical scan, each the code and the (name, body lines) it finds.
SELF_TESTS = [
    ('namespace a { namespace {\nint f(int x) {\n  return x;\n}\n}  // namespace\n}\n', [("f", 3)]),
    # braces in comments, strings, chars and raw strings are not code
    ('void f() {\n  // }\n  /* } */ const char* s = "}";\n  char c = \'}\';\n  auto r = R"x(})x";\n}\n'
     'void g() {}\n', [("f", 6), ("g", 1)]),
    ('int n = 1\'000; void f() { char q = \'\\\'\'; }\n', [("f", 1)]),
    # a class is a container; its member functions and constructor are functions
    ('template <class T>\nclass C : public B<decltype(h())> {\n public:\n  C(int a) : a_(a), b_{a, 2} {\n  }\n'
     '  int get() const noexcept { return a_; }\n  auto operator()(int) -> int {\n    return 1;\n  }\n'
     '  operator bool() const { return true; }\n  struct In { void m() {} };\n  int a_{0};\n};\n',
     [("C", 2), ("get", 1), ("operator()", 3), ("operator bool", 1), ("m", 1)]),
    # a lambda inside a function is part of it; at namespace scope it is its own
    ('void f() {\n  auto l = [&](int x) {\n    return x;\n  };\n}\nauto g = [](int) mutable -> int {\n  return 0;\n};\n',
     [("f", 5), ("lambda 'g'", 3)]),
    # an initializer is looked through for lambdas, not counted itself
    ('const Rule kRules[] = {\n  {"a", [](Node& n) {\n    return 1;\n  }},\n  {"b", nullptr},\n};\nint arr[2]{1, 2};\n',
     [("lambda", 3)]),
    ('extern "C" {\nvoid c_api() {\n}\n}\nenum class E : int { a, b };\nstruct S make() {\n  return {};\n}\n',
     [("c_api", 2), ("make", 3)]),
    ('#define OPEN {\n#define M(x) \\\n  { x }\nTEST_CASE("t", "[x]") {\n  int a = 1;\n}\n', [("TEST_CASE", 3)]),
    ('[[nodiscard]] int f(int x)\n{\n  if (x) {\n    return 1;\n  }\n  return 0;\n}\n', [("f", 6)]),
    ('std::vector<Tensor> ConcreteFunction::operator()(const std::vector<Tensor>& inputs, Loc loc) const {\n'
     '  return {};\n}\nFoo::~Foo() {}\n', [("ConcreteFunction::operator()", 3), ("Foo::~Foo", 1)]),
]


def self_test():
    failed = 0
    for code, want in SELF_TESTS:
        try:
            _, got = scan(code)
            got = [(name, body) for _, name, body in got]
        except ScanError as e:
            got = f"ScanError: {e}"
        if got != want:
            failed += 1
            print(f"FAIL: {code!r}\n  want {want}\n  got  {got}")
    for bad in ['void f() {\n', '}\n', 'const char* s = "abc\n";', "char c = 'a\n';"]:
        try:
            scan(bad)
            failed += 1
            print(f"FAIL: {bad!r} scanned without an error")
        except ScanError:
            pass
    # the limits themselves: a long function and a long file are reported
    import io
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "long.cpp"), "w") as f:
            f.write("void long_one() {\n" + "  x();\n" * 80 + "}\n" + "\n" * 600)
        buf = io.StringIO()
        rc = check([d], 600, 80, out=buf)
        text = buf.getvalue()
        if rc != 1 or "long.cpp:1: 682 lines" not in text or "long_one: body of 82 lines" not in text:
            failed += 1
            print(f"FAIL: the limits were not reported:\n{text}")
    print("self-test: " + ("ok" if not failed else f"{failed} failed"))
    return 1 if failed else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folders", nargs="*", default=DEFAULT_FOLDERS)
    p.add_argument("--max-file", type=int, default=600)
    p.add_argument("--max-function", type=int, default=80)
    p.add_argument("--self-test", action="store_true", help="check the scanner on its own cases")
    a = p.parse_args()
    if a.self_test:
        return self_test()
    try:
        return check(a.folders, a.max_file, a.max_function)
    except ScanError as e:
        print(e)
        return 1


if __name__ == "__main__":
    sys.exit(main())
