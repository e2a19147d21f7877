#!/usr/bin/env node
'use strict';
// grpc-js tests of the gateway's gRPC contract (protos/gateway/v1, grpc.health.v1, server
// reflection through `buf curl`).
//
//   node gateway-client.js --server 127.0.0.1:PORT [--cases a,b,...] [--timeout-ms N] [--verbose]
//   node gateway-client.js --list
//
// Prints `PASS <case>` / `FAIL <case>: <reason>` per case and `N passed, N failed` last; exit
// code 0 only when all selected cases passed.
//
// The simulated provider is steered through CompletionRequest.metadata (the request's map
// field, not gRPC headers): sim.ttft_ms, sim.tokens_per_second, sim.output_tokens.

const path = require('path');
const { execFile } = require('child_process');
const grpc = require('@grpc/grpc-js');
const h = require('./lib/harness');
const { rawCall } = require('./lib/rawgrpc');
const { loadGateway } = require('./lib/gateway-protos');

const { assert, assertEqual, assertStatus, fail, messageReader, unaryPromise, deadlineIn, sleep } = h;

const CALL_DEADLINE_MS = 20000;
const BUF = path.join(__dirname, 'node_modules', '.bin', 'buf');

function opts(ms = CALL_DEADLINE_MS) {
    return { deadline: deadlineIn(ms) };
}

function helloRequest(extra) {
    return { model: 'sim-small', messages: [{ role: 'ROLE_USER', content: 'Hello' }], max_tokens: 16, ...extra };
}

// Checks a CompletionResponse of a request with max_tokens = maxTokens.
function checkCompletion(resp, maxTokens, what) {
    assert(resp, `${what}: no response`);
    assert(typeof resp.id === 'string' && resp.id.length > 0, `${what}: id is empty`);
    assert(resp.message, `${what}: message is missing`);
    assertEqual(resp.message.role, 'ROLE_ASSISTANT', `${what}: message.role`);
    assert(typeof resp.message.content === 'string' && resp.message.content.length > 0, `${what}: message.content is empty`);
    assert(resp.usage, `${what}: usage is missing`);
    const out = resp.usage.output_tokens;
    assert(out > 0 && out <= maxTokens, `${what}: usage.output_tokens is ${out}, expected 1..${maxTokens}`);
    assert(resp.finish_reason && resp.finish_reason !== 'FINISH_REASON_UNSPECIFIED',
        `${what}: finish_reason is ${resp.finish_reason}`);
}

// Checks the events of a stream that ended with OK against the contract of CompletionChunk:
// one `start` first, then deltas, then `usage`, then exactly one `finish`, last; no `error`.
// Returns the concatenated text.
function checkStreamEvents(events, maxTokens, what) {
    const kinds = events.map((e) => e.event);
    const shown = () => JSON.stringify(kinds.length > 12 ? [...kinds.slice(0, 5), '...', ...kinds.slice(-5)] : kinds);
    assert(events.length > 0, `${what}: no events`);
    assertEqual(kinds[0], 'start', `${what}: first event (events ${shown()})`);
    assertEqual(kinds.filter((k) => k === 'start').length, 1, `${what}: number of start events`);
    assertEqual(kinds[kinds.length - 1], 'finish', `${what}: last event (events ${shown()})`);
    assertEqual(kinds.filter((k) => k === 'finish').length, 1, `${what}: number of finish events`);
    assert(!kinds.includes('error'), `${what}: stream carries an error event but ended OK`);
    const deltas = events.filter((e) => e.event === 'delta');
    assert(deltas.length >= 1, `${what}: no delta events (events ${shown()})`);
    const usageAt = kinds.indexOf('usage');
    assert(usageAt >= 0, `${what}: no usage event (events ${shown()})`);
    assertEqual(kinds.filter((k) => k === 'usage').length, 1, `${what}: number of usage events`);
    assert(usageAt > kinds.lastIndexOf('delta'), `${what}: usage comes before the last delta (events ${shown()})`);
    const usage = events[usageAt].usage;
    assert(usage.output_tokens > 0 && usage.output_tokens <= maxTokens,
        `${what}: usage.output_tokens is ${usage.output_tokens}, expected 1..${maxTokens}`);
    const fin = events[events.length - 1].finish;
    assert(fin.reason && fin.reason !== 'FINISH_REASON_UNSPECIFIED', `${what}: finish.reason is ${fin.reason}`);
    const text = deltas.map((d) => d.delta.text).join('');
    assert(text.length > 0, `${what}: concatenated delta text is empty`);
    return text;
}

async function streamToEnd(client, request, t, deadlineMs = CALL_DEADLINE_MS) {
    const call = client.StreamComplete(request, new grpc.Metadata(), opts(deadlineMs));
    t.defer(() => call.cancel());
    const reader = messageReader(call);
    const events = [];
    let err = null;
    try {
        for (;;) {
            const m = await reader.next();
            if (m === null) break;
            events.push(m);
        }
    } catch (e) { err = e; }
    return { events, err, status: await reader.done };
}

function runBuf(args, timeoutMs = 20000) {
    return new Promise((resolve) => {
        execFile(BUF, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
            resolve({ error, stdout, stderr });
        });
    });
}

function buildCases(ctx) {
    const { completion, gzipCompletion, models, health, generic, def, server } = ctx;
    const completeMethod = def ? def['gateway.v1.Completion'].Complete : null;
    const stillServing = async (what) => {
        await sleep(200);
        try {
            await unaryPromise(models, 'ListModels', {}, null, opts(5000));
        } catch (err) {
            fail(`${what}: a follow-up ListModels on the same channel failed: ${h.describeError(err)}`);
        }
    };

    return [
        {
            name: 'complete',
            async run() {
                const { response } = await unaryPromise(completion, 'Complete', helloRequest(), null, opts());
                checkCompletion(response, 16, 'Complete');
            },
        },
        {
            name: 'stream',
            async run(t) {
                const { events, err, status } = await streamToEnd(completion, helloRequest(), t);
                if (err) fail(`StreamComplete failed after ${events.length} events: ${h.describeError(err)}`);
                assertEqual(h.statusName(status.code), h.statusName(grpc.status.OK), 'status');
                checkStreamEvents(events, 16, 'StreamComplete');
            },
        },
        {
            name: 'list_models',
            async run() {
                const { response } = await unaryPromise(models, 'ListModels', {}, null, opts());
                const ids = (response.models || []).map((m) => m.id);
                for (const want of ['sim-small', 'sim-large']) {
                    assert(ids.includes(want), `models ${JSON.stringify(ids)} do not include ${want}`);
                }
            },
        },
        {
            name: 'deadline',
            async run() {
                const req = helloRequest({ metadata: { 'sim.ttft_ms': '2000' } });
                // 1. grpc-js with a 300 ms deadline.
                const started = Date.now();
                let err = null;
                try { await unaryPromise(completion, 'Complete', req, null, opts(300)); } catch (e) { err = e; }
                const took = Date.now() - started;
                assertStatus(err, grpc.status.DEADLINE_EXCEEDED, 'Complete with a 300 ms deadline and a 2 s time to first token');
                assert(took < 1500, `DEADLINE_EXCEEDED came after ${took} ms`);
                // 2. The server must enforce grpc-timeout itself: a raw call that announces 300 ms but
                //    waits up to 5 s locally must get grpc-status 4 from the server, in time.
                const rawStarted = Date.now();
                const raw = await rawCall({ server, path: '/gateway.v1.Completion/Complete', grpcTimeout: '300m',
                    messages: [{ data: completeMethod.requestSerialize(req) }], timeoutMs: 5000 });
                const rawTook = Date.now() - rawStarted;
                assertEqual(raw.grpcStatus, grpc.status.DEADLINE_EXCEEDED,
                    `grpc-status sent by the server for grpc-timeout 300m (message "${raw.grpcMessage}", rst ${raw.rstCode})`);
                assert(rawTook < 1500, `server sent DEADLINE_EXCEEDED after ${rawTook} ms for grpc-timeout 300m`);
                await stillServing('after the deadline');
            },
        },
        {
            name: 'cancel',
            async run(t) {
                const req = helloRequest({ max_tokens: 1000, metadata: { 'sim.tokens_per_second': '20', 'sim.output_tokens': '1000' } });
                const call = completion.StreamComplete(req, new grpc.Metadata(), opts());
                t.defer(() => call.cancel());
                const reader = messageReader(call);
                let sawDelta = false;
                for (;;) {
                    const m = await reader.next();
                    assert(m !== null, 'stream ended before the first delta');
                    assert(m.event !== 'finish' && m.event !== 'error', `got ${m.event} before any delta`);
                    if (m.event === 'delta') { sawDelta = true; break; }
                }
                assert(sawDelta, 'no delta');
                call.cancel();
                const status = await reader.done;
                assertEqual(h.statusName(status.code), h.statusName(grpc.status.CANCELLED), 'status after cancel');
                await stillServing('after cancel');
            },
        },
        {
            name: 'unimplemented',
            async run() {
                for (const method of ['/gateway.v1.Completion/DoesNotExist', '/gateway.v1.Nope/X']) {
                    let err = null;
                    try {
                        await new Promise((resolve, reject) => {
                            generic.makeUnaryRequest(method, (b) => b, (b) => b, Buffer.alloc(0), new grpc.Metadata(), opts(),
                                (e, r) => (e ? reject(e) : resolve(r)));
                        });
                    } catch (e) { err = e; }
                    assertStatus(err, grpc.status.UNIMPLEMENTED, method);
                }
            },
        },
        {
            name: 'over_limit',
            async run() {
                const req = { model: 'sim-small', messages: [{ role: 'ROLE_USER', content: 'a'.repeat(5 * 1024 * 1024) }], max_tokens: 16 };
                let err = null;
                try { await unaryPromise(completion, 'Complete', req, null, opts()); } catch (e) { err = e; }
                assertStatus(err, grpc.status.RESOURCE_EXHAUSTED, 'Complete with a 5 MiB message');
                await stillServing('after the oversized message');
            },
        },
        {
            name: 'unknown_model',
            async run() {
                let err = null;
                try { await unaryPromise(completion, 'Complete', helloRequest({ model: 'no-such-model' }), null, opts()); } catch (e) { err = e; }
                assertStatus(err, grpc.status.NOT_FOUND, 'Complete with model no-such-model');
                assert(String(err.details).includes('no-such-model'), `status message "${err.details}" does not name the model`);
            },
        },
        {
            name: 'empty_messages',
            async run() {
                let err = null;
                try { await unaryPromise(completion, 'Complete', helloRequest({ messages: [] }), null, opts()); } catch (e) { err = e; }
                assertStatus(err, grpc.status.INVALID_ARGUMENT, 'Complete with no messages');
            },
        },
        {
            name: 'compression',
            async run(t) {
                // grpc-js with gzip as the channel's default compression.
                const { response } = await unaryPromise(gzipCompletion, 'Complete', helloRequest(), null, opts());
                checkCompletion(response, 16, 'gzip Complete');
                const { events, err, status } = await streamToEnd(gzipCompletion, helloRequest(), t);
                if (err) fail(`gzip StreamComplete failed after ${events.length} events: ${h.describeError(err)}`);
                assertEqual(h.statusName(status.code), h.statusName(grpc.status.OK), 'gzip StreamComplete status');
                checkStreamEvents(events, 16, 'gzip StreamComplete');
                // grpc-js keeps compressing only while the server's grpc-accept-encoding lists "gzip"
                // (it splits on "," without trimming), so it could silently have fallen back to
                // identity above. Make sure with a hand-compressed request, and check the header.
                const raw = await rawCall({ server, path: '/gateway.v1.Completion/Complete', encoding: 'gzip',
                    acceptEncoding: 'identity,gzip', messages: [{ data: completeMethod.requestSerialize(helloRequest()), compress: true }] });
                assertEqual(raw.grpcStatus, 0, `hand-compressed Complete: grpc-status (message "${raw.grpcMessage}")`);
                assertEqual(raw.messages.length, 1, 'hand-compressed Complete: number of response messages');
                checkCompletion(completeMethod.responseDeserialize(raw.messages[0].data), 16, 'hand-compressed Complete');
                const accept = raw.headers['grpc-accept-encoding'];
                if (accept !== undefined) {
                    assert(String(accept).split(',').includes('gzip'),
                        `response grpc-accept-encoding "${accept}" has no exact "gzip" entry (grpc-js does not trim spaces; send "identity,gzip,...")`);
                }
            },
        },
        {
            name: 'health',
            async run(t) {
                for (const service of ['', 'gateway.v1.Completion']) {
                    const { response } = await unaryPromise(health, 'Check', { service }, null, opts());
                    assertEqual(response.status, 'SERVING', `Check("${service}")`);
                }
                let err = null;
                try { await unaryPromise(health, 'Check', { service: 'no.such.Service' }, null, opts()); } catch (e) { err = e; }
                assertStatus(err, grpc.status.NOT_FOUND, 'Check("no.such.Service")');
                const call = health.Watch({ service: '' }, new grpc.Metadata(), opts());
                t.defer(() => call.cancel());
                const reader = messageReader(call);
                const first = await reader.next();
                assert(first !== null, 'Watch("") ended without a message');
                assertEqual(first.status, 'SERVING', 'Watch("") first message');
                call.cancel();
                assertEqual(h.statusName((await reader.done).code), h.statusName(grpc.status.CANCELLED), 'Watch status after cancel');
            },
        },
        {
            name: 'concurrent_streams',
            timeoutMs: 90000,
            async run(t) {
                const n = 100;
                const results = await Promise.all(Array.from({ length: n }, () =>
                    streamToEnd(completion, helloRequest({ max_tokens: 32 }), t, 60000)));
                const problems = [];
                results.forEach((r, i) => {
                    try {
                        if (r.err) fail(`failed after ${r.events.length} events: ${h.describeError(r.err)}`);
                        assertEqual(h.statusName(r.status.code), h.statusName(grpc.status.OK), 'status');
                        checkStreamEvents(r.events, 32, 'events');
                    } catch (e) {
                        problems.push(`stream ${i}: ${h.describeError(e)}`);
                    }
                });
                if (problems.length) fail(`${problems.length} of ${n} streams failed; first: ${problems[0]}`);
            },
        },
        {
            name: 'reflection',
            async run() {
                const base = `http://${server}`;
                const list = await runBuf(['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '--list-services', base]);
                if (list.error) fail(`buf curl --list-services failed: ${list.error.message.split('\n')[0]} ${list.stderr.trim()}`);
                const services = list.stdout.split('\n').map((s) => s.trim()).filter(Boolean);
                for (const want of ['gateway.v1.Completion', 'gateway.v1.Models', 'grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection']) {
                    assert(services.includes(want), `--list-services output ${JSON.stringify(services)} lacks ${want}`);
                }
                const call = await runBuf(['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '-d', '{}', `${base}/gateway.v1.Models/ListModels`]);
                if (call.error) fail(`buf curl ListModels failed: ${call.error.message.split('\n')[0]} ${call.stderr.trim()}`);
                let json;
                try { json = JSON.parse(call.stdout); } catch (e) { fail(`buf curl ListModels printed no JSON: ${call.stdout.slice(0, 200)}`); }
                const ids = (json.models || []).map((m) => m.id);
                assert(ids.includes('sim-small'), `buf curl ListModels models ${JSON.stringify(ids)} lack sim-small`);
            },
        },
    ];
}

async function main() {
    const names = buildCases({}).map((c) => c.name);
    let args;
    try {
        args = h.parseArgs(process.argv.slice(2), { script: 'gateway-client.js', allCases: names });
    } catch (e) {
        console.error(e.message);
        process.exit(2);
    }
    if (args.list) {
        console.log(names.join('\n'));
        return;
    }
    const { def, gateway, health: healthPkg } = loadGateway();
    const creds = grpc.credentials.createInsecure();
    const channelOptions = { 'grpc.max_send_message_length': -1 };
    const completion = new gateway.Completion(args.server, creds, channelOptions);
    const gzipCompletion = new gateway.Completion(args.server, creds,
        { ...channelOptions, 'grpc.default_compression_algorithm': grpc.compressionAlgorithms.gzip });
    const models = new gateway.Models(args.server, creds, channelOptions);
    const health = new healthPkg.Health(args.server, creds, channelOptions);
    const generic = new grpc.Client(args.server, creds, channelOptions);
    const cases = buildCases({ completion, gzipCompletion, models, health, generic, def, server: args.server });
    const ok = await h.runCases(cases, { selected: args.cases, timeoutOverrideMs: args.timeoutMs, defaultTimeoutMs: 30000, verbose: args.verbose });
    for (const c of [completion, gzipCompletion, models, health, generic]) c.close();
    process.exit(ok ? 0 : 1);
}

main().catch((e) => {
    console.error(e && e.stack ? e.stack : e);
    process.exit(2);
});
