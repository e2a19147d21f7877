#!/usr/bin/python3
"""Smoke test of the gateway's gRPC contract with Python grpcio (gRPC C-core).

Run with Debian's interpreter, which has python3-grpcio and python3-protobuf:

    /usr/bin/python3 tests/python/gateway_smoke.py --server 127.0.0.1:PORT [--cases a,b,...]

Stubs are generated at run time with protoc + grpc_python_plugin into a temporary
directory. Prints `PASS <case>` / `FAIL <case>: <reason>` per case, then
`N passed, N failed`; exit code 0 only when every selected case passed.
"""

import argparse
import importlib
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

try:
    import grpc
except ImportError:
    sys.stderr.write(
        "grpcio is missing: run this with /usr/bin/python3 (Debian's python3-grpcio), "
        "or run scripts/test-deps.sh\n")
    sys.exit(2)

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PROTOS = os.path.join(REPO_ROOT, "protos")
SERVER_PROTOS = os.path.join(REPO_ROOT, "tests", "protos")
GRPC_PYTHON_PLUGIN = shutil.which("grpc_python_plugin") or "/usr/bin/grpc_python_plugin"

CASES = ["complete", "stream", "list_models", "deadline", "cancel", "unimplemented",
         "over_limit", "compression", "health"]
CALL_TIMEOUT_S = 20.0
CASE_TIMEOUT_S = 60.0


class CaseFailure(Exception):
    pass


class CaseTimeout(Exception):
    pass


def check(condition, message):
    if not condition:
        raise CaseFailure(message)


def expect_code(err, code, what):
    if err is None:
        raise CaseFailure(f"{what}: expected status {code.name}, but the call succeeded")
    if err.code() != code:
        raise CaseFailure(f"{what}: expected status {code.name}, got {err.code().name} \"{err.details()}\"")


def describe(exc):
    if isinstance(exc, grpc.RpcError) and hasattr(exc, "code"):
        return f"status {exc.code().name} \"{exc.details()}\""
    if isinstance(exc, (CaseFailure, CaseTimeout)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def generate_stubs(out_dir):
    """Runs protoc for gateway/v1 and the health proto; returns the imported modules."""
    gateway_files = sorted(f"gateway/v1/{n}" for n in os.listdir(os.path.join(PROTOS, "gateway", "v1"))
                           if n.endswith(".proto"))
    # models.proto carries google.api.http annotations: generate those modules too.
    gateway_files += sorted(f"google/api/{n}" for n in os.listdir(os.path.join(PROTOS, "google", "api"))
                            if n.endswith(".proto"))
    base = ["protoc", f"--python_out={out_dir}", f"--grpc_python_out={out_dir}",
            f"--plugin=protoc-gen-grpc_python={GRPC_PYTHON_PLUGIN}"]
    subprocess.run(base + ["-I", PROTOS] + gateway_files, check=True)
    # The health stubs would land in a top-level "grpc" package that the real grpc package
    # shadows; generate them into their own directory and load the message module by path.
    health_dir = os.path.join(out_dir, "_health")
    os.makedirs(health_dir)
    subprocess.run(["protoc", f"--python_out={health_dir}", "-I", SERVER_PROTOS,
                    "grpc/health/v1/health.proto"], check=True)
    sys.path.insert(0, out_dir)
    completion_pb2 = importlib.import_module("gateway.v1.completion_pb2")
    completion_pb2_grpc = importlib.import_module("gateway.v1.completion_pb2_grpc")
    models_pb2 = importlib.import_module("gateway.v1.models_pb2")
    models_pb2_grpc = importlib.import_module("gateway.v1.models_pb2_grpc")
    spec = importlib.util.spec_from_file_location(
        "gateway_smoke_health_pb2", os.path.join(health_dir, "grpc", "health", "v1", "health_pb2.py"))
    health_pb2 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(health_pb2)
    return completion_pb2, completion_pb2_grpc, models_pb2, models_pb2_grpc, health_pb2


class Smoke:
    def __init__(self, server, modules):
        (self.pb, pb_grpc, self.models_pb, models_grpc, self.health_pb) = modules
        options = [("grpc.max_send_message_length", -1)]
        self.channel = grpc.insecure_channel(server, options=options)
        self.gzip_channel = grpc.insecure_channel(server, options=options, compression=grpc.Compression.Gzip)
        self.completion = pb_grpc.CompletionStub(self.channel)
        self.gzip_completion = pb_grpc.CompletionStub(self.gzip_channel)
        self.models = models_grpc.ModelsStub(self.channel)
        hp = self.health_pb
        self.health_check = self.channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=hp.HealthCheckRequest.SerializeToString,
            response_deserializer=hp.HealthCheckResponse.FromString)
        self.health_watch = self.channel.unary_stream(
            "/grpc.health.v1.Health/Watch",
            request_serializer=hp.HealthCheckRequest.SerializeToString,
            response_deserializer=hp.HealthCheckResponse.FromString)

    def close(self):
        self.channel.close()
        self.gzip_channel.close()

    # ---- helpers ----
    def hello(self, **kw):
        pb = self.pb
        req = pb.CompletionRequest(model="sim-small", max_tokens=16,
                                   messages=[pb.Message(role=pb.ROLE_USER, content="Hello")])
        for k, v in kw.items():
            if k == "metadata":
                req.metadata.update(v)
            elif k == "messages":
                del req.messages[:]
                req.messages.extend(v)
            else:
                setattr(req, k, v)
        return req

    def check_completion(self, resp, max_tokens, what):
        pb = self.pb
        check(resp.id != "", f"{what}: id is empty")
        check(resp.HasField("message"), f"{what}: message is missing")
        check(resp.message.role == pb.ROLE_ASSISTANT,
              f"{what}: message.role is {pb.Role.Name(resp.message.role)}, expected ROLE_ASSISTANT")
        check(resp.message.content != "", f"{what}: message.content is empty")
        out = resp.usage.output_tokens
        check(0 < out <= max_tokens, f"{what}: usage.output_tokens is {out}, expected 1..{max_tokens}")
        check(resp.finish_reason != pb.FINISH_REASON_UNSPECIFIED, f"{what}: finish_reason is UNSPECIFIED")

    def check_stream(self, events, max_tokens, what):
        kinds = [e.WhichOneof("event") for e in events]
        check(kinds, f"{what}: no events")
        check(kinds[0] == "start", f"{what}: first event is {kinds[0]}, expected start")
        check(kinds.count("start") == 1, f"{what}: {kinds.count('start')} start events")
        check(kinds[-1] == "finish", f"{what}: last event is {kinds[-1]}, expected finish")
        check(kinds.count("finish") == 1, f"{what}: {kinds.count('finish')} finish events")
        check("error" not in kinds, f"{what}: an error event in a stream that ended OK")
        check("delta" in kinds, f"{what}: no delta events")
        check(kinds.count("usage") == 1, f"{what}: {kinds.count('usage')} usage events, expected 1")
        last_delta = len(kinds) - 1 - kinds[::-1].index("delta")
        check(kinds.index("usage") > last_delta, f"{what}: usage comes before the last delta")
        out = events[kinds.index("usage")].usage.output_tokens
        check(0 < out <= max_tokens, f"{what}: usage.output_tokens is {out}, expected 1..{max_tokens}")
        check(events[-1].finish.reason != self.pb.FINISH_REASON_UNSPECIFIED, f"{what}: finish.reason is UNSPECIFIED")
        text = "".join(e.delta.text for e in events if e.WhichOneof("event") == "delta")
        check(text != "", f"{what}: concatenated delta text is empty")

    def still_serving(self, what):
        time.sleep(0.2)
        try:
            self.models.ListModels(self.models_pb.ListModelsRequest(), timeout=5)
        except grpc.RpcError as e:
            raise CaseFailure(f"{what}: a follow-up ListModels on the same channel failed: {describe(e)}")

    # ---- cases ----
    def case_complete(self):
        self.check_completion(self.completion.Complete(self.hello(), timeout=CALL_TIMEOUT_S), 16, "Complete")

    def case_stream(self):
        call = self.completion.StreamComplete(self.hello(), timeout=CALL_TIMEOUT_S)
        events = list(call)
        check(call.code() == grpc.StatusCode.OK, f"status {call.code().name}")
        self.check_stream(events, 16, "StreamComplete")

    def case_list_models(self):
        resp = self.models.ListModels(self.models_pb.ListModelsRequest(), timeout=CALL_TIMEOUT_S)
        ids = [m.id for m in resp.models]
        for want in ("sim-small", "sim-large"):
            check(want in ids, f"models {ids} do not include {want}")

    def case_deadline(self):
        started = time.monotonic()
        err = None
        try:
            self.completion.Complete(self.hello(metadata={"sim.ttft_ms": "2000"}), timeout=0.3)
        except grpc.RpcError as e:
            err = e
        took = time.monotonic() - started
        expect_code(err, grpc.StatusCode.DEADLINE_EXCEEDED, "Complete with a 300 ms deadline and a 2 s time to first token")
        check(took < 1.5, f"DEADLINE_EXCEEDED came after {took * 1000:.0f} ms")
        self.still_serving("after the deadline")

    def case_cancel(self):
        req = self.hello(max_tokens=1000, metadata={"sim.tokens_per_second": "20", "sim.output_tokens": "1000"})
        call = self.completion.StreamComplete(req, timeout=CALL_TIMEOUT_S)
        saw_delta = False
        for event in call:
            kind = event.WhichOneof("event")
            check(kind not in ("finish", "error"), f"got {kind} before any delta")
            if kind == "delta":
                saw_delta = True
                break
        check(saw_delta, "stream ended before the first delta")
        call.cancel()
        try:
            for _ in call:
                pass
        except grpc.RpcError:
            pass
        check(call.code() == grpc.StatusCode.CANCELLED, f"status after cancel is {call.code().name}, expected CANCELLED")
        self.still_serving("after cancel")

    def case_unimplemented(self):
        for method in ("/gateway.v1.Completion/DoesNotExist", "/gateway.v1.Nope/X"):
            err = None
            try:
                self.channel.unary_unary(method)(b"", timeout=CALL_TIMEOUT_S)
            except grpc.RpcError as e:
                err = e
            expect_code(err, grpc.StatusCode.UNIMPLEMENTED, method)

    def case_over_limit(self):
        pb = self.pb
        req = self.hello(messages=[pb.Message(role=pb.ROLE_USER, content="a" * (5 * 1024 * 1024))])
        err = None
        try:
            self.completion.Complete(req, timeout=CALL_TIMEOUT_S)
        except grpc.RpcError as e:
            err = e
        expect_code(err, grpc.StatusCode.RESOURCE_EXHAUSTED, "Complete with a 5 MiB message")
        self.still_serving("after the oversized message")

    def case_compression(self):
        for stub, how in ((self.completion, "per-call gzip"), (self.gzip_completion, "channel gzip")):
            resp = stub.Complete(self.hello(), timeout=CALL_TIMEOUT_S, compression=grpc.Compression.Gzip)
            self.check_completion(resp, 16, f"Complete ({how})")
            call = stub.StreamComplete(self.hello(), timeout=CALL_TIMEOUT_S, compression=grpc.Compression.Gzip)
            events = list(call)
            check(call.code() == grpc.StatusCode.OK, f"StreamComplete ({how}) status {call.code().name}")
            self.check_stream(events, 16, f"StreamComplete ({how})")

    def case_health(self):
        hp = self.health_pb
        serving = hp.HealthCheckResponse.SERVING
        for service in ("", "gateway.v1.Completion"):
            resp = self.health_check(hp.HealthCheckRequest(service=service), timeout=CALL_TIMEOUT_S)
            check(resp.status == serving,
                  f"Check(\"{service}\") is {hp.HealthCheckResponse.ServingStatus.Name(resp.status)}, expected SERVING")
        err = None
        try:
            self.health_check(hp.HealthCheckRequest(service="no.such.Service"), timeout=CALL_TIMEOUT_S)
        except grpc.RpcError as e:
            err = e
        expect_code(err, grpc.StatusCode.NOT_FOUND, "Check(\"no.such.Service\")")
        call = self.health_watch(hp.HealthCheckRequest(service=""), timeout=CALL_TIMEOUT_S)
        first = next(call, None)
        check(first is not None, "Watch(\"\") ended without a message")
        check(first.status == serving, f"Watch(\"\") first message is {first.status}, expected SERVING")
        call.cancel()
        check(call.code() == grpc.StatusCode.CANCELLED, f"Watch status after cancel is {call.code().name}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", required=True, help="HOST:PORT of the gateway's gRPC endpoint")
    parser.add_argument("--cases", help="comma-separated subset of: " + ",".join(CASES))
    parser.add_argument("--timeout", type=float, default=CASE_TIMEOUT_S, help="per-case limit in seconds")
    args = parser.parse_args()
    selected = CASES
    if args.cases:
        selected = [c.strip() for c in args.cases.split(",") if c.strip()]
        unknown = [c for c in selected if c not in CASES]
        if unknown:
            parser.error(f"unknown case(s) {unknown}; known: {CASES}")

    tmp = tempfile.mkdtemp(prefix="gateway-smoke-")
    try:
        try:
            modules = generate_stubs(tmp)
        except (subprocess.CalledProcessError, OSError, ImportError) as e:
            print(f"stub generation failed: {e}", file=sys.stderr)
            return 2
        smoke = Smoke(args.server, modules)

        def on_alarm(signum, frame):
            raise CaseTimeout(f"timed out after {args.timeout:.0f} s")

        signal.signal(signal.SIGALRM, on_alarm)
        passed = failed = 0
        for name in selected:
            signal.setitimer(signal.ITIMER_REAL, args.timeout)
            try:
                getattr(smoke, f"case_{name}")()
                signal.setitimer(signal.ITIMER_REAL, 0)
                passed += 1
                print(f"PASS {name}", flush=True)
            except Exception as e:  # noqa: BLE001 - every failure is reported as FAIL
                signal.setitimer(signal.ITIMER_REAL, 0)
                failed += 1
                print(f"FAIL {name}: {' '.join(describe(e).split())}", flush=True)
        print(f"{passed} passed, {failed} failed", flush=True)
        smoke.close()
        return 0 if failed == 0 and passed == len(selected) else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
