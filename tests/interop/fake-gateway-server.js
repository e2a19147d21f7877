#!/usr/bin/env node
'use strict';
// A stand-in for the gateway, on grpc-js, written from the same contract as gateway-client.js:
// gateway.v1.Completion with a simulated model, gateway.v1.Models, grpc.health.v1.Health and
// server reflection (v1 and v1alpha). It exists ONLY to self-test gateway-client.js and
// tests/python/gateway_smoke.py before (and independently of) the real C# server; passing
// against it says nothing about the gateway itself.
//
//   node fake-gateway-server.js [--port N] [--host 127.0.0.1] [--fault NAME[,NAME...]]
//
// Prints `LISTENING <port>` once bound; exits on SIGTERM / SIGINT. --fault breaks one part of
// the contract so selftest.js can show each gateway-client.js case is able to fail.
//
// Simulation knobs, read from CompletionRequest.metadata: sim.ttft_ms (default 5),
// sim.tokens_per_second (default 2000), sim.output_tokens (default 12; capped by max_tokens).

const path = require('path');
const http2 = require('http2');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const { loadGateway, PROTO_DIRS, PROTO_FILES } = require('./lib/gateway-protos');
const { buildIndex } = require('./lib/descriptors');

const FAULTS = {
    'no-finish': 'streams end OK without the finish event',
    'usage-after-finish': 'streams send usage after finish',
    'ignore-ttft': 'ignore sim.ttft_ms',
    'ignore-grpc-timeout': 'drop the grpc-timeout header before grpc-js sees it',
    'wrong-role': 'answer with role ROLE_USER',
    'usage-over-max': 'report max_tokens + 1 output tokens',
    'no-sim-large': 'ListModels lacks sim-large',
    'unknown-model-internal': 'unknown model -> INTERNAL',
    'unknown-model-no-name': 'unknown model -> NOT_FOUND without naming the model',
    'accept-empty': 'accept an empty message list',
    'no-size-limit': 'accept messages of any size',
    'health-all-serving': 'Check answers SERVING for any service name',
    'accept-encoding-spaces': 'announce grpc-accept-encoding "identity, deflate, gzip"',
    'reflection-no-health': 'reflection does not list grpc.health.v1.Health',
    'exit-on-cancel': 'exit when a client resets a stream',
    'max-active-50': 'refuse a stream with RESOURCE_EXHAUSTED while 50 are active',
};
const faults = new Set();
const MODELS = [
    { id: 'sim-small', owned_by: 'simulated', context_window: 8192, deployments: [{ name: 'sim-small-1', provider: 'simulated', state: 'DEPLOYMENT_STATE_HEALTHY' }] },
    { id: 'sim-large', owned_by: 'simulated', context_window: 32768, deployments: [{ name: 'sim-large-1', provider: 'simulated', state: 'DEPLOYMENT_STATE_HEALTHY' }] },
];
const WORDS = ['Hello', ' there', '!', ' I', ' am', ' a', ' simulated', ' model', ',', ' answering', ' with', ' made', '-up', ' words', '.'];

function parseArgs(argv) {
    const opts = { port: 0, host: '127.0.0.1' };
    for (let i = 0; i < argv.length; i++) {
        const [k, inline] = argv[i].split(/=(.*)/s);
        const v = inline !== undefined ? inline : argv[++i];
        if (v === undefined) throw new Error(`${k} needs a value`);
        if (k === '--port') opts.port = Number(v);
        else if (k === '--host') opts.host = v;
        else if (k === '--fault') {
            for (const f of v.split(',').map((s) => s.trim()).filter(Boolean)) {
                if (!FAULTS[f]) throw new Error(`unknown fault ${f}; known: ${Object.keys(FAULTS).join(', ')}`);
                faults.add(f);
            }
        } else throw new Error(`unknown argument ${k}`);
    }
    return opts;
}

function sleep(ms, call) {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
        const timer = setTimeout(done, ms);
        call.once('cancelled', done);
        function done() { clearTimeout(timer); call.removeListener('cancelled', done); resolve(); }
    });
}

let counter = 0;
let activeStreams = 0;

// Validates the request and works out the simulated answer; returns { error } or { plan }.
function plan(req) {
    const model = MODELS.find((m) => m.id === req.model && !(faults.has('no-sim-large') && m.id === 'sim-large'));
    if (!model) {
        if (faults.has('unknown-model-internal')) return { error: { code: grpc.status.INTERNAL, details: 'oops' } };
        const details = faults.has('unknown-model-no-name') ? 'model not found' : `model "${req.model}" not found`;
        return { error: { code: grpc.status.NOT_FOUND, details } };
    }
    if ((!req.messages || req.messages.length === 0) && !faults.has('accept-empty')) {
        return { error: { code: grpc.status.INVALID_ARGUMENT, details: 'messages must not be empty' } };
    }
    const md = req.metadata || {};
    const maxTokens = req._max_tokens === 'max_tokens' ? req.max_tokens : 256;
    const wanted = md['sim.output_tokens'] ? Number(md['sim.output_tokens']) : 12;
    const n = Math.max(1, Math.min(maxTokens, wanted));
    const tokens = Array.from({ length: n }, (_, i) => WORDS[i % WORDS.length]);
    const inputTokens = (req.messages || []).reduce((a, m) => a + Math.ceil((m.content || '').length / 4), 0);
    return {
        plan: {
            id: `cmpl-fake-${++counter}`,
            model: req.model,
            tokens,
            ttftMs: faults.has('ignore-ttft') ? 0 : Number(md['sim.ttft_ms'] || 5),
            perTokenMs: 1000 / Number(md['sim.tokens_per_second'] || 2000),
            finishReason: wanted > maxTokens ? 'FINISH_REASON_LENGTH' : 'FINISH_REASON_STOP',
            usage: { input_tokens: inputTokens, output_tokens: n + (faults.has('usage-over-max') ? maxTokens + 1 - n : 0) },
            created: String(Math.floor(Date.now() / 1000)),
        },
    };
}

function writeAsync(call, message) {
    return new Promise((resolve) => {
        if (call.write(message)) resolve();
        else call.once('drain', resolve);
    });
}

function acceptEncodingHeaders() {
    const md = new grpc.Metadata();
    if (faults.has('accept-encoding-spaces')) md.set('grpc-accept-encoding', 'identity, deflate, gzip');
    return md;
}

const completion = {
    async Complete(call, callback) {
        call.sendMetadata(acceptEncodingHeaders());
        const { error, plan: p } = plan(call.request);
        if (error) return callback(error);
        await sleep(p.ttftMs + p.perTokenMs * p.tokens.length, call);
        if (call.cancelled) return undefined;
        return callback(null, {
            id: p.id,
            model: p.model,
            provider: 'simulated',
            message: { role: faults.has('wrong-role') ? 'ROLE_USER' : 'ROLE_ASSISTANT', content: p.tokens.join('') },
            finish_reason: p.finishReason,
            usage: p.usage,
            routing: { deployment: `${p.model}-1`, provider: 'simulated', attempts: [] },
            created: p.created,
        });
    },

    async StreamComplete(call) {
        call.sendMetadata(acceptEncodingHeaders());
        const { error, plan: p } = plan(call.request);
        if (error) {
            call.emit('error', error);
            return;
        }
        if (faults.has('max-active-50') && activeStreams >= 50) {
            call.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details: 'too many streams' });
            return;
        }
        activeStreams++;
        try {
            await streamEvents(call, p);
        } finally {
            activeStreams--;
        }
    },
};

async function streamEvents(call, p) {
    await writeAsync(call, { start: { id: p.id, model: p.model, provider: 'simulated', deployment: `${p.model}-1`, created: p.created } });
    await sleep(p.ttftMs, call);
    let owed = 0;
    for (const tok of p.tokens) {
        if (call.cancelled) return;
        owed += p.perTokenMs;
        if (owed >= 1) {
            await sleep(owed, call);
            owed = 0;
        }
        if (call.cancelled) return;
        await writeAsync(call, { delta: { text: tok } });
    }
    if (call.cancelled) return;
    const finish = { finish: { reason: p.finishReason, routing: { deployment: `${p.model}-1`, provider: 'simulated', attempts: [] } } };
    if (faults.has('usage-after-finish')) {
        await writeAsync(call, finish);
        await writeAsync(call, { usage: p.usage });
    } else {
        await writeAsync(call, { usage: p.usage });
        if (!faults.has('no-finish')) await writeAsync(call, finish);
    }
    call.end();
}

const modelsImpl = {
    ListModels(call, callback) {
        callback(null, { models: MODELS.filter((m) => !(faults.has('no-sim-large') && m.id === 'sim-large')) });
    },
};

function healthImpl(serving) {
    return {
        Check(call, callback) {
            if (serving.has(call.request.service) || faults.has('health-all-serving')) callback(null, { status: 'SERVING' });
            else callback({ code: grpc.status.NOT_FOUND, details: `unknown service ${call.request.service}` });
        },
        Watch(call) {
            call.write({ status: serving.has(call.request.service) ? 'SERVING' : 'SERVICE_UNKNOWN' });
        },
    };
}

function reflectionImpl(index, serviceNames) {
    return {
        ServerReflectionInfo(call) {
            call.on('data', (req) => {
                const resp = { valid_host: req.host, original_request: req };
                const notFound = (what) => ({ error_code: grpc.status.NOT_FOUND, error_message: `${what} not found` });
                switch (req.message_request) {
                    case 'list_services':
                        resp.list_services_response = { service: serviceNames.map((name) => ({ name })) };
                        break;
                    case 'file_by_filename': {
                        const f = index.byName.get(req.file_by_filename);
                        if (f) resp.file_descriptor_response = { file_descriptor_proto: index.closure(f.name) };
                        else resp.error_response = notFound(req.file_by_filename);
                        break;
                    }
                    case 'file_containing_symbol': {
                        const f = index.bySymbol.get(req.file_containing_symbol);
                        if (f) resp.file_descriptor_response = { file_descriptor_proto: index.closure(f.name) };
                        else resp.error_response = notFound(req.file_containing_symbol);
                        break;
                    }
                    default:
                        resp.error_response = { error_code: grpc.status.UNIMPLEMENTED, error_message: `${req.message_request} is not supported` };
                }
                call.write(resp);
            });
            call.on('end', () => call.end());
        },
    };
}

function main() {
    let opts;
    try {
        opts = parseArgs(process.argv.slice(2));
    } catch (e) {
        console.error(e.message);
        process.exit(2);
    }
    if (faults.has('exit-on-cancel') || faults.has('ignore-grpc-timeout')) {
        // grpc-js looks up http2.createServer when it binds; our 'stream' listener runs first.
        const createServer = http2.createServer;
        http2.createServer = function createServerWithFaults(...args) {
            const s = createServer.apply(this, args);
            s.on('stream', (stream, headers) => {
                if (faults.has('ignore-grpc-timeout')) delete headers['grpc-timeout'];
                if (faults.has('exit-on-cancel')) {
                    stream.on('close', () => { if (stream.rstCode === http2.constants.NGHTTP2_CANCEL) process.exit(3); });
                }
            });
            return s;
        };
    }
    const { gateway, health } = loadGateway();
    const reflDirs = [path.resolve(PROTO_DIRS[1])];
    const reflDef = protoLoader.loadSync(['grpc/reflection/v1/reflection.proto', 'grpc/reflection/v1alpha/reflection.proto'], {
        includeDirs: reflDirs, keepCase: true, longs: String, enums: String, defaults: true, oneofs: true,
    });
    const refl = grpc.loadPackageDefinition(reflDef).grpc.reflection;
    const index = buildIndex(PROTO_DIRS, [...PROTO_FILES, 'grpc/reflection/v1/reflection.proto', 'grpc/reflection/v1alpha/reflection.proto']);

    const serverOptions = {};
    if (faults.has('no-size-limit')) serverOptions['grpc.max_receive_message_length'] = -1;
    const server = new grpc.Server(serverOptions);
    server.addService(gateway.Completion.service, completion);
    server.addService(gateway.Models.service, modelsImpl);
    server.addService(health.Health.service, healthImpl(new Set(['', 'gateway.v1.Completion', 'gateway.v1.Models'])));
    const listed = ['gateway.v1.Completion', 'gateway.v1.Models', 'grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection'];
    if (!faults.has('reflection-no-health')) listed.push('grpc.health.v1.Health');
    server.addService(refl.v1.ServerReflection.service, reflectionImpl(index, listed));
    server.addService(refl.v1alpha.ServerReflection.service, reflectionImpl(index, listed));

    const shutdown = () => { server.forceShutdown(); process.exit(0); };
    process.on('SIGTERM', shutdown);
    process.on('SIGINT', shutdown);
    const hostPort = opts.host.includes(':') ? `[${opts.host}]:${opts.port}` : `${opts.host}:${opts.port}`;
    server.bindAsync(hostPort, grpc.ServerCredentials.createInsecure(), (err, port) => {
        if (err) {
            console.error(`bind ${hostPort} failed: ${err.message}`);
            process.exit(1);
        }
        process.stdout.write(`LISTENING ${port}\n`);
    });
}

main();
