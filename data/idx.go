package data

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
)

// The IDX format (LeCun's MNIST files): a 4-byte magic 0x00 0x00 <type> <ndims>, then
// ndims big-endian uint32 dimensions, then the elements in row-major order, big-endian.
// A file may be gzip-compressed as a whole; the reader tells by the first two bytes
// (gzip's 0x1f 0x8b cannot start an IDX file, whose first two bytes are zero; see
// decompress).

// IDXType is the element type code of an IDX file (the magic's third byte).
type IDXType byte

// The IDX element types.
const (
	IDXUint8   IDXType = 0x08
	IDXInt8    IDXType = 0x09
	IDXInt16   IDXType = 0x0B
	IDXInt32   IDXType = 0x0C
	IDXFloat32 IDXType = 0x0D
	IDXFloat64 IDXType = 0x0E
)

// Size returns the size in bytes of one element, or 0 for an unknown type.
func (t IDXType) Size() int {
	switch t {
	case IDXUint8, IDXInt8:
		return 1
	case IDXInt16:
		return 2
	case IDXInt32, IDXFloat32:
		return 4
	case IDXFloat64:
		return 8
	}
	return 0
}

func (t IDXType) String() string {
	switch t {
	case IDXUint8:
		return "ubyte"
	case IDXInt8:
		return "byte"
	case IDXInt16:
		return "short"
	case IDXInt32:
		return "int"
	case IDXFloat32:
		return "float"
	case IDXFloat64:
		return "double"
	}
	return fmt.Sprintf("IDXType(0x%02x)", byte(t))
}

func (t IDXType) integer() bool {
	return t == IDXUint8 || t == IDXInt8 || t == IDXInt16 || t == IDXInt32
}

// maxPayload bounds the bytes an IDX or NPY header may announce (1 TiB), so that a
// corrupt header gives an error instead of an absurd allocation.
const maxPayload = 1 << 40

// IDXArray is the decoded content of one IDX file: its element type, its dimensions and
// its payload exactly as stored (big-endian, len(Data) == product(Dims) * Type.Size()).
type IDXArray struct {
	Type IDXType
	Dims []int
	Data []byte
}

// Len returns the number of elements, the product of Dims.
func (a *IDXArray) Len() int {
	n := 1
	for _, d := range a.Dims {
		n *= d
	}
	return n
}

// Float32s returns the elements converted to float32, unscaled (a ubyte 255 is 255).
// Integers beyond 2^24 and doubles round to the nearest float32.
func (a *IDXArray) Float32s() []float32 {
	out := make([]float32, a.Len())
	idxDecode(a.Type, a.Data, out)
	return out
}

// idxDecode converts the first len(out) elements of type typ in b to float32.
func idxDecode(typ IDXType, b []byte, out []float32) {
	switch typ {
	case IDXUint8:
		for i := range out {
			out[i] = float32(b[i])
		}
	case IDXInt8:
		for i := range out {
			out[i] = float32(int8(b[i]))
		}
	case IDXInt16:
		for i := range out {
			out[i] = float32(int16(binary.BigEndian.Uint16(b[2*i:])))
		}
	case IDXInt32:
		for i := range out {
			out[i] = float32(int32(binary.BigEndian.Uint32(b[4*i:])))
		}
	case IDXFloat32:
		for i := range out {
			out[i] = math.Float32frombits(binary.BigEndian.Uint32(b[4*i:]))
		}
	case IDXFloat64:
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.BigEndian.Uint64(b[8*i:])))
		}
	}
}

// Ints returns the elements as ints; it fails for the float types.
func (a *IDXArray) Ints() ([]int, error) {
	if !a.Type.integer() {
		return nil, fmt.Errorf("idx: element type %v is not an integer type", a.Type)
	}
	out := make([]int, a.Len())
	for i := range out {
		out[i] = idxInt(a.Type, a.Data, i)
	}
	return out, nil
}

// IDXFromUint8 returns an IDXArray of type ubyte holding v with the given dimensions.
func IDXFromUint8(dims []int, v []byte) *IDXArray {
	return &IDXArray{Type: IDXUint8, Dims: slices.Clone(dims), Data: slices.Clone(v)}
}

// IDXFromInt32 returns an IDXArray of type int holding v with the given dimensions.
func IDXFromInt32(dims []int, v []int32) *IDXArray {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.BigEndian.PutUint32(b[4*i:], uint32(x))
	}
	return &IDXArray{Type: IDXInt32, Dims: slices.Clone(dims), Data: b}
}

// IDXFromFloat32 returns an IDXArray of type float holding v with the given dimensions.
func IDXFromFloat32(dims []int, v []float32) *IDXArray {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.BigEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return &IDXArray{Type: IDXFloat32, Dims: slices.Clone(dims), Data: b}
}

// WriteIDX writes a as an uncompressed IDX stream.
func WriteIDX(w io.Writer, a *IDXArray) error {
	if a.Type.Size() == 0 {
		return fmt.Errorf("idx: write: unknown element type 0x%02x", byte(a.Type))
	}
	if len(a.Dims) == 0 || len(a.Dims) > 255 {
		return fmt.Errorf("idx: write: %d dimensions, expected 1 to 255", len(a.Dims))
	}
	for _, d := range a.Dims {
		if d < 0 || d > math.MaxUint32 {
			return fmt.Errorf("idx: write: dimension %d out of range", d)
		}
	}
	if len(a.Data) != a.Len()*a.Type.Size() {
		return fmt.Errorf("idx: write: %d data bytes, expected %d for dims %v of %v", len(a.Data), a.Len()*a.Type.Size(), a.Dims, a.Type)
	}
	hdr := make([]byte, 4+4*len(a.Dims))
	hdr[2], hdr[3] = byte(a.Type), byte(len(a.Dims))
	for i, d := range a.Dims {
		binary.BigEndian.PutUint32(hdr[4+4*i:], uint32(d))
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	_, err := w.Write(a.Data)
	return err
}

// ReadIDX reads the IDX file at path, gzip-compressed or not.
func ReadIDX(path string) (*IDXArray, error) {
	f, err := openInput(path, formatIDX)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return DecodeIDX(f, path)
}

// DecodeIDX reads one IDX stream (gzip-compressed or not) from r; name is the file name
// used in error messages. The stream must hold exactly the announced elements: a short
// stream and trailing bytes are both errors.
func DecodeIDX(r io.Reader, name string) (*IDXArray, error) {
	h, err := readIDXHeader(r, name)
	if err != nil {
		return nil, err
	}
	data, err := readWhole(h.r, h.total, fmt.Sprintf("dims %v of %v", h.dims, h.typ), h.fail)
	if err != nil {
		return nil, err
	}
	return &IDXArray{Type: h.typ, Dims: h.dims, Data: data}, nil
}

// readWhole reads a payload of exactly total bytes (what: "dims [3 2] of ubyte", for
// messages) and words a short, long or damaged stream with fail.
func readWhole(r io.Reader, total int64, what string, fail func(err error, format string, args ...any) error) ([]byte, error) {
	data, extra, err := readPayload(r, total)
	if err != nil && int64(len(data)) == total {
		return nil, fail(err, "damaged stream after the %d data bytes (a truncated or corrupt gzip file?)", total)
	}
	if err != nil {
		return nil, fail(err, "reading %d data bytes (%s), got %d", total, what, len(data))
	}
	if int64(len(data)) < total {
		return nil, fail(io.ErrUnexpectedEOF, "truncated data: expected %d bytes for %s, found %d", total, what, len(data))
	}
	if extra {
		return nil, fail(nil, "trailing data: expected exactly %d data bytes for %s, found more", total, what)
	}
	return data, nil
}

// idxHeader is a parsed IDX header; r reads the (decompressed) payload after it.
type idxHeader struct {
	r     io.Reader
	name  string
	typ   IDXType
	dims  []int
	total int64 // payload bytes
}

func (h *idxHeader) fail(err error, format string, args ...any) error {
	return &FormatError{Format: "idx", Path: h.name, Msg: fmt.Sprintf(format, args...), Err: err}
}

// readIDXHeader reads the magic number and the dimensions of an IDX stream (gzip or
// not): the part DecodeIDX and the streaming reader share.
func readIDXHeader(r io.Reader, name string) (*idxHeader, error) {
	br, gz, err := decompress(r)
	if err != nil {
		return nil, (&idxHeader{name: name}).fail(err, "reading gzip header")
	}
	return readIDXHeaderFrom(br, gz, name)
}

// readIDXHeaderFrom is readIDXHeader on a decompressed stream.
func readIDXHeaderFrom(br *bufio.Reader, gz bool, name string) (*idxHeader, error) {
	h := &idxHeader{name: name}
	fail := h.fail
	what := "file"
	if gz {
		what = "decompressed file"
	}
	head, _ := br.Peek(4)
	if len(head) == 4 && (head[0] != 0 || head[1] != 0 || IDXType(head[2]).Size() == 0 || head[3] == 0) {
		return nil, fail(nil, "bad magic number 0x%02x%02x%02x%02x: expected 0x0000TTNN with type TT one of 08 09 0B 0C 0D 0E and NN >= 1 dimensions (is this an IDX file?)%s",
			head[0], head[1], head[2], head[3], describe(br, gz, formatIDX))
	}
	var magic [4]byte
	if n, err := io.ReadFull(br, magic[:]); err != nil {
		return nil, fail(ioErr(err), "truncated header: expected a 4-byte magic number, found %d bytes in the %s", n, what)
	}
	typ, nd := IDXType(magic[2]), int(magic[3])
	var dimBytes [4 * 255]byte
	if n, err := io.ReadFull(br, dimBytes[:4*nd]); err != nil {
		return nil, fail(ioErr(err), "truncated header: expected %d dimensions (%d bytes), found %d bytes", nd, 4*nd, n)
	}
	dims := make([]int, nd)
	for i := range dims {
		dims[i] = int(binary.BigEndian.Uint32(dimBytes[4*i:]))
	}
	total, err := payloadSize(dims, typ.Size())
	if err != nil {
		return nil, fail(nil, "dimensions %v of %v %v (corrupt header?)", dims, typ, err)
	}
	h.r, h.typ, h.dims, h.total = br, typ, dims, total
	return h, nil
}

// payloadSize returns the bytes of an array of dims (N first) of itemSize-byte
// elements. The size of one example (the product of dims[1:]) is bounded by itself,
// not only the total, so that an empty array (N = 0) cannot announce examples of
// 2^64 elements, which the streaming readers would lay out a row buffer for.
func payloadSize(dims []int, itemSize int) (int64, error) {
	row := int64(itemSize)
	for _, d := range dims[min(1, len(dims)):] {
		if d != 0 && row > maxPayload/int64(d) {
			return 0, fmt.Errorf("announce more than %d bytes per example", int64(maxPayload))
		}
		row *= int64(d)
	}
	if len(dims) == 0 {
		return row, nil
	}
	if n := int64(dims[0]); n != 0 && row > maxPayload/n {
		return 0, fmt.Errorf("announce more than %d bytes", int64(maxPayload))
	}
	return row * int64(dims[0]), nil
}

// LoadIDX reads an images file in IDX format and, when labelsPath is not "", a labels
// file (IDX or NPY, told by its content) into a Dataset named name. The images file's first dimension is N and the
// others are flattened into D (Shape keeps them). ubyte pixels are scaled to [0, 1]
// by x/255 (correctly rounded float32 division); other element types are kept as they
// are and must be finite. The labels file must be one-dimensional of length N, of an
// integer type (NPY: or a float type with integral values), with entries in
// [0, MaxClasses) or -1 (no label). Either file may be gzip-compressed.
func LoadIDX(name, imagesPath, labelsPath string) (*Dataset, error) {
	img, err := ReadIDX(imagesPath)
	if err != nil {
		return nil, err
	}
	ds, err := idxDataset(name, imagesPath, img)
	if err != nil {
		return nil, err
	}
	if labelsPath == "" {
		return ds, nil
	}
	if ds.Labels, err = loadLabels(labelsPath, ds.N, imagesPath); err != nil {
		return nil, err
	}
	return ds, nil
}

func idxDataset(name, path string, img *IDXArray) (*Dataset, error) {
	if err := checkExampleSize(formatIDX, path, img.Dims, "dimensions"); err != nil {
		return nil, err
	}
	n, d := img.Dims[0], 1
	for _, k := range img.Dims[1:] {
		d *= k
	}
	ds := &Dataset{Name: name, N: n, D: d, Shape: idxShape(img.Dims)}
	ds.X = make([]float32, img.Len())
	if err := idxFeatures(path, img.Type, img.Data, ds.X, d, 0); err != nil {
		return nil, err
	}
	return ds, nil
}

// idxShape is the shape of one example of an IDX array of dimensions dims.
func idxShape(dims []int) []int {
	if len(dims) == 1 {
		return []int{1}
	}
	return slices.Clone(dims[1:])
}

// idxFeatures converts IDX elements of type typ (big-endian bytes b) into x: ubyte
// pixels scaled to [0, 1], other types as they are and checked finite. The rows of x
// (of d values) are rows row0+1, row0+2, ... of the file in errors.
func idxFeatures(path string, typ IDXType, b []byte, x []float32, d, row0 int) error {
	if typ == IDXUint8 {
		for i, v := range b[:len(x)] {
			x[i] = byteScale[v]
		}
		return nil
	}
	idxDecode(typ, b, x)
	return checkFiniteAt("idx", path, x, d, row0)
}

// byteScale[b] is float32(b)/255, correctly rounded: 8-bit pixels scaled to [0, 1].
var byteScale = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(i) / 255
	}
	return t
}()

// readPayload reads exactly n bytes from r if it can (readUpTo) and reports whether r
// had more bytes after them. A short read returns the bytes found with a nil error:
// the caller words the truncation.
func readPayload(r io.Reader, n int64) (data []byte, extra bool, err error) {
	data, err = readUpTo(r, n)
	if err != nil || int64(len(data)) < n {
		return data, false, err
	}
	var one [1]byte
	m, err := io.ReadFull(r, one[:])
	if m > 0 {
		return data, true, nil
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return data, false, err
	}
	return data, false, nil
}

// readUpTo reads n bytes from r, or as many as r holds (with a nil error at its end),
// growing its buffer by doubling as bytes arrive: a header that lies about the size
// costs no allocation beyond twice the bytes actually there.
func readUpTo(r io.Reader, n int64) ([]byte, error) {
	data := make([]byte, 0, min(n, 1<<16))
	for int64(len(data)) < n {
		if len(data) == cap(data) {
			data = slices.Grow(data, int(min(n, 2*int64(cap(data))))-len(data))
		}
		m, err := io.ReadFull(r, data[len(data):int(min(n, int64(cap(data))))])
		data = data[:len(data)+m]
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return data, nil
		}
		if err != nil {
			return data, err
		}
	}
	return data, nil
}

// ioErr maps the EOF of a short header read to io.ErrUnexpectedEOF.
func ioErr(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
