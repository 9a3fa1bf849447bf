// gorgonia.org/gorgonia has its own `cuda` build tag, under which it compiles its
// cuDNN/cuBLAS variant (needing cudnn.h and libcublas.so.11, which neither CI nor the GPU
// machines have). Our driver uses the same tag name, so this cross-check stays out of
// tagged builds; the default build (what CI tests) runs it.

//go:build !cuda

package cpu

// An independent check of the mixture, log-sum-exp and KL gradients: the same forward
// expressions built as a gorgonia graph in float64 and differentiated by gorgonia's
// reverse-mode autodiff (gorgonia.org/gorgonia, CPU). Test-only: nothing in the engine
// depends on gorgonia.
//
// gorgonia's own LogSumExp is not used (it is wrong in v0.9.18); the log-sum-exp is
// written as c + log(sum(exp(x - c))) with c the row maximum held as a constant, which
// has the same value and the same gradient (softmax) for any constant c.

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// adNode makes a float64 graph input with the given shape and values.
func adNode(g *G.ExprGraph, name string, x []float64, shape ...int) *G.Node {
	backing := append([]float64(nil), x...)
	v := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(backing))
	if len(shape) == 1 {
		return G.NewVector(g, tensor.Float64, G.WithShape(shape...), G.WithName(name), G.WithValue(v))
	}
	return G.NewTensor(g, tensor.Float64, len(shape), G.WithShape(shape...), G.WithName(name), G.WithValue(v))
}

// adConst makes a constant tensor (weights of the objective).
func adConst(x []float64, shape ...int) *G.Node {
	return G.NewConstant(tensor.New(tensor.WithShape(shape...), tensor.WithBacking(append([]float64(nil), x...))))
}

// (Rows of the (N, D) inputs are taken from flat vectors by a range slice: gorgonia
// v0.9.18 turns a row slice of an (N, 1) matrix into a scalar that its ops refuse.)

// adRow returns row n of x: x itself for shared parameters, else x[n].
func adRow(x *G.Node, n int, shared bool) *G.Node {
	if shared {
		return x
	}
	return G.Must(G.Slice(x, G.S(n)))
}

// adGrad returns the gradient values of the given nodes after running the graph.
func adGrad(t *testing.T, g *G.ExprGraph, cost *G.Node, wrt ...*G.Node) [][]float64 {
	t.Helper()
	_, err := G.Grad(cost, wrt...)
	require.NoError(t, err)
	m := G.NewTapeMachine(g)
	defer m.Close()
	require.NoError(t, m.RunAll())
	out := make([][]float64, len(wrt))
	for i, w := range wrt {
		gv, err := w.Grad()
		require.NoError(t, err)
		out[i] = append([]float64(nil), gv.Data().([]float64)...)
	}
	return out
}

// adCheck compares a float64 formula (tight) and a float32 twin (float32 bound) with
// gorgonia's gradient, both relative to the gradient's magnitude.
func adCheck(t *testing.T, name string, auto []float64, ref64 []float64, twin []float32, mag []float64) {
	t.Helper()
	require.Len(t, ref64, len(auto), "%s: the float64 formula's length against autodiff's", name)
	require.Len(t, twin, len(auto), "%s: the twin's length against autodiff's", name)
	for i := range auto {
		// LessOrEqual fails on a NaN error, as !(err <= bound) did.
		require.LessOrEqual(t, math.Abs(ref64[i]-auto[i]), 1e-12*(mag[i]+1), "%s[%d]: float64 formula %.15g, gorgonia %.15g", name, i, ref64[i], auto[i])
		require.LessOrEqual(t, math.Abs(float64(twin[i])-auto[i]), 1e-5*mag[i]+1e-30, "%s[%d]: twin %.9g, gorgonia %.15g (magnitude %.3g)", name, i, twin[i], auto[i], mag[i])
	}
}

// TestMixtureAutodiff: the gradients of F = sum glse*lse + sum gresp*resp + sum gLd*L
// (L = mixture_loglik, lse/resp its row log-sum-exp/softmax) with respect to z, mu, lv
// and log pi, by gorgonia against the float64 formulas and the float32 twin chain
// (lse_softmax_bwd, mixture_bwd_z, mixture_bwd_params, dlogpi).
func TestMixtureAutodiff(t *testing.T) {
	r := rand.New(rand.NewSource(31))
	for _, c := range []mixCase{
		{1, 1, 1, false, true, false, -1, 1},
		{3, 4, 5, false, true, false, -2, 2},
		{3, 4, 5, true, true, true, -2, 2},
		{2, 3, 33, true, false, false, -3, 3},
		{4, 2, 3, false, true, true, -80, -79},
		{2, 5, 7, true, true, false, 70, 80},
	} {
		t.Run(c.String(), func(t *testing.T) {
			N, K, D := c.N, c.K, c.D
			in := mixNewIn(r, N, K, D, c.perSample, c.withPi, c.piPerRow, c.lvLo, c.lvHi)
			if c.lvHi < -50 {
				// Tiny variances: put every mean within a few standard deviations
				// (about 4e-18) of z (of row 0's z for shared parameters).
				for i := range in.mu {
					n := 0
					if c.perSample {
						n = i / (K * D)
					}
					in.mu[i] = in.z[n*D+i%D] + float32(1e-17*r.NormFloat64())
				}
			}
			glse := mixNormals(r, N, 1)
			gresp := mixNormals(r, N*K, 1)
			gLd := mixNormals(r, N*K, 1)
			in64 := in.to64()
			L64, _ := refMixtureLoglik(in64)

			g := G.NewGraph()
			shared := !c.perSample
			z := adNode(g, "z", in64.z, N, D)
			pshape := []int{K, D}
			if !shared {
				pshape = []int{N, K, D}
			}
			mu := adNode(g, "mu", in64.mu, pshape...)
			lv := adNode(g, "lv", in64.lv, pshape...)
			var logpi *G.Node
			if in64.logpi != nil {
				if in.pis == 0 {
					logpi = adNode(g, "logpi", in64.logpi, K)
				} else {
					logpi = adNode(g, "logpi", in64.logpi, N, K)
				}
			}
			var cost *G.Node
			for n := 0; n < N; n++ {
				zn := G.Must(G.Slice(z, G.S(n)))
				mun, lvn := adRow(mu, n, shared), adRow(lv, n, shared)
				diff := G.Must(G.BroadcastSub(mun, zn, nil, []byte{0})) // (K, D)
				q := G.Must(G.HadamardProd(G.Must(G.Square(diff)), G.Must(G.Exp(G.Must(G.Neg(lvn))))))
				term := G.Must(G.Add(G.Must(G.Add(lvn, G.NewConstant(math.Log(2*math.Pi)))), q))
				Ln := G.Must(G.Mul(G.Must(G.Sum(term, 1)), G.NewConstant(-0.5))) // (K)
				if logpi != nil {
					Ln = G.Must(G.Add(Ln, adRow(logpi, n, in.pis == 0)))
				}
				mx := math.Inf(-1)
				for k := 0; k < K; k++ {
					mx = math.Max(mx, L64[n*K+k])
				}
				cst := G.NewConstant(mx)
				lse := G.Must(G.Add(cst, G.Must(G.Log(G.Must(G.Sum(G.Must(G.Exp(G.Must(G.Sub(Ln, cst))))))))))
				resp := G.Must(G.Exp(G.Must(G.Sub(Ln, lse))))
				fn := G.Must(G.Mul(lse, G.NewConstant(float64(glse[n]))))
				fn = G.Must(G.Add(fn, G.Must(G.Sum(G.Must(G.HadamardProd(resp, adConst(mixTo64(gresp[n*K:n*K+K]), K)))))))
				fn = G.Must(G.Add(fn, G.Must(G.Sum(G.Must(G.HadamardProd(Ln, adConst(mixTo64(gLd[n*K:n*K+K]), K)))))))
				if cost == nil {
					cost = fn
				} else {
					cost = G.Must(G.Add(cost, fn))
				}
			}
			wrt := []*G.Node{z, mu, lv}
			if logpi != nil {
				wrt = append(wrt, logpi)
			}
			auto := adGrad(t, g, cost, wrt...)

			// The float64 formulas and the float32 twin chain.
			_, resp64 := refLseSoftmax(N, K, L64)
			gL64, gLMag := refLseSoftmaxBwd(N, K, resp64, mixTo64(glse), mixTo64(gresp))
			for i := range gL64 {
				gL64[i] += float64(gLd[i])
				gLMag[i] += math.Abs(float64(gLd[i]))
			}
			ref := refMixtureBwd(in64, gL64)
			mag := refMixtureBwd(in64, gLMag)
			_, _, resp := mixRunLoglik(in)
			_, dz, dmu, dlv, dlogpi := mixGradRun(in, resp, glse, gresp, gLd)
			adCheck(t, "dz", auto[0], ref.dz, dz, mag.dzMag)
			adCheck(t, "dmu", auto[1], ref.dmu, dmu, mag.dmuMag)
			adCheck(t, "dlv", auto[2], ref.dlv, dlv, mag.dlvMag)
			if logpi != nil {
				dlp, dlpMag := gL64, gLMag
				if in.pis == 0 {
					dlp, dlpMag = make([]float64, K), make([]float64, K)
					for i := range gL64 {
						dlp[i%K] += gL64[i]
						dlpMag[i%K] += gLMag[i]
					}
				}
				adCheck(t, "dlogpi", auto[3], dlp, dlogpi, dlpMag)
			}
		})
	}
}

// TestLseSoftmaxAutodiff: the gradient of F = sum glse*lse + sum gresp*resp with
// respect to the logits, by gorgonia, against LseSoftmaxBwd and its float64 formula,
// on rows with large spreads and -Inf-free values.
func TestLseSoftmaxAutodiff(t *testing.T) {
	r := rand.New(rand.NewSource(32))
	for _, sz := range [][3]int{{1, 1, 1}, {3, 7, 5}, {2, 33, 20}, {2, 64, 3}} {
		N, K, scale := sz[0], sz[1], float64(sz[2])
		t.Run(fmt.Sprintf("N=%d K=%d scale=%g", N, K, scale), func(t *testing.T) {
			x := mixNormals(r, N*K, scale)
			glse, gresp := mixNormals(r, N, 1), mixNormals(r, N*K, 1)
			x64 := mixTo64(x)
			g := G.NewGraph()
			xn := adNode(g, "x", x64, N*K)
			var cost *G.Node
			for n := 0; n < N; n++ {
				row := G.Must(G.Slice(xn, G.S(n*K, n*K+K)))
				mx := math.Inf(-1)
				for k := 0; k < K; k++ {
					mx = math.Max(mx, x64[n*K+k])
				}
				cst := G.NewConstant(mx)
				lse := G.Must(G.Add(cst, G.Must(G.Log(G.Must(G.Sum(G.Must(G.Exp(G.Must(G.Sub(row, cst))))))))))
				resp := G.Must(G.Exp(G.Must(G.Sub(row, lse))))
				fn := G.Must(G.Mul(lse, G.NewConstant(float64(glse[n]))))
				fn = G.Must(G.Add(fn, G.Must(G.Sum(G.Must(G.HadamardProd(resp, adConst(mixTo64(gresp[n*K:n*K+K]), K)))))))
				if cost == nil {
					cost = fn
				} else {
					cost = G.Must(G.Add(cost, fn))
				}
			}
			auto := adGrad(t, g, cost, xn)
			_, resp64 := refLseSoftmax(N, K, x64)
			want, mag := refLseSoftmaxBwd(N, K, resp64, mixTo64(glse), mixTo64(gresp))
			resp := make([]float32, N*K)
			LseSoftmax(N, K, x, nil, resp)
			gx := make([]float32, N*K)
			LseSoftmaxBwd(N, K, resp, glse, gresp, gx, false)
			adCheck(t, "gx", auto[0], want, gx, mag)
		})
	}
}

// TestKlAutodiff: the gradients of F = sum gKL*KL(q || p_k) + sum g*KL(q || N(0, I))
// with respect to m, s, mu and lv, by gorgonia, against the float64 formulas and the
// float32 twins (kl_mixture_bwd, then kl_std_normal_bwd accumulating).
func TestKlAutodiff(t *testing.T) {
	r := rand.New(rand.NewSource(33))
	for _, c := range []mixCase{
		// D = 1 is left to TestKlGradFiniteDiff: gorgonia v0.9.18 mixes 0-d tensors
		// and scalars when summing a length-1 vector.
		{1, 1, 2, false, false, false, -1, 1},
		{3, 4, 5, false, false, false, -2, 2},
		{3, 4, 5, true, false, false, -2, 2},
		{2, 3, 33, true, false, false, -6, 6},
		{2, 2, 4, false, false, false, 60, 70},
	} {
		t.Run(c.String(), func(t *testing.T) {
			N, K, D := c.N, c.K, c.D
			in := mixNewIn(r, N, K, D, c.perSample, false, false, c.lvLo, c.lvHi)
			gKL, gStd := mixNormals(r, N*K, 1), mixNormals(r, N, 1)
			in64 := in.to64()
			g := G.NewGraph()
			shared := !c.perSample
			m := adNode(g, "m", in64.z, N*D)
			s := adNode(g, "s", in64.s, N*D)
			pshape := []int{K, D}
			if !shared {
				pshape = []int{N, K, D}
			}
			mu := adNode(g, "mu", in64.mu, pshape...)
			lv := adNode(g, "lv", in64.lv, pshape...)
			one := G.NewConstant(1.0)
			var cost *G.Node
			for n := 0; n < N; n++ {
				mn, sn := G.Must(G.Slice(m, G.S(n*D, n*D+D))), G.Must(G.Slice(s, G.S(n*D, n*D+D)))
				mun, lvn := adRow(mu, n, shared), adRow(lv, n, shared)
				es := G.Must(G.Exp(sn))
				diff := G.Must(G.BroadcastSub(mun, mn, nil, []byte{0}))
				a := G.Must(G.BroadcastAdd(G.Must(G.Square(diff)), es, nil, []byte{0}))
				t1 := G.Must(G.BroadcastSub(lvn, sn, nil, []byte{0}))
				term := G.Must(G.Sub(G.Must(G.Add(t1, G.Must(G.HadamardProd(a, G.Must(G.Exp(G.Must(G.Neg(lvn)))))))), one))
				KLn := G.Must(G.Mul(G.Must(G.Sum(term, 1)), G.NewConstant(0.5)))
				std := G.Must(G.Sub(G.Must(G.Sub(G.Must(G.Add(es, G.Must(G.Square(mn)))), one)), sn))
				KSn := G.Must(G.Mul(G.Must(G.Sum(std)), G.NewConstant(0.5)))
				fn := G.Must(G.Sum(G.Must(G.HadamardProd(KLn, adConst(mixTo64(gKL[n*K:n*K+K]), K)))))
				fn = G.Must(G.Add(fn, G.Must(G.Mul(KSn, G.NewConstant(float64(gStd[n]))))))
				if cost == nil {
					cost = fn
				} else {
					cost = G.Must(G.Add(cost, fn))
				}
			}
			auto := adGrad(t, g, cost, m, s, mu, lv)

			gk64 := mixTo64(gKL)
			ref := refKlMixtureBwd(in64, gk64)
			absG := make([]float64, len(gk64))
			for i, v := range gk64 {
				absG[i] = math.Abs(v)
			}
			mag := refKlMixtureBwd(in64, absG)
			for i := range ref.dz {
				gv, es := float64(gStd[i/D]), math.Exp(in64.s[i])
				ref.dz[i] += gv * in64.z[i]
				mag.dzMag[i] += math.Abs(gv * in64.z[i])
				ref.ds[i] += 0.5 * gv * (es - 1)
				mag.dsMag[i] += 0.5 * math.Abs(gv) * (es + 1)
			}
			nQ, nP := N*D, len(in.mu)
			dm, ds := make([]float32, nQ), make([]float32, nQ)
			dmu, dlv := make([]float32, nP), make([]float32, nP)
			KlMixtureBwd(N, K, D, in.z, in.s, in.mu, in.lv, in.ps, gKL, dm, ds, false, dmu, dlv, false)
			KlStdNormalBwd(N, D, in.z, in.s, gStd, dm, ds, true)
			adCheck(t, "dm", auto[0], ref.dz, dm, mag.dzMag)
			adCheck(t, "ds", auto[1], ref.ds, ds, mag.dsMag)
			adCheck(t, "dmu", auto[2], ref.dmu, dmu, mag.dmuMag)
			adCheck(t, "dlv", auto[3], ref.dlv, dlv, mag.dlvMag)
		})
	}
}
