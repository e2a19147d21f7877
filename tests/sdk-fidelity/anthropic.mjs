// Drives the simulator with the official Anthropic SDK: Messages unary and streaming (raw events
// and the stream helper), tool use, stop reasons, usage, typed errors.
// Usage: node anthropic.mjs http://127.0.0.1:PORT
import Anthropic from '@anthropic-ai/sdk';
import { assert, baseUrl, createSuite, expectError, weatherSchema } from './lib.mjs';

const base = baseUrl();
const client = new Anthropic({ apiKey: 'sk-ant-sim-test', baseURL: base, maxRetries: 0 });
const suite = createSuite('anthropic');
const model = 'claude-sonnet-5-5';
const messages = [{ role: 'user', content: 'Say hello to the gateway.' }];
const tools = [{ name: 'get_weather', description: 'Current weather', input_schema: weatherSchema }];

function checkUsage(usage) {
  assert.ok(usage.input_tokens > 0, 'input_tokens > 0');
  assert.ok(usage.output_tokens > 0, 'output_tokens > 0');
  assert.equal(typeof usage.cache_read_input_tokens, 'number');
}

await suite.check('unary message: text block, end_turn, usage', async () => {
  const message = await client.messages.create({ model, max_tokens: 256, system: 'You are terse.', messages });
  assert.equal(message.type, 'message');
  assert.equal(message.role, 'assistant');
  assert.ok(message.id.startsWith('msg_'));
  assert.equal(message.content[0].type, 'text');
  assert.ok(message.content[0].text.length > 0);
  assert.equal(message.stop_reason, 'end_turn');
  assert.equal(message.stop_sequence, null);
  checkUsage(message.usage);
});

await suite.check('max_tokens cuts the answer with stop_reason max_tokens', async () => {
  const message = await client.messages.create({ model, max_tokens: 4, messages });
  assert.equal(message.stop_reason, 'max_tokens');
  assert.equal(message.usage.output_tokens, 4);
});

await suite.check('stop_sequences: stop_reason stop_sequence and the sequence', async () => {
  const full = await client.messages.create({ model, max_tokens: 256, messages });
  const words = full.content[0].text.split(' ');
  const stop = ' ' + words[3];
  const cut = await client.messages.create({ model, max_tokens: 256, messages, stop_sequences: [stop] });
  assert.equal(cut.stop_reason, 'stop_sequence');
  assert.equal(cut.stop_sequence, stop);
  assert.ok(full.content[0].text.startsWith(cut.content[0].text));
  assert.ok(!cut.content[0].text.includes(stop));
});

await suite.check('streaming: raw event sequence and usage', async () => {
  const stream = await client.messages.create({ model, max_tokens: 256, messages, stream: true });
  const types = [];
  let text = '';
  let deltas = 0;
  let stopReason = null;
  let outputTokens = null;
  let inputTokens = null;
  for await (const event of stream) {
    types.push(event.type);
    if (event.type === 'message_start') inputTokens = event.message.usage.input_tokens;
    if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') {
      text += event.delta.text;
      deltas++;
    }
    if (event.type === 'message_delta') {
      stopReason = event.delta.stop_reason;
      outputTokens = event.usage.output_tokens;
    }
  }
  assert.equal(types[0], 'message_start');
  assert.equal(types[1], 'content_block_start');
  assert.equal(types.at(-2), 'message_delta');
  assert.equal(types.at(-1), 'message_stop');
  assert.ok(types.includes('content_block_stop'));
  assert.ok(text.length > 0);
  assert.equal(stopReason, 'end_turn');
  assert.ok(inputTokens > 0);
  assert.equal(outputTokens, deltas, 'output_tokens = text deltas actually streamed');
});

await suite.check('messages.stream() helper: text events and finalMessage', async () => {
  const stream = client.messages.stream({ model, max_tokens: 256, messages });
  let text = '';
  stream.on('text', (delta) => { text += delta; });
  const final = await stream.finalMessage();
  assert.equal(final.content[0].text, text);
  assert.equal(final.stop_reason, 'end_turn');
  checkUsage(final.usage);
});

await suite.check('tool use (unary): tool_use block with parsed input', async () => {
  const message = await client.messages.create({
    model, max_tokens: 256, tools, messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
  });
  assert.equal(message.stop_reason, 'tool_use');
  const block = message.content.find((b) => b.type === 'tool_use');
  assert.ok(block, 'tool_use block');
  assert.ok(block.id.startsWith('toolu_'));
  assert.equal(block.name, 'get_weather');
  assert.equal(typeof block.input.location, 'string');
});

await suite.check('tool use (streaming): input_json_delta assembled by the SDK', async () => {
  const stream = client.messages.stream({
    model, max_tokens: 256, tools, tool_choice: { type: 'tool', name: 'get_weather' }, messages: [{ role: 'user', content: 'Paris?' }],
  });
  let jsonPieces = 0;
  stream.on('inputJson', () => { jsonPieces++; });
  const final = await stream.finalMessage();
  assert.equal(final.stop_reason, 'tool_use');
  const block = final.content.find((b) => b.type === 'tool_use');
  assert.equal(block.name, 'get_weather');
  assert.equal(typeof block.input.location, 'string');
  assert.ok(jsonPieces > 1, 'arguments arrived in pieces');
});

await suite.check('tool_result round trip answers with text', async () => {
  const message = await client.messages.create({
    model, max_tokens: 256, tools, messages: [
      { role: 'user', content: 'What is the weather in Paris?' },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { location: 'Paris', unit: 'celsius' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: '21 degrees' }] },
    ],
  });
  assert.equal(message.stop_reason, 'end_turn');
  assert.equal(message.content[0].type, 'text');
});

await suite.check('models.list', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.ok(ids.includes(model), ids.join(','));
});

await suite.check('x-sim-status 529 -> OverloadedError (overloaded_error)', async () => {
  const error = await expectError(() => client.messages.create({ model, max_tokens: 16, messages }, { headers: { 'x-sim-status': '529' } }), Anthropic.OverloadedError);
  assert.equal(error.status, 529);
  assert.equal(error.error.type, 'error');
  assert.equal(error.error.error.type, 'overloaded_error');
  assert.ok(error.requestID?.startsWith('req_'), 'request id from the request-id header');
});

await suite.check('x-sim-error-after + 529: mid-stream overloaded_error event -> APIError', async () => {
  const stream = await client.messages.create({ model, max_tokens: 256, messages, stream: true }, { headers: { 'x-sim-error-after': '1', 'x-sim-status': '529' } });
  let deltas = 0;
  const error = await expectError(async () => {
    for await (const event of stream) if (event.type === 'content_block_delta') deltas++;
  }, Anthropic.APIError);
  assert.equal(deltas, 1);
  assert.equal(error.error?.error?.type, 'overloaded_error');
});

await suite.check('x-sim-status 429 -> RateLimitError with retry-after', async () => {
  const error = await expectError(() => client.messages.create({ model, max_tokens: 16, messages }, { headers: { 'x-sim-status': '429' } }), Anthropic.RateLimitError);
  assert.equal(error.error.error.type, 'rate_limit_error');
  assert.equal(error.headers.get('retry-after'), '1');
});

await suite.check('missing anthropic-version -> BadRequestError', async () => {
  const bare = new Anthropic({ apiKey: 'k', baseURL: base, maxRetries: 0, defaultHeaders: { 'anthropic-version': null } });
  const error = await expectError(() => bare.messages.create({ model, max_tokens: 16, messages }), Anthropic.BadRequestError);
  assert.equal(error.error.error.type, 'invalid_request_error');
});

suite.finish();
