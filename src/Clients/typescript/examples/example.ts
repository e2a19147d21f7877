// Calls the gateway with the generated TypeScript client: list models, a unary call, a streamed
// call, a deadline that expires, and an API key sent as "authorization: Bearer ..." metadata.
// Exits 0 when every step behaved as expected.
//
//   cd src/Clients/typescript && npm ci && npm run build
//   node dist/examples/example.js --target 127.0.0.1:50051 --api-key demo-key
import { Metadata, status, type ServiceError } from "@grpc/grpc-js";

import {
  authMetadata,
  connect,
  deadlineIn,
  finishReasonToJSON,
  Role,
  CompletionRequest,
  type CompletionResponse,
  type ListModelsResponse,
} from "../src/index";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

async function main(): Promise<void> {
  const target = arg("target", process.env.GATEWAY_GRPC_TARGET ?? "127.0.0.1:50051");
  const apiKey = arg("api-key", process.env.GATEWAY_API_KEY ?? "");
  const model = arg("model", "sim-small");
  const { completion, models } = connect(target);
  const metadata = authMetadata(apiKey);

  const list = await new Promise<ListModelsResponse>((resolve, reject) =>
    models.listModels({}, metadata, deadlineIn(5000), (err, res) => (err ? reject(err) : resolve(res))),
  );
  console.log("models:", list.models.map((m) => m.id).join(", "));

  // fromPartial fills every field left out with its default.
  const request = CompletionRequest.fromPartial({
    model,
    messages: [{ role: Role.ROLE_USER, content: "Say hello to the gateway." }],
    maxTokens: 16,
  });

  // Unary, with a 10 s deadline and our own request id (echoed as the response id).
  const unaryMetadata = authMetadata(apiKey, { "x-request-id": "ts-example-1" });
  let requestIdHeader = "";
  const response = await new Promise<CompletionResponse>((resolve, reject) => {
    const call = completion.complete(request, unaryMetadata, deadlineIn(10_000), (err, res) => (err ? reject(err) : resolve(res)));
    call.on("metadata", (headers: Metadata) => {
      requestIdHeader = String(headers.get("x-request-id")[0] ?? "");
    });
  });
  console.log(
    `unary: ${response.message?.content} | finish: ${finishReasonToJSON(response.finishReason)} | tokens: ` +
      `${response.usage?.inputTokens} in / ${response.usage?.outputTokens} out | id: ${response.id} | x-request-id: ${requestIdHeader}`,
  );

  // Server streaming: deltas, usage, then exactly one finish event on success.
  let text = "";
  let finish: string | undefined;
  for await (const chunk of completion.streamComplete(request, metadata, deadlineIn(10_000))) {
    const event = chunk.event;
    if (event?.$case === "delta") {
      text += event.value.text;
    } else if (event?.$case === "finish") {
      finish = finishReasonToJSON(event.value.reason);
    } else if (event?.$case === "error") {
      throw new Error(`stream error: ${event.value.message}`);
    }
  }
  if (finish === undefined) {
    throw new Error("stream ended without a finish event");
  }
  console.log(`stream: ${text} | finish: ${finish}`);

  // Deadline: the simulator waits 2 s before its first token (sim.ttft_ms); we allow 200 ms.
  const slow: CompletionRequest = { ...request, metadata: { "sim.ttft_ms": "2000" } };
  const code = await new Promise<number>((resolve) =>
    completion.complete(slow, metadata, deadlineIn(200), (err: ServiceError | null) => resolve(err ? err.code : status.OK)),
  );
  if (code !== status.DEADLINE_EXCEEDED) {
    throw new Error(`deadline: expected DEADLINE_EXCEEDED, got ${status[code]}`);
  }
  console.log("deadline: DEADLINE_EXCEEDED");

  completion.close();
  models.close();
  console.log("typescript example: ok");
}

main().catch((err: unknown) => {
  console.error("typescript example:", err instanceof Error ? err.message : err);
  process.exit(1);
});
