package trainer

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/gmvae/gmvae/data"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/gmvae"
	"github.com/gmvae/gmvae/report"
)

// Files WritePictures writes into a run folder.
const (
	SamplesFile         = "samples.png"         // one row per cluster of decoded draws from p(z|y=k)
	ReconstructionsFile = "reconstructions.png" // originals above their reconstructions
)

// ErrNotImages is WritePictures' answer for a data set whose examples are not 2-D
// grey-scale images (data.Dataset.Shape not [H W], up to axes of length 1): there is
// nothing to draw and no file is written.
var ErrNotImages = errors.New("gmvae: the examples are not 2-D images (no [H W] shape): no sample or reconstruction pictures")

// PictureOptions tunes WritePictures. The zero value draws 10 samples per cluster and
// 20 reconstructions, with the model's seed.
type PictureOptions struct {
	SamplesPerCluster int    // draws per cluster row (at most MaxBatch); 0 means 10
	Reconstructions   int    // examples reconstructed, the data set's first ones; 0 means 20
	Seed              uint64 // key of the draws (Model.SampleCluster); 0 means the model's seed
}

// picturesPerRow is the number of reconstructions per grid row.
const picturesPerRow = 10

// WritePictures draws, with m on its backend b, SamplesFile (K rows, row k the means
// of p(x|z) of z drawn from cluster k, labelled "cluster k") and ReconstructionsFile
// (the first examples of ds, each above the mean of p(x|z) at its latent mean, by
// report.ReconstructionGrid) into dir. The examples must be 2-D images: for a data set
// without a 2-D Shape it writes nothing and returns ErrNotImages. Values are drawn
// as grey levels in [0, 1]; data outside [0, 1] (a Gaussian model's) is mapped to it
// by the data set's range. The model's scratch buffers are overwritten (call it
// between training steps).
func WritePictures(b engine.Backend, m gmvae.Model, ds *data.Dataset, dir string, opt PictureOptions) error {
	h, w, ok := imageShape(ds)
	if !ok {
		return ErrNotImages
	}
	c := m.Config()
	if ds.D != c.D {
		return fmt.Errorf("gmvae: pictures: %s has %d features, the model %d", ds.Name, ds.D, c.D)
	}
	per := opt.SamplesPerCluster
	if per <= 0 {
		per = 10
	}
	per = min(per, c.MaxBatch)
	nrec := opt.Reconstructions
	if nrec <= 0 {
		nrec = 20
	}
	nrec = min(nrec, ds.N)
	seed := opt.Seed
	if seed == 0 {
		seed = c.Seed
	}
	shade := greyMap(ds)

	N, D := c.MaxBatch, c.D
	var bufs []*engine.Buf
	defer func() {
		for _, x := range bufs {
			b.Release(x)
		}
	}()
	alloc := func(n int, tag string) (*engine.Buf, error) {
		x, err := b.New(n, "pictures "+tag)
		if err == nil {
			bufs = append(bufs, x)
		}
		return x, err
	}
	z, err := alloc(N*c.Dz, "z")
	if err != nil {
		return err
	}
	xm, err := alloc(N*D, "mean of p(x|z)")
	if err != nil {
		return err
	}
	// decoded downloads the n rows of xm as images.
	decoded := func(n int) ([][]float32, error) {
		v := make([]float32, n*D)
		if err := b.Download(v, xm.Slice(0, n*D)); err != nil {
			return nil, err
		}
		return shade(v, n), nil
	}

	rows := make([][][]float32, c.K)
	labels := make([]string, c.K)
	for k := range c.K {
		if err := m.SampleCluster(k, per, z, seed); err != nil {
			return err
		}
		if err := m.Decode(z, per, xm); err != nil {
			return err
		}
		if rows[k], err = decoded(per); err != nil {
			return err
		}
		labels[k] = "cluster " + strconv.Itoa(k)
	}
	if err := report.ImageGridWith(rows, h, w, filepath.Join(dir, SamplesFile), report.GridOptions{Labels: labels}); err != nil {
		return err
	}

	if nrec == 0 {
		return nil
	}
	x, err := alloc(N*D, "x")
	if err != nil {
		return err
	}
	post, err := alloc(N*c.K, "posterior")
	if err != nil {
		return err
	}
	orig := shade(ds.X[:nrec*D], nrec)
	var recon [][]float32
	for off := 0; off < nrec; off += N {
		n := min(N, nrec-off)
		if err := b.Upload(x.Slice(0, n*D), ds.X[off*D:(off+n)*D]); err != nil {
			return err
		}
		// The terms (of step 0's draws) are not needed; zmean is.
		if _, err := m.Infer(x, n, post, nil, z, 0); err != nil {
			return err
		}
		if err := m.Decode(z, n, xm); err != nil {
			return err
		}
		r, err := decoded(n)
		if err != nil {
			return err
		}
		recon = append(recon, r...)
	}
	return report.ReconstructionGrid(orig, recon, h, w, picturesPerRow, filepath.Join(dir, ReconstructionsFile))
}

// imageShape returns the height and width of ds's examples when they are 2-D images:
// Shape [H W], axes of length 1 left out ([1 H W] and [H W 1] count).
func imageShape(ds *data.Dataset) (h, w int, ok bool) {
	if ds == nil {
		return 0, 0, false
	}
	return imageDims(ds.Info())
}

// imageDims returns the height and width of a data set's examples when they are 2-D
// images (a shape of two axes longer than 1, up to axes of length 1).
func imageDims(in data.SourceInfo) (h, w int, ok bool) {
	var dims []int
	for _, s := range in.Shape {
		if s != 1 {
			dims = append(dims, s)
		}
	}
	if len(dims) != 2 || dims[0]*dims[1] != in.D {
		return 0, 0, false
	}
	return dims[0], dims[1], true
}

// greyMap returns the function that splits n rows of values into images in [0, 1]:
// as they are for data in [0, 1], else mapped by the data set's range.
func greyMap(ds *data.Dataset) func(v []float32, n int) [][]float32 {
	lo, scale := float32(0), float32(1)
	if !ds.InUnitInterval() {
		l, h := ds.Range()
		if h > l {
			lo, scale = l, 1/(h-l)
		}
	}
	return func(v []float32, n int) [][]float32 {
		d := len(v) / max(n, 1)
		out := make([][]float32, n)
		for i := range out {
			im := make([]float32, d)
			for j, x := range v[i*d : (i+1)*d] {
				im[j] = (x - lo) * scale
			}
			out[i] = im
		}
		return out
	}
}
