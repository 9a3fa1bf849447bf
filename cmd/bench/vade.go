package main

import (
	"fmt"

	"github.com/gmvae/gmvae/data"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/gmvae"
	"github.com/gmvae/gmvae/kernels"
	"github.com/gmvae/gmvae/ops"
)

// vadeBench times model vade on MNIST against ceilings measured in the same run:
//
//   - the FMA peak of this machine (an assembly loop of independent fused multiply-adds
//     on every core; engine.CPUPeakFLOPS), or -flops-ceiling on a GPU;
//   - the GEMM rate at the model's own shapes: the products of one training step at
//     batch 100 (forward, and the backward's weight and input gradients), each timed
//     alone, their total FLOPs over their total time;
//   - one epoch of autoencoder pretraining and one epoch of VaDE training (batch 100,
//     Adam, evaluation excluded), each as seconds, examples/s and the share of both
//     ceilings that its products' FLOPs reach.
//
// The products are the dense layers' (2·in·out FLOPs per row forward, 4·in·out
// backward, 2·in·out for the first layer, whose input gradient is not needed); the
// elementwise and mixture ops are left out of the count (they are a few percent here).
func vadeBench(b engine.Backend, dataDir string, limit, reps int, peak float64) error {
	train, _, err := data.LoadMNIST(dataDir)
	if err != nil {
		return err
	}
	n := train.N
	if limit > 0 && limit < n {
		n = limit
	}
	const batch = 100
	cfg := gmvae.Config{Model: "vade", D: train.D, K: 10, MaxBatch: batch, Seed: 1}.Defaults()
	// The layers of the step: encoder (D-500-500-2000, then the two heads), decoder.
	type layer struct{ in, out int }
	dims := append([]int{cfg.D}, cfg.Hidden...)
	var layers []layer
	for i := 0; i+1 < len(dims); i++ {
		layers = append(layers, layer{dims[i], dims[i+1]})
	}
	last := cfg.Hidden[len(cfg.Hidden)-1]
	layers = append(layers, layer{last, cfg.Dz}, layer{last, cfg.Dz})
	dec := []int{cfg.Dz}
	for i := len(cfg.Hidden) - 1; i >= 0; i-- {
		dec = append(dec, cfg.Hidden[i])
	}
	dec = append(dec, cfg.D)
	for i := 0; i+1 < len(dec); i++ {
		layers = append(layers, layer{dec[i], dec[i+1]})
	}
	stepFlops := 0.0
	for i, l := range layers {
		f := 2 * float64(batch) * float64(l.in) * float64(l.out)
		stepFlops += 3 * f
		if i == 0 {
			stepFlops -= f // no input gradient for the data
		}
	}
	// The GEMM rate at these shapes.
	var gemmSecs, gemmFlops float64
	for i, l := range layers {
		bufs := map[string]*engine.Buf{}
		for name, size := range map[string]int{"x": batch * l.in, "w": l.in * l.out, "y": batch * l.out, "dw": l.in * l.out, "dx": batch * l.in} {
			if bufs[name], err = b.New(size, "vade bench "+name); err != nil {
				return err
			}
			host := make([]float32, size)
			for j := range host {
				host[j] = float32((j*7919)%13) / 13
			}
			if err := b.Upload(bufs[name], host); err != nil {
				return err
			}
		}
		x, w, y, dw, dx := bufs["x"], bufs["w"], bufs["y"], bufs["dw"], bufs["dx"]
		work := []func() error{
			func() error { return ops.GemmNN(b, x, w, nil, y, batch, l.out, l.in, kernels.ActRelu, false) },
			func() error { return ops.GemmTN(b, x, y, nil, dw, l.in, l.out, batch, kernels.ActNone, true) },
		}
		if i > 0 {
			work = append(work, func() error { return ops.GemmNT(b, y, w, nil, dx, batch, l.in, l.out, kernels.ActNone, false) })
		}
		for _, f := range work {
			d, err := timeIt(b, reps, f)
			if err != nil {
				return err
			}
			gemmSecs += d.Seconds()
			gemmFlops += 2 * float64(batch) * float64(l.in) * float64(l.out)
		}
		for _, buf := range bufs {
			_ = b.Release(buf)
		}
	}
	gemmRate := gemmFlops / gemmSecs
	fmt.Printf("backend %s; ceilings measured now: FMA peak %.1f GFLOP/s; GEMM at vade's shapes (batch %d) %.1f GFLOP/s (%.0f%% of peak)\n",
		b.Name(), peak/1e9, batch, gemmRate/1e9, 100*gemmRate/peak)
	for _, pretrain := range []bool{true, false} {
		c := cfg
		c.Pretrain = pretrain
		secs, _, err := timeEpoch(b, c, train, n, batch, 2e-3)
		if err != nil {
			return err
		}
		flops := stepFlops * float64(n) / float64(batch)
		if pretrain {
			// The s head has no gradient and is not run into the loss.
			flops -= 3 * 2 * float64(n) * float64(last) * float64(cfg.Dz)
		}
		what := "vade training epoch"
		if pretrain {
			what = "pretraining epoch"
		}
		rate := flops / secs
		fmt.Printf("%-22s %8.2f s  %7.0f ex/s  products %6.1f GFLOP/s = %4.0f%% of the FMA peak, %4.0f%% of the GEMM rate at these shapes\n",
			what, secs, float64(n)/secs, rate/1e9, 100*rate/peak, 100*rate/gemmRate)
	}
	return nil
}
