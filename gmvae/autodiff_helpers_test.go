// gorgonia.org/gorgonia has its own `cuda` build tag (its cuDNN variant): the autodiff
// cross-checks stay out of tagged builds.

//go:build !cuda

package gmvae

// Helpers of the models' gorgonia (float64 autodiff) cross-checks.

import (
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func adMust(n *G.Node, err error) *G.Node {
	if err != nil {
		panic(err)
	}
	return n
}

func ad64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// adTensor makes a constant (rows, cols) tensor.
func adTensor(v []float64, rows, cols int) *G.Node {
	return G.NewConstant(tensor.New(tensor.WithShape(rows, cols), tensor.WithBacking(append([]float64(nil), v...))))
}
