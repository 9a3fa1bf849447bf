package data

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// NPYWriter writes an NPY file row by row, for arrays larger than memory: the header
// first, then the rows as they come. Its output is byte for byte what WriteNPYFloat32
// and WriteNPYInt write for the same array (numpy.save's layout).
//
// The number of rows N (shape[0]) is given up front and Close checks that exactly N
// rows were written. When N is not known in advance (-1), the writer puts a header for
// N = 0 and rewrites it at Close through io.WriterAt: numpy's header leaves room for 21
// digits of the first axis, so the header has the same length for every N.
//
// An NPYWriter does not close the underlying writer. After the first error every call
// returns it.
type NPYWriter struct {
	w      io.Writer
	bw     *bufio.Writer
	descr  string
	shape  []int
	rowLen int // elements per row
	rows   int // rows written
	buf    []byte
	err    error
	closed bool
}

// NewNPYWriter writes the header of an NPY array of element type descr (NPYFloat32 or
// NPYInt64) and shape shape to w and returns the writer for its rows. shape[0] is the
// number of rows N, or -1 when unknown (then w must implement io.WriterAt, as *os.File
// does); the other dimensions give one row's shape and must hold at least one element.
func NewNPYWriter(w io.Writer, descr string, shape []int) (*NPYWriter, error) {
	if descr != NPYFloat32 && descr != NPYInt64 {
		return nil, fmt.Errorf("npy: stream writer: element type %q, expected %q or %q", descr, NPYFloat32, NPYInt64)
	}
	if len(shape) == 0 || shape[0] < -1 {
		return nil, fmt.Errorf("npy: stream writer: shape %v, expected (N, ...) with N >= 0, or -1 for unknown", shape)
	}
	rowLen := 1
	for _, d := range shape[1:] {
		if d < 1 {
			return nil, fmt.Errorf("npy: stream writer: shape %v, expected dimensions >= 1 after N", shape)
		}
		rowLen *= d
	}
	if shape[0] < 0 {
		if _, ok := w.(io.WriterAt); !ok {
			return nil, errors.New("npy: stream writer: N unknown (-1) needs an io.WriterAt to rewrite the header at Close")
		}
	}
	nw := &NPYWriter{w: w, bw: bufio.NewWriterSize(w, 1<<16), descr: descr, shape: append([]int(nil), shape...), rowLen: rowLen}
	if _, err := nw.bw.Write(nw.header(max(shape[0], 0))); err != nil {
		return nil, err
	}
	return nw, nil
}

// header returns the file's header for n rows.
func (w *NPYWriter) header(n int) []byte {
	sh := append([]int{n}, w.shape[1:]...)
	return npyHeader(w.descr, sh)
}

// Rows returns the number of rows written so far.
func (w *NPYWriter) Rows() int { return w.rows }

// start checks that a write of len elements of type descr may go on and returns the
// number of rows it holds.
func (w *NPYWriter) start(descr string, n int) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, errors.New("npy: stream writer: write after Close")
	}
	if descr != w.descr {
		return 0, fmt.Errorf("npy: stream writer: writing %s elements to an array of %s", descr, w.descr)
	}
	if n%w.rowLen != 0 {
		return 0, fmt.Errorf("npy: stream writer: %d values, expected a multiple of the row size %d (shape %v)", n, w.rowLen, w.shape)
	}
	rows := n / w.rowLen
	if w.shape[0] >= 0 && w.rows+rows > w.shape[0] {
		w.err = fmt.Errorf("npy: stream writer: %d rows, more than the %d of shape %v", w.rows+rows, w.shape[0], w.shape)
		return 0, w.err
	}
	return rows, nil
}

// put writes b, remembering an error.
func (w *NPYWriter) put(b []byte, rows int) error {
	if _, err := w.bw.Write(b); err != nil {
		w.err = err
		return err
	}
	w.rows += rows
	return nil
}

// WriteFloat32 appends the rows in x (a multiple of the row size, row-major) to an
// array of NPYFloat32.
func (w *NPYWriter) WriteFloat32(x []float32) error {
	rows, err := w.start(NPYFloat32, len(x))
	if err != nil {
		return err
	}
	w.buf = w.buf[:0]
	for _, v := range x {
		w.buf = binary.LittleEndian.AppendUint32(w.buf, math.Float32bits(v))
	}
	return w.put(w.buf, rows)
}

// WriteInt appends the rows in v (a multiple of the row size) to an array of NPYInt64.
func (w *NPYWriter) WriteInt(v []int) error {
	rows, err := w.start(NPYInt64, len(v))
	if err != nil {
		return err
	}
	w.buf = w.buf[:0]
	for _, x := range v {
		w.buf = binary.LittleEndian.AppendUint64(w.buf, uint64(int64(x)))
	}
	return w.put(w.buf, rows)
}

// Close flushes the rows and checks that exactly N were written (an error otherwise:
// the file is then incomplete and should be discarded), or, N unknown, rewrites the
// header for the rows written. It does not close the underlying writer.
func (w *NPYWriter) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.err != nil {
		return w.err
	}
	if err := w.bw.Flush(); err != nil {
		w.err = err
		return err
	}
	if n := w.shape[0]; n >= 0 {
		if w.rows != n {
			w.err = fmt.Errorf("npy: stream writer: %d rows written, expected %d (shape %v)", w.rows, n, w.shape)
		}
		return w.err
	}
	h := w.header(w.rows)
	if len(h) != len(w.header(0)) { // cannot happen below 10^21 rows
		w.err = fmt.Errorf("npy: stream writer: the header for %d rows does not fit in place", w.rows)
		return w.err
	}
	if _, err := w.w.(io.WriterAt).WriteAt(h, 0); err != nil {
		w.err = err
	}
	return w.err
}
