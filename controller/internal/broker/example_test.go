package broker_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/guardcast/guardcast/controller/internal/broker"
	"github.com/guardcast/guardcast/internal/protocol"
)

// The controller runs the embedded broker and ingests proofs through the
// in-process Bus; devices connect over TCP with their own credential.
func Example() {
	creds := broker.StaticCredentials{}
	creds.Add("bank-01-door", broker.RoleDevice, "a 256-bit random token")

	b, err := broker.New(broker.Options{Addr: "127.0.0.1:0"}, creds, slog.New(slog.DiscardHandler))
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	defer func() { cancel(); <-done }()

	bus := b.Bus()
	defer bus.Close()
	got := make(chan broker.Message, 1)
	if err := bus.Subscribe(ctx, protocol.UpFilterAll(protocol.TopicProofs), func(m broker.Message) {
		got <- m // may block: that backpressures the publishing device
	}); err != nil {
		panic(err)
	}
	// In production the device publishes; here the controller stands in.
	pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
	defer pcancel()
	if err := bus.Publish(pctx, protocol.UpTopic("bank-01-door", protocol.TopicProofs), []byte(`{"v":1}`), false); err != nil {
		panic(err)
	}
	m := <-got
	fmt.Println(m.Topic, string(m.Payload))
	// Output: gc/v1/dev/bank-01-door/up/proofs {"v":1}
}
