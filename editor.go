package ashreports

import (
	"context"
	"log/slog"
	"sync"

	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/dashboard"
	"github.com/ashreports/ashreports/internal/engine"
	"github.com/ashreports/ashreports/internal/source"
	"github.com/ashreports/ashreports/internal/store"
)

// chartEditor saves chart definitions: tried first, then stored if still
// at the editor's version, then put into the live streams.
type chartEditor struct {
	store   *store.Store
	engine  *engine.Engine
	sources *source.Registry
	log     *slog.Logger
	// mu keeps saves in order, so that the streams end with the
	// definition saved last.
	mu sync.Mutex
}

func (c *chartEditor) ChartDefinition(ctx context.Context, id string) (dashboard.Chart, int, error) {
	return c.store.ChartVersion(ctx, id)
}

func (c *chartEditor) TryChart(ctx context.Context, def dashboard.Chart) (chart.State, error) {
	return c.engine.Try(ctx, def)
}

func (c *chartEditor) SaveChart(ctx context.Context, def dashboard.Chart, version int) (int, error) {
	// A definition that does not run is never saved.
	if _, err := c.engine.Try(ctx, def); err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v, err := c.store.UpdateChart(ctx, def, version)
	if err != nil {
		return 0, err
	}
	// Saved: the streams follow. A failure here (the broker down) leaves
	// viewers with the old definition until they resubscribe; the saved
	// one is what every new stream gets.
	if err := c.engine.Redefine(context.WithoutCancel(ctx), def); err != nil {
		c.log.Error("put a saved chart definition into its streams", "chart", def.ID, "err", err)
	}
	return v, nil
}

func (c *chartEditor) Sources() []string { return c.sources.Names() }
