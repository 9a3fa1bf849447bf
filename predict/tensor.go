package predict

import (
	"fmt"

	"gorgonia.org/tensor"
)

// Predict assigns the rows of x, a float32 *tensor.Dense of shape (N, D) with D the
// model's observation dimension, any N (batched internally by MaxBatch rows; N = 0
// gives empty results of shapes (0), (0, K), (0, Dz), not an error; note that
// gorgonia's Data() panics on such empty tensors, check Shape().TotalSize() first). It returns the clusters (N) as
// Int, the cluster posteriors (N, K) and the latent means (N, Dz) as Float32; each
// cluster is the first index of its row's largest posterior. A non-contiguous or
// transposed view is read in its logical (row-major) order.
func (p *Predictor) Predict(x *tensor.Dense) (clusters, posteriors, latent *tensor.Dense, err error) {
	c := p.cfg
	if x == nil {
		return nil, nil, nil, fmt.Errorf("predict: x is nil, expected a float32 tensor of shape (N, %d)", c.D)
	}
	if x.Dtype() != tensor.Float32 {
		return nil, nil, nil, fmt.Errorf("predict: x has dtype %v, expected float32 of shape (N, %d)", x.Dtype(), c.D)
	}
	sh := x.Shape()
	if len(sh) != 2 || sh[1] != c.D {
		return nil, nil, nil, fmt.Errorf("predict: x has shape %v, expected (N, %d) (the model's D is %d)", sh, c.D, c.D)
	}
	n := sh[0]
	var xs []float32
	if n*c.D > 0 && !x.IsMaterializable() && x.DataOrder().IsRowMajor() { // (Data panics on an empty tensor)
		if d, ok := x.Data().([]float32); ok && len(d) == n*c.D {
			xs = d
		}
	}
	if xs == nil && n*c.D > 0 { // a view or a column-major tensor: read it in logical order
		xs = make([]float32, n*c.D)
		for i := 0; i < n; i++ {
			for j := 0; j < c.D; j++ {
				v, err := x.At(i, j)
				if err != nil {
					return nil, nil, nil, fmt.Errorf("predict: x[%d,%d]: %w", i, j, err)
				}
				xs[i*c.D+j] = v.(float32)
			}
		}
	}
	cl, post, zm, err := p.PredictSlice(xs, n)
	if err != nil {
		return nil, nil, nil, err
	}
	return denseInt(cl), denseF32(post, n, c.K), denseF32(zm, n, c.Dz), nil
}

func denseF32(v []float32, rows, cols int) *tensor.Dense {
	if rows == 0 {
		// gorgonia's tensor.New refuses a zero-size shape with a backing: make it empty.
		return tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(0, cols))
	}
	return tensor.New(tensor.WithShape(rows, cols), tensor.WithBacking(v))
}

func denseInt(v []int) *tensor.Dense {
	if len(v) == 0 {
		return tensor.New(tensor.Of(tensor.Int), tensor.WithShape(0))
	}
	return tensor.New(tensor.WithShape(len(v)), tensor.WithBacking(v))
}
