#!/usr/bin/env python3
"""Soak test of a running `edgelm serve` (standard library only).

    serve_soak.py --base-url http://127.0.0.1:PORT --pid PID [--requests 10000]
                  [--concurrency 16] [--warmup 1000] [--seed 1] [--max-body BYTES]

Sends a mix at bounded concurrency, each worker thread on its own keep-alive
connection:
  - well-formed requests (chat or text completion, streamed or not, max_tokens 1..4):
    each must get a whole answer (200, a finish_reason, usage; a stream ends with a
    finish chunk and `data: [DONE]`);
  - malformed ones (bad JSON, wrong field types, n=2, unknown routes, wrong methods,
    a body over the limit): each must get its 4xx with an OpenAI error body;
  - streams dropped by the client after the first event.
Then: the server still answers /health, and its peak RSS (VmHWM of /proc/PID/status)
after the run is within 10% of the peak after the warm-up. Exits 1 saying what failed.
"""

import argparse
import http.client
import json
import random
import sys
import threading
import time
import urllib.parse


def rss(pid):
    """(VmRSS, VmHWM) of the server in KiB."""
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    return tuple(int(fields[k].split()[0]) for k in ("VmRSS", "VmHWM"))


CHAT = "/v1/chat/completions"
TEXT = "/v1/completions"
WORDS = "the cat sat on a mat and then ran off into the deep dark wood".split()


def well_formed(rng):
    stream = rng.random() < 0.5
    body = {"max_tokens": rng.randint(1, 4), "temperature": rng.choice([0, 0.8]),
            "stream": stream, "seed": rng.randint(0, 1 << 30), "cache_prompt": True}
    if stream and rng.random() < 0.5:
        body["stream_options"] = {"include_usage": True}
    prompt = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12)))
    if rng.random() < 0.5:
        body["messages"] = [{"role": "user", "content": prompt}]
        return CHAT, body
    body["prompt"] = prompt
    if rng.random() < 0.3:
        body["stop"] = [rng.choice(WORDS)]
    return TEXT, body


# (method, path, body bytes, status wanted)
def malformed(rng, max_body):
    msgs = [{"role": "user", "content": "hi"}]
    cases = [
        ("POST", CHAT, b'{"messages": [', 400),
        ("POST", CHAT, b"", 400),
        ("POST", CHAT, json.dumps({"messages": "hi"}).encode(), 400),
        ("POST", CHAT, json.dumps({"messages": msgs, "temperature": "x"}).encode(), 400),
        ("POST", CHAT, json.dumps({"messages": msgs, "n": 3}).encode(), 400),
        ("POST", CHAT, json.dumps({"messages": [{"role": 1}]}).encode(), 400),
        ("POST", TEXT, json.dumps({"prompt": None}).encode(), 400),
        ("POST", TEXT, json.dumps({"prompt": "x", "max_tokens": -5}).encode(), 400),
        ("POST", TEXT, json.dumps({"prompt": "x", "stop": {"a": 1}}).encode(), 400),
        ("POST", TEXT, json.dumps({"prompt": [99999999]}).encode(), 400),
        ("POST", TEXT, b"\xff\xfe\x00garbage", 400),
        ("GET", "/v1/nothing", None, 404),
        ("DELETE", CHAT, None, 405),
    ]
    if rng.random() < 0.02:
        return ("POST", TEXT, b"x" * (max_body + 1), 413)
    return rng.choice(cases)


class Worker:
    def __init__(self, host, port):
        self.host, self.port = host, port
        self.conn = None

    def connect(self):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        return self.conn

    def drop(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def send(self, method, path, body):
        """(status, response) with the response not read yet; reconnects once if the
        kept-alive connection was closed by the server."""
        for attempt in (0, 1):
            c = self.connect()
            try:
                headers = {"Content-Type": "application/json"} if body is not None else {}
                c.request(method, path, body=body, headers=headers)
                r = c.getresponse()
                return r.status, r
            except (ConnectionError, http.client.RemoteDisconnected,
                    http.client.CannotSendRequest, BrokenPipeError):
                self.drop()
                if attempt:
                    raise
        raise AssertionError("unreachable")


def check_answer(path, body, status, r):
    data = r.read()
    if status != 200:
        return f"{path} {json.dumps(body)[:200]}: status {status}: {data[:300]!r}"
    if not body["stream"]:
        v = json.loads(data)
        c = v["choices"][0]
        if c["finish_reason"] not in ("stop", "length"):
            return f"finish_reason {c['finish_reason']}"
        u = v["usage"]
        if u["completion_tokens"] > body["max_tokens"] or u["prompt_tokens"] < 1:
            return f"usage {u} for max_tokens {body['max_tokens']}"
        return None
    events = [e[len("data: "):] for e in data.decode().split("\n\n") if e]
    if events[-1] != "[DONE]":
        return f"stream did not end with [DONE]: {events[-3:]}"
    chunks = [json.loads(e) for e in events[:-1]]
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    if finishes[-1] not in ("stop", "length"):
        return f"stream finish {finishes[-1]}"
    if body.get("stream_options") and "usage" not in chunks[-1]:
        return "no usage chunk"
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--requests", type=int, default=10000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--warmup", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    # The server's --max-body: oversized requests are one byte over it. A small limit
    # keeps the soak's memory about leaks, not about many large uploads in flight.
    ap.add_argument("--max-body", type=int, default=1 << 20)
    a = ap.parse_args()
    u = urllib.parse.urlparse(a.base_url)

    lock = threading.Lock()
    counts = {"ok": 0, "malformed": 0, "dropped": 0}
    failures = []
    next_i = [0]
    warm = {}
    warm_done = threading.Event()

    def take():
        with lock:
            i = next_i[0]
            if i >= a.requests:
                return None
            next_i[0] += 1
            return i

    def done(kind):
        with lock:
            counts[kind] += 1
            total = sum(counts.values())
            if total == a.warmup:
                warm["rss"] = rss(a.pid)
                warm["t"] = time.time()
                warm_done.set()

    def work(wid):
        rng = random.Random(a.seed * 1000 + wid)
        w = Worker(u.hostname, u.port)
        while (i := take()) is not None:
            roll = rng.random()
            try:
                if roll < 0.6:
                    path, body = well_formed(rng)
                    status, r = w.send("POST", path, json.dumps(body).encode())
                    err = check_answer(path, body, status, r)
                    if err:
                        with lock:
                            failures.append(f"request {i}: {err}")
                    done("ok")
                elif roll < 0.85:
                    method, path, raw, want = malformed(rng, a.max_body)
                    status, r = w.send(method, path, raw)
                    data = r.read()
                    if status != want or "error" not in json.loads(data):
                        with lock:
                            failures.append(f"request {i}: {method} {path} "
                                            f"{(raw or b'')[:80]!r}: {status} (want {want})")
                    if status == 413:
                        w.drop()  # the server does not read the rest of the body
                    done("malformed")
                else:
                    path, body = well_formed(rng)
                    body.update(stream=True, max_tokens=64, ignore_eos=True)
                    status, r = w.send("POST", path, json.dumps(body).encode())
                    if status == 200:
                        r.readline()
                    w.drop()
                    done("dropped")
            except Exception as e:  # noqa: BLE001 - every failure is reported
                with lock:
                    failures.append(f"request {i}: {type(e).__name__}: {e}")
                w.drop()
                done("ok")
            if len(failures) > 20:
                return

    start = time.time()
    threads = [threading.Thread(target=work, args=(k,)) for k in range(a.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.time() - start
    end_rss = rss(a.pid)
    print(f"{sum(counts.values())} requests in {elapsed:.1f} s "
          f"({sum(counts.values()) / elapsed:.0f}/s): {counts['ok']} well-formed, "
          f"{counts['malformed']} malformed, {counts['dropped']} dropped mid-stream")

    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    c.request("GET", "/health")
    r = c.getresponse()
    r.read()
    health = r.status
    c.request("GET", "/metrics")
    metrics = c.getresponse().read().decode()
    cancelled = [line for line in metrics.splitlines()
                 if line.startswith('edgelm_requests_total{outcome="cancelled"}')]
    print(f"server: {cancelled[0] if cancelled else 'no cancelled count'}")

    if failures:
        print(f"FAIL: {len(failures)} failures, first ones:", file=sys.stderr)
        for f in failures[:20]:
            print(f"  {f}", file=sys.stderr)
        sys.exit(1)
    if health != 200:
        print(f"FAIL: /health answers {health} after the soak", file=sys.stderr)
        sys.exit(1)
    if not warm_done.is_set():
        print("FAIL: the warm-up never finished", file=sys.stderr)
        sys.exit(1)
    (w_rss, w_hwm), (e_rss, e_hwm) = warm["rss"], end_rss
    print(f"RSS after {a.warmup} requests: {w_rss / 1024:.1f} MiB (peak {w_hwm / 1024:.1f}); "
          f"after {a.requests}: {e_rss / 1024:.1f} MiB (peak {e_hwm / 1024:.1f}); "
          f"peak grew {100 * (e_hwm / w_hwm - 1):+.1f}%")
    if e_hwm > 1.10 * w_hwm:
        print("FAIL: peak RSS grew more than 10% after the warm-up", file=sys.stderr)
        sys.exit(1)
    print("soak passed")


if __name__ == "__main__":
    main()
