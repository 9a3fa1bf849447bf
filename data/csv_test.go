package data

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCSV(t *testing.T) {
	cases := []struct {
		name   string
		text   string
		opt    CSVOptions
		n, d   int
		x      []float32
		labels []int // nil: none expected
	}{
		{"no header, no label", "1,2,3\n4,5,6\n", CSVOptions{}, 2, 3, []float32{1, 2, 3, 4, 5, 6}, nil},
		{"auto header", "a,b\n0.5,1e-3\n-2, 7 \n", CSVOptions{}, 2, 2, []float32{0.5, 1e-3, -2, 7}, nil},
		{"explicit header (numeric names)", "1,2\n3,4\n", CSVOptions{Header: HeaderYes}, 1, 2, []float32{3, 4}, nil},
		{"label by name", "x1,y,x2\n1,3,2\n4,0,5\n", CSVOptions{Label: LabelByName("y")}, 2, 2, []float32{1, 2, 4, 5}, []int{3, 0}},
		{"label by index", "1,2,9\n3,4,8\n", CSVOptions{Label: LabelAt(2)}, 2, 2, []float32{1, 2, 3, 4}, []int{9, 8}},
		{"label last (-1)", "1,2,9\n3,4,8.0\n", CSVOptions{Label: LabelAt(-1)}, 2, 2, []float32{1, 2, 3, 4}, []int{9, 8}},
		{"label first, missing labels", "7,1,2\n,3,4\n-1,5,6\n", CSVOptions{Label: LabelAt(0)}, 3, 2, []float32{1, 2, 3, 4, 5, 6}, []int{7, -1, -1}},
		{"semicolon", "a;b\n1;2\n", CSVOptions{Delimiter: ';'}, 1, 2, []float32{1, 2}, nil},
		{"tab, header no", "1\t2\n3\t4\n", CSVOptions{Delimiter: '\t', Header: HeaderNo}, 2, 2, []float32{1, 2, 3, 4}, nil},
		{"comments, quotes, CRLF", "# data\r\n\"1\",2\r\n3,4\r\n", CSVOptions{Comment: '#'}, 2, 2, []float32{1, 2, 3, 4}, nil},
		{"one column", "0.25\n0.75\n", CSVOptions{}, 2, 1, []float32{0.25, 0.75}, nil},
	}
	for _, c := range cases {
		p := writeFile(t, "t.csv", []byte(c.text))
		ds, err := LoadCSV(p, c.opt)
		if !assert.NoError(t, err, c.name) {
			continue
		}
		assert.Equal(t, c.n, ds.N, "%s: N", c.name)
		assert.Equal(t, c.d, ds.D, "%s: D", c.name)
		assert.Equal(t, c.x, ds.X, "%s: X", c.name)
		assert.Equal(t, c.labels, ds.Labels, "%s: labels (nil: none)", c.name)
		assert.NoError(t, ds.Validate(), c.name)
		assert.Equal(t, p, ds.Name, "%s: name", c.name)
	}
}

func TestCSVMalformed(t *testing.T) {
	cases := []struct {
		name      string
		text      string
		opt       CSVOptions
		line, col int
		frags     []string
	}{
		{"ragged short", "a,b,c\n1,2,3\n4,5\n", CSVOptions{}, 3, 0, []string{"line 3: ragged record: expected 3 fields (as in line 1), found 2"}},
		{"ragged long", "1,2\n3,4,5\n", CSVOptions{}, 2, 0, []string{"line 2: ragged record: expected 2 fields", "found 3"}},
		{"non-numeric with header", "a,b\n1,2\n3,x7\n", CSVOptions{}, 3, 2, []string{`line 3, column 2 ("b"): non-numeric value "x7", expected a number`}},
		{"non-numeric no header", "1,2\n3,abc\n", CSVOptions{Header: HeaderNo}, 1, 0, nil}, // first record numeric: fine; see next
		{"non-numeric explicit no header", "1,2\n3,,\n", CSVOptions{Header: HeaderNo}, 2, 0, []string{"ragged"}},
		{"empty cell", "1,2\n3,\n", CSVOptions{Header: HeaderNo}, 2, 2, []string{`line 2, column 2: non-numeric value ""`}},
		{"NaN", "a,b\n1,NaN\n", CSVOptions{}, 2, 2, []string{`line 2, column 2 ("b"): value "NaN" is not finite`}},
		{"Inf", "a,b\n-inf,1\n", CSVOptions{}, 2, 1, []string{`line 2, column 1 ("a"): value "-inf" is not finite`}},
		{"float32 overflow", "a,b\n1e39,1\n", CSVOptions{}, 2, 1, []string{`value "1e39" is not finite as float32`}},
		{"float64 overflow", "a\n1e999\n", CSVOptions{}, 2, 1, []string{`value "1e999" is out of range`}},
		{"missing label name", "a,b\n1,2\n", CSVOptions{Label: LabelByName("label")}, 1, 0, []string{`missing label column: expected a column named "label", found the header ["a" "b"]`}},
		{"missing label index", "1,2\n", CSVOptions{Label: LabelAt(2)}, 1, 0, []string{"missing label column: expected index 2, but records have 2 columns"}},
		{"missing label -3", "1,2\n", CSVOptions{Label: LabelAt(-3)}, 1, 0, []string{"missing label column: expected index -3"}},
		{"label by name without header", "1,2\n", CSVOptions{Header: HeaderNo, Label: LabelByName("y")}, 0, 0, []string{"no header"}},
		{"duplicate label name", "y,y\n1,2\n", CSVOptions{Label: LabelByName("y")}, 1, 2, []string{"appears twice"}},
		{"bad label", "x,y\n1,2.5\n", CSVOptions{Label: LabelByName("y")}, 2, 2, []string{`line 2, column 2 ("y"): label "2.5", expected an integer`}},
		{"label -2", "x,y\n1,2\n1,-2\n", CSVOptions{Label: LabelByName("y")}, 3, 2, []string{"label -2"}},
		{"only a label column", "y\n1\n", CSVOptions{Label: LabelByName("y")}, 1, 0, []string{"no feature columns"}},
		{"empty file", "", CSVOptions{}, 0, 0, []string{"empty file"}},
		{"header only", "a,b\n", CSVOptions{}, 0, 0, []string{"no data records after the header"}},
		{"bad quote", "a,b\n1,\"2\n", CSVOptions{}, 2, 0, []string{"malformed CSV"}},
	}
	for _, c := range cases {
		p := writeFile(t, "bad.csv", []byte(c.text))
		_, err := LoadCSV(p, c.opt)
		if c.frags == nil {
			// "non-numeric no header": with HeaderNo the first record is data and the
			// second's "abc" is an error on line 2, column 2.
			fe := wantFormatError(t, err, `line 2, column 2: non-numeric value "abc"`)
			assert.Equal(t, [2]int{2, 2}, [2]int{fe.Line, fe.Column}, "%s: line and column", c.name)
			continue
		}
		fe := wantFormatError(t, err, append(c.frags, "csv: "+p)...)
		if fe != nil && c.line != 0 {
			assert.Equal(t, c.line, fe.Line, "%s: line (%v)", c.name, err)
			if c.col != 0 {
				assert.Equal(t, c.col, fe.Column, "%s: column (%v)", c.name, err)
			}
		}
	}
}

func TestCSVAutoHeaderEmptyLabel(t *testing.T) {
	// An empty label cell in the first record is a missing label, not a sign of a header.
	ds, err := DecodeCSV(strings.NewReader("1,,2\n3,4,5\n"), "x", CSVOptions{Label: LabelAt(1)})
	require.NoError(t, err)
	require.Equal(t, 2, ds.N, "N")
	require.Equal(t, []int{-1, 4}, ds.Labels, "labels")
	assert.True(t, ds.HasLabels(), "HasLabels")
	assert.Equal(t, 5, ds.NumClasses(), "NumClasses")
	assert.Equal(t, []int{0, 0, 0, 0, 1}, ds.LabelCounts(), "LabelCounts")
}
