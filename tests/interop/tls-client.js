'use strict';
// grpc-js over TLS / mutual TLS: one Complete call to the gateway with a CA (and optionally a
// client certificate) the C# test made. Prints "PASS tls" when the call succeeds, or, with
// --expect-failure, when the handshake is refused (UNAVAILABLE); exit code 0 only on PASS.
//   node tests/interop/tls-client.js --server 127.0.0.1:PORT --ca ca.pem [--cert c.pem --key c.key] [--expect-failure]

const fs = require('fs');
const grpc = require('@grpc/grpc-js');
const { loadGateway } = require('./lib/gateway-protos');

function parse(argv) {
    const args = { expectFailure: false };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === '--expect-failure') args.expectFailure = true;
        else if (['--server', '--ca', '--cert', '--key'].includes(a)) args[a.slice(2)] = argv[++i];
        else throw new Error(`unknown argument ${a}`);
    }
    if (!args.server || !args.ca) throw new Error('--server and --ca are required');
    return args;
}

const args = parse(process.argv.slice(2));
const { gateway } = loadGateway();
const creds = grpc.credentials.createSsl(
    fs.readFileSync(args.ca),
    args.key ? fs.readFileSync(args.key) : null,
    args.cert ? fs.readFileSync(args.cert) : null);
const client = new gateway.Completion(args.server, creds);
const request = { model: 'sim-small', messages: [{ role: 'ROLE_USER', content: 'Hello over TLS' }], max_tokens: 8 };
client.Complete(request, { deadline: new Date(Date.now() + 15000) }, (err, resp) => {
    client.close();
    if (args.expectFailure) {
        if (err && err.code === grpc.status.UNAVAILABLE) {
            console.log(`PASS tls (refused: ${err.details})`);
            process.exit(0);
        }
        console.log(`FAIL tls: expected the handshake to be refused, got ${err ? grpc.status[err.code] + ' ' + err.details : 'a response'}`);
        process.exit(1);
    }
    if (err) {
        console.log(`FAIL tls: ${grpc.status[err.code]} ${err.details}`);
        process.exit(1);
    }
    if (!resp || !resp.message || !resp.message.content) {
        console.log('FAIL tls: empty response');
        process.exit(1);
    }
    console.log(`PASS tls (${resp.usage.output_tokens} tokens from ${resp.routing.deployment})`);
    process.exit(0);
});
