#!/usr/bin/env node
'use strict';
// Proves the drivers, both ways:
//   1. interop-client.js against testservice-server.js (grpc-js reference server), and
//      gateway-client.js and tests/python/gateway_smoke.py against fake-gateway-server.js (a
//      grpc-js stand-in for the gateway): every case passes;
//   2. against a server with one deliberate defect (--fault X) the cases that cover that
//      feature FAIL (and, where listed, others still pass).
// A case that cannot fail is a defect of the suite; this script is how we know ours can.
// Passing here says nothing about the C# gateway: run the drivers against it for that.
//
//   node selftest.js [--verbose] [--only interop|gateway|python]
//
// Output: `PASS <check>` / `FAIL <check>: <reason>` lines, then `N passed, N failed`.

const path = require('path');
const { spawn, execFile } = require('child_process');

const HERE = __dirname;
const VERBOSE = process.argv.includes('--verbose');
const ONLY = (() => {
    const i = process.argv.indexOf('--only');
    return i >= 0 ? process.argv[i + 1] : null;
})();

// fault -> cases that must fail with it, and cases that must still pass with it.
const INTEROP_MUTANTS = [
    { fault: 'ignore-expect-compressed', fail: ['client_compressed_unary', 'client_compressed_streaming'], pass: ['large_unary', 'client_streaming'] },
    { fault: 'never-compress', fail: ['server_compressed_unary', 'server_compressed_streaming'], pass: ['large_unary', 'server_streaming'] },
    { fault: 'always-compress', fail: ['server_compressed_unary', 'server_compressed_streaming'], pass: ['large_unary', 'server_streaming'] },
    { fault: 'short-payload', fail: ['large_unary', 'server_streaming', 'ping_pong', 'custom_metadata', 'server_compressed_unary', 'server_compressed_streaming', 'client_compressed_unary', 'cancel_after_first_response'], pass: ['empty_unary', 'client_streaming'] },
    { fault: 'nonzero-payload', fail: ['large_unary', 'server_streaming', 'ping_pong'], pass: ['client_streaming'] },
    { fault: 'no-echo', fail: ['custom_metadata'], pass: ['large_unary'] },
    { fault: 'trailing-echo-as-initial', fail: ['custom_metadata'], pass: ['large_unary'] },
    { fault: 'ignore-response-status', fail: ['status_code_and_message', 'special_status_message'], pass: ['large_unary'] },
    { fault: 'trim-status-message', fail: ['special_status_message'], pass: ['status_code_and_message'] },
    { fault: 'miscount-input', fail: ['client_streaming', 'client_compressed_streaming'], pass: ['server_streaming'] },
    { fault: 'extra-message', fail: ['empty_stream', 'ping_pong', 'custom_metadata'], pass: ['server_streaming'] },
    { fault: 'implement-unimplemented', fail: ['unimplemented_method'], pass: ['unimplemented_service'] },
    { fault: 'batch-duplex', fail: ['ping_pong', 'cancel_after_first_response'], pass: ['empty_stream', 'custom_metadata', 'status_code_and_message'] },
    // The process dies on the first cancel, so each case gets its own server.
    { fault: 'exit-on-cancel', fail: ['cancel_after_begin'], pass: [] },
    { fault: 'exit-on-cancel', fail: ['cancel_after_first_response'], pass: [] },
    // With 1 ms, grpc-js may expire the call before it reaches the server; the case's 300 ms
    // repeat is what a server that does not hold the call fails.
    { fault: 'end-early', fail: ['timeout_on_sleeping_server'], pass: ['ping_pong'] },
];

const GATEWAY_MUTANTS = [
    { fault: 'no-finish', fail: ['stream', 'compression', 'concurrent_streams'], pass: ['complete'] },
    { fault: 'usage-after-finish', fail: ['stream'], pass: ['complete'] },
    { fault: 'ignore-ttft', fail: ['deadline'], pass: ['complete'] },
    // grpc-js's own client deadline still passes; the raw call must catch the server.
    { fault: 'ignore-grpc-timeout', fail: ['deadline'], pass: ['complete'] },
    { fault: 'wrong-role', fail: ['complete', 'compression'], pass: ['stream'] },
    { fault: 'usage-over-max', fail: ['complete', 'stream'], pass: ['list_models'] },
    { fault: 'no-sim-large', fail: ['list_models'], pass: ['complete'] },
    { fault: 'unknown-model-internal', fail: ['unknown_model'], pass: ['complete'] },
    { fault: 'unknown-model-no-name', fail: ['unknown_model'], pass: ['complete'] },
    { fault: 'accept-empty', fail: ['empty_messages'], pass: ['complete'] },
    { fault: 'no-size-limit', fail: ['over_limit'], pass: ['complete'] },
    { fault: 'health-all-serving', fail: ['health'], pass: ['complete'] },
    { fault: 'accept-encoding-spaces', fail: ['compression'], pass: ['complete'] },
    { fault: 'reflection-no-health', fail: ['reflection'], pass: ['health'] },
    { fault: 'exit-on-cancel', fail: ['cancel'], pass: [] },
    { fault: 'max-active-50', fail: ['concurrent_streams'], pass: ['stream'] },
];

const PYTHON_MUTANTS = [
    { fault: 'no-finish', fail: ['stream', 'compression'], pass: ['complete'] },
    { fault: 'wrong-role', fail: ['complete', 'compression'], pass: ['stream'] },
    { fault: 'usage-over-max', fail: ['complete', 'stream'], pass: ['list_models'] },
    { fault: 'no-sim-large', fail: ['list_models'], pass: ['complete'] },
    { fault: 'ignore-ttft', fail: ['deadline'], pass: ['complete'] },
    { fault: 'no-size-limit', fail: ['over_limit'], pass: ['complete'] },
    { fault: 'health-all-serving', fail: ['health'], pass: ['complete'] },
    { fault: 'exit-on-cancel', fail: ['cancel'], pass: [] },
];

const PYTHON = '/usr/bin/python3';
const SMOKE = path.join(HERE, '..', 'python', 'gateway_smoke.py');
const PY_CASES = ['complete', 'stream', 'list_models', 'deadline', 'cancel', 'unimplemented', 'over_limit', 'compression', 'health'];

const nodeDriver = (script) => ({
    list: () => [process.execPath, [path.join(HERE, script), '--list']],
    run: (port, cases, timeoutMs) => [process.execPath, [path.join(HERE, script), '--server', `127.0.0.1:${port}`,
        ...(timeoutMs ? ['--timeout-ms', String(timeoutMs)] : []), ...(cases ? ['--cases', cases.join(',')] : [])]],
});

const SUITES = {
    interop: { server: 'testservice-server.js', driver: nodeDriver('interop-client.js'), mutants: INTEROP_MUTANTS },
    gateway: { server: 'fake-gateway-server.js', driver: nodeDriver('gateway-client.js'), mutants: GATEWAY_MUTANTS },
    python: {
        server: 'fake-gateway-server.js',
        driver: {
            list: null,
            run: (port, cases, timeoutMs) => [PYTHON, [SMOKE, '--server', `127.0.0.1:${port}`,
                ...(timeoutMs ? ['--timeout', String(timeoutMs / 1000)] : []), ...(cases ? ['--cases', cases.join(',')] : [])]],
        },
        cases: PY_CASES,
        mutants: PYTHON_MUTANTS,
    },
};

function startServer(script, args) {
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [path.join(HERE, script), '--port', '0', ...args], {
            stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        let err = '';
        const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`server did not start: ${err}`)); }, 10000);
        child.stdout.on('data', (d) => {
            out += d;
            const m = /LISTENING (\d+)/.exec(out);
            if (m) { clearTimeout(timer); resolve({ child, port: Number(m[1]) }); }
        });
        child.stderr.on('data', (d) => { err += d; });
        child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited with ${code}: ${err}`)); });
    });
}

function stopServer(child) {
    return new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        child.once('exit', () => { clearTimeout(timer); resolve(); });
        child.kill('SIGTERM');
    });
}

function runDriver(driver, port, cases, timeoutMs) {
    return new Promise((resolve) => {
        const [cmd, args] = driver.run(port, cases, timeoutMs);
        execFile(cmd, args, { timeout: 180000 }, (error, stdout, stderr) => {
            const results = {};
            for (const line of stdout.split('\n')) {
                const m = /^(PASS|FAIL) ([a-z_]+)/.exec(line);
                if (m) results[m[2]] = { verdict: m[1], line };
            }
            const summary = /^(\d+) passed, (\d+) failed$/m.exec(stdout);
            resolve({ code: error ? error.code : 0, stdout, stderr, results, summary });
        });
    });
}

async function check(suite, name, serverArgs, cases, expect, timeoutMs) {
    let server;
    try {
        server = await startServer(suite.server, serverArgs);
        const run = await runDriver(suite.driver, server.port, cases, timeoutMs);
        if (VERBOSE) process.stderr.write(run.stdout.split('\n').map((l) => `  | ${l}`).join('\n') + '\n');
        const problems = [];
        if (!run.summary) problems.push('no summary line');
        for (const [c, want] of Object.entries(expect)) {
            const got = run.results[c];
            if (!got) problems.push(`${c}: no result line`);
            else if (got.verdict !== want) problems.push(`${c}: expected ${want}, got ${got.line}`);
        }
        const anyFail = Object.values(expect).includes('FAIL');
        if (anyFail && run.code === 0) problems.push('driver exited 0 although a case failed');
        if (!anyFail && run.code !== 0) problems.push(`driver exited ${run.code} although all cases passed`);
        if (problems.length) console.log(`FAIL ${name}: ${problems.join('; ')}`);
        else console.log(`PASS ${name}`);
        return problems.length === 0;
    } catch (e) {
        console.log(`FAIL ${name}: ${e.message.replace(/\n/g, ' ')}`);
        return false;
    } finally {
        if (server) await stopServer(server.child);
    }
}

async function main() {
    let passed = 0;
    let failed = 0;
    const tally = (ok) => { if (ok) passed++; else failed++; };

    for (const [suiteName, suite] of Object.entries(SUITES)) {
        if (ONLY && ONLY !== suiteName) continue;
        // Correct server: every case passes.
        const all = suite.cases || await new Promise((resolve) => {
            const [cmd, args] = suite.driver.list();
            execFile(cmd, args, (e, out) => resolve(out.split('\n').filter(Boolean)));
        });
        tally(await check(suite, `${suiteName}:all-cases-pass`, [], null, Object.fromEntries(all.map((c) => [c, 'PASS'])), null));
        for (const m of suite.mutants) {
            const expect = {};
            for (const c of m.pass) expect[c] = 'PASS';
            for (const c of m.fail) expect[c] = 'FAIL';
            tally(await check(suite, `${suiteName}:fault:${m.fault}[${m.fail.join('+')}]`, ['--fault', m.fault],
                [...m.fail, ...m.pass], expect, 5000));
        }
    }
    console.log(`${passed} passed, ${failed} failed`);
    process.exit(failed === 0 ? 0 : 1);
}

main().catch((e) => { console.error(e); process.exit(2); });
