#!/usr/bin/env python3
"""Drives a running `edgelm serve` with the official `openai` client (and raw
http.client where the client cannot: 413, 503, disconnects, routes). Nothing is mocked.

    serve_openai_check.py --base-url http://127.0.0.1:PORT --api-key KEY --model ID tiny
    serve_openai_check.py --base-url http://127.0.0.1:PORT --model ID smollm2

The `tiny` suite expects the server started on tests/fixtures/tiny/llama.gguf with
--api-key KEY --parallel 2 --max-queue 1 (so that 8 concurrent requests overflow it).
Prints one line per check; exits 1 at the first failure, saying what differed.
"""

import argparse
import http.client
import json
import re
import sys
import threading
import time
import urllib.parse

import openai


def check(cond, what):
    if not cond:
        print(f"FAIL: {what}", file=sys.stderr)
        sys.exit(1)


def ok(name):
    print(f"ok: {name}", flush=True)


class Raw:
    """Plain HTTP to the server, for what the openai client hides."""

    def __init__(self, base_url, api_key):
        u = urllib.parse.urlparse(base_url)
        self.host, self.port = u.hostname, u.port
        self.key = api_key

    def conn(self):
        return http.client.HTTPConnection(self.host, self.port, timeout=120)

    def request(self, method, path, body=None, auth=True, headers=None):
        c = self.conn()
        h = dict(headers or {})
        if auth and self.key:
            h["Authorization"] = f"Bearer {self.key}"
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            h["Content-Type"] = "application/json"
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, dict(r.getheaders()), data

    def metric(self, name):
        _, _, text = self.request("GET", "/metrics")
        m = re.search(rf"^{re.escape(name)} (\S+)$", text.decode(), re.M)
        check(m, f"/metrics has {name}")
        return float(m.group(1))


def error_body(data):
    e = json.loads(data)["error"]
    check(set(e) >= {"message", "type", "param", "code"}, f"OpenAI error shape: {e}")
    return e


def tiny(client, raw, model):
    chat_msgs = [{"role": "user", "content": "Tell me a story."}]

    # /v1/models
    ids = [m.id for m in client.models.list().data]
    check(ids == [model], f"/v1/models lists {ids}, want [{model!r}]")
    ok("models.list")

    # Greedy chat, not streamed: max_tokens ends it, usage adds up.
    r = client.chat.completions.create(model="anything", messages=chat_msgs,
                                       max_tokens=8, temperature=0,
                                       extra_body={"ignore_eos": True})
    c = r.choices[0]
    check(c.finish_reason == "length", f"finish_reason {c.finish_reason}")
    check(c.message.role == "assistant" and c.message.content, f"message {c.message}")
    u = r.usage
    check(u.completion_tokens == 8, f"completion_tokens {u.completion_tokens}")
    check(u.prompt_tokens > 0 and u.total_tokens == u.prompt_tokens + 8, f"usage {u}")
    check(r.object == "chat.completion" and r.model == model and r.id, f"{r}")
    greedy = c.message.content
    ok("chat, max_tokens -> length, usage")

    # The same, streamed: the deltas add up to the same text.
    chunks = list(client.chat.completions.create(
        model=model, messages=chat_msgs, max_tokens=8, temperature=0, stream=True,
        stream_options={"include_usage": True}, extra_body={"ignore_eos": True}))
    check(chunks[0].choices[0].delta.role == "assistant", f"first chunk {chunks[0]}")
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    check(text == greedy, f"streamed {text!r} != not streamed {greedy!r}")
    finishes = [ch.choices[0].finish_reason for ch in chunks if ch.choices]
    check(finishes[-1] == "length" and all(f is None for f in finishes[:-1]), f"{finishes}")
    check(chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 8,
          f"usage chunk {chunks[-1]}")
    check(all(ch.object == "chat.completion.chunk" for ch in chunks), "chunk objects")
    ok("chat streamed == not streamed; role first, usage last")

    # Text completions, both ways.
    prompt = "Once upon a time"
    r = client.completions.create(model=model, prompt=prompt, max_tokens=12, temperature=0,
                                  extra_body={"ignore_eos": True})
    check(r.choices[0].finish_reason == "length" and r.usage.completion_tokens == 12, f"{r}")
    plain = r.choices[0].text
    streamed = "".join(ch.choices[0].text for ch in client.completions.create(
        model=model, prompt=[prompt], max_tokens=12, temperature=0, stream=True,
        extra_body={"ignore_eos": True}) if ch.choices)
    check(streamed == plain, f"completion streamed {streamed!r} != {plain!r}")
    ok("completions streamed == not streamed")

    # Stop strings: the text ends just before the first match, finish_reason stop.
    mid = len(plain) // 2
    stop = plain[mid:mid + 3]
    want = plain[:plain.find(stop)]
    for stream in (False, True):
        if stream:
            got, fin = "", None
            for ch in client.completions.create(model=model, prompt=prompt, max_tokens=12,
                                                temperature=0, stop=[stop, "\x00never"],
                                                stream=True, extra_body={"ignore_eos": True}):
                if ch.choices:
                    got += ch.choices[0].text
                    fin = ch.choices[0].finish_reason or fin
        else:
            r = client.completions.create(model=model, prompt=prompt, max_tokens=12,
                                          temperature=0, stop=stop,
                                          extra_body={"ignore_eos": True})
            got, fin = r.choices[0].text, r.choices[0].finish_reason
        check(got == want and fin == "stop",
              f"stop {stop!r} (stream={stream}): got {got!r} ({fin}), want {want!r}")
    ok(f"stop string {stop!r}")

    # Seeds: the same seed at temperature > 0 gives the same text; seeds differ.
    def sampled(seed):
        return client.chat.completions.create(
            model=model, messages=chat_msgs, max_tokens=16, temperature=1.0, seed=seed,
            extra_body={"ignore_eos": True}).choices[0].message.content
    a, b = sampled(1234), sampled(1234)
    check(a == b, f"seed 1234 twice: {a!r} != {b!r}")
    check(len({sampled(s) for s in (1, 2, 3, 4)}) > 1, "four seeds gave one text")
    ok("seed reproducibility")

    # Errors the client raises, with the field named.
    for bad, field in (({"temperature": "hot"}, "temperature"), ({"n": 2}, "n"),
                       ({"top_p": 7}, "top_p"), ({"max_tokens": 0}, "max_tokens"),
                       ({"stop": [1, 2]}, "stop")):
        try:
            client.chat.completions.create(model=model, messages=chat_msgs,
                                           extra_body=bad)
            check(False, f"{bad} was accepted")
        except openai.BadRequestError as e:
            check(e.status_code == 400 and field in str(e), f"{bad}: {e}")
            check(e.body.get("param") == field, f"{bad}: param {e.body}")
    long_prompt = "hello " * 2000
    try:
        client.completions.create(model=model, prompt=long_prompt, max_tokens=1)
        check(False, "a prompt longer than the context was accepted")
    except openai.BadRequestError as e:
        nums = [int(n) for n in re.findall(r"\d+", e.body["message"])]
        check(len(nums) >= 2 and nums[0] > nums[1], f"too long: {e.body['message']}")
    ok("400s name the field; too-long prompt gives both lengths")

    bad_client = openai.OpenAI(base_url=client.base_url, api_key="wrong-key", max_retries=0)
    try:
        bad_client.chat.completions.create(model=model, messages=chat_msgs, max_tokens=1)
        check(False, "a wrong key was accepted")
    except openai.AuthenticationError as e:
        check(e.status_code == 401, f"{e}")
    status, _, _ = raw.request("GET", "/v1/models", auth=False)
    check(status == 401, f"no key: {status}")
    status, _, data = raw.request("GET", "/health", auth=False)
    check(status == 200 and json.loads(data) == {"status": "ok"}, f"/health {status} {data}")
    ok("401 without the key; /health open")

    # What only raw HTTP can send.
    status, _, data = raw.request("POST", "/v1/chat/completions", body=b"{not json")
    check(status == 400 and "JSON" in error_body(data)["message"], f"bad JSON: {status}")
    status, _, data = raw.request("POST", "/v1/completions", body=b"x" * (2 << 20))
    check(status == 413, f"2 MiB body: {status} {data[:200]}")
    error_body(data)
    status, _, data = raw.request("GET", "/v2/nothing")
    check(status == 404 and error_body(data)["code"] == 404, f"unknown route: {status}")
    status, _, data = raw.request("GET", "/v1/chat/completions")
    check(status == 405, f"GET on a POST route: {status}")
    ok("bad JSON 400, big body 413, 404, 405")

    # A client that leaves mid-stream cancels its sequence.
    cancelled = raw.metric('edgelm_requests_total{outcome="cancelled"}')
    generated = raw.metric("edgelm_generated_tokens_total")
    c = raw.conn()
    c.request("POST", "/v1/completions",
              body=json.dumps({"prompt": prompt, "max_tokens": 500, "ignore_eos": True,
                               "stream": True, "temperature": 0}),
              headers={"Authorization": f"Bearer {raw.key}"})
    r = c.getresponse()
    check(r.status == 200, f"stream status {r.status}")
    first = r.readline()
    check(first.startswith(b"data: "), f"first line {first!r}")
    c.sock.close()
    c.close()
    deadline = time.time() + 10
    while raw.metric('edgelm_requests_total{outcome="cancelled"}') == cancelled:
        check(time.time() < deadline, "the disconnect was not seen within 10 s")
        time.sleep(0.05)
    spent = raw.metric("edgelm_generated_tokens_total") - generated
    check(spent < 500, f"the cancelled stream still generated {spent} tokens")
    ok(f"disconnect cancels (after {spent:.0f} of 500 tokens)")

    # A full queue: 8 at once against 2 slots and a queue of 1.
    results = []
    barrier = threading.Barrier(8)

    def hog():
        barrier.wait()
        status, headers, data = raw.request(
            "POST", "/v1/completions",
            body={"prompt": prompt, "max_tokens": 200, "ignore_eos": True})
        results.append((status, headers, data))
    threads = [threading.Thread(target=hog) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(s for s, _, _ in results)
    busy = [(h, d) for s, h, d in results if s == 503]
    check(busy and codes.count(200) >= 1 and set(codes) <= {200, 503}, f"codes {codes}")
    h, d = busy[0]
    check({k.lower(): v for k, v in h.items()}.get("retry-after") == "1", f"headers {h}")
    error_body(d)
    ok(f"full queue -> 503 with Retry-After ({codes.count(503)} of 8)")

    text = raw.request("GET", "/metrics")[2].decode()
    check('edgelm_http_responses_total{code="503"}' in text, "503s counted in /metrics")
    ok("/metrics counts responses by code")


def smollm2(client, model):
    # SmolLM2-135M at Q4_1 answers this one plainly (`edgelm run --chat` says the same).
    msgs = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
    r = client.chat.completions.create(model=model, temperature=0, max_tokens=24,
                                       messages=msgs)
    text = r.choices[0].message.content
    check("Paris" in text, f"SmolLM2 answered {text!r}")
    check(r.choices[0].finish_reason in ("stop", "length"), f"{r.choices[0]}")
    streamed = "".join(ch.choices[0].delta.content or "" for ch in client.chat.completions.create(
        model=model, temperature=0, max_tokens=24, messages=msgs, stream=True) if ch.choices)
    check(streamed == text, f"streamed {streamed!r} != {text!r}")
    ok(f"SmolLM2 chat, streamed and not: {text!r}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--api-key", default="")
    ap.add_argument("--model", required=True)
    ap.add_argument("suite", choices=["tiny", "smollm2"])
    a = ap.parse_args()
    client = openai.OpenAI(base_url=a.base_url.rstrip("/") + "/v1",
                           api_key=a.api_key or "none", max_retries=0, timeout=120)
    if a.suite == "tiny":
        tiny(client, Raw(a.base_url, a.api_key), a.model)
    else:
        smollm2(client, a.model)
    print("all checks passed")


if __name__ == "__main__":
    main()
