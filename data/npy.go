package data

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// The NPY format (numpy.lib.format): the magic "\x93NUMPY", a major and a minor version
// byte, the header length (version 1: uint16, versions 2 and 3: uint32, little-endian),
// then the header: a Python dict literal {'descr': ..., 'fortran_order': ..., 'shape':
// (...), } padded with spaces and ended by '\n' (version 3 allows UTF-8 in it), then the
// raw elements.

// The element types (NumPy descr strings) the reader accepts.
const (
	NPYFloat32 = "<f4"
	NPYFloat64 = "<f8"
	NPYUint8   = "|u1"
	NPYInt32   = "<i4"
	NPYInt64   = "<i8"
)

var npyItemSize = map[string]int{NPYFloat32: 4, NPYFloat64: 8, NPYUint8: 1, NPYInt32: 4, NPYInt64: 8}

const npyMagic = "\x93NUMPY"

// NPYArray is the decoded content of one NPY file: its element type (a descr string,
// one of the NPY* constants), its shape (C order) and the raw little-endian elements.
type NPYArray struct {
	Descr string
	Shape []int
	Data  []byte
}

// Len returns the number of elements, the product of Shape (1 for a 0-d array).
func (a *NPYArray) Len() int {
	n := 1
	for _, d := range a.Shape {
		n *= d
	}
	return n
}

func (a *NPYArray) isInt() bool {
	return a.Descr == NPYUint8 || a.Descr == NPYInt32 || a.Descr == NPYInt64
}

// float64At returns element i as a float64 (exact for every accepted type but <i8
// beyond 2^53).
func (a *NPYArray) float64At(i int) float64 {
	b := a.Data
	switch a.Descr {
	case NPYFloat32:
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
	case NPYFloat64:
		return math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	case NPYUint8:
		return float64(b[i])
	case NPYInt32:
		return float64(int32(binary.LittleEndian.Uint32(b[4*i:])))
	case NPYInt64:
		return float64(int64(binary.LittleEndian.Uint64(b[8*i:])))
	}
	panic("npy: unknown descr " + a.Descr)
}

// Float32s returns the elements converted to float32 (rounded to nearest), unscaled.
func (a *NPYArray) Float32s() []float32 {
	out := make([]float32, a.Len())
	if a.Descr == NPYFloat32 {
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(a.Data[4*i:]))
		}
		return out
	}
	if a.Descr == NPYInt64 {
		for i := range out {
			out[i] = float32(int64(binary.LittleEndian.Uint64(a.Data[8*i:])))
		}
		return out
	}
	for i := range out {
		out[i] = float32(a.float64At(i))
	}
	return out
}

// ReadNPY reads the NPY file at path.
func ReadNPY(path string) (*NPYArray, error) {
	f, err := openInput(path, formatNPY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return DecodeNPY(f, path)
}

// DecodeNPY reads one NPY stream from r; name is used in errors. It accepts versions
// 1.0, 2.0 and 3.0, the element types NPYFloat32, NPYFloat64, NPYUint8, NPYInt32 and
// NPYInt64, C order only, and exactly the announced number of bytes after the header.
func DecodeNPY(r io.Reader, name string) (*NPYArray, error) {
	h, err := readNPYHeader(r, name)
	if err != nil {
		return nil, err
	}
	data, err := readWhole(h.r, h.total, fmt.Sprintf("shape %v of %s", h.shape, h.descr), h.fail)
	if err != nil {
		return nil, err
	}
	return &NPYArray{Descr: h.descr, Shape: h.shape, Data: data}, nil
}

// npyHeaderInfo is a parsed NPY preamble and header; r reads the payload after it.
type npyHeaderInfo struct {
	r     io.Reader
	name  string
	descr string
	shape []int
	total int64 // payload bytes
}

func (h *npyHeaderInfo) fail(err error, format string, args ...any) error {
	return &FormatError{Format: "npy", Path: h.name, Msg: fmt.Sprintf(format, args...), Err: err}
}

// readNPYHeader reads and checks an NPY stream's magic, version and header: the part
// DecodeNPY and the streaming reader share. The stream may be gzip-compressed.
func readNPYHeader(r io.Reader, name string) (*npyHeaderInfo, error) {
	br, gz, err := decompress(r)
	if err != nil {
		return nil, (&npyHeaderInfo{name: name}).fail(err, "reading gzip header")
	}
	return readNPYHeaderFrom(br, gz, name)
}

// readNPYHeaderFrom is readNPYHeader on a decompressed stream.
func readNPYHeaderFrom(br *bufio.Reader, gz bool, name string) (*npyHeaderInfo, error) {
	h := &npyHeaderInfo{name: name}
	fail := h.fail
	if head, _ := br.Peek(len(npyMagic)); len(head) == len(npyMagic) && string(head) != npyMagic {
		return nil, fail(nil, "bad magic %q: expected %q (is this an NPY file?)%s", head, npyMagic, describe(br, gz, formatNPY))
	}
	var pre [8]byte
	if n, err := io.ReadFull(br, pre[:]); err != nil {
		return nil, fail(ioErr(err), "truncated header: expected the 6-byte magic and 2 version bytes, found %d bytes", n)
	}
	major, minor := pre[6], pre[7]
	var hlen int
	switch {
	case major == 1 && minor == 0:
		var b [2]byte
		if n, err := io.ReadFull(br, b[:]); err != nil {
			return nil, fail(ioErr(err), "truncated header: expected a 2-byte header length, found %d bytes", n)
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	case (major == 2 || major == 3) && minor == 0:
		var b [4]byte
		if n, err := io.ReadFull(br, b[:]); err != nil {
			return nil, fail(ioErr(err), "truncated header: expected a 4-byte header length, found %d bytes", n)
		}
		hlen = int(binary.LittleEndian.Uint32(b[:]))
		if hlen > 1<<24 {
			return nil, fail(nil, "header length %d: expected at most %d (corrupt file?)", hlen, 1<<24)
		}
	default:
		return nil, fail(nil, "format version %d.%d: expected 1.0, 2.0 or 3.0", major, minor)
	}
	// Read as the bytes arrive: a length of 2^24 in a 20-byte file allocates nothing.
	hdr, err := io.ReadAll(io.LimitReader(br, int64(hlen)))
	if err == nil && len(hdr) < hlen {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, fail(err, "truncated header: expected %d header bytes, found %d", hlen, len(hdr))
	}
	descr, fortran, shape, err := parseNPYHeader(string(hdr), major)
	if err != nil {
		return nil, fail(nil, "bad header %q: %v", strings.TrimRight(string(hdr), " \n"), err)
	}
	if fortran {
		return nil, fail(nil, "fortran_order is True: expected C order (save with numpy.ascontiguousarray(a) or a.copy(order='C'))")
	}
	size, ok := npyItemSize[descr]
	if !ok {
		hint := ""
		if len(descr) > 0 && descr[0] == '>' {
			hint = " (big-endian data: convert with a.astype(a.dtype.newbyteorder('<')))"
		}
		return nil, fail(nil, "element type %q: expected one of %s, %s, %s, %s, %s%s", descr, NPYFloat32, NPYFloat64, NPYUint8, NPYInt32, NPYInt64, hint)
	}
	total, err := payloadSize(shape, size)
	if err != nil {
		what := "announces" + strings.TrimPrefix(err.Error(), "announce")
		return nil, fail(nil, "shape %v of %s %s (corrupt header?)", shape, descr, what)
	}
	h.r, h.descr, h.shape, h.total = br, descr, shape, total
	return h, nil
}

// parseNPYHeader parses the header dict. It must have exactly the keys descr (a
// string), fortran_order (True or False) and shape (a tuple of non-negative ints).
func parseNPYHeader(h string, major byte) (descr string, fortran bool, shape []int, err error) {
	if major < 3 {
		for i := 0; i < len(h); i++ {
			if h[i] >= 0x80 {
				return "", false, nil, fmt.Errorf("non-ASCII byte at %d (only version 3.0 allows UTF-8)", i)
			}
		}
	}
	p := &pyParser{s: h}
	p.space()
	if !p.eat('{') {
		return "", false, nil, p.errf("expected '{'")
	}
	seen := map[string]bool{}
	for {
		p.space()
		if p.eat('}') {
			break
		}
		key, err := p.str()
		if err != nil {
			return "", false, nil, err
		}
		if seen[key] {
			return "", false, nil, fmt.Errorf("key %q appears twice", key)
		}
		seen[key] = true
		p.space()
		if !p.eat(':') {
			return "", false, nil, p.errf("expected ':' after key %q", key)
		}
		p.space()
		switch key {
		case "descr":
			if descr, err = p.str(); err != nil {
				return "", false, nil, fmt.Errorf("descr: %v (structured dtypes are not supported)", err)
			}
		case "fortran_order":
			switch {
			case p.word("True"):
				fortran = true
			case p.word("False"):
				fortran = false
			default:
				return "", false, nil, p.errf("fortran_order: expected True or False")
			}
		case "shape":
			if shape, err = p.tuple(); err != nil {
				return "", false, nil, fmt.Errorf("shape: %v", err)
			}
		default:
			return "", false, nil, fmt.Errorf("unexpected key %q: expected only descr, fortran_order, shape", key)
		}
		p.space()
		if p.eat('}') {
			break
		}
		if !p.eat(',') {
			return "", false, nil, p.errf("expected ',' or '}'")
		}
	}
	p.space()
	if p.i != len(p.s) {
		return "", false, nil, p.errf("unexpected text after the dict")
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return "", false, nil, fmt.Errorf("missing key %q", k)
		}
	}
	return descr, fortran, shape, nil
}

// pyParser reads the small subset of Python literals NPY headers use.
type pyParser struct {
	s string
	i int
}

func (p *pyParser) errf(format string, args ...any) error {
	return fmt.Errorf("at byte %d: %s", p.i, fmt.Sprintf(format, args...))
}

func (p *pyParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *pyParser) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *pyParser) word(w string) bool {
	if strings.HasPrefix(p.s[p.i:], w) {
		p.i += len(w)
		return true
	}
	return false
}

// str reads a quoted string without escapes (NPY keys and descrs have none).
func (p *pyParser) str() (string, error) {
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", p.errf("expected a quoted string")
	}
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", p.errf("unterminated string")
	}
	v := p.s[p.i+1 : p.i+1+end]
	if strings.ContainsRune(v, '\\') {
		return "", p.errf("escape in string %q", v)
	}
	p.i += end + 2
	return v, nil
}

// tuple reads (), (n,) or (n1, n2, ...) of non-negative integers (a Python 2 'L'
// suffix allowed).
func (p *pyParser) tuple() ([]int, error) {
	if !p.eat('(') {
		return nil, p.errf("expected '('")
	}
	out := []int{}
	for {
		p.space()
		if p.eat(')') { // () or a trailing comma
			return out, nil
		}
		j := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		if j == p.i {
			return nil, p.errf("expected a non-negative integer")
		}
		v, err := strconv.Atoi(p.s[j:p.i])
		if err != nil {
			return nil, p.errf("dimension %q out of range", p.s[j:p.i])
		}
		p.eat('L')
		out = append(out, v)
		p.space()
		if p.eat(')') {
			if len(out) == 1 {
				return nil, p.errf("a 1-tuple needs a trailing comma")
			}
			return out, nil
		}
		if !p.eat(',') {
			return nil, p.errf("expected ',' or ')' in the tuple")
		}
	}
}

// LoadNPY reads a data file in NPY format and, when labelsPath is not "", a labels
// file (NPY or IDX, told by its content) into a Dataset named name. Either file may be
// gzip-compressed.
//
// The data array has shape (N, D), or (N, d1, d2, ...) flattened to D = d1*d2*... (an
// image array (N, H, W) gives D = H*W, Shape [H W]). |u1 elements are taken as 8-bit
// intensities and scaled to [0, 1] by x/255, like IDX; the other types are converted
// to float32 unscaled and must be finite as float32. The labels array has shape (N,),
// an integer type, or a float type with integral values (IDX: an integer type), and
// entries in [0, MaxClasses) or -1 (none).
func LoadNPY(name, dataPath, labelsPath string) (*Dataset, error) {
	a, err := ReadNPY(dataPath)
	if err != nil {
		return nil, err
	}
	ds, err := npyDataset(name, dataPath, a)
	if err != nil || labelsPath == "" {
		return ds, err
	}
	if ds.Labels, err = loadLabels(labelsPath, ds.N, dataPath); err != nil {
		return nil, err
	}
	return ds, nil
}

// npyDataset makes the Dataset of LoadNPY from the data array a of the file path.
func npyDataset(name, path string, a *NPYArray) (*Dataset, error) {
	if len(a.Shape) < 2 {
		return nil, &FormatError{Format: "npy", Path: path,
			Msg: fmt.Sprintf("data shape %v: expected (N, D) or (N, H, W)", a.Shape)}
	}
	if err := checkExampleSize(formatNPY, path, a.Shape, "data shape"); err != nil {
		return nil, err
	}
	n, d := a.Shape[0], 1
	for _, k := range a.Shape[1:] {
		d *= k
	}
	ds := &Dataset{Name: name, N: n, D: d, Shape: npyShape(a.Shape)}
	ds.X = make([]float32, a.Len())
	if err := npyFeatures(path, a.Descr, a.Data, ds.X, d, 0); err != nil {
		return nil, err
	}
	return ds, nil
}

// npyShape is the Shape of a Dataset read from an NPY array of shape shape (nil for
// a plain (N, D) matrix).
func npyShape(shape []int) []int {
	if len(shape) > 2 {
		return append([]int(nil), shape[1:]...)
	}
	return nil
}

// npyFeatures converts the first len(x) NPY elements of type descr in b into x: |u1
// scaled to [0, 1] by x/255, the other types unscaled and checked finite as float32.
// The rows of x (of d values) are rows row0+1, row0+2, ... of the file in errors.
func npyFeatures(path, descr string, b []byte, x []float32, d, row0 int) error {
	a := NPYArray{Descr: descr, Data: b}
	switch descr {
	case NPYUint8:
		for i := range x {
			x[i] = byteScale[b[i]]
		}
	case NPYFloat64:
		for i := range x {
			v := a.float64At(i)
			f := float32(v)
			if math.IsNaN(v) || math.IsInf(float64(f), 0) {
				return &FormatError{Format: "npy", Path: path, Line: row0 + i/d + 1, Column: i%d + 1,
					Msg: fmt.Sprintf("value %v is not finite as float32 (expected a finite number)", v)}
			}
			x[i] = f
		}
	case NPYFloat32:
		for i := range x {
			x[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return checkFiniteAt("npy", path, x, d, row0)
	case NPYInt64:
		for i := range x {
			x[i] = float32(int64(binary.LittleEndian.Uint64(b[8*i:])))
		}
	default:
		for i := range x {
			x[i] = float32(a.float64At(i))
		}
	}
	return nil
}

// npyCheckLabelsShape checks that a labels array of shape shape fits n examples.
func npyCheckLabelsShape(labelsPath string, shape []int, n int, dataPath string) error {
	if len(shape) != 1 {
		return &FormatError{Format: "npy", Path: labelsPath, Msg: fmt.Sprintf("labels shape %v: expected (N,) with N = %d", shape, n)}
	}
	if shape[0] != n {
		return &FormatError{Format: "npy", Path: labelsPath, Msg: fmt.Sprintf("%d labels, expected %d (the number of examples in %s)", shape[0], n, dataPath)}
	}
	return nil
}

// npyLabel returns label i of the NPY elements of type descr in b: an integer, or a
// float with an integral value, NoLabel or in [0, MaxClasses). row is its 1-based row
// in errors.
func npyLabel(path, descr string, b []byte, i, row int) (int, error) {
	var (
		l   int
		err error
	)
	if descr == NPYInt64 {
		l, err = labelFromInt(int64(binary.LittleEndian.Uint64(b[8*i:])))
	} else {
		l, err = labelFromFloat((&NPYArray{Descr: descr, Data: b}).float64At(i))
	}
	if err != nil {
		return 0, &FormatError{Format: "npy", Path: path, Line: row, Msg: err.Error()}
	}
	return l, nil
}

// npyHeader returns the NPY version 1.0 (or 2.0 if the header needs it) preamble and
// header for descr and shape, laid out as numpy.save does: keys sorted, padded with
// spaces so that the data starts at a multiple of 64 bytes, ended by '\n' — byte for
// byte what numpy 1.24 writes.
func npyHeader(descr string, shape []int) []byte {
	var sh string
	switch len(shape) {
	case 1:
		sh = fmt.Sprintf("(%d,)", shape[0])
	default:
		parts := make([]string, len(shape))
		for i, d := range shape {
			parts[i] = strconv.Itoa(d)
		}
		sh = "(" + strings.Join(parts, ", ") + ")"
	}
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, sh)
	if len(shape) > 0 {
		// numpy >= 1.23 leaves room to grow the first axis in place (its
		// GROWTH_AXIS_MAX_DIGITS = 21); doing the same makes the bytes identical.
		dict += strings.Repeat(" ", max(0, 21-len(strconv.Itoa(shape[0]))))
	}
	for _, v := range []struct {
		major  byte
		lenLen int
	}{{1, 2}, {2, 4}} {
		pre := len(npyMagic) + 2 + v.lenLen
		hlen := len(dict) + 1
		pad := (64 - (pre+hlen)%64) % 64
		hlen += pad
		if v.lenLen == 2 && hlen > math.MaxUint16 {
			continue
		}
		b := make([]byte, 0, pre+hlen)
		b = append(b, npyMagic...)
		b = append(b, v.major, 0)
		if v.lenLen == 2 {
			b = binary.LittleEndian.AppendUint16(b, uint16(hlen))
		} else {
			b = binary.LittleEndian.AppendUint32(b, uint32(hlen))
		}
		b = append(b, dict...)
		b = append(b, strings.Repeat(" ", pad)...)
		return append(b, '\n')
	}
	panic("unreachable")
}

// WriteNPYFloat32 writes x, a (rows, cols) row-major float32 matrix, as an NPY file
// of type <f4 and shape (rows, cols).
func WriteNPYFloat32(w io.Writer, x []float32, rows, cols int) error {
	if rows < 0 || cols < 0 || len(x) != rows*cols {
		return fmt.Errorf("npy: write: %d values for shape (%d, %d)", len(x), rows, cols)
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	bw.Write(npyHeader(NPYFloat32, []int{rows, cols}))
	var b [4]byte
	for _, v := range x {
		binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
		bw.Write(b[:])
	}
	return bw.Flush()
}

// WriteNPYInt writes v as a one-dimensional NPY file of type <i8 (numpy's default
// integer), shape (len(v),).
func WriteNPYInt(w io.Writer, v []int) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	bw.Write(npyHeader(NPYInt64, []int{len(v)}))
	var b [8]byte
	for _, x := range v {
		binary.LittleEndian.PutUint64(b[:], uint64(int64(x)))
		bw.Write(b[:])
	}
	return bw.Flush()
}

// SaveNPYFloat32 writes WriteNPYFloat32's output to the file at path.
func SaveNPYFloat32(path string, x []float32, rows, cols int) error {
	return saveFile(path, func(w io.Writer) error { return WriteNPYFloat32(w, x, rows, cols) })
}

// SaveNPYInt writes WriteNPYInt's output to the file at path.
func SaveNPYInt(path string, v []int) error {
	return saveFile(path, func(w io.Writer) error { return WriteNPYInt(w, v) })
}

func saveFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
