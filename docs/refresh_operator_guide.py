"""Refresh the command outputs in docs/guides/operator.md from a new run of the operator example.

    python docs/refresh_operator_guide.py

The guide's ``<!-- show: PREFIX | PREFIX @N -->`` blocks get the output of the example's commands
that start with those prefixes (the N-th occurrence of each, with ``@N``); ``<!-- help: GROUP -->``
blocks get ``dkist-processing GROUP --help``. Run it after the CLI's output changes.
"""

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "guides" / "operator.md"
CLI = Path(sys.executable).parent / "dkist-processing"

with tempfile.TemporaryDirectory() as tmp:
    workdir = Path(tmp) / "op"
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "operator_path.py"), "--workdir", str(workdir)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    # Show the work folder as the guide's command line does.
    log = run.stdout.replace(str(workdir), "/tmp/op").splitlines()
log = [line for line in log if "schema for" not in line]  # dkist-fits-specifications' notes
blocks = []
for line in log:
    if line.startswith("$ ") or line.startswith("# "):
        blocks.append([line, []])
    elif blocks:
        blocks[-1][1].append(line.rstrip())


def show(*prefixes, occurrence=None):
    out, seen = [], {}
    for cmd, lines in blocks:
        for pfx in prefixes:
            if cmd.startswith(pfx):
                seen[pfx] = seen.get(pfx, 0) + 1
                if occurrence is None or seen[pfx] == occurrence:
                    out.append(cmd)
                    out.extend(lines)
    assert out, prefixes
    return "```text\n" + "\n".join(out).strip("\n") + "\n```\n"


def group_help(g):
    env = dict(os.environ, COLUMNS="100")
    r = subprocess.run([str(CLI), *g.split(), "--help"], capture_output=True, text=True, env=env)
    lines = r.stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if "Commands" in line), None)
    if start is None:
        start = next(i for i, line in enumerate(lines) if "Options" in line)
    keep = [line.rstrip() for line in lines[start:] if line.strip()]
    return (
        f"```text\n$ dkist-processing {g + ' ' if g else ''}--help\n" + "\n".join(keep) + "\n```\n"
    )


text = GUIDE.read_text()


# placeholders: <!-- show: args --> ... <!-- end -->  and <!-- help: group --> ... <!-- end -->
def repl(m):
    kind, arg = m.group(1), m.group(2).strip()
    if kind == "help":
        body = group_help(arg)
    else:
        occ = None
        if "@" in arg:
            arg, occ = arg.rsplit("@", 1)
            occ = int(occ)
        body = show(*[a.strip() for a in arg.split("|")], occurrence=occ)
    return f"<!-- {kind}: {m.group(2).strip()} -->\n{body}<!-- end -->"


text = re.sub(r"<!-- (show|help): (.*?) -->\n.*?<!-- end -->", repl, text, flags=re.S)
GUIDE.write_text(text)
