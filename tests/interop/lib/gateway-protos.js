'use strict';
// Loads the gateway's public contract (protos/gateway/v1) and grpc.health.v1 with
// proto-loader. google/protobuf/{duration,struct}.proto come from protobufjs's built-in copies
// of the well-known types. Field names stay snake_case as in the .proto files; enums are
// strings; `oneofs: true` adds a virtual field naming the set member (CompletionChunk.event).

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
// grpc.health.v1 lives with the other test protos (tests/protos): the gateway serves it from
// Grpc.AspNetCore.HealthChecks, which ships no .proto file.
const PROTO_DIRS = [path.join(REPO_ROOT, 'protos'), path.join(REPO_ROOT, 'tests', 'protos')];
const PROTO_FILES = ['gateway/v1/completion.proto', 'gateway/v1/models.proto', 'grpc/health/v1/health.proto'];

function loadGateway() {
    const def = protoLoader.loadSync(PROTO_FILES, {
        includeDirs: PROTO_DIRS,
        keepCase: true,
        longs: String,
        enums: String,
        defaults: true,
        oneofs: true,
    });
    const root = grpc.loadPackageDefinition(def);
    return { def, gateway: root.gateway.v1, health: root.grpc.health.v1 };
}

module.exports = { loadGateway, PROTO_DIRS, PROTO_FILES, REPO_ROOT };
