package data

import (
	"encoding/binary"
	"fmt"
	"io"
)

// A labels file (-labels, -train-labels, ...) goes with an IDX or an NPY data file and
// may itself be IDX or NPY, whichever the data file is: the readers tell its format by
// its content. Both in-memory loaders and both streaming readers read it here, so that
// every combination is checked and worded alike.

// labelsFile is the parsed header of a labels file: n entries of size bytes each
// follow it in r.
type labelsFile struct {
	r      io.Reader
	total  int64  // payload bytes
	what   string // "dims [3] of ubyte", "shape (3,) of <i8", for messages
	size   int
	fail   func(err error, format string, args ...any) error
	decode func(b []byte, i, row int) (int, error) // entry i of b; row (1-based) for errors
}

// readLabelsHeader reads the header of the labels file path (content r, gzip or not,
// IDX or NPY) and checks that it holds n labels, one per example of dataPath.
func readLabelsHeader(r io.Reader, path string, n int, dataPath string) (*labelsFile, error) {
	br, gz, err := decompress(r)
	if err != nil {
		return nil, &FormatError{Format: "labels", Path: path, Msg: "reading gzip header", Err: err}
	}
	head, _ := br.Peek(sniffHead)
	format, what := detectFormat(head)
	switch format {
	case formatIDX:
		h, err := readIDXHeaderFrom(br, gz, path)
		if err != nil {
			return nil, err
		}
		fail := func(format string, args ...any) error {
			return &FormatError{Format: formatIDX, Path: path, Msg: fmt.Sprintf(format, args...)}
		}
		if len(h.dims) != 1 {
			return nil, fail("labels have dimensions %v, expected one dimension (N,)", h.dims)
		}
		if !h.typ.integer() {
			return nil, fail("labels have element type %v, expected an integer type (ubyte, byte, short, int)", h.typ)
		}
		if h.dims[0] != n {
			return nil, fail("%d labels, expected %d (the number of examples in %s)", h.dims[0], n, dataPath)
		}
		typ := h.typ
		return &labelsFile{r: h.r, total: h.total, what: fmt.Sprintf("dims %v of %v", h.dims, h.typ), size: typ.Size(), fail: h.fail,
			decode: func(b []byte, i, row int) (int, error) {
				l, err := labelFromInt(int64(idxInt(typ, b, i)))
				if err != nil {
					return 0, &FormatError{Format: formatIDX, Path: path, Line: row, Msg: err.Error()}
				}
				return l, nil
			}}, nil
	case formatNPY:
		h, err := readNPYHeaderFrom(br, gz, path)
		if err != nil {
			return nil, err
		}
		if err := npyCheckLabelsShape(path, h.shape, n, dataPath); err != nil {
			return nil, err
		}
		descr := h.descr
		return &labelsFile{r: h.r, total: h.total, what: fmt.Sprintf("shape %v of %s", h.shape, h.descr), size: npyItemSize[descr], fail: h.fail,
			decode: func(b []byte, i, row int) (int, error) { return npyLabel(path, descr, b, i, row) }}, nil
	}
	if gz {
		what += " (gzip-compressed)"
	}
	hint := ""
	if format == formatCSV {
		hint = "; a CSV data file carries its labels in a column (-label-col)"
	}
	return nil, &FormatError{Format: "labels", Path: path,
		Msg: fmt.Sprintf("found %s, expected IDX or NPY labels: one dimension of %d integers (the examples in %s)%s", what, n, dataPath, hint)}
}

// loadLabels reads the labels file path for the n examples of dataPath.
func loadLabels(path string, n int, dataPath string) ([]int, error) {
	f, err := openInput(path, "labels")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return decodeLabels(f, path, n, dataPath)
}

// decodeLabels is loadLabels reading the file's content from r.
func decodeLabels(r io.Reader, path string, n int, dataPath string) ([]int, error) {
	lf, err := readLabelsHeader(r, path, n, dataPath)
	if err != nil {
		return nil, err
	}
	b, err := readWhole(lf.r, lf.total, lf.what, lf.fail)
	if err != nil {
		return nil, err
	}
	labels := make([]int, n)
	for i := range labels {
		if labels[i], err = lf.decode(b, i, i+1); err != nil {
			return nil, err
		}
	}
	return labels, nil
}

// idxInt returns element i of the big-endian IDX integers of type typ in b.
func idxInt(typ IDXType, b []byte, i int) int {
	switch typ {
	case IDXUint8:
		return int(b[i])
	case IDXInt8:
		return int(int8(b[i]))
	case IDXInt16:
		return int(int16(binary.BigEndian.Uint16(b[2*i:])))
	case IDXInt32:
		return int(int32(binary.BigEndian.Uint32(b[4*i:])))
	}
	panic("idx: not an integer type: " + typ.String())
}
