#!/usr/bin/python3
"""Python grpcio (gRPC C-core) over TLS / mutual TLS: one Complete call to the gateway with a CA
(and optionally a client certificate) the C# test made.

    /usr/bin/python3 tests/python/tls_smoke.py --server 127.0.0.1:PORT --ca ca.pem [--cert c.pem --key c.key] [--expect-failure]

Prints "PASS tls" when the call succeeds, or, with --expect-failure, when the handshake is refused
(UNAVAILABLE); exit code 0 only on PASS.
"""

import argparse
import importlib.util
import os
import sys
import tempfile

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))


def load_smoke():
    spec = importlib.util.spec_from_file_location("gateway_smoke", os.path.join(HERE, "gateway_smoke.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--expect-failure", action="store_true")
    args = parser.parse_args()

    def read(path):
        with open(path, "rb") as f:
            return f.read()

    with tempfile.TemporaryDirectory() as out:
        pb, pb_grpc, _, _, _ = load_smoke().generate_stubs(out)
        creds = grpc.ssl_channel_credentials(
            root_certificates=read(args.ca),
            private_key=read(args.key) if args.key else None,
            certificate_chain=read(args.cert) if args.cert else None)
        with grpc.secure_channel(args.server, creds) as channel:
            stub = pb_grpc.CompletionStub(channel)
            request = pb.CompletionRequest(model="sim-small", max_tokens=8,
                                           messages=[pb.Message(role=pb.ROLE_USER, content="Hello over TLS")])
            try:
                response = stub.Complete(request, timeout=15)
            except grpc.RpcError as err:
                if args.expect_failure and err.code() == grpc.StatusCode.UNAVAILABLE:
                    print(f"PASS tls (refused: {err.details()})")
                    return 0
                print(f"FAIL tls: {err.code().name} {err.details()}")
                return 1
            if args.expect_failure:
                print("FAIL tls: expected the handshake to be refused, got a response")
                return 1
            if not response.message.content:
                print("FAIL tls: empty response")
                return 1
            print(f"PASS tls ({response.usage.output_tokens} tokens from {response.routing.deployment})")
            return 0


if __name__ == "__main__":
    sys.exit(main())
