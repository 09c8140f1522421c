"""tests/serve_openai.py -- DeepSeek's deepseek-reasoner samples (the guide's
non-streaming and streaming code, two rounds each) as they are, with only
api_key and base_url changed, against ./r1 serve; then checks that the
replies have the shapes the samples rely on.

    python3 tests/serve_openai.py BASE_URL

Needs the official client (pip install openai); without it, prints one
"skipped: ..." line. Prints "serve-openai-py: N passed, M failed".
"""
import sys
try:
    from openai import OpenAI
except ImportError:
    print("serve-openai-py: skipped: the openai package for Python is not installed (pip install openai)")
    sys.exit(0)
base_url = sys.argv[1]

# ---- DeepSeek's sample, non-streaming
client = OpenAI(api_key="anything", base_url=base_url)

# Round 1
messages = [{"role": "user", "content": "9.11 and 9.8, which is greater?"}]
response = client.chat.completions.create(
    model="deepseek-reasoner",
    messages=messages
)

reasoning_content = response.choices[0].message.reasoning_content
content = response.choices[0].message.content

# Round 2
messages.append({'role': 'assistant', 'content': content})
messages.append({'role': 'user', 'content': "How many Rs are there in the word 'strawberry'?"})
response = client.chat.completions.create(
    model="deepseek-reasoner",
    messages=messages
)
whole = (response.choices[0].message.reasoning_content or "", response.choices[0].message.content)

# ---- DeepSeek's sample, streaming
# Round 1
messages = [{"role": "user", "content": "9.11 and 9.8, which is greater?"}]
response = client.chat.completions.create(
    model="deepseek-reasoner",
    messages=messages,
    stream=True
)

reasoning_content = ""
content = ""

for chunk in response:
    if chunk.choices[0].delta.reasoning_content:
        reasoning_content += chunk.choices[0].delta.reasoning_content
    else:
        content += chunk.choices[0].delta.content

# Round 2
messages.append({"role": "assistant", "content": content})
messages.append({'role': 'user', 'content': "How many Rs are there in the word 'strawberry'?"})
response = client.chat.completions.create(
    model="deepseek-reasoner",
    messages=messages,
    stream=True
)

reasoning_content = ""
content = ""

for chunk in response:
    if chunk.choices[0].delta.reasoning_content:
        reasoning_content += chunk.choices[0].delta.reasoning_content
    else:
        content += chunk.choices[0].delta.content

# ---- what the samples rely on
print("round 2: reasoning %r, answer %r" % whole)
print("round 2, streamed: reasoning %r, answer %r" % (reasoning_content, content))
ids = sorted(m.id for m in client.models.list())
checks = [[(reasoning_content, content) == whole, "streamed = whole"], [ids == ["deepseek-reasoner", "r1"], "models.list(): %r" % ids]]
import openai
for cls, what, request in (
        (openai.BadRequestError, "reasoning_content sent back",
         dict(messages=[{"role": "user", "content": "1+1"}, {"role": "assistant", "content": "2", "reasoning_content": "1 plus 1"},
                        {"role": "user", "content": "347+285"}])),
        (openai.BadRequestError, "an unknown model", dict(model="gpt-4o")),
        (openai.UnprocessableEntityError, "n=2", dict(n=2))):
    args = dict(model="deepseek-reasoner", messages=[{"role": "user", "content": "347+285"}])
    args.update(request)
    try:
        client.with_options(max_retries=0).chat.completions.create(**args)
        checks.append([False, what + ": no error"])
    except openai.APIStatusError as e:
        checks.append([isinstance(e, cls), "%s: %s" % (what, type(e).__name__)])
for good, what in checks:
    if not good: print("FAIL: " + what)
print("serve-openai-py: %d passed, %d failed" % (sum(c[0] for c in checks), sum(not c[0] for c in checks)))
sys.exit(any(not c[0] for c in checks))
