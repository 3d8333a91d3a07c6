"""Drives `edgelm chat` through a pseudo-terminal as a person would: three turns, then
Ctrl-C during a fourth answer, then /exit. Prints one JSON line: the `prefilled` counts
per turn, whether Ctrl-C returned to the prompt, and the exit status.

usage: chat_pty.py EDGELM MODEL"""

import json
import os
import pty
import re
import select
import sys
import time

edgelm, model = sys.argv[1], sys.argv[2]
pid, fd = pty.fork()
if pid == 0:
    os.execv(edgelm, [edgelm, "chat", "-m", model, "--temp", "0", "-n", "48", "-c", "1024"])

buf = b""


def read_until(pattern, timeout=120.0):
    """Reads the terminal until `pattern` matches what came since the last call."""
    global buf
    start, end = len(buf), time.time() + timeout
    while time.time() < end:
        m = re.search(pattern, buf[start:])
        if m:
            return buf[start:]
        r, _, _ = select.select([fd], [], [], 0.5)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    raise SystemExit("timed out waiting for %r; got:\n%s" % (pattern, buf.decode(errors="replace")))


PROMPT = rb"\n> $"
read_until(PROMPT)
prefilled = []
for text in ["What is the capital of France?", "And of Germany?", "Thanks. Name a colour."]:
    os.write(fd, text.encode() + b"\n")
    got = read_until(PROMPT)
    m = re.search(rb"prefilled (\d+) new tokens \((\d+) from the cache\)", got)
    prefilled.append([int(m.group(1)), int(m.group(2))])
# Ctrl-C while the answer streams: as soon as its prefill is reported.
os.write(fd, b"Write a very long story about a dragon.\n")
read_until(rb"prefilled \d+ new tokens")
os.write(fd, b"\x03")
got = read_until(PROMPT)
stopped = b"[stopped]" in got
os.write(fd, b"/exit\n")
_, status = os.waitpid(pid, 0)
print(json.dumps({
    "prefilled": prefilled,
    "stopped": stopped,
    "exit": os.waitstatus_to_exitcode(status),
}))
