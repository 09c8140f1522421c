#!/usr/bin/env python3
"""tests/serve_check.py -- the checks of tests/test_serve.sh: ./r1 serve as
clients meet it (SERVE.md §12.2), with nothing but Python's standard library.

    python3 tests/serve_check.py R1 TINY SCRIPTED PROMPT_TOKENS

R1 is the binary, TINY a run folder of a 2-step pretrained model (its
samples are noise: every byte, every special token), SCRIPTED a checkpoint of
the same shape made by `--forge`, whose greedy completion of "347+285" is
SCRIPT below, and PROMPT_TOKENS the size of that prompt. Servers listen on
127.0.0.1 only, on ports the kernel picks (--port 0), and are stopped at the
end. Prints "FAIL: ..." per failed check, then "serve: N passed, M failed".

    python3 tests/serve_check.py --forge IN.safetensors OUT.safetensors PROMPT_TOKENS

writes SCRIPTED: every block's weights zero (each layer adds nothing), the
final LayerNorm's gain 20, and one dimension per token of the script, so that
the position embedding at the prompt's end + i picks token i of SCRIPT.
"""
import json, os, random, shutil, socket, struct, subprocess, sys, threading, time

TOK_END, TOK_THINK, TOK_THINK_END, TOK_ANSWER, TOK_ANSWER_END = 256, 257, 258, 259, 260
# <think>7+5=12加!</think><answer>632</answer><|end|>, "加" as its three bytes:
# a character split across tokens, which a stream must send whole
SCRIPT = ([TOK_THINK] + [ord(c) for c in "7+5=12"] + [0xE5, 0x8A, 0xA0, ord("!"), TOK_THINK_END, TOK_ANSWER]
          + [ord(c) for c in "632"] + [TOK_ANSWER_END, TOK_END])
REASONING, CONTENT = "7+5=12加!", "632"
COMPLETION_TOKENS, REASONING_TOKENS = len(SCRIPT), 10
QUESTION = "347+285"


def forge(src, dst, prompt_tokens):
    raw = open(src, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = bytearray(len(raw) - 8 - n)                     # every tensor zero
    def put(name, index, value):                           # tensor[index] = value (flat index)
        off = header[name]["data_offsets"][0] + 4 * index
        struct.pack_into("<f", data, off, value)
    V, D = header["tok_emb"]["shape"]
    dims = {}
    for t in SCRIPT: dims.setdefault(t, len(dims))
    assert len(dims) <= D, "the script needs a wider model"
    for t, d in dims.items(): put("tok_emb", t * D + d, 1.0)
    for i, t in enumerate(SCRIPT): put("pos_emb", (prompt_tokens - 1 + i) * D + dims[t], 100.0)
    for name in header:
        if name.endswith("ln1.weight") or name.endswith("ln2.weight"):
            for k in range(D): put(name, k, 1.0)
    for k in range(D): put("ln_f.weight", k, 20.0)
    tmp = dst + ".tmp"
    with open(tmp, "wb") as f: f.write(raw[:8 + n] + bytes(data))
    os.replace(tmp, dst)


# ---- checks

passed = failed = 0
def check(ok, what):
    global passed, failed
    if ok: passed += 1
    else:
        failed += 1
        print("FAIL: " + what, flush=True)
    return ok

SLOW = os.environ.get("R1_SLOW") == "1"                   # the sanitizers' build: some ten times slower
TIMEOUT = 3 if SLOW else 1                                # the servers' --timeout
WAIT = 60 if SLOW else 15                                 # a client's patience


class Server:
    def __init__(self, r1, model, *flags):
        self.err = open(os.path.join(TMP, "server-%d.err" % len(SERVERS)), "w+")
        self.p = subprocess.Popen([r1, "serve", "--model", model, "--port", "0", "--timeout", str(TIMEOUT),
                                   "--threads", "1"] + list(flags),
                                  stdout=subprocess.PIPE, stderr=self.err, text=True)
        SERVERS.append(self)
        self.line = self.p.stdout.readline()               # the startup line
        self.port = int(self.line.split("http://127.0.0.1:")[1].split()[0]) if "http://127.0.0.1:" in self.line else 0
    def stderr(self):
        self.err.flush(); self.err.seek(0)
        return self.err.read()
    def stop(self):                                        # SIGTERM; the exit status
        if self.p.poll() is None:
            self.p.terminate()
            try: self.p.wait(WAIT)
            except subprocess.TimeoutExpired: self.p.kill(); self.p.wait()
        return self.p.returncode


def exchange(port, data, half_close=True, timeout=None):
    """Send bytes, read until the server closes: the reply's bytes (b"" for a close without a reply)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout or WAIT)
    try:
        s.sendall(data)
        if half_close: s.shutdown(socket.SHUT_WR)
        out = []
        while True:
            b = s.recv(65536)
            if not b: break
            out.append(b)
        return b"".join(out)
    finally:
        s.close()


def request(method, path, body=b"", headers=None, port=None):
    h = {"Host": "127.0.0.1:%d" % port}
    if method == "POST": h.update({"Content-Type": "application/json", "Content-Length": str(len(body))})
    h.update(headers or {})
    head = "%s %s HTTP/1.1\r\n" % (method, path) + "".join("%s: %s\r\n" % kv for kv in h.items() if kv[1] is not None)
    return exchange(port, head.encode() + b"\r\n" + body)


def parse(reply):
    """(status, headers with lower-case names, body); status 0 if it is no HTTP reply."""
    head, sep, body = reply.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not sep or not lines[0].startswith("HTTP/1.1 ") or not lines[0][9:12].isdigit(): return 0, {}, reply
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(lines[0][9:12]), headers, body


def chat(port, obj, path="/v1/chat/completions", headers=None):
    body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return parse(request("POST", path, body, headers, port))


def decode_json(body, what):
    try:
        return json.loads(body.decode("utf-8"))            # strict: valid UTF-8, valid JSON
    except ValueError as e:
        check(False, "%s: not JSON in UTF-8 (%s): %r" % (what, e, body[:200]))
        return None


def check_json_reply(what, status, headers, body, want=200):
    """One check: the status, Content-Type, Connection: close, an exact Content-Length; the decoded body or None."""
    wrong = [w for ok, w in ((status == want, "status %d, want %d" % (status, want)),
                             (headers.get("content-type") == "application/json", "Content-Type %r" % headers.get("content-type")),
                             (headers.get("connection") == "close", "no Connection: close"),
                             (headers.get("content-length") == str(len(body)), "Content-Length %r for %d bytes"
                              % (headers.get("content-length"), len(body)))) if not ok]
    if not check(not wrong, "%s: %s (%r)" % (what, "; ".join(wrong), body[:300])): return None
    return decode_json(body, what)


ANY = object()
def check_error(what, reply, want, param=ANY, code=ANY):
    """One check: check_json_reply's, and OpenAI's error body with its type, the param and code wanted."""
    status, headers, body = reply
    r = check_json_reply(what, status, headers, body, want)
    if r is None: return None
    e = r.get("error") if isinstance(r, dict) else None
    if not isinstance(e, dict) or not set(e) >= {"message", "type", "param", "code"} or not isinstance(e["message"], str):
        check(False, "%s: not an OpenAI error body: %r" % (what, body[:300]))
        return None
    want_type = {401: "authentication_error", 403: "permission_error", 404: "not_found_error"}.get(want, "invalid_request_error")
    wrong = [w for ok, w in ((e["type"] == want_type, "type %r, want %r" % (e["type"], want_type)),
                             (param is ANY or e["param"] == param, "param %r, want %r" % (e["param"], param)),
                             (code is ANY or e["code"] == code, "code %r, want %r" % (e["code"], code))) if not ok]
    return e if check(not wrong, "%s: %s" % (what, "; ".join(wrong))) else None


def completion(port, extra=None, question=QUESTION, what="chat"):
    req = {"model": "deepseek-reasoner", "messages": [{"role": "user", "content": question}]}
    req.update(extra or {})
    status, headers, body = chat(port, req)
    return check_json_reply(what, status, headers, body)


def stream(port, extra=None, question=QUESTION, what="stream", path="/v1/chat/completions"):
    """The chunks of a streamed reply, checked (one check) against SERVE.md §7.2's invariants; None if it breaks one."""
    req = {"model": "deepseek-reasoner", "messages": [{"role": "user", "content": question}], "stream": True}
    req.update(extra or {})
    status, headers, body = chat(port, req, path)
    def broken(why):
        check(False, "%s: %s" % (what, why))
        return None
    if status != 200 or headers.get("content-type") != "text/event-stream":
        return broken("status %d, Content-Type %r: %r" % (status, headers.get("content-type"), body[:300]))
    if "content-length" in headers or "transfer-encoding" in headers: return broken("not close-delimited: %r" % headers)
    events = body.split(b"\n\n")
    if len(events) < 4 or events[-1] != b"" or events[-2] != b"data: [DONE]":
        return broken("does not end with data: [DONE]: %r" % body[-200:])
    chunks = []
    for ev in events[:-2]:
        if not ev.startswith(b"data: ") or b"\n" in ev: return broken("not one data line: %r" % ev[:200])
        try: chunks.append(json.loads(ev[6:].decode("utf-8")))
        except ValueError as e: return broken("not JSON in UTF-8 (%s): %r" % (e, ev[:200]))
    usage = (extra or {}).get("stream_options", {}).get("include_usage")
    with_choice = chunks[:-1] if usage else chunks
    first, last = with_choice[0], with_choice[-1]
    same = {(c["id"], c["created"], c["model"], c["object"]) for c in chunks}
    if len(same) != 1 or first["object"] != "chat.completion.chunk" or first["model"] != "deepseek-reasoner":
        return broken("chunks differ in id/created/model/object: %r" % same)
    for k, c in enumerate(with_choice):
        ch = c["choices"]
        if len(ch) != 1 or ch[0]["index"] != 0 or ch[0]["logprobs"] is not None: return broken("chunk %d's choices %r" % (k, ch))
        d, fr = ch[0]["delta"], ch[0]["finish_reason"]
        if "content" not in d or "reasoning_content" not in d: return broken("chunk %d's delta lacks a key: %r" % (k, d))
        if c is first and d != {"role": "assistant", "content": "", "reasoning_content": None}: return broken("first delta %r" % d)
        if c is last and d != {"content": "", "reasoning_content": None}: return broken("last delta %r" % d)
        one = [x for x in (d["content"], d["reasoning_content"]) if x is not None]
        if c is not first and c is not last and (len(one) != 1 or not isinstance(one[0], str) or one[0] == ""):
            return broken("chunk %d's delta %r: not one non-empty text" % (k, d))
        if (fr not in ("stop", "length")) if c is last else fr is not None: return broken("chunk %d's finish_reason %r" % (k, fr))
        if (("usage" not in c or c["usage"] is not None) if usage else "usage" in c): return broken("chunk %d's usage key" % k)
    if usage and (chunks[-1]["choices"] != [] or not isinstance(chunks[-1].get("usage"), dict)):
        return broken("the usage chunk %r" % chunks[-1])
    check(True, what)
    return chunks


def joined(chunks):
    """(reasoning, content, finish_reason, usage or None) of a stream's chunks."""
    ds = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    fr = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1]
    return ("".join(d["reasoning_content"] or "" for d in ds), "".join(d["content"] or "" for d in ds), fr,
            chunks[-1].get("usage") if not chunks[-1]["choices"] else None)


def whole(r):
    m = r["choices"][0]["message"]
    return (m["reasoning_content"] or "", m["content"], r["choices"][0]["finish_reason"], r["usage"])


def alive(port, what):
    status, _, body = parse(request("GET", "/health", port=port))
    return check(status == 200 and json.loads(body) == {"status": "ok"}, "%s: /health then gives %d %r" % (what, status, body[:100]))


def run(r1, tiny, scripted, prompt_tokens):
    a = Server(r1, scripted, "--seed", "7")
    if not check(a.port > 0, "the startup line names no port: %r (stderr: %s)" % (a.line, a.stderr()[:300])): return
    # the context is the demo shape's (demo_config), read from the startup line
    T = int(a.line.split("context ")[1].split()[0]) if "context " in a.line else 0
    check(a.line.startswith("r1 serve: listening on http://127.0.0.1:") and T >= 64 and
          "context %d tokens" % T in a.line, "startup line: %r" % a.line)
    P = a.port

    # 1-2: health and the model list
    for path in ("/health", "/v1/health"):
        status, headers, body = parse(request("GET", path, port=P))
        check(check_json_reply(path, status, headers, body) == {"status": "ok"}, "%s: %r" % (path, body))
    for path in ("/v1/models", "/models"):
        status, headers, body = parse(request("GET", path, port=P))
        r = check_json_reply(path, status, headers, body)
        ids = sorted(m.get("id") for m in (r or {}).get("data", []))
        check(r and r.get("object") == "list" and ids == ["deepseek-reasoner", "r1"], "%s: %r" % (path, body))
        check(r and all(m["object"] == "model" and isinstance(m["created"], int) and m["owned_by"] for m in r["data"]),
              "%s: a model object lacks a field: %r" % (path, body))
    status, headers, body = parse(request("GET", "/v1/models/r1", port=P))
    check((check_json_reply("/v1/models/r1", status, headers, body) or {}).get("id") == "r1", "/v1/models/r1: %r" % body)
    check_error("/v1/models/x", parse(request("GET", "/v1/models/x", port=P)), 404)

    # 3: a whole reply, the scripted completion split as ask --json splits it
    r = completion(P, {"seed": 1}, what="whole reply")
    if r:
        check(set(r) >= {"id", "object", "created", "model", "choices", "usage"} and r["object"] == "chat.completion"
              and isinstance(r["created"], int) and r["id"].startswith("chatcmpl-") and r["model"] == "deepseek-reasoner",
              "whole reply: top-level keys %r" % r)
        m = r["choices"][0]["message"]
        check(m == {"role": "assistant", "content": CONTENT, "reasoning_content": REASONING}, "whole reply: message %r" % m)
        check(r["choices"][0]["finish_reason"] == "stop" and r["choices"][0]["index"] == 0, "whole reply: choice %r" % r["choices"][0])
        check(r["usage"] == {"prompt_tokens": prompt_tokens, "completion_tokens": COMPLETION_TOKENS,
                             "total_tokens": prompt_tokens + COMPLETION_TOKENS,
                             "completion_tokens_details": {"reasoning_tokens": REASONING_TOKENS}}, "whole reply: usage %r" % r["usage"])
    # ask --json, the same split
    out = subprocess.run([r1, "ask", "--model", scripted, "--json", "--threads", "1", QUESTION], capture_output=True, text=True)
    check(json.loads(out.stdout or "null") == {"reasoning_content": REASONING, "content": CONTENT}, "ask --json on the script: %r" % out.stdout)

    # 4-5: the same streamed, one chunk per token with text; "加" whole; the usage chunk when asked
    chunks = stream(P, {"seed": 1})
    if chunks:
        rs, cs, fr, _ = joined(chunks)
        check((rs, cs, fr) == (REASONING, CONTENT, "stop"), "stream: adds up to %r" % ((rs, cs, fr),))
        pieces = [c["choices"][0]["delta"]["reasoning_content"] for c in chunks[1:-1]]
        check(pieces[:8] == ["7", "+", "5", "=", "1", "2", "加", "!"], "stream: reasoning chunks %r (a character split "
              "across tokens must go out whole)" % pieces)
    chunks = stream(P, {"seed": 1, "stream_options": {"include_usage": True}}, what="stream with usage")
    if chunks and r:
        check(joined(chunks)[3] == r["usage"], "stream with usage: %r, the whole reply's %r" % (joined(chunks)[3], r["usage"]))

    # 6: both prefixes
    r2 = completion(P, {"seed": 1}, what="/chat/completions")
    status, headers, body = chat(P, {"model": "r1", "messages": [{"role": "user", "content": QUESTION}]}, "/chat/completions")
    r3 = check_json_reply("/chat/completions without /v1", status, headers, body)
    check(r and r3 and whole(r3) == whole(r) and r3["model"] == "r1", "without /v1: %r" % body[:300])

    # 9: two turns: only the last user message reaches the model; a system message changes nothing
    msgs = [{"role": "system", "content": "you are a helpful assistant: think, then answer briefly"}, {"role": "user", "content": "9.11 and 9.8, which is greater?"},
            {"role": "assistant", "content": CONTENT}, {"role": "assistant", "content": None},
            {"role": "user", "content": QUESTION}]
    r4 = completion(P, {"messages": msgs}, what="two turns")
    check(r and r4 and whole(r4) == whole(r) and r4["usage"] == r["usage"], "two turns: %r, the last turn alone %r"
          % (r4 and whole(r4), r and whole(r)))
    parts = [{"type": "text", "text": "347+"}, {"type": "text", "text": "285"}]
    r5 = completion(P, {"messages": [{"role": "user", "content": parts}]}, what="text parts")
    check(r5 and r5["usage"]["prompt_tokens"] != prompt_tokens, "text parts are joined with a space: %r" % (r5 and r5["usage"]))

    # 12: max_tokens cuts the completion ("length"); the split is ask's for what is left
    for mode in ("whole", "stream"):
        extra = {"max_tokens": 3, "max_completion_tokens": 7}
        if mode == "whole":
            x = completion(P, extra, what="max_tokens 3")
            got = x and whole(x)
        else:
            x = stream(P, dict(extra, stream_options={"include_usage": True}), what="max_tokens 3 streamed")
            got = x and joined(x)
        check(got and got[2] == "length" and got[3]["completion_tokens"] == 3 and got[1] == "<think>7+",
              "max_tokens 3 (%s): %r" % (mode, got))
    x = completion(P, {"max_tokens": 1000}, what="max_tokens 1000")
    check(x and whole(x)[2] == "stop" and x["usage"]["completion_tokens"] == COMPLETION_TOKENS, "max_tokens 1000: %r" % (x and whole(x),))

    # 10: every bad request: its status, OpenAI's error body, the field at fault; and the server goes on
    user = [{"role": "user", "content": QUESTION}]
    def bad(what, obj, want, param=ANY, code=ANY, path="/v1/chat/completions", headers=None):
        e = check_error(what, chat(P, obj, path, headers), want, param, code)
        return e
    bad("invalid JSON", b'{"model": "r1", "messages": [', 400, None)
    bad("a JSON array", b'[]', 400, None)
    bad("text after the JSON", b'{"model": "r1", "messages": []} x', 400, None)
    e = bad("deep JSON", b'{"x": ' + b"[" * 40 + b"]" * 40 + b', "model": "r1"}', 400, None)
    check(e and "nested" in e["message"], "deep JSON: %r" % (e and e["message"]))
    bad("JSON 500000 levels deep", b"[" * 500000, 400, None)     # (recursion without a limit overflows the stack)
    bad("no messages", {"model": "r1"}, 400, "messages")
    bad("no model", {"messages": user}, 400, "model")
    bad("messages: []", {"model": "r1", "messages": []}, 400, "messages")
    bad("messages: a string", {"model": "r1", "messages": "347+285"}, 400, "messages")
    bad("role 123", {"model": "r1", "messages": [{"role": 123, "content": "1+1"}]}, 400, "messages[0]")
    bad("role wizard", {"model": "r1", "messages": [{"role": "wizard", "content": "1+1"}]}, 400, "messages[0]")
    bad("role tool", {"model": "r1", "messages": [{"role": "tool", "content": "1+1"}]}, 422, "messages[0]")
    bad("content 5", {"model": "r1", "messages": [{"role": "user", "content": 5}]}, 400, "messages[0]")
    bad("an image part", {"model": "r1", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
        422, "messages[0]")
    bad("last message the assistant's", {"model": "r1", "messages": user + [{"role": "assistant", "content": "632"}]}, 400, "messages[1]")
    bad("empty question", {"model": "r1", "messages": [{"role": "user", "content": "   "}]}, 400, "messages[0]")
    e = bad("reasoning_content sent back", {"model": "r1", "messages": [{"role": "user", "content": "1+1"},
            {"role": "assistant", "content": "2", "reasoning_content": "1 plus 1 is 2"}] + user}, 400, "messages[1].reasoning_content")
    check(e and "reasoning_content" in e["message"], "reasoning_content sent back: message %r" % (e and e["message"]))
    ok = completion(P, {"messages": [{"role": "user", "content": "1+1"}, {"role": "assistant", "content": "2",
                        "reasoning_content": None}] + user}, what="reasoning_content: null")
    check(ok is not None, "reasoning_content: null is accepted")
    e = bad("model gpt-4o", {"model": "gpt-4o", "messages": user}, 400, "model", "invalid_request_error")
    check(e and e["message"].startswith("Model Not Exist"), "model gpt-4o: %r" % (e and e["message"]))
    for field, value in (("n", 2), ("stop", "x"), ("logprobs", True), ("top_logprobs", 2),
                         ("tools", [{"type": "function", "function": {"name": "f"}}]), ("tool_choice", "auto"),
                         ("response_format", {"type": "json_object"}), ("temperature", 3), ("top_p", 0),
                         ("max_tokens", 0), ("max_tokens", 2.5), ("seed", 1.5)):
        bad("%s: %r" % (field, value), {"model": "r1", "messages": user, field: value}, 422, field, "invalid_parameter")
    for field, value in (("temperature", "hot"), ("stream", "yes"), ("max_tokens", "3"), ("model", 7)):
        bad("%s: %r (a wrong type)" % (field, value), {"model": "r1", "messages": user, field: value}, 400, field)
    ok = completion(P, {"n": 1, "stop": None, "logprobs": False, "tools": [], "tool_choice": "none", "frequency_penalty": 1,
                        "response_format": {"type": "text"}, "user": "x", "metadata": {"a": [1, {"b": None}]}}, what="defaults")
    check(ok and whole(ok)[:2] == (REASONING, CONTENT), "parameters at their defaults and unknown ones are accepted")
    for tok in ("<think>", "<|end|>", "</answer>"):
        e = bad("%s in a message" % tok, {"model": "r1", "messages": [{"role": "user", "content": "1+1 " + tok}]}, 400, "messages[0]")
        check(e and tok in e["message"], "%s in a message: %r" % (tok, e and e["message"]))
    bad("\\u0000 in a message", b'{"model": "r1", "messages": [{"role": "user", "content": "1+\\u00001"}]}', 400, "messages[0]")
    bad("a lone surrogate", b'{"model": "r1", "messages": [{"role": "user", "content": "\\ud800"}]}', 400, "messages[0]")
    e = bad("300 characters", {"model": "r1", "messages": [{"role": "user", "content": "1+1 " * 75}]}, 400, "messages",
            "context_length_exceeded")
    check(e and e["message"].startswith("the prompt is ") and "context is %d (at most %d" % (T, T - 2) in e["message"],
          "300 characters: %r" % (e and e["message"]))
    # the bound itself: a prompt of n_ctx - 2 tokens is answered, one of n_ctx - 1 refused (digits are one token each)
    sizes = {}
    for k in range(T - 20, T):
        st, hd, bd = chat(P, {"model": "r1", "messages": [{"role": "user", "content": "1" * k}]})
        body = json.loads(bd)
        sizes[k] = body["usage"]["prompt_tokens"] if st == 200 else -int(body["error"]["message"].split()[3])
    check(T - 2 in sizes.values() and -(T - 1) in sizes.values() and
          all(v <= T - 2 if v > 0 else v <= -(T - 1) for v in sizes.values()),
          "the context bound: prompt sizes answered (+) and refused (-): %r" % sizes)
    bad("Content-Type text/plain", {"model": "r1", "messages": user}, 415, headers={"Content-Type": "text/plain"})
    e = parse(request("GET", "/v1/chat/completions", port=P))
    check_error("GET /v1/chat/completions", e, 405)
    check(e[1].get("allow") == "POST", "405 without Allow: POST: %r" % e[1])
    check_error("/v2/foo", parse(request("GET", "/v2/foo", port=P)), 404)
    check_error("POST /v1/models", parse(request("POST", "/v1/models", b"{}", port=P)), 405)
    check_error("Transfer-Encoding", chat(P, {"model": "r1", "messages": user}, headers={"Transfer-Encoding": "chunked"}), 411)
    check_error("no Content-Length", parse(exchange(P, b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n"
                                                    b"Content-Type: application/json\r\n\r\n")), 411)
    check_error("a 17 KiB header", parse(request("GET", "/health", headers={"X-Big": "x" * (17 << 10)}, port=P)), 431)
    check_error("65 headers", parse(request("GET", "/health", headers={"X-%d" % i: "1" for i in range(65)}, port=P)), 431)
    check_error("a bad request line", parse(exchange(P, b"HELLO\r\n\r\n")), 400)
    check_error("HTTP/2.0", parse(exchange(P, b"GET /health HTTP/2.0\r\n\r\n")), 400)
    check_error("Content-Length twice", parse(exchange(P, b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 2\r\n"
                                                      b"Content-Length: 3\r\nContent-Type: application/json\r\n\r\n{}")), 400)
    # a client's own Host names
    for host in ("localhost:%d" % P, "LOCALHOST", "[::1]:80"):
        check(parse(request("GET", "/health", headers={"Host": host}, port=P))[0] == 200, "Host %s refused" % host)
    check_error("Host evil.example", parse(request("GET", "/health", headers={"Host": "evil.example"}, port=P)), 403, None, "forbidden_host")
    check_error("Host 127.0.0.1.evil", chat(P, {"model": "r1", "messages": user}, headers={"Host": "127.0.0.1.evil:%d" % P}), 403)
    alive(P, "after the bad requests")

    # 11: a refused large body still gets its reply (a graceful close, no reset)
    big = b"x" * (2 << 20)
    st = parse(exchange(P, b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n" % len(big) + big))
    check_error("a 2 MiB body", st, 413)
    s = socket.create_connection(("127.0.0.1", P), timeout=WAIT)
    body = json.dumps({"model": "r1", "messages": user}).encode()
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
              b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
    first = s.recv(100)
    check(first == b"HTTP/1.1 100 Continue\r\n\r\n", "Expect: 100-continue: %r" % first)
    s.sendall(body)
    s.shutdown(socket.SHUT_WR)
    rest = b""
    while True:
        b = s.recv(65536)
        if not b: break
        rest += b
    s.close()
    check(parse(rest)[0] == 200, "after 100 Continue: %r" % rest[:100])
    curl = subprocess.run(["sh", "-c", "command -v curl"], capture_output=True, text=True).stdout.strip()
    if curl:
        path = os.path.join(TMP, "big.json")
        with open(path, "wb") as f: f.write(b" " * 1500000)
        t0 = time.time()
        out = subprocess.run([curl, "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Content-Type: application/json",
                              "--data-binary", "@" + path, "http://127.0.0.1:%d/v1/chat/completions" % P],
                             capture_output=True, text=True, timeout=WAIT)
        check(out.stdout == "413" and time.time() - t0 < (5 if SLOW else 1), "curl, 1.5 MB: %r in %.1f s" % (out.stdout, time.time() - t0))
        out = subprocess.run([curl, "-sN", "http://127.0.0.1:%d/chat/completions" % P, "-H", "Content-Type: application/json",
                              "-d", json.dumps({"model": "deepseek-reasoner", "stream": True, "messages": user})],
                             capture_output=True, timeout=WAIT)
        check(out.stdout.endswith(b"data: [DONE]\n\n") and "加".encode() in out.stdout, "curl -N, a stream: %r" % out.stdout[-100:])

    # 13a-b: a slow client holds the server at most --timeout seconds. Behind
    # it, clients queue up that send a request and hang up (or reset) before
    # their reply: the server's writes to them then fail (EPIPE), which must not
    # kill it with SIGPIPE. Then /health, within --timeout + 1 s.
    slow = socket.create_connection(("127.0.0.1", P), timeout=WAIT)
    slow.sendall(b"POST /v1/chat/compl")
    time.sleep(0.05)
    t0 = time.time()
    for mode in (True, False):
        for reset in (False, True):
            s = socket.create_connection(("127.0.0.1", P), timeout=WAIT)
            body = json.dumps({"model": "r1", "messages": user, "stream": mode}).encode()
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(body) + body)
            if reset: s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
    alive(P, "a slow client, then clients that hung up")
    check(time.time() - t0 < TIMEOUT + 1, "a slow client held the server %.1f s (--timeout %d)" % (time.time() - t0, TIMEOUT))
    check(slow.recv(100) == b"", "the slow client got a reply instead of a close")
    slow.close()
    check("timed out" in a.stderr(), "the slow client is not logged as timed out")
    check("went away" in a.stderr(), "no write to a client that hung up failed: the test did not test it")
    for mode in (True, False):                            # the first bytes of the reply, then away
        s = socket.create_connection(("127.0.0.1", P), timeout=WAIT)
        body = json.dumps({"model": "r1", "messages": user, "stream": mode}).encode()
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body)
        s.recv(10)
        s.close()
        alive(P, "a client that read 10 bytes of its reply (stream %s)" % mode)
    check(a.p.poll() is None, "the server died when clients hung up (stderr: %s)" % a.stderr()[-300:])

    # 13c: 8 clients at once, 5 requests each: served one at a time, all right
    results = []
    def client():
        for _ in range(5):
            st, hd, bd = chat(P, {"model": "r1", "messages": user})
            try: results.append(whole(json.loads(bd))[:2])
            except ValueError: results.append(None)
    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads: t.start()
    for t in threads: t.join()
    check(results == [(REASONING, CONTENT)] * 40, "8 clients x 5: %d right of %d" % (results.count((REASONING, CONTENT)), len(results)))

    # 13d: 200 malformed requests: each gets an HTTP reply or a clean close, and the server goes on
    rng = random.Random(28)
    good = b'{"model": "r1", "messages": [{"role": "user", "content": "347+285"}]}'
    def storm_one(i):
        kind = i % 8
        if kind == 0: return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
        if kind == 1: return b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 70\r\n"[:rng.randrange(1, 60)]   # cut short
        if kind == 2: return (b"POST /v1/chat/completions HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: %s\r\n\r\n"
                              % rng.choice([b"-1", b"1e3", b"99999999999999999999", b" ", b"0x10", b"70, 70", b"5"]) + good)
        if kind == 3: return b"POST /chat/completions HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
            len(good) + 10, good)                          # a body shorter than said
        body = [b'{"model": "r1", "messages": ' + b"[" * rng.randrange(1, 200),
                b'{"model": "r1", "messages": [{"role": "user", "content": "1+1"}], "max_tokens": 1' + b"0" * rng.randrange(1, 400) + b"}",
                b'{"model": "r1", "messages": [{"role": "user", "content": "\xff\xfe' + bytes([rng.randrange(128, 256)]) + b'"}]}',
                bytearray(good)][kind - 4]
        if kind == 7:                                      # a valid body with bytes changed
            for _ in range(rng.randrange(1, 4)): body[rng.randrange(len(body))] = rng.randrange(256)
            body = bytes(body)
        return b"POST /v1/chat/completions HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    bad_replies = 0
    for i in range(200):
        reply = exchange(P, storm_one(i))
        status, headers, body = parse(reply)
        well_formed = reply == b"" or (status and (status == 200 or json.loads(body).get("error")) and
                                       (headers.get("content-length") is None or headers["content-length"] == str(len(body))))
        bad_replies += not well_formed
    check(bad_replies == 0, "the malformed-request storm: %d replies neither an HTTP reply nor a clean close" % bad_replies)
    alive(P, "after the malformed-request storm")

    # 7-8: the noise model: the same tokens as ask for the same seed, and streamed = whole, on odd byte sequences
    b = Server(r1, tiny, "--seed", "7")
    if check(b.port > 0, "the tiny model's server did not start: %s" % b.stderr()[:300]):
        for seed in (1, 2, 3):
            out = subprocess.run([r1, "ask", "--model", tiny, "--json", "--threads", "1", "--seed", str(seed), "--temperature", "0.8",
                                  QUESTION], capture_output=True, text=True)
            x = completion(b.port, {"seed": seed, "temperature": 0.8}, what="parity with ask")
            want = json.loads(out.stdout or "null")
            check(x and want and {"reasoning_content": x["choices"][0]["message"]["reasoning_content"],
                                  "content": x["choices"][0]["message"]["content"]} == want,
                  "seed %d: serve %r, ask --json %r" % (seed, x and x["choices"][0]["message"], want))
        out = subprocess.run([r1, "ask", "--model", tiny, "--json", "--threads", "1", "--seed", "7", QUESTION], capture_output=True, text=True)
        x = completion(b.port, {}, what="the first request without a seed")
        check(x and json.loads(out.stdout or "null") == {k: x["choices"][0]["message"][k] for k in ("reasoning_content", "content")},
              "the first request without a seed is ask --seed (the server's --seed)")
        general = [json.loads(l)["prompt"] for l in open(os.path.join(DATA, "general.jsonl"), encoding="utf-8")][:6]
        questions = ["%d+%d" % (rng.randrange(1000), rng.randrange(1000)) for _ in range(8)] + \
                    ["%d加%d" % (rng.randrange(100), rng.randrange(100)) for _ in range(6)] + general
        same = 0
        for seed, q in enumerate(questions, 1):
            extra = {"seed": seed, "temperature": 1.0, "stream_options": {"include_usage": True}}
            w = completion(b.port, extra, question=q, what="noise, whole")
            s = stream(b.port, extra, question=q, what="noise, streamed")
            same += bool(w and s and whole(w) == joined(s))
        check(same == len(questions), "streamed = whole on the noise model: %d of %d" % (same, len(questions)))
        check(b.stop() == 0, "the tiny model's server exit status %r" % b.p.returncode)

    # 14: an API key guards the chat, not the health check or the model list
    c = Server(r1, tiny, "--api-key", "k")
    if check(c.port > 0, "the server with --api-key did not start: %s" % c.stderr()[:300]):
        for auth in (None, "Bearer x", "Bearer kk", "k", "bearer k"):
            check_error("API key %r" % auth, chat(c.port, {"model": "r1", "messages": user}, headers={"Authorization": auth}),
                        401, None, "invalid_api_key")
        check(chat(c.port, {"model": "r1", "messages": user}, headers={"Authorization": "Bearer k"})[0] == 200, "the right key refused")
        for path in ("/health", "/v1/models"):
            check(parse(request("GET", path, port=c.port))[0] == 200, "%s needs a key" % path)
        check(c.stop() == 0, "the --api-key server's exit status %r" % c.p.returncode)

    # 17: the command line: a name for --host, a port in use, an address of another machine
    out = subprocess.run([r1, "serve", "--model", tiny, "--host", "localhost"], capture_output=True, text=True, timeout=WAIT)
    check(out.returncode == 2 and "--host localhost" in out.stderr and not out.stdout, "--host localhost: %d %r" % (out.returncode, out.stderr))
    out = subprocess.run([r1, "serve", "--model", tiny, "--port", str(P)], capture_output=True, text=True, timeout=WAIT)
    check(out.returncode == 1 and "cannot listen on 127.0.0.1:%d" % P in out.stderr, "a port in use: %d %r" % (out.returncode, out.stderr))
    out = subprocess.Popen([r1, "serve", "--model", tiny, "--host", "192.0.2.1", "--port", "0"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try: err = out.communicate(timeout=5)[1]
    except subprocess.TimeoutExpired:                     # the system lets us bind it: stop it
        out.terminate(); err = out.communicate()[1]
    check("192.0.2.1 is reachable from other machines" in err and "--api-key" in err, "--host 192.0.2.1: no warning: %r" % err)
    out = subprocess.run([r1, "serve", "--model", tiny, "--port", "70000"], capture_output=True, text=True, timeout=WAIT)
    check(out.returncode == 2, "--port 70000: exit %d" % out.returncode)

    # 16: SIGTERM: exit 0 at once, the port free again, nothing on stdout but the startup line
    t0 = time.time()
    rc = a.stop()
    check(rc == 0 and time.time() - t0 < (10 if SLOW else 2), "SIGTERM: exit %r after %.1f s" % (rc, time.time() - t0))
    check(a.p.stdout.read() == "", "more than the startup line on stdout")
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", P)); freed = True
    except OSError: freed = False
    s.close()
    check(freed, "the port is not free after SIGTERM")
    for srv in SERVERS:
        err = srv.stderr()
        check("Sanitizer" not in err and "runtime error" not in err, "a sanitizer report: %s" % err[-2000:])


def run_openai(r1, scripted):
    """The official clients' scripts against a server of the forged model, each skipped without its client."""
    a = Server(r1, scripted)
    rc = 1
    if check(a.port > 0, "the server did not start: %s" % a.stderr()[:300]):
        base = "http://127.0.0.1:%d" % a.port
        node = shutil.which("node")
        if node: rc = subprocess.run([node, "tests/serve_openai.mjs", base + "/v1", REASONING, CONTENT]).returncode
        else: print("serve-openai: skipped: no node"); rc = 0
        rc |= subprocess.run([sys.executable, "tests/serve_openai.py", base]).returncode
        check(a.stop() == 0, "exit status %r after SIGTERM" % a.p.returncode)
    return rc or failed


if __name__ == "__main__":
    if sys.argv[1:2] == ["--forge"]:
        forge(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        sys.exit(0)
    if sys.argv[1:2] == ["--openai"]:
        TMP, SERVERS = os.path.dirname(sys.argv[3]), []
        try: sys.exit(1 if run_openai(sys.argv[2], sys.argv[3]) else 0)
        finally:
            for srv in SERVERS:
                if srv.p.poll() is None: srv.p.kill(); srv.p.wait()
    r1, tiny, scripted, prompt_tokens = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    TMP = os.path.dirname(scripted)
    DATA = os.environ.get("R1_DATA", "data")
    SERVERS = []
    try:
        run(r1, tiny, scripted, prompt_tokens)
    except Exception as e:                                 # a check that could not run is a failure, not a crash
        import traceback
        traceback.print_exc()
        check(False, "the checks stopped: %r" % e)
    finally:
        for srv in SERVERS:
            if srv.p.poll() is None: srv.p.kill(); srv.p.wait()
    print("serve: %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)
