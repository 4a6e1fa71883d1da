package bench

import "sync/atomic"

// pollers spreads connections over a few pollers.
type pollers struct {
	ps   []*poller
	next atomic.Uint64
}

func newPollers(n int) (*pollers, error) {
	out := &pollers{}
	for range n {
		p, err := newPoller()
		if err != nil {
			out.close()
			return nil, err
		}
		out.ps = append(out.ps, p)
	}
	return out, nil
}

func (ps *pollers) pick() *poller { return ps.ps[ps.next.Add(1)%uint64(len(ps.ps))] }

func (ps *pollers) close() {
	for _, p := range ps.ps {
		p.close()
	}
}
