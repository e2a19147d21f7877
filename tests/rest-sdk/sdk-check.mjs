// Runs the official `openai` SDK, unchanged, against the gateway's REST API. Only baseURL and
// apiKey are set. Usage: node sdk-check.mjs <baseURL> <scenario>...
// Prints "PASS <scenario>" per scenario; exits 1 with the reason on the first failure.
import assert from "node:assert/strict";
import OpenAI from "openai";

const [baseURL, ...scenarios] = process.argv.slice(2);
if (!baseURL || scenarios.length === 0) {
  console.error("usage: node sdk-check.mjs <baseURL, e.g. http://127.0.0.1:8080/v1> <scenario>...");
  process.exit(2);
}

// maxRetries 0: a failure shows at once instead of after the SDK's backoff.
const client = new OpenAI({ baseURL, apiKey: "sk-test-gateway", maxRetries: 0, timeout: 20_000 });
const user = (content) => [{ role: "user", content }];
const weatherTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Current weather for a city.",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};

const checks = {
  // Non-streamed chat: shape, finish reason, usage, request id.
  async chat() {
    const completion = await client.chat.completions.create({ model: "sim-small", messages: user("Say hello."), max_tokens: 8 });
    assert.equal(completion.object, "chat.completion");
    assert.equal(completion.choices.length, 1);
    const choice = completion.choices[0];
    assert.equal(choice.message.role, "assistant");
    assert.ok(choice.message.content.length > 0, "empty content");
    assert.equal(choice.finish_reason, "length");
    assert.equal(completion.usage.completion_tokens, 8);
    assert.equal(completion.usage.total_tokens, completion.usage.prompt_tokens + 8);
    assert.ok(completion._request_id, "no x-request-id on the response");
    assert.equal(completion.id, completion._request_id);
  },

  // Streamed chat with include_usage: deltas add up, finish then usage, the SDK saw [DONE].
  async stream() {
    const stream = await client.chat.completions.create({
      model: "sim-small",
      messages: user("Say hello."),
      max_completion_tokens: 6,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let finish = null;
    let usage = null;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      assert.equal(chunk.object, "chat.completion.chunk");
      if (chunk.choices.length > 0) {
        text += chunk.choices[0].delta.content ?? "";
        finish = chunk.choices[0].finish_reason ?? finish;
      }
      if (chunk.usage) {
        usage = chunk.usage;
      }
    }
    assert.ok(chunks >= 3, `only ${chunks} chunks`);
    assert.ok(text.length > 0, "no streamed text");
    assert.equal(finish, "length");
    assert.ok(usage, "no usage chunk despite include_usage");
    assert.equal(usage.completion_tokens, 6);

    // The SDK's stream helper assembles the same answer from the events.
    const runner = client.chat.completions.stream({ model: "sim-small", messages: user("Say hello."), max_completion_tokens: 6 });
    const final = await runner.finalChatCompletion();
    assert.equal(final.choices[0].message.content, text);
  },

  // Tools: unary tool call and a streamed tool call assembled by the SDK helper.
  async tools() {
    const completion = await client.chat.completions.create({
      model: "sim-small",
      messages: user("What is the weather in Paris? Use get_weather."),
      tools: [weatherTool],
      tool_choice: "auto",
    });
    const choice = completion.choices[0];
    assert.equal(choice.finish_reason, "tool_calls");
    assert.equal(choice.message.content, null);
    assert.equal(choice.message.tool_calls.length, 1);
    const call = choice.message.tool_calls[0];
    assert.equal(call.type, "function");
    assert.equal(call.function.name, "get_weather");
    assert.equal(typeof JSON.parse(call.function.arguments).city, "string");

    const runner = client.chat.completions.stream({
      model: "sim-small",
      messages: user("Weather please."),
      tools: [weatherTool],
      tool_choice: { type: "function", function: { name: "get_weather" } },
    });
    const final = await runner.finalChatCompletion();
    const streamed = final.choices[0].message.tool_calls[0];
    assert.equal(streamed.function.name, "get_weather");
    assert.deepEqual(Object.keys(JSON.parse(streamed.function.arguments)), ["city"]);

    // The tool result goes back as a tool message.
    const followUp = await client.chat.completions.create({
      model: "sim-small",
      messages: [
        ...user("What is the weather in Paris?"),
        { role: "assistant", content: null, tool_calls: [call] },
        { role: "tool", tool_call_id: call.id, content: "18C and sunny" },
      ],
      tools: [weatherTool],
      tool_choice: "none",
      max_tokens: 5,
    });
    assert.equal(followUp.choices[0].finish_reason, "length");
  },

  // 4xx errors surface as the SDK's typed errors with OpenAI's fields.
  async errors() {
    await assert.rejects(
      client.chat.completions.create({ model: "no-such-model", messages: user("hi") }),
      (err) => {
        assert.ok(err instanceof OpenAI.NotFoundError, `expected NotFoundError, got ${err?.constructor?.name}: ${err?.message}`);
        assert.equal(err.status, 404);
        assert.equal(err.code, "model_not_found");
        assert.equal(err.type, "invalid_request_error");
        assert.match(err.message, /no-such-model/);
        assert.ok(err.requestID, "no request id on the error");
        return true;
      },
    );
    await assert.rejects(
      client.chat.completions.create({ model: "sim-small", messages: user("hi"), temperature: 7 }),
      (err) => {
        assert.ok(err instanceof OpenAI.BadRequestError, `expected BadRequestError, got ${err?.constructor?.name}`);
        assert.equal(err.status, 400);
        assert.equal(err.param, "temperature");
        return true;
      },
    );
    // A streamed request that fails before any output gets the HTTP status too.
    await assert.rejects(
      client.chat.completions.create({ model: "no-such-model", messages: user("hi"), stream: true }),
      (err) => err instanceof OpenAI.NotFoundError,
    );
  },

  // A stream that fails after it began: the SDK raises the in-band error event.
  async streamError() {
    const stream = await client.chat.completions.create(
      {
        model: "sim-small",
        messages: user("Tell me a long story."),
        stream: true,
        metadata: { "sim.output_tokens": "200", "sim.tokens_per_second": "20" },
      },
      { headers: { "x-request-timeout": "300ms" } },
    );
    let text = "";
    await assert.rejects(
      (async () => {
        for await (const chunk of stream) {
          text += chunk.choices[0]?.delta?.content ?? "";
        }
      })(),
      (err) => {
        assert.ok(err instanceof OpenAI.APIError, `expected APIError, got ${err?.constructor?.name}`);
        assert.match(err.message, /deadline/);
        return true;
      },
    );
    assert.ok(text.length > 0, "the error came before any output");
  },

  // Models list and retrieve.
  async models() {
    const ids = [];
    for await (const model of client.models.list()) {
      assert.equal(model.object, "model");
      ids.push(model.id);
    }
    assert.deepEqual(ids.sort(), ["sim-large", "sim-small"]);
    const model = await client.models.retrieve("sim-large");
    assert.equal(model.id, "sim-large");
    assert.equal(model.owned_by, "simulated");
    await assert.rejects(client.models.retrieve("nope"), (err) => err instanceof OpenAI.NotFoundError);
  },
};

for (const name of scenarios) {
  const check = checks[name];
  if (!check) {
    console.error(`unknown scenario '${name}'; known: ${Object.keys(checks).join(", ")}`);
    process.exit(2);
  }
  try {
    await check();
    console.log(`PASS ${name}`);
  } catch (err) {
    console.error(`FAIL ${name}: ${err?.stack ?? err}`);
    process.exit(1);
  }
}
