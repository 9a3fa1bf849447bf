//go:build cuda

package driver

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/gmvae/gmvae/cuda"
	"gorgonia.org/cu"
)

// Stream is a non-blocking CUDA stream of a Device.
type Stream struct {
	d         *Device
	s         cu.Stream
	destroyed atomic.Bool
}

// Event is a CUDA event of a Device (with timing: see Device.Elapsed).
type Event struct {
	d         *Device
	e         cu.Event
	destroyed atomic.Bool
}

var (
	_ cuda.Stream = (*Stream)(nil)
	_ cuda.Event  = (*Event)(nil)
)

// cuStream returns the gorgonia.org/cu stream for s (nil: the legacy default stream).
// It runs inside do's calls.
func (d *Device) cuStream(op string, s cuda.Stream) (cu.Stream, error) {
	if s == nil {
		return cu.Stream{}, nil
	}
	st, ok := s.(*Stream)
	switch {
	case !ok || st == nil:
		return cu.Stream{}, cuda.Errorf(op, "stream %T is not from the CUDA driver", s)
	case st.d != d:
		return cu.Stream{}, cuda.Errorf(op, "the stream belongs to another Device")
	case st.destroyed.Load():
		return cu.Stream{}, cuda.Errorf(op, "the stream was destroyed")
	}
	return st.s, nil
}

func (d *Device) cuEvent(op string, e cuda.Event) (*Event, error) {
	ev, ok := e.(*Event)
	switch {
	case !ok || ev == nil:
		return nil, cuda.Errorf(op, "event %T is not from the CUDA driver", e)
	case ev.d != d:
		return nil, cuda.Errorf(op, "the event belongs to another Device")
	case ev.destroyed.Load():
		return nil, cuda.Errorf(op, "the event was destroyed")
	}
	return ev, nil
}

// NewStream creates a non-blocking stream (cuStreamCreate, CU_STREAM_NON_BLOCKING).
func (d *Device) NewStream() (cuda.Stream, error) {
	s := &Stream{d: d}
	err := d.do("cuStreamCreate", func() error {
		var err error
		if s.s, err = cu.MakeStream(cu.NonBlocking); err != nil {
			return err
		}
		d.streams[s] = struct{}{}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Synchronize waits until all work queued on the stream is done
// (cuStreamSynchronize), on the calling goroutine.
func (s *Stream) Synchronize() error {
	const op = "cuStreamSynchronize"
	if s.destroyed.Load() {
		return cuda.Errorf(op, "the stream was destroyed")
	}
	return s.d.wait(op, s.s.Synchronize)
}

// Destroy releases the stream (cuStreamDestroy); queued work still completes.
func (s *Stream) Destroy() error {
	const op = "cuStreamDestroy"
	return s.d.do(op, func() error {
		if s.destroyed.Load() {
			return cuda.Errorf(op, "the stream was destroyed already")
		}
		if err := s.s.Destroy(); err != nil {
			return err
		}
		s.destroyed.Store(true)
		delete(s.d.streams, s)
		return nil
	})
}

// NewEvent creates an event (cuEventCreate, with timing).
func (d *Device) NewEvent() (cuda.Event, error) {
	e := &Event{d: d}
	err := d.do("cuEventCreate", func() error {
		var err error
		if e.e, err = cu.MakeEvent(cu.DefaultEvent); err != nil {
			return err
		}
		d.events[e] = struct{}{}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// Record marks the current end of stream s (nil: the default stream) (cuEventRecord).
func (e *Event) Record(s cuda.Stream) error {
	const op = "cuEventRecord"
	return e.d.do(op, func() error {
		if e.destroyed.Load() {
			return cuda.Errorf(op, "the event was destroyed")
		}
		st, err := e.d.cuStream(op, s)
		if err != nil {
			return err
		}
		return e.e.Record(st)
	})
}

// Synchronize waits until the recorded point has been passed (cuEventSynchronize),
// on the calling goroutine.
func (e *Event) Synchronize() error {
	const op = "cuEventSynchronize"
	if e.destroyed.Load() {
		return cuda.Errorf(op, "the event was destroyed")
	}
	return e.d.wait(op, e.e.Synchronize)
}

// Done reports whether the recorded point has been passed (cuEventQuery), without
// waiting.
func (e *Event) Done() (bool, error) {
	const op = "cuEventQuery"
	var done bool
	err := e.d.do(op, func() error {
		if e.destroyed.Load() {
			return cuda.Errorf(op, "the event was destroyed")
		}
		err := e.e.Query()
		if r, ok := resultOf(err); ok && r == ErrNotReady {
			return nil
		}
		done = err == nil
		return err
	})
	return done, err
}

// Destroy releases the event (cuEventDestroy).
func (e *Event) Destroy() error {
	const op = "cuEventDestroy"
	return e.d.do(op, func() error {
		if e.destroyed.Load() {
			return cuda.Errorf(op, "the event was destroyed already")
		}
		if err := cu.DestroyEvent(&e.e); err != nil {
			return err
		}
		e.destroyed.Store(true)
		delete(e.d.events, e)
		return nil
	})
}

// StreamWaitEvent makes later work on s wait for e's last recorded point
// (cuStreamWaitEvent).
func (d *Device) StreamWaitEvent(s cuda.Stream, e cuda.Event) error {
	const op = "cuStreamWaitEvent"
	return d.do(op, func() error {
		st, err := d.cuStream(op, s)
		if err != nil {
			return err
		}
		ev, err := d.cuEvent(op, e)
		if err != nil {
			return err
		}
		return st.Wait(ev.e, 0)
	})
}

// Elapsed returns the GPU time between two recorded events (cuEventElapsedTime,
// about half a microsecond resolution); both must have completed.
func (d *Device) Elapsed(start, end cuda.Event) (time.Duration, error) {
	const op = "cuEventElapsedTime"
	var ms float64
	err := d.do(op, func() error {
		a, err := d.cuEvent(op, start)
		if err != nil {
			return err
		}
		b, err := d.cuEvent(op, end)
		if err != nil {
			return err
		}
		ms, err = a.e.Elapsed(b.e)
		return err
	})
	return time.Duration(ms * float64(time.Millisecond)), err
}

func (s *Stream) String() string { return fmt.Sprintf("stream %v", s.s.C()) }
