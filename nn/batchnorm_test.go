package nn

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/gmvae/gmvae/cuda/emu"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/kernels"
	"github.com/gmvae/gmvae/kernels/philox"
)

// bnRun is what one Linear-BatchNorm-ReLU layer computes on a batch: the Train-mode
// output, the state after it, the Eval-mode output and the state after that.
type bnRun struct {
	w, yTrain, stTrain, yEval, stEval []float32
}

func runBN(t *testing.T, b engine.Backend, x []float32, n, in, out int) bnRun {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	ps := NewParams(b)
	l := NewLinearBN(ps, "l", in, out, kernels.ActRelu)
	must(ps.Alloc(3))
	defer ps.Release()
	s, err := l.NewScratch(b, n, "l")
	must(err)
	xb, err := b.New(n*in, "x")
	must(err)
	yb, err := b.New(n*out, "y")
	must(err)
	defer func() {
		for _, buf := range append(s.Bufs(), xb, yb) {
			must(b.Release(buf))
		}
	}()
	must(b.Upload(xb, x))
	down := func(buf *engine.Buf) []float32 {
		v := make([]float32, buf.Len())
		must(b.Download(v, buf))
		return v
	}
	var r bnRun
	r.w = down(l.W().P)
	if err := l.Forward(b, xb, yb, n, s); err == nil || !strings.Contains(err.Error(), "ForwardMode") {
		t.Fatalf("Forward of a batch-norm layer: %v, want an error that asks for ForwardMode", err)
	}
	must(l.ForwardMode(b, xb, yb, n, s, Train))
	r.yTrain, r.stTrain = down(yb), down(ps.S)
	must(l.ForwardMode(b, xb, yb, n, s, Eval))
	r.yEval, r.stEval = down(yb), down(ps.S)
	return r
}

// TestBatchNormModes checks a Linear-BatchNorm-ReLU layer against a float64 reference
// in both modes: Train normalises with the batch mean and biased variance and moves
// the running estimates (momentum 0.1, unbiased variance) from their initial 0 and 1;
// Eval normalises with the running estimates and changes nothing. The CPU and the
// emulator give the same bits.
func TestBatchNormModes(t *testing.T) {
	for _, sz := range []struct{ n, in, out int }{{5, 3, 4}, {1, 2, 3}, {37, 7, 33}} {
		n, in, out := sz.n, sz.in, sz.out
		x := make([]float32, n*in)
		philox.Normals(x, 9, uint64(n))
		r := runBN(t, engine.NewCPU(), x, n, in, out)

		lin := make([]float64, n*out)
		for i := 0; i < n; i++ {
			for j := 0; j < out; j++ {
				for k := 0; k < in; k++ {
					lin[i*out+j] += float64(x[i*in+k]) * float64(r.w[k*out+j])
				}
			}
		}
		eps := float64(BatchNormEps)
		mom := float64(BatchNormMomentum)
		relu := func(v float64) float64 { return math.Max(v, 0) }
		near := func(what string, got float32, want float64) {
			t.Helper()
			if math.Abs(float64(got)-want) > 2e-5*(1+math.Abs(want)) {
				t.Errorf("n=%d %s: got %g, want %g", n, what, got, want)
			}
		}
		for j := 0; j < out; j++ {
			var mean, ss float64
			for i := 0; i < n; i++ {
				mean += lin[i*out+j]
			}
			mean /= float64(n)
			for i := 0; i < n; i++ {
				d := lin[i*out+j] - mean
				ss += d * d
			}
			varB, varU := ss/float64(n), ss/float64(n)
			if n > 1 {
				varU = ss / float64(n-1)
			}
			rm, rv := mom*mean, (1-mom)+mom*varU
			near("running mean", r.stTrain[j], rm)
			near("running var", r.stTrain[out+j], rv)
			for i := 0; i < n; i++ {
				v := lin[i*out+j]
				near("train y", r.yTrain[i*out+j], relu((v-mean)/math.Sqrt(varB+eps)))
				near("eval y", r.yEval[i*out+j], relu((v-rm)/math.Sqrt(rv+eps)))
			}
		}
		if !reflect.DeepEqual(r.stTrain, r.stEval) {
			t.Errorf("n=%d: an Eval forward changed the state: %v -> %v", n, r.stTrain, r.stEval)
		}

		gpu := engine.NewGPU(emu.New(emu.Options{}), engine.GPUOptions{})
		e := runBN(t, gpu, x, n, in, out)
		if err := gpu.Close(); err != nil {
			t.Fatal(err)
		}
		for name, pair := range map[string][2][]float32{"train y": {r.yTrain, e.yTrain}, "eval y": {r.yEval, e.yEval}, "state": {r.stEval, e.stEval}} {
			for i := range pair[0] {
				if math.Float32bits(pair[0][i]) != math.Float32bits(pair[1][i]) {
					t.Fatalf("n=%d %s[%d]: cpu %g, emulator %g", n, name, i, pair[0][i], pair[1][i])
				}
			}
		}
	}
}

// TestBatchNormParams checks what a batch-norm layer declares: W without a bias, gamma
// (1) and beta (0) trained, the running mean (0) and variance (1) as state that
// ResetState restores.
func TestBatchNormParams(t *testing.T) {
	b := engine.NewCPU()
	ps := NewParams(b)
	l := NewLinearBN(ps, "enc.0", 2, 3, kernels.ActRelu)
	if err := ps.Alloc(1); err != nil {
		t.Fatal(err)
	}
	defer ps.Release()
	names, sizes := ps.Layout()
	if want := []string{"enc.0.W", "enc.0.bn.gamma", "enc.0.bn.beta"}; !reflect.DeepEqual(names, want) || !reflect.DeepEqual(sizes, []int{6, 3, 3}) {
		t.Errorf("parameters %v %v, want %v [6 3 3]", names, sizes, want)
	}
	snames, ssizes := ps.StateLayout()
	if want := []string{"enc.0.bn.running_mean", "enc.0.bn.running_var"}; !reflect.DeepEqual(snames, want) || !reflect.DeepEqual(ssizes, []int{3, 3}) {
		t.Errorf("state %v %v, want %v [3 3]", snames, ssizes, want)
	}
	if l.B().P != nil {
		t.Error("a batch-norm layer has a bias")
	}
	p := make([]float32, ps.Len())
	if err := b.Download(p, ps.P); err != nil {
		t.Fatal(err)
	}
	if got := p[6:]; !reflect.DeepEqual(got, []float32{1, 1, 1, 0, 0, 0}) {
		t.Errorf("gamma, beta start at %v, want 1s and 0s", got)
	}
	want := []float32{0, 0, 0, 1, 1, 1}
	st := make([]float32, ps.StateLen())
	if err := b.Upload(ps.S, []float32{7, 7, 7, 7, 7, 7}); err != nil {
		t.Fatal(err)
	}
	if err := ps.ResetState(); err != nil {
		t.Fatal(err)
	}
	if err := b.Download(st, ps.S); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("state after ResetState %v, want %v", st, want)
	}
	if !strings.Contains(ps.String(), "enc.0.bn.running_var") {
		t.Errorf("Params.String leaves out the state:\n%s", ps)
	}
	if NewParams(b).StateLen() != 0 {
		t.Error("a store without state has state")
	}
}
