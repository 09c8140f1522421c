// tests/serve_openai.mjs -- DeepSeek's deepseek-reasoner sample, translated
// line by line for the official OpenAI client for Node (openai-node 6.x),
// against ./r1 serve: two turns, then the same streamed, then the errors the
// client must raise. Only base_url and api_key differ from DeepSeek's sample.
//
//     node tests/serve_openai.mjs BASE_URL [REASONING CONTENT]
//
// REASONING and CONTENT: what the model answers to 347+285, when it is known
// (tests/test_serve.sh --openai serves a forged model that always writes the
// same). The package is found as require("openai") finds it: NODE_PATH, or a
// node_modules beside or above this file. Prints "serve-openai: N passed,
// M failed", or one "skipped: ..." line without the package.
import { createRequire } from "module";
const require = createRequire(import.meta.url);
let OpenAI;
try {
    OpenAI = require("openai").OpenAI;
} catch (e) {
    console.log("serve-openai: skipped: the openai package for Node is not installed (npm install openai@6.49.0, then NODE_PATH=.../node_modules)");
    process.exit(0);
}
const [baseURL, wantReasoning, wantContent] = process.argv.slice(2);
let passed = 0, failed = 0;
function check(ok, what) {
    if (ok) passed++;
    else { failed++; console.log("FAIL: " + what); }
}

const client = new OpenAI({ apiKey: "anything", baseURL, maxRetries: 0, timeout: 10000 });

// Round 1
let messages = [{ role: "user", content: "9.11 and 9.8, which is greater?" }];
let response = await client.chat.completions.create({ model: "deepseek-reasoner", messages });
let reasoning_content = response.choices[0].message.reasoning_content;
let content = response.choices[0].message.content;
check("reasoning_content" in response.choices[0].message && typeof content === "string", "round 1: " + JSON.stringify(response));
console.log("round 1: reasoning " + JSON.stringify(reasoning_content) + ", answer " + JSON.stringify(content));

// Round 2
messages.push({ role: "assistant", content: content });
messages.push({ role: "user", content: "How many Rs are there in the word 'strawberry'?" });
response = await client.chat.completions.create({ model: "deepseek-reasoner", messages });
reasoning_content = response.choices[0].message.reasoning_content;
content = response.choices[0].message.content;
check(typeof content === "string" && response.usage.completion_tokens_details.reasoning_tokens >= 0, "round 2: " + JSON.stringify(response));
console.log("round 2: reasoning " + JSON.stringify(reasoning_content) + ", answer " + JSON.stringify(content));

// The same, streamed
const whole = [reasoning_content ?? "", content];
reasoning_content = "";
content = "";
const stream = await client.chat.completions.create({ model: "deepseek-reasoner", messages, stream: true });
for await (const chunk of stream) {
    if (chunk.choices[0].delta.reasoning_content) {
        reasoning_content += chunk.choices[0].delta.reasoning_content;
    } else {
        content += chunk.choices[0].delta.content;
    }
}
console.log("round 2, streamed: reasoning " + JSON.stringify(reasoning_content) + ", answer " + JSON.stringify(content));
check(reasoning_content === whole[0] && content === whole[1], "streamed " + JSON.stringify([reasoning_content, content]) +
      ", whole " + JSON.stringify(whole));
check(!content.includes("null") && !content.includes("undefined"), "a null content was added as text: " + JSON.stringify(content));

// A question whose answer is known
if (wantReasoning !== undefined) {
    const r = await client.chat.completions.create({ model: "r1", messages: [{ role: "user", content: "347+285" }] });
    check(r.choices[0].message.reasoning_content === wantReasoning && r.choices[0].message.content === wantContent,
          "347+285: " + JSON.stringify(r.choices[0].message));
    let [rs, cs] = ["", ""];
    for await (const chunk of await client.chat.completions.create({ model: "r1", stream: true,
                                                                    messages: [{ role: "user", content: "347+285" }] })) {
        rs += chunk.choices[0].delta.reasoning_content ?? "";
        cs += chunk.choices[0].delta.content ?? "";
    }
    check(rs === wantReasoning && cs === wantContent, "347+285 streamed: " + JSON.stringify([rs, cs]));
}

// The model list, and the errors the client raises
const models = [];
for await (const m of client.models.list()) models.push(m.id);
check(models.sort().join(",") === "deepseek-reasoner,r1", "models.list(): " + models);
async function raises(cls, what, request) {
    try {
        await client.chat.completions.create(request);
        check(false, what + ": no error");
    } catch (e) {
        check(e instanceof cls, what + ": " + e.constructor.name + " " + e.message);
    }
}
const user = [{ role: "user", content: "347+285" }];
await raises(OpenAI.BadRequestError, "reasoning_content sent back", { model: "deepseek-reasoner", messages: [
    { role: "user", content: "1+1" }, { role: "assistant", content: "2", reasoning_content: "1 plus 1 is 2" }, ...user] });
await raises(OpenAI.BadRequestError, "an unknown model", { model: "gpt-4o", messages: user });
await raises(OpenAI.UnprocessableEntityError, "n: 2", { model: "deepseek-reasoner", messages: user, n: 2 });
await raises(OpenAI.BadRequestError, "too long for the context", { model: "deepseek-reasoner",
                                                                   messages: [{ role: "user", content: "1+1 ".repeat(75) }] });
console.log(`serve-openai: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
