package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gmvae/gmvae/data"
	"github.com/gmvae/gmvae/predict"
)

// outFile is one output file being written: a temporary file beside its final path,
// renamed to it by commit.
type outFile struct {
	path, tmp string
	f         *os.File
	bw        *bufio.Writer   // CSV
	npy       *data.NPYWriter // NPY
	cols      int
	line      []byte
}

// createTemp opens a temporary file beside path (mode 0644).
func createTemp(path string) (*outFile, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(0o644); err != nil { // CreateTemp makes 0600
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &outFile{path: path, tmp: f.Name(), f: f}, nil
}

// outputs are the four result files (clusters, posteriors, their logits, latent
// means) in one format, written chunk by chunk.
type outputs struct {
	files []*outFile
}

// createOutputs creates the temporary files of the outputs in dir, in format csv or
// npy, for n rows (-1: unknown until the end) of K posteriors and Dz latent means.
func createOutputs(dir, format string, n, k, dz int) (*outputs, error) {
	out := &outputs{}
	add := func(name string, setup func(f *outFile) error) error {
		f, err := createTemp(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		out.files = append(out.files, f)
		if err := setup(f); err != nil {
			return fmt.Errorf("%s: %w", f.path, err)
		}
		return nil
	}
	var err error
	if format == "npy" {
		npy := func(descr string, shape ...int) func(f *outFile) error {
			return func(f *outFile) (err error) {
				f.npy, err = data.NewNPYWriter(f.f, descr, shape)
				return err
			}
		}
		err = errors.Join(
			add("clusters.npy", npy(data.NPYInt64, n)),
			add("posteriors.npy", npy(data.NPYFloat32, n, k)),
			add("logits.npy", npy(data.NPYFloat32, n, k)),
			add("latent.npy", npy(data.NPYFloat32, n, dz)))
	} else {
		csv := func(head []string) func(f *outFile) error {
			return func(f *outFile) error {
				f.bw = bufio.NewWriterSize(f.f, 1<<16)
				f.cols = len(head)
				_, err := f.bw.WriteString(strings.Join(head, ",") + "\n")
				return err
			}
		}
		err = errors.Join(
			add("clusters.csv", csv([]string{"cluster"})),
			add("posteriors.csv", csv(header("p", k))),
			add("logits.csv", csv(header("l", k))),
			add("latent.csv", csv(header("z", dz))))
	}
	if err != nil {
		out.abort()
		return nil, err
	}
	return out, nil
}

// names returns the files' names (without the folder).
func (o *outputs) names() []string {
	var s []string
	for _, f := range o.files {
		s = append(s, filepath.Base(f.path))
	}
	return s
}

// write appends the results of one chunk: its clusters, posteriors and their logits
// (rows × K), and latent means (rows × Dz).
func (o *outputs) write(r *predict.Prediction) error {
	clusters := r.Clusters
	cl, p, l, z := o.files[0], o.files[1], o.files[2], o.files[3]
	var err error
	if cl.npy != nil {
		err = errors.Join(cl.npy.WriteInt(clusters), p.npy.WriteFloat32(r.Post), l.npy.WriteFloat32(r.Logits),
			z.npy.WriteFloat32(r.ZMean))
	} else {
		for _, c := range clusters {
			cl.line = strconv.AppendInt(cl.line[:0], int64(c), 10)
			cl.line = append(cl.line, '\n')
			if _, err := cl.bw.Write(cl.line); err != nil {
				return fmt.Errorf("%s: %w", cl.path, err)
			}
		}
		err = errors.Join(p.writeFloats(r.Post), l.writeFloats(r.Logits), z.writeFloats(r.ZMean))
	}
	return err
}

// writeFloats appends the CSV rows of v (rows × cols): each float in the shortest
// form that reads back to the same float32.
func (f *outFile) writeFloats(v []float32) error {
	for i := 0; i < len(v); i += f.cols {
		f.line = f.line[:0]
		for j, x := range v[i : i+f.cols] {
			if j > 0 {
				f.line = append(f.line, ',')
			}
			f.line = strconv.AppendFloat(f.line, float64(x), 'g', -1, 32)
		}
		f.line = append(f.line, '\n')
		if _, err := f.bw.Write(f.line); err != nil {
			return fmt.Errorf("%s: %w", f.path, err)
		}
	}
	return nil
}

// commit finishes every file (an NPY file checks its row count), syncs and closes
// it, then renames them all to their final names. On an error it removes the
// temporary files.
func (o *outputs) commit() error {
	var errs []error
	for _, f := range o.files {
		var err error
		if f.npy != nil {
			err = f.npy.Close()
		} else {
			err = f.bw.Flush()
		}
		if err == nil {
			err = f.f.Sync()
		}
		if cerr := f.f.Close(); err == nil {
			err = cerr
		}
		f.f = nil
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.path, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		o.abort()
		return err
	}
	for i, f := range o.files {
		if err := os.Rename(f.tmp, f.path); err != nil {
			for _, g := range o.files[i:] {
				os.Remove(g.tmp)
			}
			return err
		}
	}
	return nil
}

// abort closes and removes the temporary files.
func (o *outputs) abort() {
	for _, f := range o.files {
		if f.f != nil {
			f.f.Close()
			f.f = nil
		}
		os.Remove(f.tmp)
	}
}
