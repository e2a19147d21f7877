#!/usr/bin/env node
'use strict';
// Reference interop server on grpc-js: implements grpc.testing.TestService as gRPC's
// interop-test-descriptions.md "Server" section defines it, plus grpc.health.v1.Health.
// It exists to prove interop-client.js (and the health / unimplemented paths of
// gateway-client.js) against a real gRPC implementation.
//
//   node testservice-server.js [--port N] [--host 127.0.0.1] [--health-serving svc1,svc2]
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

function parseArgs(argv) {
  const opts = { port: 0, host: '127.0.0.1', healthServing: [] };
  for (let i = 0; i < argv.length; i++) {
    const [k, inline] = argv[i].split(/=(.*)/s);
    const v = inline !== undefined ? inline : argv[++i];
    if (v === undefined) throw new Error(`${k} needs a value`);
    if (k === '--port') opts.port = Number(v);
    else if (k === '--host') opts.host = v;
    else if (k === '--health-serving') opts.healthServing = v.split(',').map((s) => s.trim()).filter(Boolean);
    else throw new Error(`unknown argument ${k}; usage: node testservice-server.js [--port N] [--host H] [--health-serving a,b]`);
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) throw new Error('--port must be 0..65535');
  return opts;
}

// ---- Echo Metadata ----
function echoHeaders(call, compressResponses) {
  const md = new grpc.Metadata();
  for (const v of call.metadata.get('x-grpc-test-echo-initial')) md.add('x-grpc-test-echo-initial', v);
  // grpc-js always announces grpc-encoding: identity; override it when messages will be
  // compressed. (Only gzip; grpc-js clients always accept it.)
  if (compressResponses) md.set('grpc-encoding', 'gzip');
  return md;
}

function echoTrailers(call) {
  const md = new grpc.Metadata();
  for (const v of call.metadata.get('x-grpc-test-echo-trailing-bin')) md.add('x-grpc-test-echo-trailing-bin', v);
  return md;
}

function statusError(code, details, trailers) {
  return { code, details, metadata: trailers };
}

// ---- CompressedRequest: returns an error message, or null when the request is acceptable ----
function compressionMismatch(req) {
  if (!req.expect_compressed) return null;
  const compressed = req[WAS_COMPRESSED] === true;
  if (req.expect_compressed.value && !compressed) return 'Expected compressed request, but it was not compressed';
  if (!req.expect_compressed.value && compressed) return 'Expected uncompressed request, but it was compressed';
  return null;
}

function checkPayloadType(type) {
  return type === undefined || type === null || type === 'COMPRESSABLE' || type === 0;
}

function payloadOfSize(size) {
  return { type: 'COMPRESSABLE', body: Buffer.alloc(Math.max(0, size | 0)) };
}

function sleep(ms, call) {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    call.once('cancelled', done);
    function done() { clearTimeout(timer); call.removeListener('cancelled', done); resolve(); }
  });
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
    const compress = !!(req.response_compressed && req.response_compressed.value);
    call.sendMetadata(echoHeaders(call, compress));
    const trailers = echoTrailers(call);
    const mismatch = compressionMismatch(req);
    if (mismatch) return callback(statusError(grpc.status.INVALID_ARGUMENT, mismatch, trailers));
    if (req.response_status && req.response_status.code !== 0) {
      return callback(statusError(req.response_status.code, req.response_status.message, trailers));
    }
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
    const anyCompressed = params.some((p) => p.compressed && p.compressed.value);
    call.sendMetadata(echoHeaders(call, anyCompressed));
    const trailers = echoTrailers(call);
    if (req.response_status && req.response_status.code !== 0) {
      call.emit('error', statusError(req.response_status.code, req.response_status.message, trailers));
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
      if (p.compressed && p.compressed.value) Object.defineProperty(msg, COMPRESS, { value: true });
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
    call.on('end', () => {
      if (finished) return;
      finished = true;
      callback(null, { aggregated_payload_size: total }, trailers);
    });
    call.on('error', () => { finished = true; });
  },

  FullDuplexCall(call) {
    duplex(call, false);
  },

  HalfDuplexCall(call) {
    duplex(call, true);
  },
  // UnimplementedCall is deliberately absent: grpc-js answers it with UNIMPLEMENTED.
};

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
    stopped = true;
    sendHeaders(false);
    if (err) call.emit('error', err);
    else call.end(trailers);
  };
  const answer = async (req) => {
    if (stopped || call.cancelled) return;
    if (req.response_status && req.response_status.code !== 0) {
      stop(statusError(req.response_status.code, req.response_status.message, trailers));
      return;
    }
    if (!checkPayloadType(req.response_type)) {
      stop(statusError(grpc.status.INVALID_ARGUMENT, 'unsupported response_type', trailers));
      return;
    }
    const params = req.response_parameters || [];
    sendHeaders(params.some((p) => p.compressed && p.compressed.value));
    for (const p of params) {
      await sleep((p.interval_us || 0) / 1000, call);
      if (stopped || call.cancelled) return;
      const msg = { payload: payloadOfSize(p.size) };
      if (gzipAnnounced && p.compressed && p.compressed.value) Object.defineProperty(msg, COMPRESS, { value: true });
      await writeAsync(call, msg);
    }
  };
  call.on('data', (req) => {
    if (half) pending.push(req);
    else chain = chain.then(() => answer(req));
  });
  call.on('end', () => {
    if (half) for (const req of pending) chain = chain.then(() => answer(req));
    chain.then(() => { if (!call.cancelled) stop(null); });
  });
  call.on('error', () => { stopped = true; });
  call.on('cancelled', () => { stopped = true; });
}

// ---- grpc.health.v1.Health ----
function healthService(serving) {
  const def = protoLoader.loadSync(['grpc/health/v1/health.proto'], {
    includeDirs: [path.resolve(__dirname, '..', '..', 'src', 'Protocol.Server', 'Protos')],
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
