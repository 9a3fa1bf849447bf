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
	f, err := openInput(path, formatCSV)
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
	f  io.Closer
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

// readGrow reads the next n payload bytes into a new buffer that grows as they arrive,
// so that a stream shorter than its header says costs no more than it holds.
func (p *payloadStream) readGrow(n int) ([]byte, error) {
	b, err := readUpTo(p.r, int64(n))
	p.done += int64(len(b))
	if err != nil {
		return nil, p.fail(err, "reading %d data bytes (%s), got %d", p.total, p.what, p.done)
	}
	if len(b) < n {
		return nil, p.fail(io.ErrUnexpectedEOF, "truncated data: expected %d bytes for %s, found %d", p.total, p.what, p.done)
	}
	return b, nil
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

// OpenIDXRows opens an IDX images file and, when labelsPath is not "", a labels file
// (IDX or NPY, told by its content) for streaming: LoadIDX one example at a time, with
// LoadIDX's checks and errors (a short or over-long payload is found when the reading
// gets there).
func OpenIDXRows(name, imagesPath, labelsPath string) (RowReader, error) {
	return openRecordRows(name, imagesPath, formatIDX, labelsPath, (*recordRows).idxData)
}

// OpenNPYRows opens an NPY data file and, when labelsPath is not "", a labels file
// (NPY or IDX, told by its content) for streaming: LoadNPY one example at a time, with
// LoadNPY's checks and errors (a short or over-long payload is found when the reading
// gets there).
func OpenNPYRows(name, dataPath, labelsPath string) (RowReader, error) {
	return openRecordRows(name, dataPath, formatNPY, labelsPath, (*recordRows).npyData)
}

// openRecordRows opens the data file path (format) and the labels file, if any, and
// lays out the reader with data.
func openRecordRows(name, path, format, labelsPath string, data func(r *recordRows, name string, in io.Reader, path string) error) (RowReader, error) {
	r := &recordRows{}
	err := func() error {
		f, err := r.open(path, format)
		if err != nil {
			return err
		}
		if err := data(r, name, f, path); err != nil {
			return err
		}
		if labelsPath == "" {
			return nil
		}
		lf, err := r.open(labelsPath, "labels")
		if err != nil {
			return err
		}
		return r.labelData(lf, labelsPath, path)
	}()
	if err != nil {
		r.files.Close()
		return nil, err
	}
	return r, nil
}

// idxData lays out the reader for the IDX images file path, read from in.
func (r *recordRows) idxData(name string, in io.Reader, path string) error {
	h, err := readIDXHeader(in, path)
	if err != nil {
		return err
	}
	if err := checkExampleSize(formatIDX, path, h.dims, "dimensions"); err != nil {
		return err
	}
	typ := h.typ
	r.setData(name, h.dims, idxShape(h.dims), typ.Size(),
		&payloadStream{r: h.r, total: h.total, what: fmt.Sprintf("dims %v of %v", h.dims, h.typ), fail: h.fail},
		func(buf []byte, x []float32, row int) error { return idxFeatures(path, typ, buf, x, len(x), row) })
	return nil
}

// npyData lays out the reader for the NPY data file path, read from in.
func (r *recordRows) npyData(name string, in io.Reader, path string) error {
	h, err := readNPYHeader(in, path)
	if err != nil {
		return err
	}
	if len(h.shape) < 2 {
		return &FormatError{Format: formatNPY, Path: path,
			Msg: fmt.Sprintf("data shape %v: expected (N, D) or (N, H, W)", h.shape)}
	}
	if err := checkExampleSize(formatNPY, path, h.shape, "data shape"); err != nil {
		return err
	}
	descr := h.descr
	r.setData(name, h.shape, npyShape(h.shape), npyItemSize[descr],
		&payloadStream{r: h.r, total: h.total, what: fmt.Sprintf("shape %v of %s", h.shape, h.descr), fail: h.fail},
		func(buf []byte, x []float32, row int) error { return npyFeatures(path, descr, buf, x, len(x), row) })
	return nil
}

// labelData adds the labels file labelsPath, read from in, for the rows of dataPath.
func (r *recordRows) labelData(in io.Reader, labelsPath, dataPath string) error {
	lf, err := readLabelsHeader(in, labelsPath, r.n, dataPath)
	if err != nil {
		return err
	}
	r.info.Labels = true
	r.lbuf = make([]byte, lf.size)
	r.labels = &payloadStream{r: lf.r, total: lf.total, what: lf.what, fail: lf.fail}
	r.label = func(b []byte, row int) (int, error) { return lf.decode(b, 0, row) }
	return nil
}

// recordRows streams a file of fixed-size records (IDX, NPY: one example per record
// after the header) and an optional labels file of fixed-size records. The formats
// differ only in how a record decodes (features, label), which each opener supplies.
type recordRows struct {
	info         RowsInfo
	files        closers
	n, row       int
	rowBytes     int
	x            []float32
	buf, lbuf    []byte
	data, labels *payloadStream
	features     func(buf []byte, x []float32, row int) error // decodes one example; row from 0
	label        func(buf []byte, row int) (int, error)       // decodes one label; row from 1
}

// open opens one of the reader's files (closed by Close).
func (r *recordRows) open(path, format string) (*os.File, error) {
	f, err := openInput(path, format)
	if err != nil {
		return nil, err
	}
	r.files = append(r.files, f)
	return f, nil
}

// setData lays out the reader for dims (N, then the example's dimensions) of records
// of itemSize bytes per value. The row buffers are made when the first row's bytes
// have arrived (Next): a header that announces huge rows in a short file costs no
// allocation.
func (r *recordRows) setData(name string, dims, shape []int, itemSize int, data *payloadStream, features func([]byte, []float32, int) error) {
	r.n = dims[0]
	d := 1
	for _, k := range dims[1:] {
		d *= k
	}
	r.info = RowsInfo{Name: name, N: r.n, D: d, Shape: shape}
	r.rowBytes = d * itemSize
	r.data, r.features = data, features
}

func (r *recordRows) Info() RowsInfo { return r.info }

func (r *recordRows) Next() ([]float32, int, error) {
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
	if r.buf == nil {
		buf, err := r.data.readGrow(r.rowBytes)
		if err != nil {
			return nil, 0, err
		}
		r.buf, r.x = buf, make([]float32, r.info.D)
	} else if err := r.data.read(r.buf); err != nil {
		return nil, 0, err
	}
	if err := r.features(r.buf, r.x, r.row); err != nil {
		return nil, 0, err
	}
	r.row++
	label := NoLabel
	if r.labels != nil {
		if err := r.labels.read(r.lbuf); err != nil {
			return nil, 0, err
		}
		l, err := r.label(r.lbuf, r.row)
		if err != nil {
			return nil, 0, err
		}
		label = l
	}
	return r.x, label, nil
}

func (r *recordRows) Close() error { return r.files.Close() }
