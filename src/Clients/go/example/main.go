// Command example calls the gateway with the generated Go client: list models, a unary call, a
// streamed call, a deadline that expires, and an API key sent as "authorization: Bearer ..."
// metadata. It exits 0 when every step behaved as expected.
//
//	src/Clients/go/build.sh && ./src/Clients/go/bin/example -target 127.0.0.1:50051 -api-key demo-key
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	gatewayv1 "gateway/gen/go/gateway/v1"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "go example:", err)
		os.Exit(1)
	}
	fmt.Println("go example: ok")
}

func run() error {
	target := flag.String("target", envOr("GATEWAY_GRPC_TARGET", "127.0.0.1:50051"), "gateway gRPC address")
	apiKey := flag.String("api-key", os.Getenv("GATEWAY_API_KEY"), "API key, sent as authorization: Bearer <key>")
	model := flag.String("model", "sim-small", "model name")
	flag.Parse()

	// grpc-go 1.33 (Debian) predates credentials/insecure; WithInsecure is its plaintext option.
	conn, err := grpc.Dial(*target, grpc.WithInsecure())
	if err != nil {
		return err
	}
	defer conn.Close()

	// The API key travels as metadata on every call, like an HTTP Authorization header.
	base := context.Background()
	if *apiKey != "" {
		base = metadata.AppendToOutgoingContext(base, "authorization", "Bearer "+*apiKey)
	}

	ctx, cancel := context.WithTimeout(base, 5*time.Second)
	defer cancel()
	models, err := gatewayv1.NewModelsClient(conn).ListModels(ctx, &gatewayv1.ListModelsRequest{})
	if err != nil {
		return fmt.Errorf("ListModels: %w", err)
	}
	names := make([]string, 0, len(models.Models))
	for _, m := range models.Models {
		names = append(names, m.Id)
	}
	fmt.Println("models:", strings.Join(names, ", "))

	client := gatewayv1.NewCompletionClient(conn)
	request := &gatewayv1.CompletionRequest{
		Model:     *model,
		Messages:  []*gatewayv1.Message{{Role: gatewayv1.Role_ROLE_USER, Content: "Say hello to the gateway."}},
		MaxTokens: proto.Int32(16),
	}

	// Unary, with a 10 s deadline and our own request id (echoed as the response id).
	unaryCtx, cancelUnary := context.WithTimeout(metadata.AppendToOutgoingContext(base, "x-request-id", "go-example-1"), 10*time.Second)
	defer cancelUnary()
	var header metadata.MD
	response, err := client.Complete(unaryCtx, request, grpc.Header(&header))
	if err != nil {
		return fmt.Errorf("Complete: %w", err)
	}
	fmt.Printf("unary: %s | finish: %s | tokens: %d in / %d out | id: %s | x-request-id: %s\n",
		response.GetMessage().GetContent(), response.FinishReason, response.GetUsage().GetInputTokens(),
		response.GetUsage().GetOutputTokens(), response.Id, strings.Join(header.Get("x-request-id"), ","))

	// Server streaming: deltas, usage, then exactly one finish event on success.
	streamCtx, cancelStream := context.WithTimeout(base, 10*time.Second)
	defer cancelStream()
	stream, err := client.StreamComplete(streamCtx, request)
	if err != nil {
		return fmt.Errorf("StreamComplete: %w", err)
	}
	var text strings.Builder
	var finish *gatewayv1.Finish
	for {
		chunk, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("StreamComplete: %w", err)
		}
		switch event := chunk.Event.(type) {
		case *gatewayv1.CompletionChunk_Delta:
			text.WriteString(event.Delta.Text)
		case *gatewayv1.CompletionChunk_Finish:
			finish = event.Finish
		case *gatewayv1.CompletionChunk_Error:
			return fmt.Errorf("stream error: %s", event.Error.Message)
		}
	}
	if finish == nil {
		return fmt.Errorf("stream ended without a finish event")
	}
	fmt.Printf("stream: %s | finish: %s\n", text.String(), finish.Reason)

	// Deadline: the simulator waits 2 s before its first token (sim.ttft_ms); we allow 200 ms.
	slow := proto.Clone(request).(*gatewayv1.CompletionRequest)
	slow.Metadata = map[string]string{"sim.ttft_ms": "2000"}
	deadlineCtx, cancelDeadline := context.WithTimeout(base, 200*time.Millisecond)
	defer cancelDeadline()
	if _, err := client.Complete(deadlineCtx, slow); status.Code(err) != codes.DeadlineExceeded {
		return fmt.Errorf("deadline: expected DeadlineExceeded, got %v", err)
	}
	fmt.Println("deadline: DEADLINE_EXCEEDED")
	return nil
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
