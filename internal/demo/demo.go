package demo

import (
	"context"
	"database/sql"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"time"

	_ "modernc.org/sqlite" // registers "sqlite"

	"github.com/ashreports/ashreports/internal/dashboard"
)

//go:embed sales-analytics.yaml
var dashboardYAML []byte

// Dashboard returns the demo dashboard.
func Dashboard() (dashboard.Dashboard, error) { return dashboard.Parse(dashboardYAML) }

// The demo catalogue.
var (
	Regions  = []string{"Asia Pacific", "Europe", "Latin America", "North America"}
	Products = []string{"Analytics Suite", "Cloud Storage", "Data Connector", "Mobile App", "Support Plan"}
	prices   = []float64{1200, 300, 450, 80, 600}
)

// HistoryRows is how many orders a new demo database starts with.
const HistoryRows = 4000

// CreateDB creates the sales database at path with its deterministic
// history, unless the file exists already. The history spans the 24 months
// before 2026-11-01 and is the same on every machine.
func CreateDB(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	tmp := path + ".tmp"
	_ = os.Remove(tmp)
	db, err := open(tmp)
	if err != nil {
		return err
	}
	err = fill(ctx, db)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("create demo db: %w", err)
	}
	return os.Rename(tmp, path)
}

func open(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)")
	if err != nil {
		return nil, fmt.Errorf("open demo db: %w", err)
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

func fill(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE sales (
		id INTEGER PRIMARY KEY,
		date TEXT NOT NULL,
		region TEXT NOT NULL,
		product TEXT NOT NULL,
		amount REAL NOT NULL
	); CREATE INDEX sales_date ON sales(date);`); err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO sales (date, region, product, amount) VALUES (?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	r := rand.New(rand.NewPCG(2026, 11))
	start := time.Date(2024, 11, 1, 0, 0, 0, 0, time.UTC)
	span := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Sub(start)
	for range HistoryRows {
		// Later months sell more: the offset is skewed towards the end.
		at := start.Add(time.Duration(math.Sqrt(r.Float64()) * float64(span))).Truncate(time.Second)
		region, product, amount := order(r)
		if _, err := stmt.ExecContext(ctx, at.Format(time.RFC3339), region, product, amount); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// order draws one order: regions and products with unequal weights, and an
// amount around the product's price.
func order(r *rand.Rand) (region, product string, amount float64) {
	region = Regions[weighted(r, []float64{2, 3, 1, 4})]
	p := weighted(r, []float64{1, 4, 2, 5, 2})
	amount = math.Round(prices[p]*(0.6+0.8*r.Float64())*100) / 100
	return region, Products[p], amount
}

func weighted(r *rand.Rand, w []float64) int {
	var sum float64
	for _, x := range w {
		sum += x
	}
	v := r.Float64() * sum
	for i, x := range w {
		if v < x {
			return i
		}
		v -= x
	}
	return len(w) - 1
}

// Generator inserts new orders into the demo database at random intervals
// averaging Rate per second, stamped with the current time.
type Generator struct {
	Path string
	// Rate is the mean number of orders per second; 4 when zero.
	Rate   float64
	Logger *slog.Logger
}

// Run inserts orders until ctx ends.
func (g *Generator) Run(ctx context.Context) error {
	rate := g.Rate
	if rate == 0 {
		rate = 4
	}
	db, err := open(g.Path)
	if err != nil {
		return err
	}
	defer db.Close()
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		region, product, amount := order(r)
		_, err := db.ExecContext(ctx, `INSERT INTO sales (date, region, product, amount) VALUES (?, ?, ?, ?)`,
			time.Now().UTC().Format(time.RFC3339), region, product, amount)
		if err != nil && ctx.Err() == nil && g.Logger != nil {
			g.Logger.Warn("demo generator insert", "err", err)
		}
		// Exponential gaps give a Poisson stream of orders.
		timer.Reset(time.Duration(r.ExpFloat64() / rate * float64(time.Second)))
	}
}
