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
//
// In the Question style the query is read as SQLite tokenizes it, and
// SQLite's own parameters (?, ?NNN, @name, $name, #name, and :name
// followed by '(' or '::', tcl-style) are refused: SQLite would leave
// them unbound, and a tcl-style one such as $a(';') is a single token
// to SQLite whose quote or semicolon this scan would misread.
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
		case style == Question && (c == '?' || isVariableStart(query, i)) && !isPlainParam(query, i):
			end := variableEnd(query, i)
			return "", nil, fmt.Errorf("%q at byte %d is SQLite's own parameter syntax; a query names its parameters :name (letters, digits and _, starting with a letter or _)", query[i:end], i)
		case c == ':' && i+1 < n && query[i+1] == ':':
			b.WriteString("::")
			i += 2
		case isNamePart(c) || c >= 0x80:
			// A word: an identifier, keyword or number, where '$' and
			// non-ASCII bytes do not start a parameter.
			j := i + 1
			for j < n && isIDChar(query[j]) {
				j++
			}
			b.WriteString(query[i:j])
			i = j
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

// isSpace is SQLite's whitespace.
func isSpace(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') }

// isIDChar is SQLite's IdChar: a byte of an identifier or a parameter's
// name.
func isIDChar(c byte) bool { return isNamePart(c) || c == '$' || c >= 0x80 }

// isVariableStart reports whether an SQLite parameter of a name ($a, @a,
// #a, :a) starts at q[i].
func isVariableStart(q string, i int) bool {
	switch q[i] {
	case '$', '@', '#', ':':
		return i+1 < len(q) && isIDChar(q[i+1])
	}
	return false
}

// variableEnd returns the end of the SQLite parameter at q[i], as
// SQLite's tokenizer finds it: ? and digits, or a prefix and IdChars,
// '::' and a final (...) up to whitespace.
func variableEnd(q string, i int) int {
	j := i + 1
	if q[i] == '?' {
		for j < len(q) && q[j] >= '0' && q[j] <= '9' {
			j++
		}
		return j
	}
	for j < len(q) {
		switch {
		case isIDChar(q[j]):
			j++
		case q[j] == ':' && j+1 < len(q) && q[j+1] == ':':
			j += 2
		case q[j] == '(':
			for j < len(q) && !isSpace(q[j]) && q[j] != ')' {
				j++
			}
			if j < len(q) && q[j] == ')' {
				j++
			}
			return j
		default:
			return j
		}
	}
	return j
}

// isPlainParam reports whether the SQLite parameter at q[i] is one Bind
// binds: ':' and a name, the whole token.
func isPlainParam(q string, i int) bool {
	if q[i] != ':' || !isNameStart(q[i+1]) {
		return false
	}
	end := variableEnd(q, i)
	for k := i + 1; k < end; k++ {
		if !isNamePart(q[k]) {
			return false
		}
	}
	return true
}

func isNameStart(c byte) bool { return c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z') }
func isNamePart(c byte) bool  { return isNameStart(c) || (c >= '0' && c <= '9') }
