package data

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// RowsInfo describes the examples a RowReader returns.
type RowsInfo struct {
	Name   string // the data set's name
	N      int    // the number of examples, or -1 when only the end of the input tells (CSV)
	D      int    // features per example
	Shape  []int  // the shape of one example (product D), or nil
	Labels bool   // whether the input has labels (a label column or a labels file)
}

// RowReader streams a data set one example at a time, holding one row in memory: the
// streaming cores of the CSV, IDX and NPY readers (OpenCSVRows, OpenIDXRows,
// OpenNPYRows), which check exactly what LoadCSV, LoadIDX and LoadNPY check and give
// the same errors. ConvertToShards writes one into a sharded data set.
type RowReader interface {
	// Info describes the rows.
	Info() RowsInfo
	// Next returns the next example's features (a buffer valid until the next call)
	// and its label (NoLabel without labels), or io.EOF after the last example.
	Next() ([]float32, int, error)
	// Close closes the input files.
	Close() error
}

// closers closes files in order, returning the first error.
type closers []io.Closer

func (c closers) Close() error {
	var first error
	for _, f := range c {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// OpenCSVRows opens a CSV file for streaming: LoadCSV one example at a time. The
// header and label column are settled on open (from the first record); a file with
// no data record gives LoadCSV's error at the first Next.
func OpenCSVRows(path string, opt CSVOptions) (RowReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	cs, err := newCSVStream(f, path, opt)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &csvRows{cs: cs, f: f}, nil
}

type csvRows struct {
	cs *csvStream
	f  *os.File
}

func (r *csvRows) Info() RowsInfo {
	return RowsInfo{Name: r.cs.name, N: -1, D: r.cs.d, Labels: r.cs.labelCol >= 0}
}

func (r *csvRows) Next() ([]float32, int, error) {
	x, l, err := r.cs.next()
	if err == io.EOF && r.cs.n == 0 {
		return nil, 0, r.cs.fail(0, 0, "", nil, "no data records after the header")
	}
	return x, l, err
}

func (r *csvRows) Close() error { return r.f.Close() }

// payloadStream reads a payload of total bytes in rows, wording short and long
// payloads as DecodeIDX and DecodeNPY do.
type payloadStream struct {
	r     io.Reader
	total int64
	done  int64
	what  string // "dims [3 2] of ubyte", "shape [3 2] of <f4"
	fail  func(err error, format string, args ...any) error
}

// read fills b with the next len(b) payload bytes.
func (p *payloadStream) read(b []byte) error {
	n, err := io.ReadFull(p.r, b)
	p.done += int64(n)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return p.fail(io.ErrUnexpectedEOF, "truncated data: expected %d bytes for %s, found %d", p.total, p.what, p.done)
	}
	if err != nil {
		return p.fail(err, "reading %d data bytes (%s), got %d", p.total, p.what, p.done)
	}
	return nil
}

// end checks that the payload ends after its total bytes.
func (p *payloadStream) end() error {
	var one [1]byte
	m, err := io.ReadFull(p.r, one[:])
	if m > 0 {
		return p.fail(nil, "trailing data: expected exactly %d data bytes for %s, found more", p.total, p.what)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return p.fail(err, "damaged stream after the %d data bytes (a truncated or corrupt gzip file?)", p.total)
	}
	return nil
}

// OpenIDXRows opens an IDX images file and, when labelsPath is not "", an IDX labels
// file for streaming: LoadIDX one example at a time, with LoadIDX's checks and errors
// (a short or over-long payload is found when the reading gets there).
func OpenIDXRows(name, imagesPath, labelsPath string) (RowReader, error) {
	r := &idxRows{name: name, path: imagesPath, labelsPath: labelsPath}
	ok := false
	defer func() {
		if !ok {
			r.files.Close()
		}
	}()
	open := func(path string) (*idxHeader, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		r.files = append(r.files, f)
		return readIDXHeader(f, path)
	}
	h, err := open(imagesPath)
	if err != nil {
		return nil, err
	}
	r.typ, r.dims = h.typ, h.dims
	r.n, r.d = h.dims[0], 1
	for _, k := range h.dims[1:] {
		r.d *= k
	}
	r.x = make([]float32, r.d)
	r.buf = make([]byte, r.d*h.typ.Size())
	r.data = &payloadStream{r: h.r, total: h.total, what: fmt.Sprintf("dims %v of %v", h.dims, h.typ), fail: h.fail}
	if labelsPath != "" {
		lh, err := open(labelsPath)
		if err != nil {
			return nil, err
		}
		fail := func(format string, args ...any) error {
			return &FormatError{Format: "idx", Path: labelsPath, Msg: fmt.Sprintf(format, args...)}
		}
		if len(lh.dims) != 1 {
			return nil, fail("labels have dimensions %v, expected one dimension (N,)", lh.dims)
		}
		if !lh.typ.integer() {
			return nil, fail("labels have element type %v, expected an integer type (ubyte, byte, short, int)", lh.typ)
		}
		if lh.dims[0] != r.n {
			return nil, fail("%d labels, expected %d (the number of examples in %s)", lh.dims[0], r.n, imagesPath)
		}
		r.ltyp = lh.typ
		r.lbuf = make([]byte, lh.typ.Size())
		r.labels = &payloadStream{r: lh.r, total: lh.total, what: fmt.Sprintf("dims %v of %v", lh.dims, lh.typ), fail: lh.fail}
	}
	ok = true
	return r, nil
}

type idxRows struct {
	name, path, labelsPath string
	files                  closers
	typ, ltyp              IDXType
	dims                   []int
	n, d, row              int
	x                      []float32
	buf, lbuf              []byte
	data, labels           *payloadStream
}

func (r *idxRows) Info() RowsInfo {
	return RowsInfo{Name: r.name, N: r.n, D: r.d, Shape: idxShape(r.dims), Labels: r.labels != nil}
}

func (r *idxRows) Next() ([]float32, int, error) {
	if r.row == r.n {
		if err := r.data.end(); err != nil {
			return nil, 0, err
		}
		if r.labels != nil {
			if err := r.labels.end(); err != nil {
				return nil, 0, err
			}
		}
		return nil, 0, io.EOF
	}
	if err := r.data.read(r.buf); err != nil {
		return nil, 0, err
	}
	if err := idxFeatures(r.path, r.typ, r.buf, r.x, r.d, r.row); err != nil {
		return nil, 0, err
	}
	r.row++
	label := NoLabel
	if r.labels != nil {
		if err := r.labels.read(r.lbuf); err != nil {
			return nil, 0, err
		}
		l, _ := (&IDXArray{Type: r.ltyp, Dims: []int{1}, Data: r.lbuf}).Ints()
		if l[0] < NoLabel {
			return nil, 0, &FormatError{Format: "idx", Path: r.labelsPath, Line: r.row,
				Msg: fmt.Sprintf("label %d, expected a class id >= 0 or -1 for none", l[0])}
		}
		label = l[0]
	}
	return r.x, label, nil
}

func (r *idxRows) Close() error { return r.files.Close() }

// OpenNPYRows opens an NPY data file and, when labelsPath is not "", an NPY labels
// file for streaming: LoadNPY one example at a time, with LoadNPY's checks and errors
// (a short or over-long payload is found when the reading gets there).
func OpenNPYRows(name, dataPath, labelsPath string) (RowReader, error) {
	r := &npyRows{name: name, path: dataPath, labelsPath: labelsPath}
	ok := false
	defer func() {
		if !ok {
			r.files.Close()
		}
	}()
	open := func(path string) (*npyHeaderInfo, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		r.files = append(r.files, f)
		return readNPYHeader(f, path)
	}
	h, err := open(dataPath)
	if err != nil {
		return nil, err
	}
	if len(h.shape) < 2 {
		return nil, &FormatError{Format: "npy", Path: dataPath,
			Msg: fmt.Sprintf("data shape %v: expected (N, D) or (N, H, W)", h.shape)}
	}
	r.descr, r.shape = h.descr, h.shape
	r.n, r.d = h.shape[0], 1
	for _, k := range h.shape[1:] {
		r.d *= k
	}
	r.x = make([]float32, r.d)
	r.buf = make([]byte, r.d*npyItemSize[h.descr])
	r.data = &payloadStream{r: h.r, total: h.total, what: fmt.Sprintf("shape %v of %s", h.shape, h.descr), fail: h.fail}
	if labelsPath != "" {
		lh, err := open(labelsPath)
		if err != nil {
			return nil, err
		}
		if err := npyCheckLabelsShape(labelsPath, lh.shape, r.n, dataPath); err != nil {
			return nil, err
		}
		r.ldescr = lh.descr
		r.lbuf = make([]byte, npyItemSize[lh.descr])
		r.labels = &payloadStream{r: lh.r, total: lh.total, what: fmt.Sprintf("shape %v of %s", lh.shape, lh.descr), fail: lh.fail}
	}
	ok = true
	return r, nil
}

type npyRows struct {
	name, path, labelsPath string
	files                  closers
	descr, ldescr          string
	shape                  []int
	n, d, row              int
	x                      []float32
	buf, lbuf              []byte
	data, labels           *payloadStream
}

func (r *npyRows) Info() RowsInfo {
	return RowsInfo{Name: r.name, N: r.n, D: r.d, Shape: npyShape(r.shape), Labels: r.labels != nil}
}

func (r *npyRows) Next() ([]float32, int, error) {
	if r.row == r.n {
		if err := r.data.end(); err != nil {
			return nil, 0, err
		}
		if r.labels != nil {
			if err := r.labels.end(); err != nil {
				return nil, 0, err
			}
		}
		return nil, 0, io.EOF
	}
	if err := r.data.read(r.buf); err != nil {
		return nil, 0, err
	}
	if err := npyFeatures(r.path, r.descr, r.buf, r.x, r.d, r.row); err != nil {
		return nil, 0, err
	}
	r.row++
	label := NoLabel
	if r.labels != nil {
		if err := r.labels.read(r.lbuf); err != nil {
			return nil, 0, err
		}
		l, err := npyLabel(r.labelsPath, r.ldescr, r.lbuf, 0, r.row)
		if err != nil {
			return nil, 0, err
		}
		label = l
	}
	return r.x, label, nil
}

func (r *npyRows) Close() error { return r.files.Close() }
