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
	Queries        queryConfig       `yaml:"queries"`
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
	return cfg, cfg.validate()
}
