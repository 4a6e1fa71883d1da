package demo

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// digest summarizes the sales table.
func digest(t *testing.T, path string) (int, string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)") // the generator may be writing
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT date, region, product, amount FROM sales ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	h := sha256.New()
	n := 0
	for rows.Next() {
		var date, region, product string
		var amount float64
		if err := rows.Scan(&date, &region, &product, &amount); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(h, date, region, product, amount)
		n++
	}
	return n, fmt.Sprintf("%x", h.Sum(nil))
}

func TestCreateDBIsDeterministic(t *testing.T) {
	ctx := context.Background()
	a, b := filepath.Join(t.TempDir(), "a.db"), filepath.Join(t.TempDir(), "b.db")
	for _, p := range []string{a, b} {
		if err := CreateDB(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	na, da := digest(t, a)
	nb, db := digest(t, b)
	if na != HistoryRows || nb != HistoryRows || da != db {
		t.Fatalf("two demo databases: %d rows %s and %d rows %s; want %d identical rows", na, da, nb, db, HistoryRows)
	}
	// An existing database is kept as it is.
	if err := CreateDB(ctx, a); err != nil {
		t.Fatal(err)
	}
	if n, d := digest(t, a); n != na || d != da {
		t.Fatal("CreateDB changed an existing database")
	}
}

func TestGeneratorInsertsOrders(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sales.db")
	if err := CreateDB(context.Background(), path); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&Generator{Path: path, Rate: 200}).Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if n, _ := digest(t, path); n >= HistoryRows+5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the generator inserted no orders")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of its context's end")
	}
}

func TestDashboardParses(t *testing.T) {
	d, err := Dashboard()
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != "sales-analytics" || len(d.Charts) != 4 {
		t.Fatalf("demo dashboard %q has %d charts, want sales-analytics with 4", d.ID, len(d.Charts))
	}
}
