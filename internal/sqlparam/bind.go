package sqlparam

import (
	"fmt"
	"strconv"
	"strings"
)

// Placeholder styles.
const (
	// Question marks (?), as SQLite and MySQL use.
	Question = iota
	// Dollar numbers ($1), as PostgreSQL uses.
	Dollar
)

// Bind rewrites the :name parameters of query to positional placeholders
// of the given style and returns the arguments in order. It leaves string
// literals, quoted identifiers (with SQLite's [brackets] in the Question
// style), comments and PostgreSQL casts (::type) alone. A parameter missing from params is an error naming it.
//
// The query must be one statement starting with SELECT, WITH or VALUES:
// a data source is read-only, and a second statement (PRAGMA, ATTACH)
// could otherwise undo the connection's read-only settings.
func Bind(query string, style int, params map[string]string) (string, []any, error) {
	if kw := firstKeyword(query); kw != "SELECT" && kw != "WITH" && kw != "VALUES" {
		return "", nil, fmt.Errorf("a query must start with SELECT, WITH or VALUES, not %q", kw)
	}
	var b strings.Builder
	var args []any
	index := map[string]int{}
	ended := false // a semicolon ended the statement
	n := len(query)
	for i := 0; i < n; {
		c := query[i]
		if ended && !isSpace(c) && !(c == '-' && i+1 < n && query[i+1] == '-') && !(c == '/' && i+1 < n && query[i+1] == '*') {
			return "", nil, fmt.Errorf("only one SQL statement is allowed (text after the ';' at byte %d)", strings.LastIndexByte(query[:i], ';'))
		}
		switch {
		case c == ';':
			ended = true
			b.WriteByte(c)
			i++
		case c == '\'' || c == '"' || c == '`':
			j := i + 1
			for j < n {
				if query[j] == c {
					if j+1 < n && query[j+1] == c { // doubled quote escapes itself
						j += 2
						continue
					}
					break
				}
				j++
			}
			if j >= n {
				return "", nil, fmt.Errorf("unterminated quote starting at byte %d", i)
			}
			b.WriteString(query[i : j+1])
			i = j + 1
		case c == '[' && style == Question:
			// An SQLite [bracketed identifier].
			j := strings.IndexByte(query[i:], ']')
			if j < 0 {
				return "", nil, fmt.Errorf("unterminated [identifier] starting at byte %d", i)
			}
			b.WriteString(query[i : i+j+1])
			i += j + 1
		case c == '-' && i+1 < n && query[i+1] == '-':
			j := strings.IndexByte(query[i:], '\n')
			if j < 0 {
				j = n - i
			}
			b.WriteString(query[i : i+j])
			i += j
		case c == '/' && i+1 < n && query[i+1] == '*':
			j := strings.Index(query[i+2:], "*/")
			if j < 0 {
				return "", nil, fmt.Errorf("unterminated comment starting at byte %d", i)
			}
			b.WriteString(query[i : i+2+j+2])
			i += 2 + j + 2
		case c == ':' && i+1 < n && query[i+1] == ':':
			b.WriteString("::")
			i += 2
		case c == ':' && i+1 < n && isNameStart(query[i+1]):
			j := i + 1
			for j < n && isNamePart(query[j]) {
				j++
			}
			name := query[i+1 : j]
			v, ok := params[name]
			if !ok {
				return "", nil, fmt.Errorf("query parameter :%s is not declared", name)
			}
			switch style {
			case Dollar:
				k, seen := index[name]
				if !seen {
					args = append(args, v)
					k = len(args)
					index[name] = k
				}
				b.WriteString("$" + strconv.Itoa(k))
			default:
				args = append(args, v)
				b.WriteByte('?')
			}
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), args, nil
}

// firstKeyword returns the query's first word, upper-cased, after
// whitespace and comments.
func firstKeyword(q string) string {
	for {
		q = strings.TrimLeft(q, " \t\r\n")
		switch {
		case strings.HasPrefix(q, "--"):
			if i := strings.IndexByte(q, '\n'); i >= 0 {
				q = q[i:]
				continue
			}
			return ""
		case strings.HasPrefix(q, "/*"):
			if i := strings.Index(q, "*/"); i >= 0 {
				q = q[i+2:]
				continue
			}
			return ""
		}
		end := 0
		for end < len(q) && isNamePart(q[end]) {
			end++
		}
		return strings.ToUpper(q[:end])
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func isNameStart(c byte) bool { return c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z') }
func isNamePart(c byte) bool  { return isNameStart(c) || (c >= '0' && c <= '9') }
