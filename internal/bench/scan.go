package bench

// opEnvelope is what a viewer needs of an op frame; the slices point into
// the frame.
type opEnvelope struct {
	stream, epoch, op []byte
	offset            uint64
}

// scanOpFrame reads an op frame without encoding/json's reflection and
// allocations: most frames a viewer gets are op frames, and at thousands
// of viewers decoding them is much of the bench's CPU, which it shares with
// the server. It answers ok only for a JSON object of type "op" with
// stream, epoch (strings without escapes), offset (an unsigned integer),
// op (an object) and optionally chart (a string) and ts (an unsigned
// integer); anything else goes to encoding/json. The op object is only
// delimited here, not checked: the caller parses it, or finds the same
// bytes among the ops already parsed (opCache).
func scanOpFrame(b []byte) (env opEnvelope, ok bool) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return env, false
	}
	i++
	var isOp, haveStream, haveEpoch, haveOffset, haveOp bool
	for {
		// A key; an empty object, or a comma before '}', is no op frame.
		i = skipWS(b, i)
		key, j, ok := scanPlainString(b, i)
		if !ok {
			return env, false
		}
		i = skipWS(b, j)
		if i >= len(b) || b[i] != ':' {
			return env, false
		}
		i = skipWS(b, i+1)
		switch string(key) {
		case "type":
			v, j2, ok := scanPlainString(b, i)
			if !ok || string(v) != "op" {
				return env, false
			}
			isOp, j = true, j2
		case "stream":
			env.stream, j, ok = scanPlainString(b, i)
			haveStream = ok
		case "epoch":
			env.epoch, j, ok = scanPlainString(b, i)
			haveEpoch = ok
		case "offset":
			env.offset, j, ok = scanUint(b, i)
			haveOffset = ok
		case "op":
			if i >= len(b) || b[i] != '{' {
				return env, false
			}
			j, ok = skipValue(b, i)
			env.op, haveOp = b[i:j], ok
		case "chart":
			_, j, ok = scanPlainString(b, i)
		case "ts":
			_, j, ok = scanUint(b, i)
		default:
			return env, false
		}
		if !ok {
			return env, false
		}
		i = skipWS(b, j)
		if i < len(b) && b[i] == ',' {
			i++
			continue
		}
		if i < len(b) && b[i] == '}' {
			break
		}
		return env, false
	}
	if skipWS(b, i+1) != len(b) {
		return env, false
	}
	return env, isOp && haveStream && haveEpoch && haveOffset && haveOp
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanPlainString reads a string at b[i] that has no escapes, returning its
// contents and the index after it.
func scanPlainString(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, i, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return b[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x80: // escapes, control bytes, UTF-8 (which encoding/json checks): slow path
			return nil, i, false
		}
	}
	return nil, i, false
}

// scanUint reads an unsigned decimal integer (no fraction, no exponent).
func scanUint(b []byte, i int) (uint64, int, bool) {
	start := i
	var v uint64
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		d := uint64(b[i] - '0')
		if v > (1<<64-1-d)/10 {
			return 0, start, false
		}
		v = v*10 + d
		i++
	}
	if i == start || (b[start] == '0' && i-start > 1) {
		return 0, start, false
	}
	if i < len(b) && (b[i] == '.' || b[i] == 'e' || b[i] == 'E') {
		return 0, start, false
	}
	return v, i, true
}

// skipValue returns the index after the JSON value at b[i], finding its
// end without checking it.
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch b[i] {
	case '"':
		for j := i + 1; j < len(b); j++ {
			switch b[j] {
			case '\\':
				j++
			case '"':
				return j + 1, true
			}
		}
		return i, false
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, ok := skipValue(b, j)
				if !ok {
					return i, false
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, true
				}
			}
		}
		return i, false
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
		j++
	}
	return j, j > i
}
