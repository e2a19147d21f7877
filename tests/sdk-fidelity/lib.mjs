// Tiny harness shared by the SDK fidelity scripts: named checks, PASS/FAIL lines, a closing
// "N passed, N failed" line and a non-zero exit code when anything failed.
import assert from 'node:assert/strict';

export { assert };

export function baseUrl() {
  const url = process.argv[2] ?? process.env.SIM_HTTP;
  if (!url) {
    console.error('usage: node <script>.mjs http://127.0.0.1:PORT   (or set SIM_HTTP)');
    process.exit(2);
  }
  return url.replace(/\/+$/, '');
}

export function createSuite(name) {
  let passed = 0;
  let failed = 0;
  return {
    async check(label, fn) {
      try {
        await fn();
        passed++;
        console.log(`PASS ${name}: ${label}`);
      } catch (error) {
        failed++;
        console.log(`FAIL ${name}: ${label}: ${error?.stack ?? error}`);
      }
    },
    finish() {
      console.log(`${passed} passed, ${failed} failed`);
      process.exitCode = failed === 0 && passed > 0 ? 0 : 1;
    },
  };
}

/** Expects fn to reject with an instance of errorClass; returns the error. */
export async function expectError(fn, errorClass) {
  try {
    await fn();
  } catch (error) {
    assert.ok(error instanceof errorClass, `expected ${errorClass.name}, got ${error?.constructor?.name}: ${error?.message}`);
    return error;
  }
  assert.fail(`expected ${errorClass.name}, but the call succeeded`);
}

export const weatherSchema = {
  type: 'object',
  properties: {
    location: { type: 'string', description: 'City name' },
    unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
  },
  required: ['location', 'unit'],
  additionalProperties: false,
};
