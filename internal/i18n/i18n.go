package i18n

import (
	"embed"
	"encoding/json"
	"fmt"
	"strings"
)

//go:embed *.json
var files embed.FS

// Catalog is the messages of one locale.
type Catalog struct {
	Locale   string
	Dir      string // "ltr" or "rtl"
	messages map[string]string
}

// Load returns the catalog of a locale; "en" is the only one yet.
func Load(locale string) (*Catalog, error) {
	b, err := files.ReadFile(locale + ".json")
	if err != nil {
		return nil, fmt.Errorf("no message catalog for locale %q", locale)
	}
	c := &Catalog{Locale: locale, Dir: "ltr"}
	if err := json.Unmarshal(b, &c.messages); err != nil {
		return nil, fmt.Errorf("catalog %s: %w", locale, err)
	}
	return c, nil
}

// T returns the message for key with {name} placeholders replaced by the
// values that follow it in pairs ("count", 4). A missing key returns the
// key itself, so that it shows up in the page and in tests.
func (c *Catalog) T(key string, args ...any) string {
	m, ok := c.messages[key]
	if !ok {
		return key
	}
	for i := 0; i+1 < len(args); i += 2 {
		m = strings.ReplaceAll(m, "{"+fmt.Sprint(args[i])+"}", fmt.Sprint(args[i+1]))
	}
	return m
}

// Subset returns the messages whose keys start with one of the prefixes,
// for the browser runtime.
func (c *Catalog) Subset(prefixes ...string) map[string]string {
	out := map[string]string{}
	for k, v := range c.messages {
		for _, p := range prefixes {
			if strings.HasPrefix(k, p) {
				out[k] = v
			}
		}
	}
	return out
}
