#!/usr/bin/env node
'use strict';
// Reference interop server on grpc-js: implements grpc.testing.TestService as gRPC's
// interop-test-descriptions.md "Server" section defines it, plus grpc.health.v1.Health.
// It exists to prove interop-client.js (and the health / unimplemented paths of
// gateway-client.js) against a real gRPC implementation.
//
//   node testservice-server.js [--port N] [--host 127.0.0.1] [--health-serving svc1,svc2]
//                              [--fault NAME[,NAME...]]
//
// --fault deliberately breaks one interop feature so that selftest.js can prove each
// interop-client.js case is able to fail (see FAULTS below). Never use it otherwise.
//
// Prints `LISTENING <port>` on stdout once bound (--port 0 picks a free port); exits on
// SIGTERM / SIGINT.
//
// Compression. grpc-js 1.14 neither tells a handler whether a request message arrived
// compressed nor compresses responses (it always writes the flag 0). The interop features
// CompressedRequest (expect_compressed) and CompressedResponse (response_compressed) need
// both, so this file patches two methods of grpc-js's internal BaseServerInterceptingCall
// (see patchGrpcJsForCompression). The patch is checked at start-up; if grpc-js internals
// change, the server refuses to start rather than silently skipping the checks.

const path = require('path');
const zlib = require('zlib');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const { loadTesting } = require('./lib/testing-protos');

const WAS_COMPRESSED = Symbol('wasCompressed'); // on request objects: arrived with flag 1
const COMPRESS = Symbol('compressResponse'); // on response objects: send gzip-compressed

function patchGrpcJsForCompression() {
    const internals = require('@grpc/grpc-js/build/src/server-interceptors');
    const proto = internals.BaseServerInterceptingCall && internals.BaseServerInterceptingCall.prototype;
    if (!proto || typeof proto.decompressMessage !== 'function' || typeof proto.serializeMessage !== 'function') {
        throw new Error('grpc-js internals changed (BaseServerInterceptingCall.decompressMessage/serializeMessage); '
            + 'update patchGrpcJsForCompression for this grpc-js version');
    }
    // decompressMessage(framedMessage, encoding) returns the payload (or a promise of it); tag
    // the returned Buffer with the frame's flag so the method's deserializer can pass it on.
    const origDecompress = proto.decompressMessage;
    proto.decompressMessage = function patchedDecompress(message, encoding) {
        const compressed = message.readUInt8(0) === 1;
        return Promise.resolve(origDecompress.call(this, message, encoding)).then((buf) => {
            buf[WAS_COMPRESSED] = compressed;
            return buf;
        });
    };
    // serializeMessage(value) returns the framed message; compress it when the handler asked.
    const origSerialize = proto.serializeMessage;
    proto.serializeMessage = function patchedSerialize(value) {
        const framed = origSerialize.call(this, value);
        if (!value || value[COMPRESS] !== true) return framed;
        const body = zlib.gzipSync(framed.subarray(5));
        const out = Buffer.alloc(5 + body.length);
        out.writeUInt8(1, 0);
        out.writeUInt32BE(body.length, 1);
        body.copy(out, 5);
        return out;
    };
}

// Wraps the request deserializers of a service definition so that every decoded request
// carries WAS_COMPRESSED (non-enumerable, so it never reaches the wire or logs).
function withCompressionInfo(serviceDef) {
    const out = {};
    for (const [name, m] of Object.entries(serviceDef)) {
        out[name] = {
            ...m,
            requestDeserialize: (buf) => {
                const obj = m.requestDeserialize(buf);
                Object.defineProperty(obj, WAS_COMPRESSED, { value: buf[WAS_COMPRESSED] === true });
                return obj;
            },
        };
    }
    return out;
}

// Deliberate defects, for mutation-testing the driver.
const FAULTS = {
    'ignore-expect-compressed': 'accept requests whatever their compression',
    'never-compress': 'ignore response_compressed / compressed (flag always 0)',
    'always-compress': 'compress every response message',
    'short-payload': 'payload bodies one byte short',
    'nonzero-payload': 'payload bodies filled with 0x01',
    'no-echo': 'do not echo x-grpc-test-echo-* metadata',
    'trailing-echo-as-initial': 'echo x-grpc-test-echo-trailing-bin in the initial metadata only',
    'ignore-response-status': 'ignore response_status',
    'trim-status-message': 'trim whitespace off echoed status messages',
    'miscount-input': 'add one to aggregated_payload_size',
    'extra-message': 'FullDuplexCall sends one unasked-for message at half-close',
    'implement-unimplemented': 'implement UnimplementedCall (returns Empty)',
    'batch-duplex': 'FullDuplexCall answers only after half-close (breaks ping-pong)',
    'end-early': 'FullDuplexCall ends with OK at a request that asks for no responses',
    'exit-on-cancel': 'exit the process when a client resets a stream (RST_STREAM CANCEL)',
};
const faults = new Set();

function parseArgs(argv) {
    const opts = { port: 0, host: '127.0.0.1', healthServing: [] };
    for (let i = 0; i < argv.length; i++) {
        const [k, inline] = argv[i].split(/=(.*)/s);
        const v = inline !== undefined ? inline : argv[++i];
        if (v === undefined) throw new Error(`${k} needs a value`);
        if (k === '--port') opts.port = Number(v);
        else if (k === '--host') opts.host = v;
        else if (k === '--health-serving') opts.healthServing = v.split(',').map((s) => s.trim()).filter(Boolean);
        else if (k === '--fault') {
            for (const f of v.split(',').map((s) => s.trim()).filter(Boolean)) {
                if (!FAULTS[f]) throw new Error(`unknown fault ${f}; known: ${Object.keys(FAULTS).join(', ')}`);
                faults.add(f);
            }
        }
        else throw new Error(`unknown argument ${k}; usage: node testservice-server.js [--port N] [--host H] [--health-serving a,b]`);
    }
    if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) throw new Error('--port must be 0..65535');
    return opts;
}

// ---- Echo Metadata ----
function echoHeaders(call, compressResponses) {
    const md = new grpc.Metadata();
    if (!faults.has('no-echo')) {
        for (const v of call.metadata.get('x-grpc-test-echo-initial')) md.add('x-grpc-test-echo-initial', v);
    }
    if (faults.has('trailing-echo-as-initial')) {
        for (const v of call.metadata.get('x-grpc-test-echo-trailing-bin')) md.add('x-grpc-test-echo-trailing-bin', v);
    }
    // grpc-js always announces grpc-encoding: identity; override it when messages will be
    // compressed. (Only gzip; grpc-js clients always accept it.)
    if (compressResponses) md.set('grpc-encoding', 'gzip');
    return md;
}

function echoTrailers(call) {
    const md = new grpc.Metadata();
    if (faults.has('no-echo') || faults.has('trailing-echo-as-initial')) return md;
    for (const v of call.metadata.get('x-grpc-test-echo-trailing-bin')) md.add('x-grpc-test-echo-trailing-bin', v);
    return md;
}

function statusError(code, details, trailers) {
    if (faults.has('trim-status-message')) details = details.trim();
    return { code, details, metadata: trailers };
}

// ---- CompressedRequest: returns an error message, or null when the request is acceptable ----
function compressionMismatch(req) {
    if (!req.expect_compressed || faults.has('ignore-expect-compressed')) return null;
    const compressed = req[WAS_COMPRESSED] === true;
    if (req.expect_compressed.value && !compressed) return 'Expected compressed request, but it was not compressed';
    if (!req.expect_compressed.value && compressed) return 'Expected uncompressed request, but it was compressed';
    return null;
}

function checkPayloadType(type) {
    return type === undefined || type === null || type === 'COMPRESSABLE' || type === 0;
}

function payloadOfSize(size) {
    const n = Math.max(0, (size | 0) - (faults.has('short-payload') && size > 0 ? 1 : 0));
    return { type: 'COMPRESSABLE', body: Buffer.alloc(n, faults.has('nonzero-payload') ? 1 : 0) };
}

// Decides whether to compress a response message the client asked (or did not ask) to have
// compressed; only the faults make it differ from `asked`.
function shouldCompress(asked) {
    if (faults.has('never-compress')) return false;
    if (faults.has('always-compress')) return true;
    return asked;
}

function responseStatusOf(req) {
    if (faults.has('ignore-response-status')) return null;
    return req.response_status && req.response_status.code !== 0 ? req.response_status : null;
}

function sleep(ms, call) {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
        const timer = setTimeout(done, ms);
        call.once('cancelled', done);
        function done() { clearTimeout(timer); call.removeListener('cancelled', done); resolve(); }
    });
}

// When a client resets a stream, Node's http2 server emits 'end' just before 'aborted', and
// grpc-js takes that 'end' for a half-close and lets the handler finish the call. With
// exit-on-cancel, wait a little before answering a half-close so that the reset is seen.
function afterHalfClose(fn) {
    if (faults.has('exit-on-cancel')) setTimeout(fn, 100);
    else fn();
}

function writeAsync(call, message) {
    return new Promise((resolve) => {
        if (call.write(message)) resolve();
        else call.once('drain', resolve);
    });
}

// ---- TestService handlers ----
const handlers = {
    EmptyCall(call, callback) {
        call.sendMetadata(echoHeaders(call, false));
        callback(null, {}, echoTrailers(call));
    },

    UnaryCall(call, callback) {
        const req = call.request;
        const compress = shouldCompress(!!(req.response_compressed && req.response_compressed.value));
        call.sendMetadata(echoHeaders(call, compress));
        const trailers = echoTrailers(call);
        const mismatch = compressionMismatch(req);
        if (mismatch) return callback(statusError(grpc.status.INVALID_ARGUMENT, mismatch, trailers));
        const rs = responseStatusOf(req);
        if (rs) return callback(statusError(rs.code, rs.message, trailers));
        if (!checkPayloadType(req.response_type)) {
            return callback(statusError(grpc.status.INVALID_ARGUMENT, `unsupported response_type ${req.response_type}`, trailers));
        }
        const response = { payload: payloadOfSize(req.response_size) };
        if (compress) Object.defineProperty(response, COMPRESS, { value: true });
        callback(null, response, trailers);
    },

    CacheableUnaryCall(call, callback) {
        const md = echoHeaders(call, false);
        md.set('cache-control', 'max-age=60, public');
        call.sendMetadata(md);
        const now = process.hrtime.bigint() + BigInt(Date.now()) * 1000000n;
        callback(null, { payload: { type: 'COMPRESSABLE', body: Buffer.from(String(now)) } }, echoTrailers(call));
    },

    async StreamingOutputCall(call) {
        const req = call.request;
        const params = req.response_parameters || [];
        const anyCompressed = params.some((p) => shouldCompress(!!(p.compressed && p.compressed.value)));
        call.sendMetadata(echoHeaders(call, anyCompressed));
        const trailers = echoTrailers(call);
        const rs = responseStatusOf(req);
        if (rs) {
            call.emit('error', statusError(rs.code, rs.message, trailers));
            return;
        }
        if (!checkPayloadType(req.response_type)) {
            call.emit('error', statusError(grpc.status.INVALID_ARGUMENT, 'unsupported response_type', trailers));
            return;
        }
        for (const p of params) {
            await sleep((p.interval_us || 0) / 1000, call);
            if (call.cancelled) return;
            const msg = { payload: payloadOfSize(p.size) };
            if (shouldCompress(!!(p.compressed && p.compressed.value))) Object.defineProperty(msg, COMPRESS, { value: true });
            await writeAsync(call, msg);
        }
        call.end(trailers);
    },

    StreamingInputCall(call, callback) {
        let total = 0;
        let finished = false;
        const trailers = echoTrailers(call);
        call.sendMetadata(echoHeaders(call, false));
        call.on('data', (req) => {
            if (finished) return;
            const mismatch = compressionMismatch(req);
            if (mismatch) {
                finished = true;
                callback(statusError(grpc.status.INVALID_ARGUMENT, mismatch, trailers));
                return;
            }
            total += req.payload && req.payload.body ? req.payload.body.length : 0;
        });
        call.on('end', () => afterHalfClose(() => {
            if (finished) return;
            finished = true;
            callback(null, { aggregated_payload_size: total + (faults.has('miscount-input') ? 1 : 0) }, trailers);
        }));
        call.on('error', () => { finished = true; });
    },

    FullDuplexCall(call) {
        duplex(call, faults.has('batch-duplex'));
    },

    HalfDuplexCall(call) {
        duplex(call, true);
    },
    // UnimplementedCall is deliberately absent: grpc-js answers it with UNIMPLEMENTED.
};

function applyFaultHandlers() {
    if (faults.has('implement-unimplemented')) handlers.UnimplementedCall = (call, callback) => callback(null, {});
    if (faults.has('exit-on-cancel')) {
        // grpc-js can take a client's RST_STREAM for a half-close (see afterHalfClose) and
        // then never tells the handler, so watch the HTTP/2 streams themselves: grpc-js looks
        // up http2.createServer when it binds.
        const http2 = require('http2');
        const createServer = http2.createServer;
        http2.createServer = function createServerWithFault(...args) {
            const s = createServer.apply(this, args);
            s.on('stream', (stream) => stream.on('close', () => {
                if (stream.rstCode === http2.constants.NGHTTP2_CANCEL) process.exit(3);
            }));
            return s;
        };
    }
}

// FullDuplexCall answers each request as it arrives; HalfDuplexCall buffers the requests and
// answers after the client half-closes. Responses are written in order; interval_us is a
// sleep before each response. Initial metadata goes out with the first response (or with the
// status), announcing gzip when the request being answered asks for a compressed response.
function duplex(call, half) {
    const trailers = echoTrailers(call);
    let headersSent = false;
    let gzipAnnounced = false;
    let stopped = false;
    let chain = Promise.resolve();
    const pending = [];
    const sendHeaders = (compress) => {
        if (headersSent) return;
        headersSent = true;
        gzipAnnounced = compress;
        call.sendMetadata(echoHeaders(call, compress));
    };
    const stop = (err) => {
        if (stopped) return;
        if (!err && !half && faults.has('extra-message')) {
            sendHeaders(false);
            call.write({ payload: payloadOfSize(1) });
        }
        stopped = true;
        sendHeaders(false);
        if (err) call.emit('error', err);
        else call.end(trailers);
    };
    const answer = async (req) => {
        if (stopped || call.cancelled) return;
        const rs = responseStatusOf(req);
        if (rs) {
            stop(statusError(rs.code, rs.message, trailers));
            return;
        }
        if (!checkPayloadType(req.response_type)) {
            stop(statusError(grpc.status.INVALID_ARGUMENT, 'unsupported response_type', trailers));
            return;
        }
        const params = req.response_parameters || [];
        if (params.length === 0 && faults.has('end-early')) {
            stop(null);
            return;
        }
        sendHeaders(params.some((p) => shouldCompress(!!(p.compressed && p.compressed.value))));
        for (const p of params) {
            await sleep((p.interval_us || 0) / 1000, call);
            if (stopped || call.cancelled) return;
            const msg = { payload: payloadOfSize(p.size) };
            if (gzipAnnounced && shouldCompress(!!(p.compressed && p.compressed.value))) Object.defineProperty(msg, COMPRESS, { value: true });
            await writeAsync(call, msg);
        }
    };
    call.on('data', (req) => {
        if (half) pending.push(req);
        else chain = chain.then(() => answer(req));
    });
    call.on('end', () => afterHalfClose(() => {
        if (half) for (const req of pending) chain = chain.then(() => answer(req));
        chain.then(() => { if (!call.cancelled) stop(null); });
    }));
    call.on('error', () => { stopped = true; });
    call.on('cancelled', () => { stopped = true; });
}

// ---- grpc.health.v1.Health ----
function healthService(serving) {
    const def = protoLoader.loadSync(['grpc/health/v1/health.proto'], {
        includeDirs: [path.resolve(__dirname, '..', 'protos')],
        keepCase: true, enums: String, defaults: true,
    });
    const svc = grpc.loadPackageDefinition(def).grpc.health.v1.Health.service;
    const impl = {
        Check(call, callback) {
            const s = call.request.service;
            if (serving.has(s)) callback(null, { status: 'SERVING' });
            else callback({ code: grpc.status.NOT_FOUND, details: `unknown service ${s}` });
        },
        Watch(call) {
            // Statuses never change in this server: send the current one and keep the stream open
            // until the client cancels.
            call.write({ status: serving.has(call.request.service) ? 'SERVING' : 'SERVICE_UNKNOWN' });
        },
    };
    return { svc, impl };
}

function main() {
    let opts;
    try {
        opts = parseArgs(process.argv.slice(2));
    } catch (e) {
        console.error(e.message);
        process.exit(2);
    }
    patchGrpcJsForCompression();
    applyFaultHandlers();
    const { pkg } = loadTesting();
    const server = new grpc.Server();
    server.addService(withCompressionInfo(pkg.TestService.service), handlers);
    const serving = new Set(['', 'grpc.testing.TestService', 'grpc.health.v1.Health', ...opts.healthServing]);
    const health = healthService(serving);
    server.addService(health.svc, health.impl);

    const shutdown = () => {
        server.forceShutdown();
        process.exit(0);
    };
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
