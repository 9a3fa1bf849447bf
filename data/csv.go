package data

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// HeaderMode says whether a CSV file's first record is a header.
type HeaderMode int

const (
	// HeaderAuto takes the first record as a header when one of its cells is not a
	// number (a label column chosen by name implies a header).
	HeaderAuto HeaderMode = iota
	HeaderYes             // the first record is a header
	HeaderNo              // every record is data
)

// LabelColumn chooses a CSV file's label column: none (the zero value), one by header
// name, or one by 0-based index (negative counts from the end: -1 is the last column).
type LabelColumn struct {
	name  string
	index int
	set   bool
}

// NoLabelColumn: the file has no label column (the zero LabelColumn).
var NoLabelColumn = LabelColumn{}

// LabelByName chooses the label column by its header name (the file needs a header).
func LabelByName(name string) LabelColumn { return LabelColumn{name: name, set: true} }

// LabelAt chooses the label column by 0-based index; negative counts from the end.
func LabelAt(index int) LabelColumn { return LabelColumn{index: index, set: true} }

func (c LabelColumn) String() string {
	switch {
	case !c.set:
		return "none"
	case c.name != "":
		return fmt.Sprintf("%q", c.name)
	default:
		return fmt.Sprintf("index %d", c.index)
	}
}

// CSVOptions configure LoadCSV. The zero value reads a comma-separated file without a
// label column, detecting a header.
type CSVOptions struct {
	Delimiter rune        // field separator; 0 means ','
	Header    HeaderMode  // HeaderAuto (default), HeaderYes or HeaderNo
	Label     LabelColumn // NoLabelColumn (default), LabelByName or LabelAt
	Comment   rune        // lines starting with it are skipped; 0: none
}

// LoadCSV reads a CSV file, gzip-compressed or not: one example per record, every feature cell a finite number
// (strconv.ParseFloat syntax, surrounding spaces allowed), the label cell, if any, a
// class id in [0, MaxClasses) or -1 or empty (both mean "no label"). The data set is named
// after the file. Errors (*FormatError) name the file, the 1-based line and column
// (and the column's header): ragged records, non-numeric cells, NaN and infinite
// values, a label column that does not exist, a file without data records.
func LoadCSV(path string, opt CSVOptions) (*Dataset, error) {
	f, err := openInput(path, formatCSV)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return DecodeCSV(f, path, opt)
}

// DecodeCSV is LoadCSV reading from r; name is used for the data set and in errors.
func DecodeCSV(r io.Reader, name string, opt CSVOptions) (*Dataset, error) {
	cs, err := newCSVStream(r, name, opt)
	if err != nil {
		return nil, err
	}
	ds := &Dataset{Name: name, D: cs.d}
	if cs.labelCol >= 0 {
		ds.Labels = []int{}
	}
	for {
		row, l, err := cs.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		ds.X = append(ds.X, row...)
		if ds.Labels != nil {
			ds.Labels = append(ds.Labels, l)
		}
		ds.N++
	}
	if ds.N == 0 {
		return nil, cs.fail(0, 0, "", nil, "no data records after the header")
	}
	return ds, nil
}

// csvStream is the streaming core of the CSV reader: it reads the first record,
// decides on the header and the label column, and then returns one parsed example at
// a time. DecodeCSV and OpenCSVRows share it, so both accept the same files and give
// the same errors.
type csvStream struct {
	cr        *csv.Reader
	name      string
	ncol, d   int
	labelCol  int // -1: none
	firstLine int
	header    []string
	pending   []string // the first record when it is data, not yet returned
	pendLine  int
	row       []float32 // the last row returned (reused)
	line      int       // the line of the last record read
	n         int       // rows returned
}

func (cs *csvStream) fail(line, col int, colName string, err error, format string, args ...any) error {
	return &FormatError{Format: "csv", Path: cs.name, Line: line, Column: col, ColumnName: colName,
		Msg: fmt.Sprintf(format, args...), Err: err}
}

func (cs *csvStream) read() ([]string, int, error) {
	rec, err := cs.cr.Read()
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return nil, 0, cs.fail(pe.Line, pe.Column, "", pe.Err, "malformed CSV")
		}
		if err == io.EOF {
			return nil, 0, err
		}
		// A read error, or a gzip stream cut short or damaged.
		return nil, 0, cs.fail(0, 0, "", err, "reading after line %d (a truncated or corrupt gzip file?)", cs.line)
	}
	cs.line, _ = cs.cr.FieldPos(0)
	return rec, cs.line, nil
}

func (cs *csvStream) colName(j int) string {
	if cs.header != nil {
		return cs.header[j]
	}
	return ""
}

// newCSVStream reads the first record and settles the header and the label column.
func newCSVStream(r io.Reader, name string, opt CSVOptions) (*csvStream, error) {
	br, gz, err := decompress(r)
	if err != nil {
		return nil, &FormatError{Format: formatCSV, Path: name, Msg: "reading gzip header", Err: err}
	}
	skipBOM(br)
	if d := describe(br, gz, formatCSV); d != "" {
		if head, _ := br.Peek(1); len(head) > 0 { // an empty file has its own error below
			return nil, &FormatError{Format: formatCSV, Path: name, Msg: "expected CSV text" + d}
		}
	}
	cr := csv.NewReader(br)
	if opt.Delimiter != 0 {
		cr.Comma = opt.Delimiter
	}
	cr.Comment = opt.Comment
	cr.FieldsPerRecord = -1 // ragged records are checked here, with a better message
	cr.ReuseRecord = true
	cs := &csvStream{cr: cr, name: name, labelCol: -1}
	fail := cs.fail

	first, firstLine, err := cs.read()
	if err == io.EOF {
		return nil, fail(0, 0, "", nil, "empty file: expected at least one data record")
	}
	if err != nil {
		return nil, err
	}
	ncol := len(first)

	// Header or not.
	hasHeader := false
	switch opt.Header {
	case HeaderYes:
		hasHeader = true
	case HeaderNo:
		if opt.Label.set && opt.Label.name != "" {
			return nil, fail(0, 0, "", nil, "label column %s chosen by name, but the options say the file has no header", opt.Label)
		}
	case HeaderAuto:
		if opt.Label.set && opt.Label.name != "" {
			hasHeader = true
		} else {
			// An empty cell in a label column chosen by index is a missing label, not a
			// header.
			li := -1
			if opt.Label.set {
				li = opt.Label.index
				if li < 0 {
					li += ncol
				}
			}
			for j, c := range first {
				c = strings.TrimSpace(c)
				if j == li && c == "" {
					continue
				}
				if _, err := strconv.ParseFloat(c, 64); err != nil {
					hasHeader = true
					break
				}
			}
		}
	default:
		return nil, fmt.Errorf("csv: %s: unknown header mode %d", name, opt.Header)
	}
	var header []string
	if hasHeader {
		header = make([]string, ncol)
		for i, c := range first {
			header[i] = strings.TrimSpace(c)
		}
	}

	// Label column.
	labelCol := -1
	if opt.Label.set {
		if opt.Label.name != "" {
			for j, h := range header {
				if h == opt.Label.name {
					if labelCol >= 0 {
						return nil, fail(firstLine, j+1, h, nil, "label column %s appears twice (columns %d and %d)", opt.Label, labelCol+1, j+1)
					}
					labelCol = j
				}
			}
			if labelCol < 0 {
				return nil, fail(firstLine, 0, "", nil, "missing label column: expected a column named %q, found the header %q", opt.Label.name, header)
			}
		} else {
			labelCol = opt.Label.index
			if labelCol < 0 {
				labelCol += ncol
			}
			if labelCol < 0 || labelCol >= ncol {
				return nil, fail(firstLine, 0, "", nil, "missing label column: expected index %d, but records have %d columns (valid 0..%d or -%d..-1)", opt.Label.index, ncol, ncol-1, ncol)
			}
		}
	}
	d := ncol
	if labelCol >= 0 {
		d--
	}
	if d == 0 {
		return nil, fail(firstLine, 0, "", nil, "no feature columns: records have %d column(s), label column %s", ncol, opt.Label)
	}
	cs.ncol, cs.d, cs.labelCol, cs.firstLine, cs.header = ncol, d, labelCol, firstLine, header
	cs.row = make([]float32, d)
	if !hasHeader {
		cs.pending, cs.pendLine = slices.Clone(first), firstLine
	}
	return cs, nil
}

// next returns the next example's features (a buffer reused by the next call) and its
// label (NoLabel without a label column), or io.EOF after the last record.
func (cs *csvStream) next() ([]float32, int, error) {
	rec, line := cs.pending, cs.pendLine
	cs.pending = nil
	if rec == nil {
		var err error
		if rec, line, err = cs.read(); err != nil {
			return nil, 0, err
		}
	}
	l, err := cs.parse(rec, line)
	if err != nil {
		return nil, 0, err
	}
	cs.n++
	return cs.row, l, nil
}

// parse checks and converts one record into cs.row and returns its label.
func (cs *csvStream) parse(rec []string, line int) (int, error) {
	fail := cs.fail
	if len(rec) != cs.ncol {
		return 0, fail(line, 0, "", nil, "ragged record: expected %d fields (as in line %d), found %d", cs.ncol, cs.firstLine, len(rec))
	}
	label, k := NoLabel, 0
	for j, c := range rec {
		s := strings.TrimSpace(c)
		if j == cs.labelCol {
			l, err := parseLabel(s)
			if err != nil {
				return 0, fail(line, j+1, cs.colName(j), nil, "%v", err)
			}
			label = l
			continue
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return 0, fail(line, j+1, cs.colName(j), nil, "value %q is out of range, expected a finite number", s)
			}
			return 0, fail(line, j+1, cs.colName(j), nil, "non-numeric value %q, expected a number", s)
		}
		f := float32(v)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, fail(line, j+1, cs.colName(j), nil, "value %q is not finite, expected a finite number", s)
		}
		if math.IsInf(float64(f), 0) {
			return 0, fail(line, j+1, cs.colName(j), nil, "value %q is not finite as float32, expected a finite number", s)
		}
		cs.row[k] = f
		k++
	}
	return label, nil
}

// utf8BOM is the byte-order mark some editors (Excel's "CSV UTF-8") put first in a
// UTF-8 text file. It is no part of the text: left in, it glued itself to the first
// cell, so that a header-less file's first number read as a header name and its row
// was lost, and a header's first name did not match.
const utf8BOM = "\xef\xbb\xbf"

// skipBOM drops a leading UTF-8 byte-order mark from br.
func skipBOM(br *bufio.Reader) {
	if b, _ := br.Peek(len(utf8BOM)); string(b) == utf8BOM {
		br.Discard(len(utf8BOM))
	}
}

// parseLabel reads a label cell: empty or -1 for none, else a class id in
// [0, MaxClasses), written as an integer ("3") or an integral number ("3.0", "3e0").
func parseLabel(s string) (int, error) {
	const rule = "expected an integer class id in [0, %d), or -1 or empty for none"
	if s == "" {
		return NoLabel, nil
	}
	if l, err := strconv.ParseInt(s, 10, 64); err == nil {
		if l < NoLabel || l >= MaxClasses {
			return 0, fmt.Errorf("label %d out of range: "+rule, l, MaxClasses)
		}
		return int(l), nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v != math.Trunc(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("label %q, "+rule, s, MaxClasses)
	}
	if v < NoLabel || v >= MaxClasses {
		return 0, fmt.Errorf("label %q out of range: "+rule, s, MaxClasses)
	}
	return int(v), nil
}

// ParseLabelColumn reads a command line's label column: a 0-based index (negative:
// from the end) when s is an integer, else a header name; "" is no label column.
func ParseLabelColumn(s string) LabelColumn {
	if s == "" {
		return LabelColumn{}
	}
	if i, err := strconv.Atoi(s); err == nil {
		return LabelAt(i)
	}
	return LabelByName(s)
}
