'use strict';
// Builds a symbol index over real FileDescriptorProtos (from `protoc --descriptor_set_out
// --include_imports`), for the reflection service of fake-gateway-server.js. Reads just the
// fields it needs with a minimal protobuf wire-format reader.

const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

// Yields [fieldNumber, wireType, value] for each field of a message; value is a Buffer for
// length-delimited fields and a number for varints.
function* fields(buf) {
    let off = 0;
    const varint = () => {
        let result = 0;
        let shift = 0;
        for (;;) {
            if (off >= buf.length) throw new Error('truncated varint');
            const b = buf[off++];
            result += (b & 0x7f) * 2 ** shift;
            if (b < 0x80) return result;
            shift += 7;
        }
    };
    while (off < buf.length) {
        const key = varint();
        const field = Math.floor(key / 8);
        const wire = key & 7;
        if (wire === 0) yield [field, wire, varint()];
        else if (wire === 2) {
            const len = varint();
            yield [field, wire, buf.subarray(off, off + len)];
            off += len;
        } else if (wire === 1) { off += 8; } else if (wire === 5) { off += 4; } else throw new Error(`wire type ${wire}`);
    }
}

function nameOf(msg) {
    for (const [f, w, v] of fields(msg)) if (f === 1 && w === 2) return v.toString('utf8');
    return '';
}

// DescriptorProto: name 1, nested_type 3, enum_type 4.
function collectMessage(msg, prefix, out) {
    const full = `${prefix}.${nameOf(msg)}`;
    out.push(full);
    for (const [f, , v] of fields(msg)) {
        if (f === 3) collectMessage(v, full, out);
        else if (f === 4) out.push(`${full}.${nameOf(v)}`);
    }
}

// FileDescriptorProto: name 1, package 2, dependency 3, message_type 4, enum_type 5, service 6.
function indexFile(bytes) {
    let name = '';
    let pkg = '';
    const deps = [];
    const symbols = [];
    const services = [];
    for (const [f, , v] of fields(bytes)) {
        if (f === 1) name = v.toString('utf8');
        else if (f === 2) pkg = v.toString('utf8');
        else if (f === 3) deps.push(v.toString('utf8'));
    }
    const prefix = pkg ? `${pkg}` : '';
    for (const [f, , v] of fields(bytes)) {
        if (f === 4) collectMessage(v, prefix, symbols);
        else if (f === 5) symbols.push(`${prefix}.${nameOf(v)}`);
        else if (f === 6) {
            const svc = `${prefix}.${nameOf(v)}`;
            services.push(svc);
            symbols.push(svc);
            for (const [mf, , mv] of fields(v)) if (mf === 2) symbols.push(`${svc}.${nameOf(mv)}`);
        }
    }
    return { name, deps, symbols: symbols.map((s) => s.replace(/^\./, '')), services, bytes };
}

// Runs protoc and returns { byName, bySymbol, closure(fileName) -> Buffer[] }.
function buildIndex(includeDirs, files) {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'descset-'));
    const out = path.join(tmp, 'set.pb');
    try {
        execFileSync('protoc', [...includeDirs.map((d) => `-I${d}`), `--descriptor_set_out=${out}`, '--include_imports', ...files],
            { stdio: ['ignore', 'ignore', 'pipe'] });
        const set = fs.readFileSync(out);
        const byName = new Map();
        const bySymbol = new Map();
        for (const [f, , v] of fields(set)) {
            if (f !== 1) continue;
            const file = indexFile(Buffer.from(v));
            byName.set(file.name, file);
            for (const s of file.symbols) bySymbol.set(s, file);
        }
        const closure = (fileName) => {
            const seen = new Set();
            const order = [];
            const visit = (n) => {
                if (seen.has(n)) return;
                seen.add(n);
                const file = byName.get(n);
                if (!file) return;
                order.push(file.bytes);
                file.deps.forEach(visit);
            };
            visit(fileName);
            return order;
        };
        return { byName, bySymbol, closure };
    } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
    }
}

module.exports = { buildIndex };
