// Drives the simulator with the official Google Gen AI SDK (@google/genai) against the Gemini
// API surface: generateContent, streamGenerateContent (alt=sse), function calling, JSON mode,
// embeddings and typed errors. Base URL option: httpOptions.baseUrl (+ apiVersion v1beta).
// Usage: node gemini.mjs http://127.0.0.1:PORT
import { ApiError, GoogleGenAI, Type } from '@google/genai';
import { assert, baseUrl, createSuite, expectError } from './lib.mjs';

const base = baseUrl();
const ai = new GoogleGenAI({ apiKey: 'gemini-sim-key', httpOptions: { baseUrl: base, apiVersion: 'v1beta' } });
const suite = createSuite('gemini');
const model = 'gemini-2.5-flash';
const contents = 'Say hello to the gateway.';
const weather = {
  name: 'get_weather',
  description: 'Current weather',
  parameters: {
    type: Type.OBJECT,
    properties: { location: { type: Type.STRING }, unit: { type: Type.STRING, enum: ['celsius', 'fahrenheit'] } },
    required: ['location', 'unit'],
  },
};

function checkUsage(usage) {
  assert.ok(usage.promptTokenCount > 0, 'promptTokenCount > 0');
  assert.ok(usage.candidatesTokenCount > 0, 'candidatesTokenCount > 0');
  assert.equal(usage.totalTokenCount, usage.promptTokenCount + usage.candidatesTokenCount);
}

await suite.check('generateContent: text, STOP, usageMetadata', async () => {
  const response = await ai.models.generateContent({ model, contents, config: { systemInstruction: 'You are terse.', temperature: 0.2 } });
  assert.ok(response.text.length > 0);
  assert.equal(response.candidates[0].finishReason, 'STOP');
  assert.equal(response.candidates[0].content.role, 'model');
  assert.equal(response.modelVersion, model);
  checkUsage(response.usageMetadata);
});

await suite.check('maxOutputTokens cuts the answer with MAX_TOKENS', async () => {
  const response = await ai.models.generateContent({ model, contents, config: { maxOutputTokens: 3 } });
  assert.equal(response.candidates[0].finishReason, 'MAX_TOKENS');
  assert.equal(response.usageMetadata.candidatesTokenCount, 3);
});

await suite.check('generateContentStream (SSE): chunks add up to the unary text', async () => {
  const unary = await ai.models.generateContent({ model, contents });
  const stream = await ai.models.generateContentStream({ model, contents });
  let text = '';
  let chunks = 0;
  let last = null;
  for await (const chunk of stream) {
    text += chunk.text ?? '';
    chunks++;
    last = chunk;
  }
  assert.ok(chunks > 2, `several chunks, got ${chunks}`);
  assert.equal(text, unary.text);
  assert.equal(last.candidates[0].finishReason, 'STOP');
  checkUsage(last.usageMetadata);
  assert.equal(last.usageMetadata.candidatesTokenCount, unary.usageMetadata.candidatesTokenCount);
});

await suite.check('multi-turn contents with roles user/model', async () => {
  const response = await ai.models.generateContent({
    model,
    contents: [
      { role: 'user', parts: [{ text: 'Hi' }] },
      { role: 'model', parts: [{ text: 'Hello.' }] },
      { role: 'user', parts: [{ text: 'Tell me about the gateway.' }] },
    ],
  });
  assert.ok(response.text.length > 0);
});

await suite.check('function calling: functionCall part with args', async () => {
  const response = await ai.models.generateContent({
    model, contents: 'What is the weather in Paris?', config: { tools: [{ functionDeclarations: [weather] }] },
  });
  const calls = response.functionCalls;
  assert.equal(calls.length, 1);
  assert.equal(calls[0].name, 'get_weather');
  assert.equal(typeof calls[0].args.location, 'string');
  assert.equal(calls[0].args.unit, 'celsius');
});

await suite.check('function calling (stream) with mode ANY', async () => {
  const stream = await ai.models.generateContentStream({
    model, contents: 'Paris?',
    config: { tools: [{ functionDeclarations: [weather] }], toolConfig: { functionCallingConfig: { mode: 'ANY' } } },
  });
  const calls = [];
  for await (const chunk of stream) calls.push(...(chunk.functionCalls ?? []));
  assert.equal(calls.length, 1);
  assert.equal(calls[0].name, 'get_weather');
});

await suite.check('functionResponse round trip answers with text', async () => {
  const response = await ai.models.generateContent({
    model,
    contents: [
      { role: 'user', parts: [{ text: 'What is the weather in Paris?' }] },
      { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: { location: 'Paris', unit: 'celsius' } } }] },
      { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { temperature: 21 } } }] },
    ],
    config: { tools: [{ functionDeclarations: [weather] }] },
  });
  assert.ok(response.text.length > 0);
  assert.equal(response.functionCalls, undefined);
});

await suite.check('JSON mode with responseSchema', async () => {
  const response = await ai.models.generateContent({
    model, contents, config: { responseMimeType: 'application/json', responseSchema: weather.parameters },
  });
  const value = JSON.parse(response.text);
  assert.equal(typeof value.location, 'string');
  assert.equal(value.unit, 'celsius');
});

await suite.check('embedContent (batchEmbedContents on the wire) with outputDimensionality', async () => {
  const response = await ai.models.embedContent({ model: 'gemini-embedding-001', contents: ['alpha', 'beta'], config: { outputDimensionality: 256 } });
  assert.equal(response.embeddings.length, 2);
  assert.equal(response.embeddings[0].values.length, 256);
  assert.notDeepEqual(response.embeddings[0].values, response.embeddings[1].values);
});

await suite.check('x-sim-status 429 -> ApiError 429 RESOURCE_EXHAUSTED', async () => {
  const error = await expectError(
    () => ai.models.generateContent({ model, contents, config: { httpOptions: { headers: { 'x-sim-status': '429' } } } }),
    ApiError);
  assert.equal(error.status, 429);
  const body = JSON.parse(error.message);
  assert.equal(body.error.status, 'RESOURCE_EXHAUSTED');
  assert.equal(body.error.code, 429);
});

await suite.check('x-sim-status 503 on a stream -> ApiError 503 UNAVAILABLE', async () => {
  const error = await expectError(async () => {
    const stream = await ai.models.generateContentStream({ model, contents, config: { httpOptions: { headers: { 'x-sim-status': '503' } } } });
    for await (const _ of stream) { /* drain */ }
  }, ApiError);
  assert.equal(error.status, 503);
  assert.equal(JSON.parse(error.message).error.status, 'UNAVAILABLE');
});

await suite.check('x-sim-error-after + 503: error chunk mid-stream -> ApiError 503', async () => {
  const stream = await ai.models.generateContentStream({ model, contents, config: { httpOptions: { headers: { 'x-sim-error-after': '2', 'x-sim-status': '503' } } } });
  let chunks = 0;
  const error = await expectError(async () => {
    for await (const chunk of stream) if (chunk.text) chunks++;
  }, ApiError);
  assert.equal(chunks, 2);
  assert.equal(error.status, 503);
});

suite.finish();
