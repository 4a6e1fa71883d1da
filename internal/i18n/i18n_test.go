package i18n

import "testing"

func TestCatalog(t *testing.T) {
	c, err := Load("en")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.T("list.charts", "count", 4); got != "4 charts" {
		t.Errorf("T(list.charts) = %q", got)
	}
	if got := c.T("no.such.key"); got != "no.such.key" {
		t.Errorf("missing key = %q, want the key", got)
	}
	sub := c.Subset("conn.")
	if len(sub) != 4 || sub["conn.live"] != "Live" {
		t.Errorf("Subset(conn.) = %v", sub)
	}
	if _, err := Load("xx"); err == nil {
		t.Error("Load of an unknown locale succeeded")
	}
}
