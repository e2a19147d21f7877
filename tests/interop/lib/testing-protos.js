'use strict';
// Loads grpc.testing (tests/protos) with proto-loader. Field names are kept as in the
// .proto files (snake_case); enums are strings; missing message fields read as null, so a
// BoolValue that was not sent is distinguishable from `{ value: false }`.

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO_ROOT = path.resolve(__dirname, '..', '..', 'protos');

function loadTesting() {
    const def = protoLoader.loadSync(['grpc/testing/test.proto'], {
        includeDirs: [PROTO_ROOT],
        keepCase: true,
        longs: String,
        enums: String,
        defaults: true,
        oneofs: true,
    });
    const pkg = grpc.loadPackageDefinition(def).grpc.testing;
    return { def, pkg };
}

module.exports = { loadTesting, PROTO_ROOT };
