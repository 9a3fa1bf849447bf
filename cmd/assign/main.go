// Command assign uses a trained model: it loads a checkpoint written by train, runs the
// observations of a data file through the model and writes, for every row, its cluster
// (the first argmax of its posterior), its cluster posteriors (N, K) and its latent
// means (N, Dz).
//
//	assign -checkpoint runs/x/checkpoint.safetensors -data file.{idx,csv,npy} -out DIR
//	       [-label-col COL] [-device auto|cpu|emu|cuda] [-format csv|npy]
//	assign -checkpoint runs/x/checkpoint.safetensors -mnist-test [-data-dir DIR] -out DIR
//
// Files written in DIR (created if needed):
//
//	-format csv: clusters.csv (header "cluster"), posteriors.csv (header p0..p{K-1}),
//	             latent.csv (header z0..z{Dz-1}); floats in the shortest form that
//	             reads back to the same float32;
//	-format npy: clusters.npy (N,) of int64, posteriors.npy (N, K) and latent.npy
//	             (N, Dz) of float32.
//
// Rows are in the data file's order. Values are used as loaded (IDX/NPY bytes scaled to
// [0, 1]), without the random binarisation a training run may apply; the results do
// not depend on any random draw, nor on the device. A CSV file's label column, if any,
// must be named by -label-col so that it is not read as a feature.
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

	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/engine/data"
	"github.com/gmvae/gmvae/gmvae"
	"github.com/gmvae/gmvae/internal/cli"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

type options struct {
	checkpoint, dataPath, labelCol, dataDir, out, device, format string
	mnistTest                                                    bool
}

// run runs the command: exit status 0, 1 (a failure) or 2 (a bad flag).
func run(args []string, stdout, stderr io.Writer) int {
	return cli.Status("assign", "assign:", runErr(args, stdout, stderr), stderr)
}

func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("assign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.checkpoint, "checkpoint", "", "checkpoint written by train (runs/<name>/checkpoint.safetensors); required")
	fs.StringVar(&o.dataPath, "data", "", "observations: .csv, .npy, or IDX (any other name)")
	fs.StringVar(&o.labelCol, "label-col", "", "CSV label column to leave out of the features: a header name or a 0-based index (negative: from the end)")
	fs.BoolVar(&o.mnistTest, "mnist-test", false, "use the MNIST test set (10000 images) instead of -data")
	fs.StringVar(&o.dataDir, "data-dir", "", "folder with the MNIST files for -mnist-test (default: the Go module cache, or $"+data.MNISTDirEnv+")")
	fs.StringVar(&o.out, "out", "", "folder to write the results in (created if needed); required")
	fs.StringVar(&o.device, "device", "auto", "backend: "+strings.Join(engine.Devices, ", "))
	fs.StringVar(&o.format, "format", "csv", "output format: csv or npy")
	if err := cli.Parse(fs, args); err != nil {
		return o, err
	}
	switch {
	case o.checkpoint == "":
		return o, cli.Usage(errors.New("-checkpoint is required"))
	case o.out == "":
		return o, cli.Usage(errors.New("-out is required"))
	case o.dataPath == "" && !o.mnistTest:
		return o, cli.Usage(errors.New("give -data FILE or -mnist-test"))
	case o.dataPath != "" && o.mnistTest:
		return o, cli.Usage(errors.New("-data and -mnist-test exclude each other"))
	case o.format != "csv" && o.format != "npy":
		return o, cli.Usagef("-format %q, want csv or npy", o.format)
	case o.labelCol != "" && strings.ToLower(filepath.Ext(o.dataPath)) != ".csv":
		return o, cli.Usage(errors.New("-label-col applies to a CSV -data file only"))
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
	p, err := gmvae.Load(b, o.checkpoint)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := p.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	ds, err := loadData(o)
	if err != nil {
		return err
	}
	c := p.Config()
	if ds.D != c.D {
		return fmt.Errorf("data %s has D = %d values per row, but the model of checkpoint %s expects D = %d", ds.Name, ds.D, o.checkpoint, c.D)
	}
	clusters, post, zmean, err := p.PredictSlice(ds.X, ds.N)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	var files []string
	if o.format == "npy" {
		files = []string{"clusters.npy", "posteriors.npy", "latent.npy"}
		err = errors.Join(
			data.SaveNPYInt(filepath.Join(o.out, files[0]), clusters),
			data.SaveNPYFloat32(filepath.Join(o.out, files[1]), post, ds.N, c.K),
			data.SaveNPYFloat32(filepath.Join(o.out, files[2]), zmean, ds.N, c.Dz))
	} else {
		files = []string{"clusters.csv", "posteriors.csv", "latent.csv"}
		f32 := func(v []float32, cols int) func(i, j int) string {
			return func(i, j int) string { return strconv.FormatFloat(float64(v[i*cols+j]), 'g', -1, 32) }
		}
		err = errors.Join(
			writeCSV(filepath.Join(o.out, files[0]), []string{"cluster"}, ds.N, 1, func(i, _ int) string { return strconv.Itoa(clusters[i]) }),
			writeCSV(filepath.Join(o.out, files[1]), header("p", c.K), ds.N, c.K, f32(post, c.K)),
			writeCSV(filepath.Join(o.out, files[2]), header("z", c.Dz), ds.N, c.Dz, f32(zmean, c.Dz)))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "assigned %d rows of %s to %d clusters (%s model, %s); wrote %s in %s\n",
		ds.N, ds.Name, c.K, c.Model, b.Name(), strings.Join(files, ", "), o.out)
	return nil
}

func header(prefix string, n int) []string {
	h := make([]string, n)
	for i := range h {
		h[i] = prefix + strconv.Itoa(i)
	}
	return h
}

// writeCSV writes rows x cols cells under a header.
func writeCSV(path string, head []string, rows, cols int, cell func(i, j int) string) error {
	var sb strings.Builder
	sb.WriteString(strings.Join(head, ","))
	sb.WriteByte('\n')
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			if j > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(cell(i, j))
		}
		sb.WriteByte('\n')
	}
	return os.WriteFile(path, []byte(sb.String()), 0o644)
}

// loadData loads the MNIST test set or the -data file.
func loadData(o options) (*data.Dataset, error) {
	if o.mnistTest {
		_, test, err := data.LoadMNIST(o.dataDir)
		return test, err
	}
	switch strings.ToLower(filepath.Ext(o.dataPath)) {
	case ".csv":
		var label data.LabelColumn
		if o.labelCol != "" {
			if i, err := strconv.Atoi(o.labelCol); err == nil {
				label = data.LabelAt(i)
			} else {
				label = data.LabelByName(o.labelCol)
			}
		}
		return data.LoadCSV(o.dataPath, data.CSVOptions{Label: label})
	case ".npy":
		return data.LoadNPY(filepath.Base(o.dataPath), o.dataPath, "")
	}
	return data.LoadIDX(filepath.Base(o.dataPath), o.dataPath, "")
}
