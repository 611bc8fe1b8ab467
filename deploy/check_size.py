#!/usr/bin/python3
"""The house's size limits, checked: no hand-written source file over 600
lines and no function over 120 (STYLE.md; issue 34).

Usage: deploy/check_size.py [--build DIR] [--all-tidy]

Files: every C++ source under core/ server/ client/ proto/ bench/ tests/
(generated code and fuzzer corpora are not ours) is counted with wc's rule.

Functions: clang-tidy's readability-function-size (LineThreshold=120) is the
judge, but it costs ~5 s of CPU per file, ~6 minutes for the tree. So a quick
scan first finds the files that could hold a long function: any brace pair
more than 120 lines apart that does not open a namespace, class, struct,
union, enum or extern block (a function body, lambda or long initializer;
comments and literals are skipped). Only those files go to clang-tidy, so CI
checks every file, every run, for seconds instead of minutes. A file whose
braces the scan cannot match goes to clang-tidy too. --all-tidy skips the scan.
clang-tidy does not measure gtest bodies (TEST() defines its function in a
macro expansion), so for those the scan's count is the verdict.

A justified exception is written in the code, where a reader sees it:
`// NOLINT(readability-function-size): <why>` on the function's first line
(clang-tidy's own mechanism). A file over 600 lines has no exception.

Exit status 1 and one line per violation when a limit is broken.
"""
import argparse
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 120
ROOTS = ("core", "server", "client", "proto", "bench", "tests")
SKIP_PARTS = ("/corpus/", "/testdata/")
GTEST_BODY = re.compile(r"^(TEST|TEST_F|TEST_P|TYPED_TEST|TYPED_TEST_P)\s*\(")
BLOCK_KEYWORDS = re.compile(r"\b(namespace|class|struct|union|enum|extern)\b[^;()]*$")


def sources(repo):
    out = subprocess.check_output(["git", "ls-files", "--cached", "--others", "--exclude-standard",
                                   *ROOTS], cwd=repo, text=True)
    return sorted(f for f in out.split("\n")
                  if f.endswith((".cc", ".h")) and not any(p in f for p in SKIP_PARTS)
                  and os.path.isfile(os.path.join(repo, f)))


def strip_code(text):
    """The text with comments and string/char literals blanked, lines kept."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif text.startswith('R"', i):
            m = re.match(r'R"([^(\s]*)\(', text[i:])
            end = text.find(")" + m.group(1) + '"', i) if m else -1
            j = n if end < 0 else end + len(m.group(1)) + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif c == '"' or (c == "'" and not (i > 0 and text[i - 1].isalnum())):
            # (a ' after a digit or letter is a digit separator: 0xf0'4e57)
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            i = j + 1 if j < n and text[j] == c else j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def long_brace_pairs(path):
    """The brace pairs that are not namespace, class, struct, union, enum or
    extern blocks and span more lines than the limit (less a margin), as
    (first line, the text before the brace); None when the braces do not match."""
    code = strip_code(open(path, encoding="utf-8").read())
    stack, line, head, found = [], 1, [], []
    for c in code:
        if c == "\n":
            line += 1
            head.append(c)
        elif c == "{":
            opener = " ".join("".join(head).split(";")[-1].split("}")[-1].split())
            stack.append((line, opener, bool(BLOCK_KEYWORDS.search(opener))))
            head = []
        elif c == "}":
            if not stack:
                return None
            start, opener, is_block = stack.pop()
            # A margin of 10 lines: clang-tidy and this scan need not agree
            # on whether the brace lines count; a file near the limit goes
            # to clang-tidy, which decides.
            if not is_block and line - start > MAX_FUNCTION_LINES - 10:
                found.append((start, line - start - 1, opener))
            head = []
        else:
            head.append(c)
    return None if stack else found


def may_hold_long_function(path):
    """False only when no non-block brace pair spans more than the limit."""
    pairs = long_brace_pairs(path)
    return pairs is None or bool(pairs)


def long_test_bodies(path):
    """gtest bodies over the limit. clang-tidy does not measure them (TEST()
    defines its function in a macro expansion), so the scan is the judge:
    the body's lines between its braces, as clang-tidy counts a function's."""
    return ["%s:%d: test body of %d lines; the limit is %d: split it into named steps or tests"
            % (path, start, lines, MAX_FUNCTION_LINES)
            for start, lines, opener in long_brace_pairs(path) or []
            if GTEST_BODY.match(opener) and lines > MAX_FUNCTION_LINES]


def tidy(build, path):
    config = ("{CheckOptions: [{key: readability-function-size.LineThreshold, value: %d}]}"
              % MAX_FUNCTION_LINES)
    r = subprocess.run(["clang-tidy", "-p", build, "--quiet",
                        "--checks=-*,readability-function-size", "--config=" + config, path],
                       capture_output=True, text=True)
    found = [l for l in r.stdout.split("\n") if "readability-function-size" in l]
    if r.returncode != 0 and not found:
        return ["%s: clang-tidy failed: %s" % (path, (r.stderr or r.stdout).strip()[-300:])]
    return found


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default=os.environ.get("BUILD_DIR", "build"))
    parser.add_argument("--all-tidy", action="store_true")
    args = parser.parse_args()
    repo = subprocess.check_output(["git", "rev-parse", "--show-toplevel"], text=True).strip()
    os.chdir(repo)
    files = sources(repo)
    problems = []
    for f in files:
        with open(f, encoding="utf-8") as fh:
            lines = sum(1 for _ in fh)
        if lines > MAX_FILE_LINES:
            problems.append("%s: %d lines; the limit is %d: split it by concept"
                            % (f, lines, MAX_FILE_LINES))
        problems.extend(long_test_bodies(f))
    suspects = files if args.all_tidy else [f for f in files if may_hold_long_function(f)]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for found in pool.map(lambda f: tidy(args.build, f), suspects):
            problems.extend(found)
    for p in problems:
        print(p)
    print("check_size: %d files, %d scanned by clang-tidy, %d over a limit (file %d lines, "
          "function %d lines)" % (len(files), len(suspects), len(problems), MAX_FILE_LINES,
                                  MAX_FUNCTION_LINES))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
