// gRPC-Web calls to the gateway with Connect's gRPC-Web transport (@connectrpc/connect-web),
// the fetch-based transport a browser page uses. The service schema comes from a descriptor
// set built from protos/ (`buf build -o`), so no generated code is needed.
//
// Usage: node grpc-web-client.mjs --base-url http://127.0.0.1:8080 --descriptors set.binpb [--api-key KEY]
// Prints one JSON line per observation; exits 0 when every case passed.
import { readFileSync } from 'node:fs';
import { fromBinary } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { createFileRegistry } from '@bufbuild/protobuf';
import { createClient, ConnectError, Code } from '@connectrpc/connect';
import { createGrpcWebTransport } from '@connectrpc/connect-web';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
    if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1] && !all[i + 1].startsWith('--') ? all[i + 1] : 'true']);
    return acc;
}, []));
const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(args.descriptors)));
const completionService = registry.getService('gateway.v1.Completion');
if (!completionService) throw new Error('gateway.v1.Completion not in the descriptor set');

const transport = createGrpcWebTransport({
    baseUrl: args['base-url'],
    // application/grpc-web+proto (Connect's false here would mean JSON messages, which gRPC does not speak).
    useBinaryFormat: true,
});
const client = createClient(completionService, transport);
const headers = args['api-key'] ? { authorization: `Bearer ${args['api-key']}` } : {};
const request = { model: 'sim-small', maxTokens: 6, messages: [{ role: 2, content: 'Hello from gRPC-Web' }] };

let failed = 0;
const report = (name, ok, detail) => {
    if (!ok) failed++;
    console.log(JSON.stringify({ case: name, ok, ...detail }));
};

// 1. Server streaming: typed events arrive one by one, ending with exactly one finish.
{
    const events = [];
    for await (const chunk of client.streamComplete(request, { headers, timeoutMs: 30000 })) {
        events.push(chunk.event.case);
    }
    const deltas = events.filter(e => e === 'delta').length;
    report('stream', events[0] === 'start' && deltas > 0 && events.at(-1) === 'finish' && events.filter(e => e === 'finish').length === 1 && events.includes('usage'),
        { events });
}

// 2. Unary.
{
    const response = await client.complete(request, { headers, timeoutMs: 30000 });
    report('unary', (response.message?.content ?? '').length > 0 && response.usage.outputTokens > 0n,
        { content: response.message?.content, outputTokens: Number(response.usage.outputTokens) });
}

// 3. A gateway error keeps its status, message and the gateway's error kind.
{
    try {
        await client.complete({ ...request, model: 'no-such-model' }, { headers, timeoutMs: 30000 });
        report('unknown_model', false, { error: 'no error' });
    } catch (e) {
        const err = ConnectError.from(e);
        report('unknown_model', err.code === Code.NotFound && err.rawMessage.includes('no-such-model'),
            { code: Code[err.code], message: err.rawMessage });
    }
}

process.exit(failed === 0 ? 0 : 1);
