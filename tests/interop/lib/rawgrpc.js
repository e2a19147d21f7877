'use strict';
// A minimal gRPC-over-HTTP/2 caller on Node's http2 module, used where grpc-js hides what the
// interop spec asks a client to check: the per-message "compressed" flag of received messages
// (server_compressed_*), and the exact bytes of a message. It frames and, when asked,
// gzip-compresses request messages itself and reports every received message with its flag.

const http2 = require('http2');
const zlib = require('zlib');

// Encodes one length-prefixed message. `compress` gzips the payload and sets the flag.
function frame(payload, compress) {
    const body = compress ? zlib.gzipSync(payload) : payload;
    const out = Buffer.alloc(5 + body.length);
    out.writeUInt8(compress ? 1 : 0, 0);
    out.writeUInt32BE(body.length, 1);
    body.copy(out, 5);
    return out;
}

// Splits a response body into messages; each is { compressed, raw, data } where `data` is the
// payload after decompression with the response's grpc-encoding.
function deframe(buf, encoding) {
    const messages = [];
    let off = 0;
    while (off < buf.length) {
        if (buf.length - off < 5) throw new Error(`truncated message prefix (${buf.length - off} bytes left)`);
        const flag = buf.readUInt8(off);
        const len = buf.readUInt32BE(off + 1);
        if (buf.length - off - 5 < len) throw new Error(`truncated message: need ${len} bytes, have ${buf.length - off - 5}`);
        const raw = buf.subarray(off + 5, off + 5 + len);
        off += 5 + len;
        if (flag !== 0 && flag !== 1) throw new Error(`invalid compressed flag ${flag}`);
        let data = raw;
        if (flag === 1) {
            if (encoding === 'gzip') data = zlib.gunzipSync(raw);
            else if (encoding === 'deflate') data = zlib.inflateSync(raw);
            else throw new Error(`compressed message but grpc-encoding is ${JSON.stringify(encoding)}`);
        }
        messages.push({ compressed: flag === 1, raw, data });
    }
    return messages;
}

// Makes one call on a fresh HTTP/2 (prior knowledge, cleartext) connection.
//   server: "host:port"; path: "/pkg.Service/Method"
//   messages: [{ data: Buffer, compress: bool }]; encoding: grpc-encoding to announce
//   headers: extra request headers; timeoutMs: local limit, also sent as grpc-timeout unless
//   grpcTimeout gives another header value (e.g. "300m")
// Resolves { httpStatus, headers, trailers, messages, grpcStatus, grpcMessage }.
function rawCall({ server, path, messages = [], encoding = null, acceptEncoding = 'gzip', headers = {}, timeoutMs = 10000, grpcTimeout = null }) {
    return new Promise((resolve, reject) => {
        const session = http2.connect(`http://${server}`);
        let settled = false;
        const timer = setTimeout(() => done(new Error(`raw call ${path} timed out after ${timeoutMs} ms`)), timeoutMs);
        function done(err, value) {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            session.close();
            setTimeout(() => session.destroy(), 100).unref();
            if (err) reject(err); else resolve(value);
        }
        session.on('error', (e) => done(e));
        const reqHeaders = {
            ':method': 'POST',
            ':path': path,
            ':scheme': 'http',
            'content-type': 'application/grpc',
            te: 'trailers',
            'grpc-timeout': grpcTimeout || `${timeoutMs}m`,
            ...headers,
        };
        if (acceptEncoding) reqHeaders['grpc-accept-encoding'] = acceptEncoding;
        if (encoding) reqHeaders['grpc-encoding'] = encoding;
        const stream = session.request(reqHeaders);
        let respHeaders = null;
        let trailers = null;
        const chunks = [];
        stream.on('response', (h) => { respHeaders = h; });
        stream.on('trailers', (t) => { trailers = t; });
        stream.on('data', (c) => chunks.push(c));
        // A server may reset the stream right after its trailers (e.g. on a deadline); Node
        // then reports a stream error, but the status already arrived: decide at 'close'.
        let streamError = null;
        stream.on('error', (e) => { streamError = e; });
        stream.on('close', () => {
            if (settled) return;
            if (!respHeaders) {
                done(streamError || new Error(`stream closed without response headers (rst code ${stream.rstCode})`));
                return;
            }
            const hasStatus = (trailers && trailers['grpc-status'] !== undefined) || respHeaders['grpc-status'] !== undefined;
            if (!hasStatus && streamError) {
                done(streamError);
                return;
            }
            try {
                const body = Buffer.concat(chunks);
                const msgs = deframe(body, respHeaders['grpc-encoding']);
                // Trailers-Only responses carry grpc-status in the headers.
                const src = trailers && trailers['grpc-status'] !== undefined ? trailers : respHeaders;
                const statusRaw = src['grpc-status'];
                done(null, {
                    httpStatus: respHeaders[':status'],
                    headers: respHeaders,
                    trailers,
                    messages: msgs,
                    grpcStatus: statusRaw === undefined ? null : Number(statusRaw),
                    grpcMessage: src['grpc-message'] === undefined ? '' : decodeGrpcMessage(String(src['grpc-message'])),
                    rstCode: stream.rstCode,
                });
            } catch (e) {
                done(e);
            }
        });
        for (const m of messages) stream.write(frame(m.data, !!m.compress));
        stream.end();
    });
}

function decodeGrpcMessage(s) {
    try { return decodeURIComponent(s); } catch { return s; }
}

module.exports = { frame, deframe, rawCall };
