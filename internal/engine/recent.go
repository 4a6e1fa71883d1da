package engine

// Frame is an encoded op frame and its offset.
type Frame struct {
	Offset uint64
	Data   []byte
}

// remember adds f to the recent frames, dropping the oldest past either
// limit.
func (s *stream) remember(f Frame, maxFrames, maxBytes int) {
	s.recent = append(s.recent, f)
	s.recentBytes += len(f.Data)
	drop := 0
	for len(s.recent)-drop > maxFrames || (s.recentBytes > maxBytes && drop < len(s.recent)) {
		s.recentBytes -= len(s.recent[drop].Data)
		drop++
	}
	if drop > 0 {
		// Copy down rather than reslice, so the array does not grow.
		n := copy(s.recent, s.recent[drop:])
		clear(s.recent[n:])
		s.recent = s.recent[:n]
	}
}

// forgetRecent drops the recent frames.
func (s *stream) forgetRecent() {
	clear(s.recent)
	s.recent, s.recentBytes = s.recent[:0], 0
}

// Since returns the op frames of a stream after offset, when the stream
// is still in epoch and still holds all of them, and the stream's current
// offset. ok is false when the viewer must take a snapshot instead.
func (e *Engine) Since(streamID, epoch string, offset uint64) (frames []Frame, current uint64, ok bool) {
	e.mu.Lock()
	s, found := e.streams[streamID]
	e.mu.Unlock()
	if !found {
		return nil, 0, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if epoch != s.epoch || offset > s.offset {
		return nil, s.offset, false
	}
	if offset == s.offset {
		return nil, s.offset, true
	}
	if len(s.recent) == 0 || s.recent[0].Offset > offset+1 {
		return nil, s.offset, false
	}
	i := int(offset + 1 - s.recent[0].Offset)
	return append([]Frame(nil), s.recent[i:]...), s.offset, true
}
