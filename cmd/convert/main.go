// Command convert writes a data set as a sharded folder (data's sharded
// format, docs/data-format.md) that cmd/train reads with -train DIR, memory-mapped:
// for data sets larger than memory. It streams: it holds one example (and one
// shard's labels) in memory, whatever the input's size.
//
//	go run ./cmd/convert -in data.csv -label-col label -out shards/
//	go run ./cmd/convert -in train-images-idx3-ubyte.gz -labels train-labels-idx1-ubyte.gz -out mnist-shards/
//	go run ./cmd/convert -in x.npy -labels y.npy -out shards/ -rows-per-shard 100000
//
// The input is read with the checks cmd/train makes (ubyte pixels scaled to [0, 1]);
// its format, CSV, IDX or NPY, gzip-compressed or not, is told by its content
// (data.DetectFormat), and a labels file may be IDX or NPY whatever the data's format.
//
// The output folder must be new, empty, or an earlier shard set, which is replaced
// only once the new set is complete: the new set is written in a temporary folder
// beside it (.OUT.shards-tmp-PID-N, in the same parent) and swapped in by a rename. A
// conversion that fails (bad input) or is killed leaves the earlier set as it was and
// no partial files in it; the next conversion to the same folder removes the
// temporary folder a killed one left. It prints one line: examples, dimensions, shards
// and bytes.
//
// Exit status: 0 done, 1 the conversion failed, 2 bad flags.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gmvae/gmvae/data"
	"github.com/gmvae/gmvae/internal/cli"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the command: exit status 0, 1 (a failed conversion) or 2 (a bad flag).
func run(args []string, stdout, stderr io.Writer) int {
	return cli.Status("convert", "convert:", convert(args, stdout, stderr), stderr)
}

func convert(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("convert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("in", "", "input data: CSV, IDX or NPY (told by the content; gzip allowed)")
	labels := fs.String("labels", "", "labels file (IDX or NPY) of an IDX or NPY input (a CSV file carries its labels in -label-col)")
	labelCol := fs.String("label-col", "", "CSV label column: a header name or a 0-based index (negative: from the end); default none")
	header := fs.String("header", "auto", "CSV header: auto (a first record with a non-number), yes or no")
	out := fs.String("out", "", "output folder (new, empty, or an earlier shard set, replaced when the new one is complete)")
	rows := fs.Int("rows-per-shard", data.DefaultRowsPerShard, "examples per shard file")
	name := fs.String("name", "", "the data set's name in the manifest (default: the input's file name)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: convert -in FILE [-labels FILE | -label-col COL] -out DIR [-rows-per-shard N]\n\nWrites a data set as a sharded folder for cmd/train -train DIR.\nFlags:")
		fs.PrintDefaults()
	}
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	switch {
	case *in == "":
		return cli.Usage(errors.New("-in: missing: the input file (CSV, IDX or NPY) is required"))
	case *out == "":
		return cli.Usage(errors.New("-out: missing: the output folder is required"))
	case *rows < 1:
		return cli.Usagef("-rows-per-shard %d: want at least 1", *rows)
	}
	if st, err := os.Stat(*in); err != nil {
		return cli.Usagef("-in %s: %v", *in, err)
	} else if st.IsDir() {
		return cli.Usagef("-in %s: a folder, expected a file", *in)
	}
	if *labels != "" {
		if _, err := os.Stat(*labels); err != nil {
			return cli.Usagef("-labels %s: %v", *labels, err)
		}
	}
	if st, err := os.Stat(*out); err == nil && !st.IsDir() {
		return cli.Usagef("-out %s: a file, expected a folder", *out)
	}
	// The format is the content's, not the name's: x.csv.gz is CSV, and an NPY file
	// named .dat is NPY.
	format, err := data.DetectFormat(*in)
	if err != nil {
		return err
	}
	isCSV := format == "csv"
	var hm data.HeaderMode
	switch *header {
	case "auto":
		hm = data.HeaderAuto
	case "yes":
		hm = data.HeaderYes
	case "no":
		hm = data.HeaderNo
	default:
		return cli.Usagef("-header %q: want auto, yes or no", *header)
	}
	if !isCSV && *labelCol != "" {
		return cli.Usagef("-label-col %q: only for CSV input; %s is %s data, not CSV text (give its labels with -labels)", *labelCol, *in, strings.ToUpper(format))
	}
	if !isCSV && *header != "auto" {
		return cli.Usagef("-header %q: only for CSV input; %s is %s data, not CSV text", *header, *in, strings.ToUpper(format))
	}
	if isCSV && *labels != "" {
		return cli.Usagef("-labels %s: a CSV file carries its labels in a column (-label-col), not in a separate file", *labels)
	}

	base := filepath.Base(*in)
	var r data.RowReader
	switch format {
	case "csv":
		var label data.LabelColumn
		if *labelCol != "" {
			if i, err := strconv.Atoi(*labelCol); err == nil {
				label = data.LabelAt(i)
			} else {
				label = data.LabelByName(*labelCol)
			}
		}
		r, err = data.OpenCSVRows(*in, data.CSVOptions{Header: hm, Label: label})
	case "npy":
		r, err = data.OpenNPYRows(base, *in, *labels)
	default:
		r, err = data.OpenIDXRows(base, *in, *labels)
	}
	if err != nil {
		return err
	}
	defer r.Close()
	if *name == "" {
		*name = base
	}
	m, err := data.ConvertToShards(*out, r, *name, *rows)
	if err != nil {
		return err
	}
	var bytes int64
	for _, s := range m.Shards {
		bytes += s.Bytes
	}
	if st, err := os.Stat(filepath.Join(*out, data.ManifestFile)); err == nil {
		bytes += st.Size()
	}
	lab := "no labels"
	if m.Labels {
		lab = fmt.Sprintf("%d labelled, %d classes", m.Labelled, m.Classes)
	}
	fmt.Fprintf(stdout, "%s: %d examples, %d dims, %s, values in [%g, %g]: %d shards, %d bytes in %s\n",
		m.Name, m.N, m.D, lab, m.Min, m.Max, len(m.Shards), bytes, *out)
	return nil
}
