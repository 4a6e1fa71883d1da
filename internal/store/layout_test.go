package store

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/apperr/apperrtest"
	"github.com/ashreports/ashreports/internal/dashboard"
)

func TestLayout(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	put(t, s, salesDashboard())
	l, err := s.Layout(ctx, "sales")
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Charts) != 3 {
		t.Fatalf("layout %+v", l)
	}
	ids := func(l dashboard.Layout) []dashboard.Slot { return l.Charts }
	first, second, third := l.Charts[0], l.Charts[1], l.Charts[2]

	// Reorder, resize the first, drop the second.
	_, v2, _ := s.ChartVersion(ctx, first.ID)
	next := []dashboard.Slot{third, {ID: first.ID, Width: 3}} // a title in a request does not count
	v, removed, err := s.SetLayout(ctx, "sales", l.Version, next)
	if err != nil {
		t.Fatal(err)
	}
	if v != l.Version+1 || len(removed) != 1 || removed[0] != second.ID {
		t.Errorf("SetLayout: version %d removed %v", v, removed)
	}
	got, _ := s.Layout(ctx, "sales")
	// The layout read back names each chart with its title.
	next[1].Title = first.Title
	if d := cmp.Diff(next, ids(got)); d != "" || got.Version != v {
		t.Errorf("layout after SetLayout (-want +got):\n%s (version %d)", d, got.Version)
	}
	if c, cv, _ := s.ChartVersion(ctx, first.ID); c.Width != 3 || cv != v2+1 {
		t.Errorf("resized chart: width %d version %d, want 3 and %d", c.Width, cv, v2+1)
	}
	_, err = s.Chart(ctx, second.ID)
	apperrtest.Want(t, err, apperr.NotFound)

	// A change based on the old version is refused and changes nothing.
	_, _, err = s.SetLayout(ctx, "sales", l.Version, []dashboard.Slot{third})
	apperrtest.Want(t, err, apperr.Conflict)
	_, err = s.AddChart(ctx, "sales", l.Version, lineChart("refunds", "Refunds"))
	apperrtest.Want(t, err, apperr.Conflict)
	if again, _ := s.Layout(ctx, "sales"); len(again.Charts) != 2 {
		t.Errorf("stale changes changed the layout: %+v", again)
	}
	// Bad slots: unknown chart, twice, width.
	for _, bad := range [][]dashboard.Slot{{{ID: "nope", Width: 6}}, {third, third}, {{ID: third.ID, Width: 13}}} {
		_, _, err := s.SetLayout(ctx, "sales", v, bad)
		apperrtest.Want(t, err, apperr.Invalid)
	}
	// Add at the end; an id in use is a conflict.
	v, err = s.AddChart(ctx, "sales", v, lineChart("refunds", "Refunds"))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Layout(ctx, "sales"); got.Version != v || got.Charts[2].ID != "refunds" {
		t.Errorf("after AddChart: %+v", got)
	}
	_, err = s.AddChart(ctx, "sales", v, lineChart("refunds", "Again"))
	apperrtest.Want(t, err, apperr.Conflict)
}

func TestUndo(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	put(t, s, salesDashboard())
	orig, v, _ := s.ChartVersion(ctx, "by-region")
	_, err := s.LastEdit(ctx, "usr_ann", "sales")
	apperrtest.Want(t, err, apperr.NotFound)

	// Ann makes two edits; Bob one on another chart.
	a1 := orig
	a1.Config.Title = "Ann 1"
	v, _ = s.UpdateChart(ctx, a1, v, "usr_ann")
	a2 := a1
	a2.Config.Title = "Ann 2"
	if _, err := s.UpdateChart(ctx, a2, v, "usr_ann"); err != nil {
		t.Fatal(err)
	}
	other, ov, _ := s.ChartVersion(ctx, "share")
	other.Config.Title = "Bob"
	if _, err := s.UpdateChart(ctx, other, ov, "usr_bob"); err != nil {
		t.Fatal(err)
	}

	// Ann's undo takes her last edit back, then the one before.
	for _, want := range []string{"Ann 1", orig.Config.Title} {
		e, err := s.LastEdit(ctx, "usr_ann", "sales")
		if err != nil {
			t.Fatal(err)
		}
		if v, err = s.Undo(ctx, "usr_ann", e); err != nil {
			t.Fatal(err)
		}
		if c, cv, _ := s.ChartVersion(ctx, "by-region"); c.Config.Title != want || cv != v {
			t.Errorf("after undo: %q version %d, want %q version %d", c.Config.Title, cv, want, v)
		}
	}
	_, err = s.LastEdit(ctx, "usr_ann", "sales")
	apperrtest.Want(t, err, apperr.NotFound)

	// Bob's edit, once someone else changed the chart after it, is not
	// undone: that would undo the other change too.
	e, err := s.LastEdit(ctx, "usr_bob", "sales")
	if err != nil || e.ChartID != "share" {
		t.Fatalf("Bob's last edit: %+v %v", e, err)
	}
	cur, cv, _ := s.ChartVersion(ctx, "share")
	cur.Config.Title = "Cy"
	if _, err := s.UpdateChart(ctx, cur, cv, "usr_cy"); err != nil {
		t.Fatal(err)
	}
	_, err = s.Undo(ctx, "usr_bob", e)
	apperrtest.Want(t, err, apperr.Conflict)
	if c, _, _ := s.ChartVersion(ctx, "share"); c.Config.Title != "Cy" {
		t.Errorf("a refused undo changed the chart to %q", c.Config.Title)
	}
}

// A removed chart's id is not given to a new chart; a width saved with the
// chart's definition moves the layout version on.
func TestLayoutRemovedIDsAndWidths(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	put(t, s, salesDashboard())
	l, _ := s.Layout(ctx, "sales")
	v, _, err := s.SetLayout(ctx, "sales", l.Version, l.Charts[1:])
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.AddChart(ctx, "sales", v, lineChart(l.Charts[0].ID, "Again"))
	apperrtest.Want(t, err, apperr.Conflict)

	c, cv, _ := s.ChartVersion(ctx, l.Charts[1].ID)
	c.Width = 3
	if _, err := s.UpdateChart(ctx, c, cv, ""); err != nil {
		t.Fatal(err)
	}
	// A layout change based on the version before the resize is refused,
	// so it cannot put the old width back.
	_, _, err = s.SetLayout(ctx, "sales", v, l.Charts[1:])
	apperrtest.Want(t, err, apperr.Conflict)
}

// UpdateCharts saves all or none.
func TestUpdateChartsAllOrNone(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	put(t, s, salesDashboard())
	a, av, _ := s.ChartVersion(ctx, "by-region")
	b, bv, _ := s.ChartVersion(ctx, "share")
	a.Config.Title, b.Config.Title = "A", "B"
	err := s.UpdateCharts(ctx, []dashboard.VersionedChart{{Chart: a, Version: av}, {Chart: b, Version: bv + 1}}) // the second is stale
	apperrtest.Want(t, err, apperr.Conflict)
	if got, _, _ := s.ChartVersion(ctx, "by-region"); got.Config.Title == "A" {
		t.Error("the first chart was saved though the second was refused")
	}
	if err := s.UpdateCharts(ctx, []dashboard.VersionedChart{{Chart: a, Version: av}, {Chart: b, Version: bv}}); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := s.ChartVersion(ctx, "share"); got.Config.Title != "B" {
		t.Errorf("title %q", got.Config.Title)
	}
}
