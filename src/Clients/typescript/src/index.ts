// The gateway's TypeScript client: generated message types and @grpc/grpc-js service clients
// (src/gen, from protos/ by scripts/generate-clients.sh), plus small helpers for the common
// call options.
import { credentials, Metadata, type CallOptions } from "@grpc/grpc-js";

import { CompletionClient } from "./gen/gateway/v1/completion";
import { ModelsClient } from "./gen/gateway/v1/models";

export * from "./gen/gateway/v1/completion";
export * from "./gen/gateway/v1/models";

/** Plaintext (h2c) clients for a gateway at host:port, e.g. "127.0.0.1:50051". */
export function connect(target: string): { completion: CompletionClient; models: ModelsClient } {
  const creds = credentials.createInsecure();
  return { completion: new CompletionClient(target, creds), models: new ModelsClient(target, creds) };
}

/** Metadata carrying the API key as `authorization: Bearer <key>` (and any extra entries). */
export function authMetadata(apiKey: string | undefined, extra: Record<string, string> = {}): Metadata {
  const metadata = new Metadata();
  if (apiKey) {
    metadata.set("authorization", `Bearer ${apiKey}`);
  }
  for (const [key, value] of Object.entries(extra)) {
    metadata.set(key, value);
  }
  return metadata;
}

/** Call options with a deadline `ms` milliseconds from now. */
export function deadlineIn(ms: number): CallOptions {
  return { deadline: new Date(Date.now() + ms) };
}
