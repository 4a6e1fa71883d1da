package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ashreports.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestResolvePrecedence(t *testing.T) {
	file := writeConfig(t, "addr: 127.0.0.1:1000\ndata_dir: /from/file\ndemo_generator: false\nlog_level: warn\nqueries:\n  timeout: 2s\n  max_running: 8\n  queue_wait: 500ms\n")
	fromFile := queryConfig{Timeout: 2 * time.Second, MaxRunning: 8, QueueWait: 500 * time.Millisecond}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want fileConfig
	}{
		{"defaults", nil, nil, defaults()},
		{"file", []string{"--config", file}, nil, func() fileConfig {
			c := defaults()
			c.Addr, c.DataDir, c.DemoGenerator, c.LogLevel = "127.0.0.1:1000", "/from/file", false, "warn"
			c.Queries = fromFile
			return c
		}()},
		{"env over file", []string{"--config", file}, map[string]string{"ASHREPORTS_ADDR": "127.0.0.1:2000", "ASHREPORTS_DEMO_GENERATOR": "true"}, func() fileConfig {
			c := defaults()
			c.Addr, c.DataDir, c.LogLevel = "127.0.0.1:2000", "/from/file", "warn"
			c.Queries = fromFile
			return c
		}()},
		{"flags over env", []string{"--config", file, "--addr", "127.0.0.1:3000", "--demo-generator=false", "--data-dir", "d"},
			map[string]string{"ASHREPORTS_ADDR": "127.0.0.1:2000", "ASHREPORTS_DEMO_GENERATOR": "true"}, func() fileConfig {
				c := defaults()
				c.Addr, c.DataDir, c.DemoGenerator, c.LogLevel = "127.0.0.1:3000", "d", false, "warn"
				c.Queries = fromFile
				return c
			}()},
		{"edge settings", []string{"--config", writeConfig(t, "max_conns: 100\nbody_timeout: 5s\npassword_hashes: 3\n"), "--password-hashes", "2", "--idle-timeout", "1m"},
			map[string]string{"ASHREPORTS_MAX_CONNS_PER_ADDR": "7", "ASHREPORTS_PASSWORD_HASHES": "9", "ASHREPORTS_HEADER_TIMEOUT": "2s", "ASHREPORTS_PASSWORD_HASH_WAIT": "500ms"}, func() fileConfig {
				c := defaults()
				c.MaxConns, c.MaxConnsPerAddr, c.PasswordHashes = 100, 7, 2
				c.HeaderTimeout, c.BodyTimeout, c.IdleTimeout, c.PasswordHashWait = 2*time.Second, 5*time.Second, time.Minute, 500*time.Millisecond
				return c
			}()},
		{"config file from env", nil, map[string]string{"ASHREPORTS_CONFIG": file}, func() fileConfig {
			c := defaults()
			c.Addr, c.DataDir, c.DemoGenerator, c.LogLevel = "127.0.0.1:1000", "/from/file", false, "warn"
			c.Queries = fromFile
			return c
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolve(tt.args, env(tt.env), &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("config (-want +got):\n%s", d)
			}
		})
	}
}

func TestResolveErrorsNameTheField(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		file string
		want string
	}{
		{"bad bool env", nil, map[string]string{"ASHREPORTS_DEMO": "maybe"}, "", `demo: "maybe" is not true or false`},
		{"bad bool flag", []string{"--demo-generator", "sometimes"}, nil, "", `demo_generator: "sometimes"`},
		{"unknown file field", nil, nil, "adress: x\n", "field adress not found"},
		{"bad rate", nil, nil, "demo_rate: -1\n", "demo_rate"},
		{"zero rate", nil, nil, "demo_rate: 0\n", "demo_rate"},
		{"bad log level in file", nil, nil, "log_level: loud\n", `log_level: "loud"`},
		{"empty addr", nil, nil, "addr: ''\n", "addr: must not be empty"},
		{"negative query limit", nil, nil, "queries:\n  max_running: -1\n", "queries.max_running: must not be negative"},
		{"more rows than a chart", nil, nil, "queries:\n  max_rows: 200000\n", "queries.max_rows: at most 100000"},
		{"unknown query limit", nil, nil, "queries:\n  max_cells: 1\n", "field max_cells not found"},
		{"missing file", []string{"--config", "/nonexistent/ashreports.yaml"}, nil, "", "config file"},
		{"stray argument", []string{"extra"}, nil, "", `unexpected argument "extra"`},
		{"bad count env", nil, map[string]string{"ASHREPORTS_MAX_CONNS": "lots"}, "", `max_conns: "lots" is not a whole number`},
		{"bad duration flag", []string{"--body-timeout", "30"}, nil, "", `body_timeout: "30" is not a duration`},
		{"negative cap in file", nil, nil, "max_conns_per_addr: -1\n", "max_conns_per_addr: must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append([]string{"--config", writeConfig(t, tt.file)}, args...)
			}
			_, err := resolve(args, env(tt.env), &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("resolve error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestCommands(t *testing.T) {
	good := writeConfig(t, "addr: 127.0.0.1:1\n")
	bad := writeConfig(t, "log_level: [1]\n")
	tests := []struct {
		args    []string
		wantErr string
		wantOut string
	}{
		{[]string{"version"}, "", "ashreports "},
		{[]string{"check-config", good}, "", good + ": ok"},
		{[]string{"check-config", bad}, "line 1: cannot unmarshal", ""},
		{[]string{"bogus"}, `unknown command "bogus"`, ""},
		{nil, "no command given", ""},
		{[]string{"serve", "--log-level", "loud"}, "log_level", ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), tt.args, env(nil), strings.NewReader(""), &out, &errOut)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !strings.Contains(out.String(), tt.wantOut) {
				t.Fatalf("run = %v, output %q, want %q", err, out.String(), tt.wantOut)
			}
		})
	}
}

// TestFirstAdminFromEnvironment: ASHREPORTS_ADMIN_EMAIL and
// ASHREPORTS_ADMIN_PASSWORD name the first admin; either alone is passed
// on, for the server to refuse by name; neither is no admin.
func TestFirstAdminFromEnvironment(t *testing.T) {
	if a := firstAdmin(env(nil)); a != nil {
		t.Errorf("no variables: %+v, want none", a)
	}
	a := firstAdmin(env(map[string]string{"ASHREPORTS_ADMIN_EMAIL": "root@example.com", "ASHREPORTS_ADMIN_PASSWORD": "a long enough password"}))
	if a == nil || a.Email != "root@example.com" || a.Password != "a long enough password" {
		t.Errorf("both variables: %+v", a)
	}
	if a := firstAdmin(env(map[string]string{"ASHREPORTS_ADMIN_EMAIL": "root@example.com"})); a == nil || a.Password != "" {
		t.Errorf("the email alone: %+v, want it passed on without a password", a)
	}
}

// TestDocListsEveryCommand: the package comment names each command the
// usage text does.
func TestDocListsEveryCommand(t *testing.T) {
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	doc, _, _ := strings.Cut(string(src), "\npackage main")
	_, cmds, _ := strings.Cut(usage, "commands:\n")
	for _, line := range strings.Split(strings.TrimRight(cmds, "\n"), "\n") {
		m := regexp.MustCompile(`^  (\S+(?: \S+)?)  `).FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("usage line %q names no command", line)
		}
		name := m[1]
		if !strings.Contains(doc, "//\tashreports "+name) {
			t.Errorf("the package comment does not list %q", name)
		}
	}
}
