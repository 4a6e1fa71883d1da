package natsbroker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Stream and header names.
const (
	StreamName    = "ASH_CHARTS"
	SubjectPrefix = "ash.chart."
	HeaderOffset  = "Ash-Offset"
	// HeaderPriority is "high" on high-priority updates, which viewers get
	// without waiting for the batching window.
	HeaderPriority = "Ash-Priority"
	// HeaderTime is when the update was published, in Unix nanoseconds,
	// for the delivery latency metric.
	HeaderTime = "Ash-Time"
)

// DefaultHistoryPerStream is how many updates of each chart stream
// JetStream keeps by default.
const DefaultHistoryPerStream = 10_000

// MaxPayload is the largest update the embedded server carries (8 MiB).
const MaxPayload = 8 << 20

// Config configures the embedded broker.
type Config struct {
	// StoreDir is where JetStream keeps its files.
	StoreDir string
	// HistoryPerStream is how many recent updates JetStream keeps per chart
	// stream; DefaultHistoryPerStream when zero. A pushed chart's state is
	// saved before that many of its updates are unsaved, so that every
	// acknowledged update is in the saved state or in this history.
	HistoryPerStream int64
	// HistoryAge is how long updates are kept; one hour when zero.
	HistoryAge time.Duration
	// HistoryBytes caps the disk JetStream uses for update history; the
	// oldest updates go first. 1 GiB when zero.
	HistoryBytes int64
	Logger       *slog.Logger
}

// Broker is a running embedded NATS server and the connection to it.
type Broker struct {
	srv *server.Server
	nc  *nats.Conn
	js  jetstream.JetStream
	// closed is closed when the connection has finished draining.
	closed chan struct{}
	log    *slog.Logger
}

// Start starts the embedded server, connects, and creates the updates
// stream.
func Start(ctx context.Context, cfg Config) (*Broker, error) {
	if cfg.HistoryPerStream == 0 {
		cfg.HistoryPerStream = DefaultHistoryPerStream
	}
	if cfg.HistoryAge == 0 {
		cfg.HistoryAge = time.Hour
	}
	if cfg.HistoryBytes == 0 {
		cfg.HistoryBytes = 1 << 30
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	srv, err := server.NewServer(&server.Options{
		ServerName: "ashreports",
		DontListen: true,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		NoSigs:     true,
		NoLog:      true,
		MaxPayload: MaxPayload,
	})
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, errors.New("nats server: not ready after 10s")
	}
	closed := make(chan struct{})
	nc, err := nats.Connect("", nats.InProcessServer(srv), nats.Name("ashreports"), nats.MaxReconnects(-1),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("nats connect: %w", err)
	}
	b := &Broker{srv: srv, nc: nc, closed: closed, log: cfg.Logger}
	if err := b.setup(ctx, cfg); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

func (b *Broker) setup(ctx context.Context, cfg Config) error {
	js, err := jetstream.New(b.nc, jetstream.WithPublishAsyncMaxPending(maxPendingAcks))
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:              StreamName,
		Subjects:          []string{SubjectPrefix + ">"},
		Storage:           jetstream.FileStorage,
		MaxMsgsPerSubject: cfg.HistoryPerStream,
		MaxAge:            cfg.HistoryAge,
		MaxBytes:          cfg.HistoryBytes,
		Discard:           jetstream.DiscardOld,
	})
	if err != nil {
		return fmt.Errorf("create stream %s: %w", StreamName, err)
	}
	b.js = js
	return nil
}

// Publish sends one update frame of a chart stream to the subscribers of
// subject and to JetStream's history, in publish order, and returns at
// once: live viewers get the update without waiting for the store. The
// returned wait blocks until JetStream has stored the update (its file
// store writes it before acknowledging) and says whether it did. Waiting
// outside the caller's lock lets many updates share the store's round
// trips: a group commit.
func (b *Broker) Publish(ctx context.Context, subject string, offset uint64, frame []byte, high bool) (wait func(context.Context) error, err error) {
	msg := &nats.Msg{Subject: subject, Data: frame, Header: nats.Header{
		HeaderOffset: []string{strconv.FormatUint(offset, 10)},
		HeaderTime:   []string{strconv.FormatInt(time.Now().UnixNano(), 10)},
	}}
	if high {
		msg.Header.Set(HeaderPriority, "high")
	}
	f, err := b.js.PublishMsgAsync(msg, jetstream.WithStallWait(stallWait(ctx)))
	if err != nil {
		return nil, fmt.Errorf("publish %s offset %d: %w", subject, offset, err)
	}
	return func(ctx context.Context) error {
		select {
		case <-f.Ok():
			return nil
		case err := <-f.Err():
			return fmt.Errorf("store %s offset %d: %w", subject, offset, err)
		case <-ctx.Done():
			return fmt.Errorf("store %s offset %d: no acknowledgement: %w", subject, offset, ctx.Err())
		}
	}, nil
}

// maxPendingAcks bounds the updates published but not yet acknowledged by
// JetStream; past it, Publish waits (back-pressure on the publishers).
const maxPendingAcks = 4096

// stallWait is how long Publish may wait for room among the pending acks:
// until ctx's deadline, or 10 s.
func stallWait(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond)
	}
	return 10 * time.Second
}

// History calls fn with each stored update of subject, oldest first: its
// offset and frame. It reads what JetStream holds when it is called (at
// most HistoryPerStream updates); an error of fn ends it.
func (b *Broker) History(ctx context.Context, subject string, fn func(offset uint64, frame []byte) error) error {
	st, err := b.js.Stream(ctx, StreamName)
	if err != nil {
		return fmt.Errorf("history of %s: %w", subject, err)
	}
	last, err := st.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("history of %s: %w", subject, err)
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}, DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return fmt.Errorf("history of %s: %w", subject, err)
	}
	defer func() {
		// Ordered consumers are ephemeral; this one is not needed again.
		_ = st.DeleteConsumer(context.WithoutCancel(ctx), cons.CachedInfo().Name)
	}()
	for {
		batch, err := cons.FetchNoWait(historyBatch)
		if err != nil {
			return fmt.Errorf("history of %s: %w", subject, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			meta, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("history of %s: %w", subject, err)
			}
			off, err := strconv.ParseUint(m.Headers().Get(HeaderOffset), 10, 64)
			if err != nil {
				b.log.Error("stored update without offset", "subject", subject, "seq", meta.Sequence.Stream)
			} else if err := fn(off, m.Data()); err != nil {
				return err
			}
			if meta.Sequence.Stream >= last.Sequence {
				return nil
			}
		}
		if err := batch.Error(); err != nil {
			return fmt.Errorf("history of %s: %w", subject, err)
		}
		if n == 0 { // the last one went meanwhile (the history's limits)
			return nil
		}
	}
}

// historyBatch is how many stored updates History fetches at a time.
const historyBatch = 512

// Subscribe calls fn with every update published to subject from now on,
// in order, on one goroutine: its offset, frame, priority, publish time
// (Unix nanoseconds), and whether the next update has already arrived.
// An update without an offset is logged and passed as a nil frame, so that
// a more announced before it is still followed by a call.
// The subscription is active on the server when Subscribe returns. The
// returned function ends it.
func (b *Broker) Subscribe(subject string, fn func(offset uint64, frame []byte, high bool, published int64, more bool)) (func(), error) {
	sub, err := b.nc.Subscribe(subject, func(m *nats.Msg) {
		// The client counts an update as pending until its callback
		// returns: this one is among them.
		pending, _, err := m.Sub.Pending()
		more := err == nil && pending > 1
		off, err := strconv.ParseUint(m.Header.Get(HeaderOffset), 10, 64)
		if err != nil {
			b.log.Error("update without offset", "subject", m.Subject)
			fn(0, nil, false, 0, more)
			return
		}
		at, _ := strconv.ParseInt(m.Header.Get(HeaderTime), 10, 64)
		data := m.Data
		if data == nil {
			data = []byte{}
		}
		fn(off, data, m.Header.Get(HeaderPriority) == "high", at, more)
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", subject, err)
	}
	// Unlimited pending: the hub's handler never blocks (it only enqueues
	// into bounded per-connection queues), so the NATS buffer stays small.
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return nil, err
	}
	if err := b.nc.Flush(); err != nil {
		sub.Unsubscribe()
		return nil, fmt.Errorf("subscribe %s: %w", subject, err)
	}
	return func() { _ = sub.Unsubscribe() }, nil
}

// Conn is the broker's NATS connection, for other users of NATS on the
// node (presence, activity).
func (b *Broker) Conn() *nats.Conn { return b.nc }

// JetStream is the broker's JetStream context.
func (b *Broker) JetStream() jetstream.JetStream { return b.js }

// Ready reports whether the broker is connected and JetStream answers.
func (b *Broker) Ready(ctx context.Context) error {
	if !b.nc.IsConnected() {
		return errors.New("nats: not connected")
	}
	if _, err := b.js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	return nil
}

// Close drains the connection and shuts the embedded server down.
func (b *Broker) Close() {
	select {
	case <-b.js.PublishAsyncComplete():
	case <-time.After(5 * time.Second):
		b.log.Warn("closing with JetStream acknowledgements outstanding")
	}
	if err := b.nc.Drain(); err != nil {
		b.nc.Close()
	}
	<-b.closed
	b.srv.Shutdown()
	b.srv.WaitForShutdown()
}
