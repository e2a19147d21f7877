#!/usr/bin/env python3
"""Calls the gateway with the generated grpcio stubs: list models, a unary call, a streamed
call, a deadline that expires, and an API key sent as `authorization: Bearer ...` metadata.

Run (gateway started with `dotnet run --project src/Server`):
    /usr/bin/python3 src/Clients/python/example.py --target 127.0.0.1:50051 --api-key demo-key
Exits 0 when every step behaved as expected, 1 otherwise.
"""
import argparse
import os
import sys

# The generated code lives in gen/ (regenerate with scripts/generate-clients.sh).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen"))

import grpc  # noqa: E402  (Debian: python3-grpcio)

from gateway.v1 import completion_pb2, completion_pb2_grpc  # noqa: E402
from gateway.v1 import models_pb2, models_pb2_grpc  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default=os.environ.get("GATEWAY_GRPC_TARGET", "127.0.0.1:50051"))
    parser.add_argument("--api-key", default=os.environ.get("GATEWAY_API_KEY", ""))
    parser.add_argument("--model", default="sim-small")
    args = parser.parse_args()

    # The API key travels as gRPC metadata, exactly like an HTTP Authorization header.
    metadata = [("authorization", "Bearer " + args.api_key)] if args.api_key else []

    with grpc.insecure_channel(args.target) as channel:
        models = models_pb2_grpc.ModelsStub(channel).ListModels(
            models_pb2.ListModelsRequest(), timeout=5, metadata=metadata)
        print("models:", ", ".join(m.id for m in models.models))

        completion = completion_pb2_grpc.CompletionStub(channel)
        request = completion_pb2.CompletionRequest(
            model=args.model,
            messages=[completion_pb2.Message(role=completion_pb2.ROLE_USER, content="Say hello to the gateway.")],
            max_tokens=16,
        )

        # Unary, with a 10 s deadline and our own request id (echoed as the response id).
        response, call = completion.Complete.with_call(
            request, timeout=10, metadata=metadata + [("x-request-id", "py-example-1")])
        headers = dict(call.initial_metadata())
        print("unary:", response.message.content,
              "| finish:", completion_pb2.FinishReason.Name(response.finish_reason),
              "| tokens:", response.usage.input_tokens, "in /", response.usage.output_tokens, "out",
              "| id:", response.id, "| x-request-id:", headers.get("x-request-id"))

        # Server streaming: text deltas, usage, then exactly one finish event on success.
        text, finish = [], None
        for chunk in completion.StreamComplete(request, timeout=10, metadata=metadata):
            event = chunk.WhichOneof("event")
            if event == "delta":
                text.append(chunk.delta.text)
            elif event == "finish":
                finish = completion_pb2.FinishReason.Name(chunk.finish.reason)
            elif event == "error":
                print("stream error:", chunk.error.message, file=sys.stderr)
                return 1
        if finish is None:
            print("stream ended without a finish event", file=sys.stderr)
            return 1
        print("stream:", "".join(text), "| finish:", finish)

        # Deadline: the simulator waits 2 s before its first token (sim.ttft_ms); we allow 200 ms.
        slow = completion_pb2.CompletionRequest()
        slow.CopyFrom(request)
        slow.metadata["sim.ttft_ms"] = "2000"
        try:
            completion.Complete(slow, timeout=0.2, metadata=metadata)
            print("deadline: the call finished, but it should have timed out", file=sys.stderr)
            return 1
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                print("deadline: expected DEADLINE_EXCEEDED, got", error.code(), error.details(), file=sys.stderr)
                return 1
            print("deadline:", error.code().name)

    print("python example: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
