'use strict';
// Shared test-runner plumbing for the grpc-js drivers: argument parsing, a case runner with
// a per-case timeout, and small assertion helpers. Output contract (read by CI scripts):
//   one line per case: `PASS <case>` or `FAIL <case>: <reason>`
//   then a final line: `<N> passed, <N> failed`
// Exit code 0 only when every selected case passed.

const grpc = require('@grpc/grpc-js');

const STATUS_NAMES = Object.fromEntries(
    Object.entries(grpc.status).filter(([, v]) => typeof v === 'number').map(([k, v]) => [v, k]),
);

function statusName(code) {
    return STATUS_NAMES[code] !== undefined ? `${STATUS_NAMES[code]}(${code})` : String(code);
}

class AssertionError extends Error {}

function fail(message) {
    throw new AssertionError(message);
}

function assert(condition, message) {
    if (!condition) fail(message);
}

function assertEqual(actual, expected, what) {
    if (actual !== expected) {
        fail(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
    }
}

// Asserts an error is a gRPC status error with the given code.
function assertStatus(err, code, what) {
    if (!err) fail(`${what}: expected status ${statusName(code)}, but the call succeeded`);
    if (err.code !== code) {
        fail(`${what}: expected status ${statusName(code)}, got ${statusName(err.code)} "${err.details}"`);
    }
}

function describeError(err) {
    if (err && typeof err.code === 'number' && 'details' in err) {
        return `status ${statusName(err.code)} "${err.details}"`;
    }
    if (err instanceof AssertionError) return err.message;
    return err && err.stack ? err.stack.split('\n').slice(0, 3).join(' | ') : String(err);
}

function usage(script, extra) {
    return `usage: node ${script} --server HOST:PORT [--cases a,b,...] [--timeout-ms N] [--list]${extra || ''}`;
}

// Parses `--name value` and `--name=value` arguments into an object.
function parseArgs(argv, { script, allCases, booleans = ['list', 'verbose', 'help'] }) {
    const out = { server: null, cases: null, timeoutMs: null, list: false, verbose: false, extra: {} };
    for (let i = 0; i < argv.length; i++) {
        let arg = argv[i];
        let value;
        if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg}\n${usage(script)}`);
        arg = arg.slice(2);
        const eq = arg.indexOf('=');
        if (eq >= 0) {
            value = arg.slice(eq + 1);
            arg = arg.slice(0, eq);
        } else if (booleans.includes(arg)) {
            value = 'true';
        } else {
            value = argv[++i];
            if (value === undefined) throw new Error(`--${arg} needs a value\n${usage(script)}`);
        }
        switch (arg) {
            case 'server': out.server = value; break;
            case 'cases': out.cases = value.split(',').map((s) => s.trim()).filter(Boolean); break;
            case 'timeout-ms': out.timeoutMs = Number(value); break;
            case 'list': out.list = value !== 'false'; break;
            case 'verbose': out.verbose = value !== 'false'; break;
            case 'help': console.log(usage(script)); process.exit(0); break;
            default: out.extra[arg] = value;
        }
    }
    if (out.list) return out;
    if (!out.server || !/^[^:]+:\d+$|^\[[^\]]+\]:\d+$/.test(out.server)) {
        throw new Error(`--server HOST:PORT is required\n${usage(script)}`);
    }
    if (out.cases) {
        const unknown = out.cases.filter((c) => !allCases.includes(c));
        if (unknown.length) throw new Error(`unknown case(s): ${unknown.join(', ')}; known: ${allCases.join(', ')}`);
    }
    if (out.timeoutMs !== null && !(out.timeoutMs > 0)) throw new Error('--timeout-ms must be a positive number');
    return out;
}

// Runs the cases in order. Each case is `{ name, timeoutMs, run(t) }`; `t.defer(fn)` registers
// clean-up (cancel calls, close clients) that runs after the case, also on timeout.
async function runCases(cases, { selected, defaultTimeoutMs = 30000, timeoutOverrideMs = null, verbose = false }) {
    const chosen = selected ? selected.map((n) => cases.find((c) => c.name === n)) : cases;
    let passed = 0;
    let failed = 0;
    for (const c of chosen) {
        const cleanups = [];
        const t = {
            defer(fn) { cleanups.push(fn); },
            log(...a) { if (verbose) console.error(`  [${c.name}]`, ...a); },
        };
        const limit = timeoutOverrideMs || c.timeoutMs || defaultTimeoutMs;
        let timer;
        const started = Date.now();
        try {
            await Promise.race([
                Promise.resolve().then(() => c.run(t)),
                new Promise((_, reject) => {
                    timer = setTimeout(() => reject(new AssertionError(`timed out after ${limit} ms`)), limit);
                }),
            ]);
            passed++;
            console.log(`PASS ${c.name}`);
        } catch (err) {
            failed++;
            console.log(`FAIL ${c.name}: ${describeError(err).replace(/\s*\n\s*/g, ' ')}`);
        } finally {
            clearTimeout(timer);
            for (const fn of cleanups.reverse()) {
                try { await fn(); } catch { /* clean-up errors never change the verdict */ }
            }
            t.log(`took ${Date.now() - started} ms`);
        }
    }
    console.log(`${passed} passed, ${failed} failed`);
    return failed === 0 && passed === chosen.length;
}

// Wraps a grpc-js readable (server-streaming or bidi) call so that messages can be awaited one
// at a time: `await reader.next()` gives the next message, or `null` at the end of the stream;
// a call error rejects. `reader.done` resolves with the final status ({code, details, metadata}).
function messageReader(call) {
    const queue = [];
    const waiters = [];
    let ended = false;
    let error = null;
    let headers = null;
    const headersWaiters = [];
    let statusResolve;
    const done = new Promise((resolve) => { statusResolve = resolve; });
    const wake = () => {
        while (waiters.length) {
            const w = waiters.shift();
            if (queue.length) w.resolve(queue.shift());
            else if (error) w.reject(error);
            else if (ended) w.resolve(null);
            else { waiters.unshift(w); break; }
        }
    };
    call.on('metadata', (md) => {
        headers = md;
        while (headersWaiters.length) headersWaiters.shift()(md);
    });
    call.on('data', (m) => { queue.push(m); wake(); });
    call.on('end', () => { ended = true; wake(); });
    call.on('error', (e) => { error = e; wake(); });
    call.on('status', (s) => statusResolve(s));
    return {
        next() {
            return new Promise((resolve, reject) => { waiters.push({ resolve, reject }); wake(); });
        },
        async all() {
            const out = [];
            for (;;) {
                const m = await this.next();
                if (m === null) return out;
                out.push(m);
            }
        },
        headers() {
            return headers ? Promise.resolve(headers) : new Promise((resolve) => headersWaiters.push(resolve));
        },
        get error() { return error; },
        done,
    };
}

function unaryPromise(client, method, request, metadata, options) {
    return new Promise((resolve, reject) => {
        let headers = null;
        let status = null;
        let result = null;
        let settled = 0;
        const call = client[method](request, metadata || new grpc.Metadata(), options || {}, (err, response) => {
            result = { err, response };
            finish();
        });
        call.on('metadata', (md) => { headers = md; });
        call.on('status', (s) => { status = s; finish(); });
        // grpc-js emits `status` and the callback in either order; wait for both.
        function finish() {
            if (++settled < 2) return;
            if (result.err) {
                result.err.headers = headers;
                result.err.trailers = status && status.metadata;
                reject(result.err);
            } else {
                resolve({ response: result.response, headers, trailers: status && status.metadata, status });
            }
        }
    });
}

function deadlineIn(ms) {
    return new Date(Date.now() + ms);
}

function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

module.exports = {
    AssertionError,
    assert,
    assertEqual,
    assertStatus,
    deadlineIn,
    describeError,
    fail,
    messageReader,
    parseArgs,
    runCases,
    sleep,
    statusName,
    unaryPromise,
};
