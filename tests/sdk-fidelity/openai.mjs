// Drives the simulator with the official OpenAI SDK (and its AzureOpenAI client) and checks
// what the SDK parses: text, usage, finish reasons, tool calls, structured output, embeddings,
// and typed errors. Usage: node openai.mjs http://127.0.0.1:PORT
import OpenAI, { AzureOpenAI } from 'openai';
import { assert, baseUrl, createSuite, expectError, weatherSchema } from './lib.mjs';

const base = baseUrl();
const client = new OpenAI({ apiKey: 'sk-sim-test', baseURL: `${base}/v1`, maxRetries: 0 });
const suite = createSuite('openai');
const model = 'gpt-4o-mini';
const hello = [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Say hello to the gateway.' }];
const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Current weather', parameters: weatherSchema } }];

function checkUsage(usage) {
  assert.ok(usage.prompt_tokens > 0, 'prompt_tokens > 0');
  assert.ok(usage.completion_tokens > 0, 'completion_tokens > 0');
  assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
  assert.equal(typeof usage.prompt_tokens_details.cached_tokens, 'number');
}

await suite.check('unary chat completion', async () => {
  const completion = await client.chat.completions.create({ model, messages: hello });
  assert.equal(completion.object, 'chat.completion');
  assert.equal(completion.model, model);
  const choice = completion.choices[0];
  assert.equal(choice.message.role, 'assistant');
  assert.ok(choice.message.content.length > 0, 'text is non-empty');
  assert.equal(choice.finish_reason, 'stop');
  checkUsage(completion.usage);
});

await suite.check('unary output is deterministic for the same model, messages and seed', async () => {
  const a = await client.chat.completions.create({ model, messages: hello, seed: 7 });
  const b = await client.chat.completions.create({ model, messages: hello, seed: 7 });
  const c = await client.chat.completions.create({ model, messages: hello, seed: 8 });
  assert.equal(a.choices[0].message.content, b.choices[0].message.content);
  assert.notEqual(a.choices[0].message.content, c.choices[0].message.content);
});

await suite.check('max_completion_tokens cuts the answer with finish_reason length', async () => {
  const completion = await client.chat.completions.create({ model, messages: hello, max_completion_tokens: 5 });
  assert.equal(completion.choices[0].finish_reason, 'length');
  assert.equal(completion.usage.completion_tokens, 5);
});

await suite.check('streaming with include_usage: chunks, finish_reason, usage chunk', async () => {
  const stream = await client.chat.completions.create({ model, messages: hello, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let contentChunks = 0;
  let finish = null;
  let usage = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.choices.length === 0) {
      usage = chunk.usage;
      continue;
    }
    const delta = chunk.choices[0].delta;
    if (delta.content) {
      text += delta.content;
      contentChunks++;
    }
    finish = chunk.choices[0].finish_reason ?? finish;
  }
  const unary = await client.chat.completions.create({ model, messages: hello });
  assert.ok(text.length > 0, 'streamed text is non-empty');
  assert.equal(text, unary.choices[0].message.content, 'stream and unary agree');
  assert.equal(finish, 'stop');
  assert.ok(usage, 'usage chunk present');
  checkUsage(usage);
  assert.equal(usage.completion_tokens, contentChunks, 'completion_tokens = tokens actually streamed');
});

await suite.check('chat.completions.stream() helper assembles the final completion', async () => {
  const runner = client.chat.completions.stream({ model, messages: hello, stream_options: { include_usage: true } });
  const final = await runner.finalChatCompletion();
  assert.ok(final.choices[0].message.content.length > 0);
  assert.equal(final.choices[0].finish_reason, 'stop');
});

await suite.check('tool call (unary): name, JSON arguments, finish_reason tool_calls', async () => {
  const completion = await client.chat.completions.create({
    model, tools, messages: [{ role: 'user', content: 'What is the weather in Paris? Use get_weather.' }],
  });
  const choice = completion.choices[0];
  assert.equal(choice.finish_reason, 'tool_calls');
  assert.equal(choice.message.content, null);
  const call = choice.message.tool_calls[0];
  assert.equal(call.type, 'function');
  assert.ok(call.id.startsWith('call_'));
  assert.equal(call.function.name, 'get_weather');
  const args = JSON.parse(call.function.arguments);
  assert.equal(typeof args.location, 'string');
  assert.ok(['celsius', 'fahrenheit'].includes(args.unit));
});

await suite.check('tool call (streaming): index/id/name then argument pieces', async () => {
  const stream = await client.chat.completions.create({
    model, tools, stream: true, messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
  });
  const calls = [];
  let finish = null;
  for await (const chunk of stream) {
    const choice = chunk.choices[0];
    if (!choice) continue;
    for (const delta of choice.delta.tool_calls ?? []) {
      calls[delta.index] ??= { id: '', name: '', arguments: '' };
      if (delta.id) calls[delta.index].id = delta.id;
      if (delta.function?.name) calls[delta.index].name = delta.function.name;
      calls[delta.index].arguments += delta.function?.arguments ?? '';
    }
    finish = choice.finish_reason ?? finish;
  }
  assert.equal(finish, 'tool_calls');
  assert.equal(calls.length, 1);
  assert.equal(calls[0].name, 'get_weather');
  assert.ok(calls[0].id.startsWith('call_'));
  assert.equal(typeof JSON.parse(calls[0].arguments).location, 'string');
});

await suite.check('tool result round trip answers with text', async () => {
  const completion = await client.chat.completions.create({
    model, tools, messages: [
      { role: 'user', content: 'What is the weather in Paris?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris","unit":"celsius"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: '{"temperature":21}' },
    ],
  });
  assert.equal(completion.choices[0].finish_reason, 'stop');
  assert.ok(completion.choices[0].message.content.length > 0);
});

await suite.check('response_format json_schema returns JSON matching the schema', async () => {
  const completion = await client.chat.completions.create({
    model, messages: hello,
    response_format: { type: 'json_schema', json_schema: { name: 'weather', strict: true, schema: weatherSchema } },
  });
  const value = JSON.parse(completion.choices[0].message.content);
  assert.equal(typeof value.location, 'string');
  assert.equal(value.unit, 'celsius');
});

await suite.check('response_format json_object returns a JSON object', async () => {
  const completion = await client.chat.completions.create({ model, messages: hello, response_format: { type: 'json_object' } });
  const value = JSON.parse(completion.choices[0].message.content);
  assert.equal(typeof value, 'object');
});

await suite.check('embeddings: SDK default (base64 on the wire) decodes to unit vectors', async () => {
  const result = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['alpha', 'beta'] });
  assert.equal(result.data.length, 2);
  const vector = Array.from(result.data[0].embedding);
  assert.equal(vector.length, 1536);
  const norm = Math.sqrt(vector.reduce((s, v) => s + v * v, 0));
  assert.ok(Math.abs(norm - 1) < 1e-3, `unit norm, got ${norm}`);
  assert.ok(result.usage.prompt_tokens > 0);
});

await suite.check('embeddings: float encoding with dimensions, deterministic', async () => {
  const a = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'alpha', encoding_format: 'float', dimensions: 64 });
  const b = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'alpha', encoding_format: 'base64', dimensions: 64 });
  assert.equal(a.data[0].embedding.length, 64);
  const decoded = new Float32Array(Uint8Array.from(Buffer.from(b.data[0].embedding, 'base64')).buffer);
  assert.deepEqual(Array.from(decoded), a.data[0].embedding.map(Math.fround));
});

await suite.check('models.list includes the configured models', async () => {
  const ids = [];
  for await (const model of client.models.list()) ids.push(model.id);
  assert.ok(ids.includes('gpt-4o-mini'), ids.join(','));
});

await suite.check('x-sim-status 429 -> RateLimitError with retry-after headers', async () => {
  const error = await expectError(
    () => client.chat.completions.create({ model, messages: hello }, { headers: { 'x-sim-status': '429', 'x-sim-retry-after-ms': '2500' } }),
    OpenAI.RateLimitError);
  assert.equal(error.status, 429);
  assert.equal(error.code, 'rate_limit_exceeded');
  assert.equal(error.headers.get('retry-after'), '3');
  assert.equal(error.headers.get('retry-after-ms'), '2500');
});

await suite.check('x-sim-status 503 -> InternalServerError', async () => {
  const error = await expectError(() => client.chat.completions.create({ model, messages: hello }, { headers: { 'x-sim-status': '503' } }), OpenAI.InternalServerError);
  assert.equal(error.status, 503);
});

await suite.check('x-sim-error-after: in-stream error after 2 tokens -> APIError from the stream', async () => {
  const stream = await client.chat.completions.create({ model, messages: hello, stream: true }, { headers: { 'x-sim-error-after': '2', 'x-sim-status': '500' } });
  let tokens = 0;
  const error = await expectError(async () => {
    for await (const chunk of stream) if (chunk.choices[0]?.delta?.content) tokens++;
  }, OpenAI.APIError);
  assert.equal(tokens, 2);
  assert.equal(error.error?.type ?? error.type, 'server_error');
});

await suite.check('wrong key when the simulator does not check keys still needs Bearer auth', async () => {
  const noAuth = new OpenAI({ apiKey: 'x', baseURL: `${base}/v1`, maxRetries: 0, defaultHeaders: { authorization: null } });
  const error = await expectError(() => noAuth.chat.completions.create({ model, messages: hello }), OpenAI.AuthenticationError);
  assert.equal(error.status, 401);
  assert.equal(error.type, 'invalid_request_error');
});

// Azure OpenAI through the SDK's AzureOpenAI client: api-key header, deployments path, api-version.
const azure = new AzureOpenAI({ endpoint: base, apiKey: 'azure-sim-key', apiVersion: '2024-10-21', deployment: 'gpt-4o-mini-prod', maxRetries: 0 });

await suite.check('azure: unary chat completion through the deployment path', async () => {
  const completion = await azure.chat.completions.create({ model: '', messages: hello });
  assert.ok(completion.choices[0].message.content.length > 0);
  assert.equal(completion.choices[0].finish_reason, 'stop');
  checkUsage(completion.usage);
  assert.ok(Array.isArray(completion.prompt_filter_results), 'Azure prompt_filter_results');
});

await suite.check('azure: streaming (prompt-filter preamble with empty choices)', async () => {
  const stream = await azure.chat.completions.create({ model: '', messages: hello, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let sawPreamble = false;
  let usage = null;
  for await (const chunk of stream) {
    if (chunk.prompt_filter_results) sawPreamble = true;
    if (chunk.usage) usage = chunk.usage;
    text += chunk.choices[0]?.delta?.content ?? '';
  }
  assert.ok(sawPreamble);
  assert.ok(text.length > 0);
  checkUsage(usage);
});

await suite.check('azure: embeddings', async () => {
  const result = await azure.embeddings.create({ model: 'text-embedding-3-small', input: 'alpha', encoding_format: 'float' });
  assert.equal(result.data[0].embedding.length, 1536);
});

await suite.check('azure: x-sim-status 429 -> RateLimitError with Azure error code', async () => {
  const error = await expectError(() => azure.chat.completions.create({ model: '', messages: hello }, { headers: { 'x-sim-status': '429' } }), OpenAI.RateLimitError);
  assert.equal(error.code, '429');
  assert.equal(error.headers.get('retry-after'), '1');
});

suite.finish();
