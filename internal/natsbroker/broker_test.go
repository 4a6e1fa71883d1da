package natsbroker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ashreports/ashreports/internal/logtest"

	"github.com/ashreports/ashreports/internal/leaktest"
)

// TestPublishSubscribeThroughEmbeddedServer runs the real embedded server:
// updates reach a subscriber in order with their offsets, are kept in
// JetStream, and Close stops every goroutine it started.
func TestPublishSubscribeThroughEmbeddedServer(t *testing.T) {
	defer leaktest.Verify(t)
	ctx := context.Background()
	var logs logtest.Buffer
	b, err := Start(ctx, Config{StoreDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	type msg struct {
		off   uint64
		frame string
		high  bool
	}
	got := make(chan msg, 10)
	unsub, err := b.Subscribe("ash.chart.c._", func(off uint64, frame []byte, high bool, at int64, _ bool) {
		if at == 0 {
			t.Error("update without publish time")
		}
		got <- msg{off, string(frame), high}
	})
	if err != nil {
		t.Fatal(err)
	}
	other, err := b.Subscribe("ash.chart.d._", func(uint64, []byte, bool, int64, bool) { t.Error("update delivered to another chart's subject") })
	if err != nil {
		t.Fatal(err)
	}
	defer other()
	var waits []func(context.Context) error
	for i := uint64(1); i <= 3; i++ {
		stored, err := b.Publish(ctx, "ash.chart.c._", i, []byte{'a' + byte(i)}, i == 2)
		if err != nil {
			t.Fatal(err)
		}
		waits = append(waits, stored)
	}
	for i := uint64(1); i <= 3; i++ {
		select {
		case m := <-got:
			if m.off != i || m.frame != string(rune('a'+i)) || m.high != (i == 2) {
				t.Fatalf("update %d = %+v", i, m)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("update %d did not arrive", i)
		}
	}
	unsub()
	for i, stored := range waits {
		if err := stored(ctx); err != nil {
			t.Errorf("store of update %d: %v", i+1, err)
		}
	}
	info, err := b.js.Stream(ctx, StreamName)
	if err != nil {
		t.Fatal(err)
	}
	if n := info.CachedInfo().State.Msgs; n != 3 {
		t.Errorf("JetStream holds %d updates, want 3", n)
	}
	// A publish outside the stream's subjects is not stored, and its wait
	// says so.
	stored, err := b.Publish(ctx, "elsewhere", 1, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := stored(wctx); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("store outside the stream = %v, want JetStream's refusal", err)
	}
}

// TestHistorySurvivesRestart: the stored updates of one subject, in
// order, read back by a broker started again on the same directory.
func TestHistorySurvivesRestart(t *testing.T) {
	defer leaktest.Verify(t)
	ctx := context.Background()
	dir := t.TempDir()
	b, err := Start(ctx, Config{StoreDir: dir, HistoryPerStream: 4})
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 6; i++ {
		for _, subj := range []string{"ash.chart.c._", "ash.chart.d._"} {
			stored, err := b.Publish(ctx, subj, i, fmt.Appendf(nil, "%s %d", subj, i), false)
			if err != nil {
				t.Fatal(err)
			}
			if err := stored(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	b.Close()
	if b, err = Start(ctx, Config{StoreDir: dir, HistoryPerStream: 4}); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var got []string
	if err := b.History(ctx, "ash.chart.c._", func(off uint64, frame []byte) error {
		got = append(got, fmt.Sprintf("%d=%s", off, frame))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{"3=ash.chart.c._ 3", "4=ash.chart.c._ 4", "5=ash.chart.c._ 5", "6=ash.chart.c._ 6"}
	if !slices.Equal(got, want) {
		t.Errorf("history = %q, want the last 4 of the subject, %q", got, want)
	}
	if err := b.History(ctx, "ash.chart.none._", func(uint64, []byte) error {
		t.Error("history of a subject never published")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestPayloadLimit(t *testing.T) {
	defer leaktest.Verify(t)
	ctx := context.Background()
	b, err := Start(ctx, Config{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	stored, err := b.Publish(ctx, "ash.chart.c._", 1, make([]byte, MaxPayload-1024), false)
	if err != nil {
		t.Fatalf("publish just under the limit: %v", err)
	}
	if err := stored(ctx); err != nil {
		t.Fatalf("store just under the limit: %v", err)
	}
}

// TestSubscribeReportsWaitingUpdates: an update is reported with more when
// the next one had arrived before it was handed over: the first (nothing
// behind it yet) and the last are not, the second, which arrived with the
// third while the subscriber was busy with the first, is.
func TestSubscribeReportsWaitingUpdates(t *testing.T) {
	defer leaktest.Verify(t)
	ctx := context.Background()
	b, err := Start(ctx, Config{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	busy, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	defer releaseOnce.Do(func() { close(release) }) // unblocks the callback when the test fails early
	got := make(chan bool, 3)
	unsub, err := b.Subscribe("ash.chart.c._", func(off uint64, _ []byte, _ bool, _ int64, more bool) {
		if off == 1 {
			close(busy)
			<-release
		}
		got <- more
	})
	if err != nil {
		t.Fatal(err)
	}
	defer unsub()
	for i := uint64(1); i <= 3; i++ {
		if _, err := b.Publish(ctx, "ash.chart.c._", i, []byte("x"), false); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			select {
			case <-busy:
			case <-time.After(30 * time.Second):
				t.Fatal("the first update did not reach the subscriber within 30s")
			}
		}
	}
	// The server sends the client its messages before the pong of a flush.
	if err := b.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	releaseOnce.Do(func() { close(release) })
	for i, want := range []bool{false, true, false} {
		select {
		case more := <-got:
			if more != want {
				t.Errorf("update %d: more = %v, want %v", i+1, more, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("update %d did not arrive", i+1)
		}
	}
}
