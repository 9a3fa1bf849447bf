package engine

import (
	"errors"
	"fmt"
	"sync"

	"github.com/gmvae/gmvae/cuda"
)

// Fill writes batch i into x (rows x cols, row-major) and returns the number of rows it
// wrote (the last batch of an epoch may be short). It runs on the loader's goroutine.
type Fill func(i int, x []float32) (rows int, err error)

// Loader feeds count batches of up to rows x cols float32 to a backend ahead of the
// trainer (shared/design/ARCHITECTURE.md, "Memory" and "Data and batching"):
//
//   - a goroutine gathers the next batches into host slots while the current step runs;
//   - on a GPU backend the host slots are pinned memory when the device offers it, and
//     Next starts the upload of batch i+1 on a separate copy stream as soon as it hands
//     out batch i, so that the copy overlaps step i; the compute stream waits for an
//     upload's event before using the batch, and the copy stream waits for the end of
//     the step that last used a device buffer before overwriting it (two buffers);
//   - on the CPU backend the gathering overlaps the step and the upload is a copy.
//
// The batch Next returns is valid until the next call of Next.
type Loader struct {
	b          Backend
	rows, cols int
	count      int

	slots [2]*slot
	free  chan *slot // slots whose host buffer may be refilled
	ready chan filled
	stop  chan struct{}
	done  sync.WaitGroup

	next   int     // index of the next batch Next returns
	cur    *slot   // the slot of the batch handed out last
	staged *filled // batch i+1, upload started

	// GPU only.
	gpu      *GPU
	copyS    cuda.Stream
	stepDone cuda.Event // end of the previous step's work on the compute stream
	pinned   cuda.PinnedAllocator
}

type slot struct {
	host     []float32
	hostRaw  []byte // pinned memory backing host, if any
	dev      *Buf
	uploaded cuda.Event // GPU: the upload into dev (and out of host) is done
	used     bool       // dev has been handed to a step before
}

type filled struct {
	s    *slot
	i    int
	rows int
	err  error
}

// NewLoader starts a loader of count batches produced by fill.
func NewLoader(b Backend, rows, cols, count int, fill Fill) (*Loader, error) {
	if rows < 1 || cols < 1 || count < 0 {
		return nil, fmt.Errorf("engine: loader: batches of %d x %d, %d of them: want at least 1 x 1", rows, cols, count)
	}
	l := &Loader{b: b, rows: rows, cols: cols, count: count,
		free: make(chan *slot, 2), ready: make(chan filled, 2), stop: make(chan struct{})}
	if g, ok := b.(*GPU); ok {
		l.gpu = g
		l.pinned, _ = g.dev.(cuda.PinnedAllocator)
	}
	for k := range l.slots {
		s, err := l.newSlot(k)
		if err != nil {
			l.release()
			return nil, err
		}
		l.slots[k] = s
		l.free <- s
	}
	if l.gpu != nil {
		var err error
		if l.copyS, err = l.gpu.dev.NewStream(); err == nil {
			l.stepDone, err = l.gpu.dev.NewEvent()
		}
		if err != nil {
			l.release()
			return nil, fmt.Errorf("engine: loader: %w", err)
		}
	}
	l.done.Add(1)
	go l.produce(fill)
	return l, nil
}

func (l *Loader) newSlot(k int) (*slot, error) {
	n := l.rows * l.cols
	s := &slot{}
	var err error
	if s.dev, err = l.b.New(n, fmt.Sprintf("loader batch %d", k)); err != nil {
		return nil, err
	}
	switch {
	case l.pinned != nil:
		if s.hostRaw, err = l.pinned.AllocPinned(n * 4); err != nil {
			return nil, fmt.Errorf("engine: loader: pinned host buffer: %w", err)
		}
		s.host = bytesF32(s.hostRaw)
	default:
		s.host = make([]float32, n)
	}
	if l.gpu != nil {
		if s.uploaded, err = l.gpu.dev.NewEvent(); err != nil {
			return nil, fmt.Errorf("engine: loader: %w", err)
		}
	}
	return s, nil
}

// produce fills the batches in order into free slots.
func (l *Loader) produce(fill Fill) {
	defer l.done.Done()
	defer close(l.ready)
	for i := 0; i < l.count; i++ {
		var s *slot
		select {
		case s = <-l.free:
		case <-l.stop:
			return
		}
		f := filled{s: s, i: i}
		// The host buffer may still be the source of an upload in flight.
		if s.uploaded != nil {
			f.err = s.uploaded.Synchronize()
		}
		if f.err == nil {
			f.rows, f.err = fill(i, s.host)
			if f.err == nil && (f.rows < 0 || f.rows > l.rows) {
				f.err = fmt.Errorf("engine: loader: batch %d: fill returned %d rows, the buffers hold %d", i, f.rows, l.rows)
			}
		}
		select {
		case l.ready <- f:
		case <-l.stop:
			return
		}
		if f.err != nil {
			return
		}
	}
}

// upload starts (GPU) or does (CPU) the copy of a filled batch into its slot's device
// buffer, and gives the slot back to the producer, which waits for the copy before it
// refills the host buffer.
func (l *Loader) upload(f *filled) error {
	s := f.s
	n := f.rows * l.cols
	if l.gpu == nil {
		if err := l.b.Upload(s.dev.Slice(0, n), s.host[:n]); err != nil {
			return err
		}
	} else if n > 0 {
		// The device buffer was last read by the step before the current one (two
		// buffers): stepDone marks the end of that step's work.
		if s.used {
			if err := l.gpu.dev.StreamWaitEvent(l.copyS, l.stepDone); err != nil {
				return err
			}
		}
		if err := l.gpu.dev.MemcpyHtoDAsync(s.dev.ptr, f32Bytes(s.host[:n]), l.copyS); err != nil {
			return err
		}
		if err := s.uploaded.Record(l.copyS); err != nil {
			return err
		}
	}
	s.used = true
	l.free <- s
	return nil
}

// Next returns batch i (in order) on the backend and its number of rows; ok is false
// after the last batch. The buffer is valid until the next call.
func (l *Loader) Next() (x *Buf, rows int, ok bool, err error) {
	if l.next >= l.count {
		return nil, 0, false, nil
	}
	if l.gpu != nil {
		// Everything the previous step enqueued is before this point of the compute
		// stream: the copy into that step's buffer must wait for it.
		if err := l.stepDone.Record(l.gpu.stream); err != nil {
			return nil, 0, false, err
		}
	}
	var cur filled
	if l.staged != nil {
		cur = *l.staged
		l.staged = nil
		if cur.err != nil {
			return nil, 0, false, cur.err
		}
	} else {
		f, ok := <-l.ready
		if !ok {
			return nil, 0, false, errors.New("engine: loader: closed")
		}
		if f.err != nil {
			return nil, 0, false, f.err
		}
		if err := l.upload(&f); err != nil {
			return nil, 0, false, err
		}
		cur = f
	}
	if l.gpu != nil && cur.rows > 0 {
		if err := l.gpu.dev.StreamWaitEvent(l.gpu.stream, cur.s.uploaded); err != nil {
			return nil, 0, false, err
		}
	}
	l.next++
	l.cur = cur.s
	// Start batch i+1's upload now, so that it overlaps step i.
	if l.gpu != nil && l.next < l.count {
		if f, ok := <-l.ready; ok {
			if f.err == nil {
				if err := l.upload(&f); err != nil {
					return nil, 0, false, err
				}
			}
			l.staged = &f // a fill error is reported by the next call
		}
	}
	return cur.s.dev.Slice(0, cur.rows*l.cols), cur.rows, true, nil
}

// Close stops the producer and releases the loader's buffers, streams and events.
func (l *Loader) Close() error {
	close(l.stop)
	for range l.ready { // unblock and drain the producer
	}
	l.done.Wait()
	if l.gpu != nil {
		if err := l.gpu.dev.Synchronize(); err != nil {
			return err
		}
	}
	return l.release()
}

func (l *Loader) release() error {
	var errs []error
	for _, s := range l.slots {
		if s == nil {
			continue
		}
		if s.dev != nil {
			errs = append(errs, l.b.Release(s.dev))
		}
		if s.hostRaw != nil {
			errs = append(errs, l.pinned.FreePinned(s.hostRaw))
		}
		if s.uploaded != nil {
			errs = append(errs, s.uploaded.Destroy())
		}
	}
	if l.stepDone != nil {
		errs = append(errs, l.stepDone.Destroy())
	}
	if l.copyS != nil {
		errs = append(errs, l.copyS.Destroy())
	}
	return errors.Join(errs...)
}
