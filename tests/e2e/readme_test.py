#!/usr/bin/env python3
"""The README tells the truth: every command block in README.md that shows its output is run
against the built binary and its output compared with what the README shows.

Two ways of showing output are recognised:
  - `$ command` lines (a trailing backslash continues the command), followed by the output lines
    up to the next `$` line or the end of the block;
  - in ```sh blocks, a command followed by `# output` lines.
Generated values are matched by pattern: `…` stands for any text, a 14-digit timestamp
(20YYMMDDhhmmss) for any 14 digits, and `<0xNN>` for that control byte. Counters and control ids
start from the clock (docs/profiles.md, "Generated values"), so a run of 6 or more digits stands
for any digits of the same length: in a JSON string, between HL7's `|`, and, in a line of hex, as
ASCII (`3x`) or EBCDIC (`fx`) digit bytes. A `  # comment` after an
output line is the README's explanation, not output. Commands run in a scratch directory that
sees the checkout's profiles/, with `dragoman` on PATH; commands that call 127.0.0.1:8080 or :7070
reach a `dragoman serve` started as scripts/run starts it, on ports the system chose.

The README's two commands mean what they say, too: `scripts/test` builds with warnings as errors
even in a build directory that `scripts/run` configured first.
"""
import os
import re
import shutil
import subprocess
import tempfile

from harness import DRAGOMAN, SRC, Checks, serve

check = Checks()


def examples(readme_text):
    """(line number, command, expected output lines) for every example that shows output."""
    found = []
    lines = readme_text.split("\n")
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        lang, start = m.group(1), i + 1
        end = start
        while end < len(lines) and not lines[end].startswith("```"):
            end += 1
        block = lines[start:end]
        i = end + 1
        if any(line.startswith("$ ") for line in block):
            found += prompt_examples(block, start + 1)
        elif lang == "sh":
            found += comment_examples(block, start + 1)
    return found


def prompt_examples(block, first_line):
    out, k = [], 0
    while k < len(block):
        if not block[k].startswith("$ "):
            k += 1
            continue
        at = first_line + k
        command = block[k][2:]
        while command.endswith("\\") and k + 1 < len(block):
            k += 1
            command = command[:-1] + " " + block[k].strip()
        k += 1
        expected = []
        while k < len(block) and not block[k].startswith("$ "):
            expected.append(block[k])
            k += 1
        while expected and not expected[-1].strip():
            expected.pop()
        out.append((at, command, expected))
    return out


def comment_examples(block, first_line):
    out, k = [], 0
    while k < len(block):
        line = block[k]
        if not line.strip() or line.startswith("#"):
            k += 1
            continue
        at, command = first_line + k, line
        while command.endswith("\\") and k + 1 < len(block):
            k += 1
            command = command[:-1] + " " + block[k].strip()
        k += 1
        expected = []
        while k < len(block) and block[k].startswith("# "):
            expected.append(block[k][2:])
            k += 1
        if expected:
            out.append((at, command, expected))
    return out


GENERATED = (r"…|<0x[0-9a-fA-F]{2}>|20\d{12}|(?<=\")\d{6,}(?=\")|(?<=\|)\d{6,}(?=\|)"
             r"|(?:3[0-9]){6,}|(?:f[0-9]){6,}")


def pattern_of(expected_line):
    """The regular expression an output line must match in full."""
    line = re.sub(r"\s+# .*$", "", expected_line)
    hex_line = re.fullmatch(r"[0-9a-f…]+", line) is not None
    rx, at = "", 0
    for m in re.finditer(GENERATED, line):
        p = m.group(0)
        if (p.startswith("3") or p.startswith("f")) and not hex_line and not p.isdigit():
            continue  # hex digit bytes only in a line of hex
        rx += re.escape(line[at:m.start()])
        at = m.end()
        if p == "…":
            rx += ".*"
        elif p.startswith("<0x"):
            rx += re.escape(chr(int(p[3:5], 16)))
        elif hex_line and not p.isdigit() or hex_line and len(p) % 2 == 0 and p[0] in "3f":
            rx += "(?:%s[0-9]){%d}" % (p[0], len(p) // 2)
        else:
            rx += r"\d{%d}" % len(p)
    rx += re.escape(line[at:])
    return rx.rstrip()


def matches(expected, actual_text):
    actual = actual_text.rstrip("\n").split("\n") if actual_text.strip() else []
    actual = [a.rstrip() for a in actual]
    if len(actual) != len(expected):
        return False
    return all(re.fullmatch(pattern_of(e), a) for e, a in zip(expected, actual))


def scratch_dir():
    work = tempfile.mkdtemp(prefix="dragoman-readme-")
    os.symlink(os.path.join(SRC, "profiles"), os.path.join(work, "profiles"))
    bin_dir = os.path.join(work, "bin")
    os.mkdir(bin_dir)
    os.symlink(os.path.abspath(DRAGOMAN), os.path.join(bin_dir, "dragoman"))
    return work, bin_dir


with open(os.path.join(SRC, "README.md"), encoding="utf-8") as f:
    found = examples(f.read())
check("the README shows examples with their output", len(found) >= 5, str(len(found)))

work, bin_dir = scratch_dir()
env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""), LC_ALL="C.UTF-8")
server = None
try:
    if any("127.0.0.1:8080" in c or "127.0.0.1 7070" in c for _, c, _ in found):
        # As scripts/run starts it: with a journal (DRAGOMAN_JOURNAL there), here in the scratch.
        server, ev = serve(os.path.join(SRC, "profiles", "acme-core.json"),
                           extra=["--journal", os.path.join(work, "journal.db")])
        check("serve started as scripts/run starts it", ev is not None)
    for at, command, expected in found:
        if server is not None and ev is not None:
            command = command.replace("127.0.0.1:8080", ev["http"])
            command = command.replace("127.0.0.1 7070", ev["line"].replace(":", " "))
        p = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=work, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        text = p.stdout.decode("utf-8", errors="replace")
        check(f"README.md:{at} {command[:70]}", matches(expected, text),
              "\n  shown:\n    " + "\n    ".join(expected) + "\n  printed:\n    " +
              "\n    ".join(text.rstrip("\n").split("\n")))
finally:
    if server is not None:
        server.stop()
    shutil.rmtree(work, ignore_errors=True)

# scripts/test after scripts/run: the directory scripts/run configured (warnings allowed) is
# reconfigured with warnings as errors. `--target help` configures without compiling.
build = tempfile.mkdtemp(prefix="dragoman-werror-")
try:
    script = os.path.join(SRC, "scripts", "build")
    for werror in ("OFF", "ON"):
        subprocess.run([script, "--target", "help"], env=dict(os.environ, BUILD_DIR=build,
                       DRAGOMAN_WERROR=werror), stdout=subprocess.DEVNULL, check=True, timeout=300)
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            cache = f.read()
        check(f"scripts/build with DRAGOMAN_WERROR={werror} configures it",
              f"DRAGOMAN_WERROR:BOOL={werror}" in cache)
finally:
    shutil.rmtree(build, ignore_errors=True)

check.finish()
