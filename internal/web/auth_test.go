package web

import "testing"

// TestLocalPath: the sign-in form redirects only to paths of this site.
func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/dashboards/ops?x=1":  "/dashboards/ops?x=1",
		"/":                    "/",
		"":                     "/",
		"https://evil.example": "/",
		"//evil.example":       "/",
		"/\\evil.example":      "/",
		"/\t/evil.example":     "/",
		"/\n/evil.example":     "/",
		"dashboards":           "/",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}
