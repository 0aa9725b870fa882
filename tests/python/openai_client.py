"""The official `openai` package (PyPI) against a running codecite, as a coder's tool would use it.

Run by tests/it/openai.rs, which serves codecite on a loopback port and passes its /v1 URL and
API keys. Every check is an assert; the last line printed is a JSON summary the Rust test
reads (how many questions were answered, so it can check the quota was charged once each).

    python openai_client.py BASE_URL KEY SPENT_KEY
"""

import json
import sys

import openai

base_url, key, spent_key = sys.argv[1], sys.argv[2], sys.argv[3]
# No retries: a refused request must be seen as it is, and never repeated behind our back.
client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)
answered = 0


def extension(obj):
    """codecite's extension object, which the SDK keeps as an extra field."""
    extra = obj.model_extra or {}
    assert "codecite" in extra, f"no codecite object in {obj}"
    return extra["codecite"]


# The one model.
models = [m.id for m in client.models.list()]
assert models == ["codecite"], models
assert client.models.retrieve("codecite").id == "codecite"

# Streamed: chunks, then a final chunk with the codecite object, a usage chunk, [DONE].
stream = client.chat.completions.create(
    model="codecite",
    messages=[{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "What is HCPCS J1885?"}],
    stream=True,
    stream_options={"include_usage": True},
    temperature=0.2,
)
text, finish, ext, usage, chunks = "", None, None, None, 0
for chunk in stream:
    chunks += 1
    assert chunk.model == "codecite" and chunk.object == "chat.completion.chunk", chunk
    if chunk.usage is not None:
        usage = chunk.usage
    for choice in chunk.choices:
        text += choice.delta.content or ""
        if choice.finish_reason is not None:
            finish = choice.finish_reason
            ext = extension(chunk)
answered += 1
assert chunks >= 3, chunks
assert finish == "stop", finish
assert "**J1885** (HCPCS Level II): Ketorolac tromethamine injection [1]" in text, text
assert "/codes/J1885" in text, "the answer text links its cited code: " + text
assert ext["verified_codes"] == ["J1885"] and ext["unverified_codes"] == [], ext
assert ext["sources"][0]["code"] == "J1885", ext["sources"]
assert ext["citations"][0]["code"] == "J1885" and ext["citations"][0]["verified"] is True, ext["citations"]
assert usage is not None and usage.completion_tokens > 0 and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens, usage
conversation = ext["conversation_id"]

# Not streamed; a made-up code comes back unverified, and marked in the text.
done = client.chat.completions.create(model="codecite", messages=[{"role": "user", "content": "Can I bill 99999 today?"}])
answered += 1
content = done.choices[0].message.content
assert done.choices[0].finish_reason == "stop" and done.choices[0].message.role == "assistant", done
assert "There is no code 99999" in content, content
assert "99999: NOT VERIFIED" in content, content
assert extension(done)["unverified_codes"] == ["99999"], extension(done)
assert done.usage.prompt_tokens > 0 and done.usage.completion_tokens > 0, done.usage

# The conversation so far comes from the messages: a follow-up about "it" is about 37253.
first = client.chat.completions.create(model="codecite", messages=[{"role": "user", "content": "What is 37253?"}])
answered += 1
follow = client.chat.completions.create(
    model="codecite",
    messages=[
        {"role": "user", "content": "What is 37253?"},
        {"role": "assistant", "content": first.choices[0].message.content},
        {"role": "user", "content": "Is it an add-on code?"},
    ],
    extra_body={"conversation_id": conversation},
)
answered += 1
assert "add-on code" in follow.choices[0].message.content, follow.choices[0].message.content
assert extension(follow)["sources"][0]["code"] == "37253", extension(follow)["sources"]
assert extension(follow)["conversation_id"] == conversation

# Refusals, in OpenAI's error shape, each before any work and at no cost.
try:
    client.chat.completions.create(model="codecite", messages=[{"role": "user", "content": "q"}], n=2)
    raise AssertionError("n=2 was accepted")
except openai.BadRequestError as e:
    assert e.status_code == 400 and e.param == "n" and e.type == "invalid_request_error", (e.status_code, e.body)
try:
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "q"}])
    raise AssertionError("another model was accepted")
except openai.NotFoundError as e:
    assert e.code == "model_not_found" and e.param == "model", e.body
try:
    openai.OpenAI(base_url=base_url, api_key="cck_not_a_real_key", max_retries=0).chat.completions.create(
        model="codecite", messages=[{"role": "user", "content": "What is J1885?"}]
    )
    raise AssertionError("a bad key was accepted")
except openai.AuthenticationError as e:
    assert e.status_code == 401 and e.code == "invalid_credentials", e.body
spent = openai.OpenAI(base_url=base_url, api_key=spent_key, max_retries=0)
for stream in (False, True):
    try:
        spent.chat.completions.create(model="codecite", messages=[{"role": "user", "content": "What is J1885?"}], stream=stream)
        raise AssertionError("a spent quota answered")
    except openai.APIStatusError as e:
        assert e.status_code == 402, e.status_code
        assert e.type == "insufficient_quota" and e.code == "quota_exhausted", e.body
        assert e.body["action"] == "upgrade" and e.body["meter"] == "questions", e.body

print(json.dumps({"answered": answered, "conversation_id": conversation}))
