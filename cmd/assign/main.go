// Command assign uses a trained model: it loads a checkpoint written by train, runs the
// observations of a data file or shard folder through the model and writes, for every
// row, its cluster (the first argmax of its posterior), its cluster posteriors (N, K),
// their logits (N, K) and its latent means (N, Dz). When the data has labels it also
// prints how well the clusters match them (metrics.Summary: ACC by the paper protocol,
// purity and Hungarian matching, NMI, ARI) and each cluster's size and main classes.
//
//	assign -checkpoint runs/x/checkpoint.safetensors -data {file.{idx,csv,npy}|shards/} -out DIR
//	       [-label-col COL | -labels FILE] [-device auto|cpu|emu|cuda] [-format csv|npy] [-chunk ROWS]
//	assign -checkpoint runs/x/checkpoint.safetensors -mnist-test [-data-dir DIR] -out DIR
//	assign -checkpoint runs/x/checkpoint.safetensors -mnist-all -out DIR   # all 70,000, as VaDE's paper scores
//
// It streams: the data is read -chunk rows at a time (CSV, NPY and IDX files row by
// row, a shard folder written by convert through its memory-mapped shards), each chunk
// is predicted and its results appended to the outputs, so neither the data nor the
// results need to fit in memory (about chunk × (D + K + Dz) floats are held; scoring
// labelled data keeps 2K floats and two integers per labelled row). The outputs do not
// depend on -chunk.
//
// Files written in DIR (created if needed):
//
//	-format csv: clusters.csv (header "cluster"), posteriors.csv (header p0..p{K-1}),
//	             logits.csv (header l0..l{K-1}), latent.csv (header z0..z{Dz-1}); floats
//	             in the shortest form that reads back to the same float32;
//	-format npy: clusters.npy (N,) of int64, posteriors.npy and logits.npy (N, K) and
//	             latent.npy (N, Dz) of float32.
//
// Each row of posteriors is the softmax of its row of logits. The logits keep what
// float32 posteriors lose: a confident row's posterior rounds to exactly 1, and rows
// that all read 1 can still be ranked by their logits (metrics.LogOdds).
//
// Each file is written to a temporary file beside it and renamed at the end: a failed
// run leaves no partial output (and earlier outputs in DIR as they were). An NPY
// file's header holds N: for a CSV input, whose N is known at the end only, it is
// rewritten in place then (same length, as numpy leaves room for it).
//
// Rows are in the data file's order. Values are used as loaded (IDX/NPY bytes scaled to
// [0, 1]), without the random binarisation a training run may apply; the results do
// not depend on any random draw, nor on the device. A CSV file's label column, if any,
// must be named by -label-col so that it is not read as a feature.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gmvae/gmvae/data"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/internal/atomicfile"
	"github.com/gmvae/gmvae/internal/cli"
	"github.com/gmvae/gmvae/metrics"
	"github.com/gmvae/gmvae/predict"
	"github.com/gmvae/gmvae/report"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

type options struct {
	checkpoint, dataPath, labelCol, labels, dataDir, out, device, format string
	mnistTest, mnistAll                                                  bool
	chunk                                                                int
}

// defaultChunk is -chunk's default: rows read, predicted and written at a time.
const defaultChunk = 4096

// run runs the command: exit status 0, 1 (a failure) or 2 (a bad flag).
func run(args []string, stdout, stderr io.Writer) int {
	return cli.Status("assign", "assign:", runErr(args, stdout, stderr), stderr)
}

func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("assign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.checkpoint, "checkpoint", "", "checkpoint written by train (runs/<name>/checkpoint.safetensors); required")
	fs.StringVar(&o.dataPath, "data", "", "observations: .csv, .npy, IDX (any other file name), or a shard folder written by convert")
	fs.StringVar(&o.labelCol, "label-col", "", "CSV label column to leave out of the features: a header name or a 0-based index (negative: from the end)")
	fs.StringVar(&o.labels, "labels", "", "labels of an IDX or NPY -data file (IDX or NPY), to score the clusters against")
	fs.BoolVar(&o.mnistTest, "mnist-test", false, "use the MNIST test set (10000 images, with labels) instead of -data")
	fs.BoolVar(&o.mnistAll, "mnist-all", false, "use all 70000 MNIST images (training then test set, with labels) instead of -data: how the VaDE and DEC papers score")
	fs.StringVar(&o.dataDir, "data-dir", "", "folder with the MNIST files for -mnist-test and -mnist-all (default: the Go module cache, or $"+data.MNISTDirEnv+")")
	fs.StringVar(&o.out, "out", "", "folder to write the results in (created if needed); required")
	fs.StringVar(&o.device, "device", "auto", "backend: "+strings.Join(engine.Devices, ", "))
	fs.StringVar(&o.format, "format", "csv", "output format: csv or npy")
	fs.IntVar(&o.chunk, "chunk", defaultChunk, "rows read, predicted and written at a time (>= 1; the outputs do not depend on it)")
	if err := cli.Parse(fs, args); err != nil {
		return o, err
	}
	switch {
	case o.checkpoint == "":
		return o, cli.Usage(errors.New("-checkpoint is required"))
	case o.out == "":
		return o, cli.Usage(errors.New("-out is required"))
	case o.dataPath == "" && !o.mnistTest && !o.mnistAll:
		return o, cli.Usage(errors.New("give -data FILE, -mnist-test or -mnist-all"))
	case (o.dataPath != "" && (o.mnistTest || o.mnistAll)) || (o.mnistTest && o.mnistAll):
		return o, cli.Usage(errors.New("-data, -mnist-test and -mnist-all exclude each other"))
	case o.format != "csv" && o.format != "npy":
		return o, cli.Usagef("-format %q, want csv or npy", o.format)
	case o.chunk < 1:
		return o, cli.Usagef("-chunk %d, want >= 1", o.chunk)
	case o.labels != "" && o.dataPath == "":
		return o, cli.Usage(errors.New("-labels applies to an IDX or NPY -data file only (a CSV file names its label column with -label-col; MNIST and shard folders carry their labels)"))
	}
	okDev := false
	for _, d := range engine.Devices {
		okDev = okDev || d == o.device
	}
	if !okDev {
		return o, cli.Usagef("unknown device %q, want one of %s", o.device, strings.Join(engine.Devices, ", "))
	}
	return o, nil
}

func runErr(args []string, stdout, stderr io.Writer) (err error) {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	b, closeBackend, err := engine.OpenBackend(o.device)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := closeBackend(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	p, err := predict.Load(b, o.checkpoint)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := p.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	in, err := openInput(o)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := in.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	c := p.Config()
	if in.d != c.D {
		hint := ""
		if in.csv && o.labelCol == "" && in.d == c.D+1 {
			hint = " (if one column is a label, name it with -label-col)"
		}
		return fmt.Errorf("data %s has D = %d values per row, but the model of checkpoint %s expects D = %d%s", in.path, in.d, o.checkpoint, c.D, hint)
	}
	sc := &scorer{k: c.K}
	n, files, err := assign(p, in, o, sc)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "assigned %d rows of %s to %d clusters (%s model, %s); wrote %s in %s\n",
		n, in.name, c.K, c.Model, b.Name(), strings.Join(files, ", "), o.out)
	if len(sc.labels) > 0 {
		s, err := sc.summary()
		if err != nil {
			return fmt.Errorf("scoring %s: %w", in.path, err)
		}
		if err := writeScores(filepath.Join(o.out, ScoresFile), in.name, o.checkpoint, s); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "scores on the %d labelled rows: %s\n", len(sc.labels), s)
		fmt.Fprint(stdout, report.FormatSummary(report.Summary{Usage: s.Usage, Labels: s.Contingency}))
		fmt.Fprintf(stdout, "wrote %s in %s\n", ScoresFile, o.out)
	} else if err := os.Remove(filepath.Join(o.out, ScoresFile)); err != nil && !os.IsNotExist(err) {
		return err // an earlier run's scores would be taken for this one's
	}
	return nil
}

// ScoresFile is the file, in the output folder, of the scores against the labels
// (written when the data has labels).
const ScoresFile = "scores.json"

// scores is ScoresFile's content: metrics.Summary with a score that could not be
// computed (NaN) as null.
type scores struct {
	Data         string   `json:"data"`
	Checkpoint   string   `json:"checkpoint"`
	Rows         int      `json:"rows"`
	K            int      `json:"k"`
	Classes      int      `json:"classes"`
	ACCPaper     *float64 `json:"acc_paper"`
	ACCPaperF32  *float64 `json:"acc_paper_f32"`
	ACCPurity    *float64 `json:"acc_purity"`
	ACCHungarian *float64 `json:"acc_hungarian"`
	NMI          *float64 `json:"nmi"`
	ARI          *float64 `json:"ari"`
	Usage        []int    `json:"usage"`
	Contingency  [][]int  `json:"contingency"`
}

// writeScores writes s as ScoresFile's JSON to path, atomically.
func writeScores(path, dataName, ckpt string, s metrics.Summary) error {
	num := func(v float64) *float64 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		return &v
	}
	j, err := json.MarshalIndent(scores{Data: dataName, Checkpoint: ckpt, Rows: s.N, K: s.K, Classes: s.C,
		ACCPaper: num(s.ACCPaper), ACCPaperF32: num(s.ACCPaperF32), ACCPurity: num(s.ACCPurity),
		ACCHungarian: num(s.ACCHungarian), NMI: num(s.NMI), ARI: num(s.ARI), Usage: s.Usage, Contingency: s.Contingency}, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, append(j, '\n'))
}

// scorer gathers the labelled rows' clusters, labels and logits for metrics.Evaluate.
type scorer struct {
	k            int
	pred, labels []int
	logits, post []float32
}

// add keeps the rows of r whose label is not data.NoLabel.
func (sc *scorer) add(r *predict.Prediction, labels []int) {
	for i, l := range labels {
		if l != data.NoLabel {
			sc.pred = append(sc.pred, r.Clusters[i])
			sc.labels = append(sc.labels, l)
			sc.logits = append(sc.logits, r.Logits[i*sc.k:(i+1)*sc.k]...)
			sc.post = append(sc.post, r.Post[i*sc.k:(i+1)*sc.k]...)
		}
	}
}

// summary scores the gathered rows; the paper protocol ranks them by their log-odds
// (and by their float32 posteriors, as the GMVAE authors' code).
func (sc *scorer) summary() (metrics.Summary, error) {
	score, err := metrics.LogOdds(sc.logits, sc.k)
	if err != nil {
		return metrics.Summary{}, err
	}
	return metrics.Evaluate(sc.pred, sc.labels, metrics.Ranking{LogOdds: score, Post: sc.post}, sc.k)
}

// assign streams in through p in chunks of o.chunk rows into the output files in
// o.out, and returns the number of rows and the files' names. On an error it leaves
// no output file (and removes o.out if it created it).
func assign(p *predict.Predictor, in *input, o options, sc *scorer) (n int, files []string, err error) {
	_, statErr := os.Stat(o.out)
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return 0, nil, err
	}
	c := p.Config()
	out, err := createOutputs(o.out, o.format, in.n, c.K, c.Dz)
	if err == nil {
		n, err = stream(p, in, out, o.chunk, sc)
	}
	if err == nil {
		err = out.commit()
	} else if out != nil {
		out.abort()
	}
	if err != nil {
		if os.IsNotExist(statErr) {
			os.Remove(o.out) // only if empty
		}
		return 0, nil, err
	}
	return n, out.names(), nil
}

// stream reads in chunk rows at a time, predicts each chunk, writes its results and
// hands its labelled rows to sc.
func stream(p *predict.Predictor, in *input, out *outputs, chunk int, sc *scorer) (int, error) {
	d := in.d
	x := make([]float32, chunk*d)
	labels := make([]int, chunk)
	n := 0
	for {
		k, rerr := in.next(x, labels)
		if rerr != nil && rerr != io.EOF {
			return n, rerr
		}
		if k > 0 {
			r, err := p.Run(x[:k*d], k)
			if err != nil {
				return n, fmt.Errorf("%s: rows %d..%d: %w", in.path, n+1, n+k, err)
			}
			if err := out.write(r); err != nil {
				return n, err
			}
			sc.add(r, labels[:k])
			n += k
		}
		if rerr == io.EOF {
			break
		}
	}
	if in.n >= 0 && n != in.n {
		return n, fmt.Errorf("%s: read %d rows, expected %d", in.path, n, in.n)
	}
	return n, nil
}

func header(prefix string, n int) []string {
	h := make([]string, n)
	for i := range h {
		h[i] = prefix + strconv.Itoa(i)
	}
	return h
}

// input is the data read chunk by chunk: a row reader (CSV, NPY, IDX file) or a
// Source (a shard folder, the MNIST test set) read by consecutive index ranges.
type input struct {
	name  string // the data set's name, for the summary
	path  string // the file or folder as given, for errors
	n, d  int    // rows (-1: known at the end only, CSV) and values per row
	csv   bool
	next  func(x []float32, labels []int) (int, error) // fills x with up to len(x)/d rows and labels with theirs (data.NoLabel: none); io.EOF after the last
	close func() error
}

// openInput opens the MNIST test set or the -data file or shard folder for reading
// without loading it.
func openInput(o options) (*input, error) {
	if o.mnistTest || o.mnistAll {
		train, test, err := data.LoadMNIST(o.dataDir)
		if err != nil {
			return nil, err
		}
		set := test
		if o.mnistAll {
			if set, err = data.Concat("mnist-all", train, test); err != nil {
				return nil, err
			}
		}
		return sourceInput(set, set.Name, set.Name, func() error { return nil }), nil
	}
	if st, err := os.Stat(o.dataPath); err == nil && st.IsDir() {
		s, err := data.OpenSharded(o.dataPath)
		if err != nil {
			return nil, err
		}
		return sourceInput(s, o.dataPath, o.dataPath, s.Close), nil
	}
	var (
		r   data.RowReader
		err error
	)
	format, err := data.DetectFormat(o.dataPath)
	if err != nil {
		return nil, err
	}
	switch {
	case format == "csv" && o.labels != "":
		return nil, cli.Usage(errors.New("-labels applies to an IDX or NPY -data file only (a CSV file names its label column with -label-col; MNIST and shard folders carry their labels)"))
	case format != "csv" && o.labelCol != "":
		return nil, cli.Usagef("-label-col applies to a CSV -data file only (%s is %s)", o.dataPath, strings.ToUpper(format))
	}
	switch format {
	case "csv":
		r, err = data.OpenCSVRows(o.dataPath, data.CSVOptions{Label: data.ParseLabelColumn(o.labelCol)})
	case "npy":
		r, err = data.OpenNPYRows(filepath.Base(o.dataPath), o.dataPath, o.labels)
	default:
		r, err = data.OpenIDXRows(filepath.Base(o.dataPath), o.dataPath, o.labels)
	}
	if err != nil {
		return nil, err
	}
	in := rowsInput(r, o.dataPath)
	in.csv = format == "csv"
	return in, nil
}

// rowsInput reads a row reader: its errors name the file and, where a row is at
// fault, the row (CSV: the line); others get the row being read.
func rowsInput(r data.RowReader, path string) *input {
	info := r.Info()
	d, row, done := info.D, 0, false
	next := func(x []float32, labels []int) (int, error) {
		if done {
			return 0, io.EOF
		}
		k := 0
		for (k+1)*d <= len(x) {
			v, label, err := r.Next()
			if err == io.EOF {
				done = true
				return k, io.EOF
			}
			if err != nil {
				var fe *data.FormatError
				if !errors.As(err, &fe) || fe.Line == 0 {
					if row == info.N {
						err = fmt.Errorf("after the last row (%d): %w", row, err)
					} else {
						err = fmt.Errorf("reading row %d: %w", row+1, err)
					}
				}
				return k, err
			}
			copy(x[k*d:(k+1)*d], v)
			labels[k] = label
			k++
			row++
		}
		return k, nil
	}
	return &input{name: info.Name, path: path, n: info.N, d: d, next: next, close: r.Close}
}

// sourceInput reads s by consecutive index ranges with Gather, checking that every
// value is finite (a damaged shard; the file readers check that themselves). name
// is for the summary, path for errors.
func sourceInput(s data.Source, name, path string, closeFn func() error) *input {
	info := s.Info()
	d, pos := info.D, 0
	var idx []int
	next := func(x []float32, labels []int) (k int, err error) {
		k = min(len(x)/d, info.N-pos)
		if k == 0 {
			return 0, io.EOF
		}
		idx = idx[:0]
		for i := pos; i < pos+k; i++ {
			idx = append(idx, i)
		}
		defer func() {
			if r := recover(); r != nil { // Gather panics on a failed read
				k, err = 0, fmt.Errorf("%s: reading rows %d..%d: %v", path, pos+1, pos+k, r)
			}
		}()
		xs := x[:k*d]
		s.Gather(idx, xs, labels[:k])
		for i, v := range xs {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return 0, &data.FormatError{Format: "shards", Path: path, Line: pos + i/d + 1, Column: i%d + 1,
					Msg: fmt.Sprintf("value %v is not finite (expected a finite number; a damaged shard?)", v)}
			}
		}
		pos += k
		return k, nil
	}
	return &input{name: name, path: path, n: info.N, d: d, next: next, close: closeFn}
}
