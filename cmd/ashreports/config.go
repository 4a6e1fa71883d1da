package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ashreports/ashreports/chart"
)

// fileConfig is the server configuration (docs/configuration.md). It is
// read from the config file, then environment variables (ASHREPORTS_ and
// the upper-case key), then flags, each overriding the one before.
type fileConfig struct {
	Addr           string            `yaml:"addr"`
	DataDir        string            `yaml:"data_dir"`
	DashboardsDir  string            `yaml:"dashboards_dir"`
	Demo           bool              `yaml:"demo"`
	DemoGenerator  bool              `yaml:"demo_generator"`
	DemoRate       float64           `yaml:"demo_rate"`
	DemoOrg        string            `yaml:"demo_org"`
	LogLevel       string            `yaml:"log_level"`
	DebugAddr      string            `yaml:"debug_addr"`
	Sources        map[string]string `yaml:"sources"`
	OriginPatterns []string          `yaml:"origin_patterns"`

	// The HTTP edge (ashreports.Edge); zero takes the default.
	MaxConns         int           `yaml:"max_conns"`
	MaxConnsPerAddr  int           `yaml:"max_conns_per_addr"`
	HeaderTimeout    time.Duration `yaml:"header_timeout"`
	BodyTimeout      time.Duration `yaml:"body_timeout"`
	IdleTimeout      time.Duration `yaml:"idle_timeout"`
	PasswordHashes   int           `yaml:"password_hashes"`
	PasswordHashWait time.Duration `yaml:"password_hash_wait"`

	Queries queryConfig `yaml:"queries"`
}

// queryConfig is the config file's queries section: ashreports.QueryLimits,
// whose zero fields take the defaults.
type queryConfig struct {
	Timeout             time.Duration `yaml:"timeout"`
	MaxRows             int           `yaml:"max_rows"`
	MaxColumns          int           `yaml:"max_columns"`
	MaxResultBytes      int           `yaml:"max_result_bytes"`
	MaxValueBytes       int           `yaml:"max_value_bytes"`
	MaxRunning          int           `yaml:"max_running"`
	MaxRunningPerSource int           `yaml:"max_running_per_source"`
	QueueWait           time.Duration `yaml:"queue_wait"`
}

func (q queryConfig) validate() error {
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"timeout", int64(q.Timeout)}, {"max_rows", int64(q.MaxRows)}, {"max_columns", int64(q.MaxColumns)},
		{"max_result_bytes", int64(q.MaxResultBytes)}, {"max_value_bytes", int64(q.MaxValueBytes)},
		{"max_running", int64(q.MaxRunning)}, {"max_running_per_source", int64(q.MaxRunningPerSource)}, {"queue_wait", int64(q.QueueWait)},
	} {
		if f.v < 0 {
			return fmt.Errorf("config: queries.%s: must not be negative (0 takes the default)", f.name)
		}
	}
	switch {
	case q.MaxRows > chart.MaxRows:
		return fmt.Errorf("config: queries.max_rows: at most %d, a chart's rows", chart.MaxRows)
	case q.MaxColumns > chart.MaxColumns:
		return fmt.Errorf("config: queries.max_columns: at most %d, a chart's columns", chart.MaxColumns)
	}
	return nil
}

func defaults() fileConfig {
	return fileConfig{
		Addr:          "127.0.0.1:8080",
		DataDir:       "ashreports-data",
		Demo:          true,
		DemoGenerator: true,
		DemoRate:      4,
		LogLevel:      "info",
	}
}

func loadFile(path string) (fileConfig, error) {
	cfg := defaults()
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("config file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return cfg, fmt.Errorf("config file %s: %w", path, err)
	}
	return cfg, cfg.validate()
}

func (c fileConfig) validate() error {
	switch {
	case c.Addr == "":
		return errors.New("config: addr: must not be empty")
	case c.DataDir == "":
		return errors.New("config: data_dir: must not be empty")
	case c.DemoRate <= 0 || c.DemoRate > 1000:
		return errors.New("config: demo_rate: must be more than 0 and at most 1000 orders per second")
	}
	for _, n := range []struct {
		name string
		v    int64
	}{
		{"max_conns", int64(c.MaxConns)}, {"max_conns_per_addr", int64(c.MaxConnsPerAddr)}, {"password_hashes", int64(c.PasswordHashes)},
		{"header_timeout", int64(c.HeaderTimeout)}, {"body_timeout", int64(c.BodyTimeout)}, {"idle_timeout", int64(c.IdleTimeout)},
		{"password_hash_wait", int64(c.PasswordHashWait)},
	} {
		if n.v < 0 {
			return fmt.Errorf("config: %s: must not be negative (0 takes the default)", n.name)
		}
	}
	if err := c.Queries.validate(); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return fmt.Errorf("config: log_level: %q is not debug, info, warn or error", c.LogLevel)
	}
	return nil
}

// resolve builds the configuration from file, environment and flags.
func resolve(args []string, getenv func(string) string, stderr io.Writer) (fileConfig, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", getenv("ASHREPORTS_CONFIG"), "config file (YAML); env ASHREPORTS_CONFIG")
	addr := fs.String("addr", "", "listen address (default 127.0.0.1:8080); env ASHREPORTS_ADDR")
	dataDir := fs.String("data-dir", "", "data directory (default ./ashreports-data); env ASHREPORTS_DATA_DIR")
	dashDir := fs.String("dashboards-dir", "", "directory of dashboard YAML files; env ASHREPORTS_DASHBOARDS_DIR")
	demo := fs.String("demo", "", "create the demo data source and dashboard (true|false, default true); env ASHREPORTS_DEMO")
	gen := fs.String("demo-generator", "", "keep inserting demo orders (true|false, default true); env ASHREPORTS_DEMO_GENERATOR")
	logLevel := fs.String("log-level", "", "debug, info, warn or error; env ASHREPORTS_LOG_LEVEL")
	debugAddr := fs.String("debug-addr", "", "serve Go profiling (net/http/pprof) on this address, e.g. 127.0.0.1:6060; env ASHREPORTS_DEBUG_ADDR")
	maxConns := fs.String("max-conns", "", "most open connections in all (default 19000); env ASHREPORTS_MAX_CONNS")
	maxConnsPerAddr := fs.String("max-conns-per-addr", "", "most open connections of one client address (default 12000); env ASHREPORTS_MAX_CONNS_PER_ADDR")
	headerTimeout := fs.String("header-timeout", "", "time a request's headers may take (default 10s); env ASHREPORTS_HEADER_TIMEOUT")
	bodyTimeout := fs.String("body-timeout", "", "time a request's body may take (default 30s); env ASHREPORTS_BODY_TIMEOUT")
	idleTimeout := fs.String("idle-timeout", "", "time a kept-alive connection may wait for a request (default 120s); env ASHREPORTS_IDLE_TIMEOUT")
	pwHashes := fs.String("password-hashes", "", "password hashes (sign-ins) at once (default: CPUs, at most 4); env ASHREPORTS_PASSWORD_HASHES")
	pwHashWait := fs.String("password-hash-wait", "", "time a sign-in waits for a hash before 429 (default 1s); env ASHREPORTS_PASSWORD_HASH_WAIT")
	if err := fs.Parse(args); err != nil {
		return fileConfig{}, usageError{err}
	}
	if fs.NArg() > 0 {
		return fileConfig{}, usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	cfg := defaults()
	if *configPath != "" {
		var err error
		if cfg, err = loadFile(*configPath); err != nil {
			return cfg, err
		}
	}
	str := func(dst *string, env, flagVal string) {
		if v := getenv(env); v != "" {
			*dst = v
		}
		if flagVal != "" {
			*dst = flagVal
		}
	}
	boolean := func(dst *bool, name, env, flagVal string) error {
		for _, v := range []string{getenv(env), flagVal} {
			if v == "" {
				continue
			}
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("config: %s: %q is not true or false", name, v)
			}
			*dst = b
		}
		return nil
	}
	integer := func(dst *int, name, env, flagVal string) error {
		for _, v := range []string{getenv(env), flagVal} {
			if v == "" {
				continue
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("config: %s: %q is not a whole number", name, v)
			}
			*dst = n
		}
		return nil
	}
	duration := func(dst *time.Duration, name, env, flagVal string) error {
		for _, v := range []string{getenv(env), flagVal} {
			if v == "" {
				continue
			}
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("config: %s: %q is not a duration such as 30s", name, v)
			}
			*dst = d
		}
		return nil
	}
	str(&cfg.Addr, "ASHREPORTS_ADDR", *addr)
	str(&cfg.DataDir, "ASHREPORTS_DATA_DIR", *dataDir)
	str(&cfg.DashboardsDir, "ASHREPORTS_DASHBOARDS_DIR", *dashDir)
	str(&cfg.LogLevel, "ASHREPORTS_LOG_LEVEL", *logLevel)
	str(&cfg.DebugAddr, "ASHREPORTS_DEBUG_ADDR", *debugAddr)
	if err := boolean(&cfg.Demo, "demo", "ASHREPORTS_DEMO", *demo); err != nil {
		return cfg, err
	}
	if err := boolean(&cfg.DemoGenerator, "demo_generator", "ASHREPORTS_DEMO_GENERATOR", *gen); err != nil {
		return cfg, err
	}
	for _, err := range []error{
		integer(&cfg.MaxConns, "max_conns", "ASHREPORTS_MAX_CONNS", *maxConns),
		integer(&cfg.MaxConnsPerAddr, "max_conns_per_addr", "ASHREPORTS_MAX_CONNS_PER_ADDR", *maxConnsPerAddr),
		duration(&cfg.HeaderTimeout, "header_timeout", "ASHREPORTS_HEADER_TIMEOUT", *headerTimeout),
		duration(&cfg.BodyTimeout, "body_timeout", "ASHREPORTS_BODY_TIMEOUT", *bodyTimeout),
		duration(&cfg.IdleTimeout, "idle_timeout", "ASHREPORTS_IDLE_TIMEOUT", *idleTimeout),
		integer(&cfg.PasswordHashes, "password_hashes", "ASHREPORTS_PASSWORD_HASHES", *pwHashes),
		duration(&cfg.PasswordHashWait, "password_hash_wait", "ASHREPORTS_PASSWORD_HASH_WAIT", *pwHashWait),
	} {
		if err != nil {
			return cfg, err
		}
	}
	return cfg, cfg.validate()
}
