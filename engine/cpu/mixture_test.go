package cpu

import (
	"fmt"
	"math"
	"math/rand"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// Error bounds of the mixture twins against float64 (stated in units of mixEps, the
// float32 unit roundoff, times the output's magnitude: the sum of the absolute values
// of everything the output adds up, see mixture_ref_test.go):
//   - L: (D/32 + 16) eps * magnitude. Per dimension the term has about 6 roundings
//     (z-mu, its square, exp at <= 1 ulp, the fma); the warp order adds at most D/32
//     sequential and 5 butterfly roundings; the final fma one more.
//   - lse: the largest error of the row's L plus (K/32 + 12) eps * (|lse| + |max L| + 1).
//   - resp_k: resp_k * (2 * largest L error + (K/32 + 12) eps * (1 + |L_k - max L|)),
//     plus 2^-140 for results in float32's subnormal range.
//   - lse_softmax_bwd: (K/32 + 10) eps * magnitude.
//   - mixture_bwd_z, mixture_bwd_params: (terms + 10) eps * magnitude, terms = K
//     (bwd_z), N (shared params), 1 (per-sample params).
// The measured worst cases (go test -v) sit well inside these bounds.

// mixCase is one configuration of the mixture tests.
type mixCase struct {
	N, K, D                     int
	perSample, withPi, piPerRow bool
	lvLo, lvHi                  float64
}

func (c mixCase) String() string {
	mode := "shared"
	if c.perSample {
		mode = "per-sample"
	}
	pi := "pi=nil"
	if c.withPi {
		pi = "pi=(K)"
		if c.piPerRow {
			pi = "pi=(N,K)"
		}
	}
	return fmt.Sprintf("N=%d K=%d D=%d %s %s lv=[%g,%g]", c.N, c.K, c.D, mode, pi, c.lvLo, c.lvHi)
}

var mixCases = []mixCase{
	{0, 4, 8, false, true, false, -2, 2},
	{1, 1, 1, false, true, false, -2, 2},
	{1, 1, 1, true, false, false, -2, 2},
	{33, 64, 33, false, true, false, -2, 2},
	{33, 3, 200, true, true, true, -2, 2},
	{5, 64, 31, true, false, false, -4, 4},
	{7, 10, 32, false, true, true, -8, 8},
	{33, 16, 200, false, true, false, -1, 1},
	{3, 5, 33, false, true, false, -80, -79},
	{3, 5, 33, true, true, true, 79, 80},
	{4, 65, 7, false, true, true, -2, 2},
}

// mixRunLoglik runs the twin with NaN-filled outputs and returns L, lse, resp.
func mixRunLoglik(in mixIn) (L, lse, resp []float32) {
	L = mixFill(in.N*in.K, float32(math.NaN()))
	lse = mixFill(in.N, float32(math.NaN()))
	resp = mixFill(in.N*in.K, float32(math.NaN()))
	MixtureLoglik(in.N, in.K, in.D, in.z, in.mu, in.lv, in.ps, in.logpi, in.pis, L, lse, resp)
	return L, lse, resp
}

// mixCheckLseResp checks a twin's lse and resp for x (N, K) against float64, given
// the bound on the error of each x (lErr).
func mixCheckLseResp(t *testing.T, what string, N, K int, x []float64, lErr []float64, lse, resp []float32) {
	t.Helper()
	lse64, resp64 := refLseSoftmax(N, K, x)
	kTerms := float64((K+31)/32 + 12)
	for n := 0; n < N; n++ {
		m := math.Inf(-1)
		maxErr := 0.0
		for k := 0; k < K; k++ {
			m = math.Max(m, x[n*K+k])
			maxErr = math.Max(maxErr, lErr[n*K+k])
		}
		b := maxErr + kTerms*mixEps*(math.Abs(lse64[n])+math.Abs(m)+1)
		if err := math.Abs(float64(lse[n]) - lse64[n]); !(err <= b) { // NaN fails too
			require.LessOrEqual(t, err, b, "%s: lse[%d] = %.9g, want %.12g: error over the bound", what, n, lse[n], lse64[n])
		}
		for k := 0; k < K; k++ {
			i := n*K + k
			rb := 0x1p-140
			if resp64[i] != 0 {
				rb += resp64[i] * (2*maxErr + kTerms*mixEps*(1+math.Abs(x[i]-m)))
			}
			if err := math.Abs(float64(resp[i]) - resp64[i]); !(err <= rb) { // NaN fails too
				require.LessOrEqual(t, err, rb, "%s: resp[%d,%d] = %.9g, want %.12g: error over the bound", what, n, k, resp[i], resp64[i])
			}
		}
	}
}

func TestMixtureLoglik(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, c := range mixCases {
		t.Run(c.String(), func(t *testing.T) {
			in := mixNewIn(r, c.N, c.K, c.D, c.perSample, c.withPi, c.piPerRow, c.lvLo, c.lvHi)
			L, lse, resp := mixRunLoglik(in)
			L64, mag := refMixtureLoglik(in.to64())
			ulps := float64(c.D/32 + 16)
			mixCheckClose(t, "L", L, L64, mag, ulps, 0)

			// lse and resp against float64 log-sum-exp of the float64 L.
			lErr := make([]float64, len(mag))
			for i := range mag {
				lErr[i] = ulps * mixEps * mag[i]
			}
			mixCheckLseResp(t, "mixture", c.N, c.K, L64, lErr, lse, resp)

			// The row operations are those of lse_softmax on L, bit for bit, and nil
			// outputs change nothing else.
			lse2 := mixFill(c.N, 7)
			resp2 := mixFill(c.N*c.K, 7)
			LseSoftmax(c.N, c.K, L, lse2, resp2)
			ewRequireSame(t, lse2, lse, "lse vs LseSoftmax")
			ewRequireSame(t, resp2, resp, "resp vs LseSoftmax")
			L3 := mixFill(c.N*c.K, 7)
			MixtureLoglik(c.N, c.K, c.D, in.z, in.mu, in.lv, in.ps, in.logpi, in.pis, L3, nil, nil)
			ewRequireSame(t, L, L3, "L without lse/resp")
			lse4 := mixFill(c.N, 7)
			MixtureLoglik(c.N, c.K, c.D, in.z, in.mu, in.lv, in.ps, in.logpi, in.pis, L3, lse4, nil)
			ewRequireSame(t, lse, lse4, "lse without resp")
		})
	}
}

// TestMixtureLoglikZeroVarianceLimit: variances near float32's smallest normal
// (lv = -80, variance 1.8e-35) with z within a few standard deviations of mu stay
// finite and accurate; beyond exp's range (lv < -88.7) L is -Inf, or NaN where z == mu.
func TestMixtureLoglikZeroVarianceLimit(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	const N, K, D = 9, 3, 40
	in := mixNewIn(r, N, K, D, true, true, true, -80, -78)
	for n := 0; n < N; n++ {
		for k := 0; k < K; k++ {
			for d := 0; d < D; d++ {
				p := n*in.ps + k*D + d
				sd := math.Exp(0.5 * float64(in.lv[p]))
				in.mu[p] = in.z[n*D+d] + float32(3*sd*r.NormFloat64())
			}
		}
	}
	L, lse, resp := mixRunLoglik(in)
	L64, mag := refMixtureLoglik(in.to64())
	mixCheckClose(t, "L", L, L64, mag, float64(D/32+16), 0)
	lErr := make([]float64, len(mag))
	for i := range mag {
		lErr[i] = float64(D/32+16) * mixEps * mag[i]
		require.False(t, math.IsInf(float64(L[i]), 0), "L[%d] = %g", i, L[i])
	}
	mixCheckLseResp(t, "zero variance", N, K, L64, lErr, lse, resp)

	// Past the range of exp.
	z := []float32{1, 2}
	mu := []float32{1.5, 2.5, 1, 2} // component 1 sits exactly on z
	lv := []float32{-100, -100, -100, -100}
	out := mixFill(2, 0)
	MixtureLoglik(1, 2, 2, z, mu, lv, 0, nil, 0, out, nil, nil)
	require.True(t, math.IsInf(float64(out[0]), -1), "lv=-100: L = %v, want [-Inf NaN]", out)
	require.True(t, math.IsNaN(float64(out[1])), "lv=-100: L = %v, want [-Inf NaN]", out)
}

// TestMixtureLoglikBadValues checks the documented non-finite behaviour: a NaN in z
// poisons its row only; a row of -Inf log-weights has lse = -Inf and uniform resp;
// -Inf log-weights with a finite maximum get resp = 0.
func TestMixtureLoglikBadValues(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	const N, K, D = 6, 5, 33
	in := mixNewIn(r, N, K, D, false, true, true, -2, 2)
	ninf := float32(math.Inf(-1))
	in.z[1*D+17] = float32(math.NaN())
	for k := 0; k < K; k++ {
		in.logpi[2*K+k] = ninf // row 2: all -Inf
	}
	in.logpi[3*K+0] = ninf // row 3: some -Inf
	in.logpi[3*K+4] = ninf
	L, lse, resp := mixRunLoglik(in)
	for k := 0; k < K; k++ {
		require.True(t, math.IsNaN(float64(L[1*K+k])), "NaN row: L=%g, want NaN", L[1*K+k])
		require.True(t, math.IsNaN(float64(resp[1*K+k])), "NaN row: resp=%g, want NaN", resp[1*K+k])
		require.True(t, math.IsInf(float64(L[2*K+k]), -1), "-Inf row: L=%g, want -Inf", L[2*K+k])
		require.Equal(t, 1/float32(K), resp[2*K+k], "-Inf row: resp, want 1/K")
	}
	require.True(t, math.IsNaN(float64(lse[1])), "lse = %v: lse[1], want NaN", lse)
	require.True(t, math.IsInf(float64(lse[2]), -1), "lse = %v: lse[2], want -Inf", lse)
	require.Equal(t, float32(0), resp[3*K+0], "row 3: resp=%v", resp[3*K:4*K])
	require.Equal(t, float32(0), resp[3*K+4], "row 3: resp=%v", resp[3*K:4*K])
	require.False(t, math.IsInf(float64(lse[3]), 0), "row 3: lse=%g", lse[3])
	for _, n := range []int{0, 3, 4, 5} {
		var s float64
		for k := 0; k < K; k++ {
			s += float64(resp[n*K+k])
			require.False(t, math.IsNaN(float64(L[n*K+k])), "row %d poisoned by row 1's NaN", n)
		}
		require.InDelta(t, 1.0, s, 1e-6, "row %d: the sum of resp", n)
	}
}

func TestLseSoftmax(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	for _, sz := range [][2]int{{0, 3}, {1, 1}, {3, 2}, {33, 31}, {5, 32}, {8, 33}, {4, 64}, {3, 100}, {2, 0}} {
		for _, scale := range []float64{1, 30, 1e4} {
			N, K := sz[0], sz[1]
			x := mixNormals(r, N*K, scale)
			for i := range x {
				if K > 1 && r.Intn(7) == 0 {
					x[i] = float32(math.Inf(-1))
				}
			}
			lse := mixFill(N, float32(math.NaN()))
			resp := mixFill(N*K, float32(math.NaN()))
			LseSoftmax(N, K, x, lse, resp)
			name := fmt.Sprintf("N=%d K=%d scale=%g", N, K, scale)
			rowHasMax := true
			for n := 0; n < N && K > 0; n++ {
				allNegInf := true
				for k := 0; k < K; k++ {
					allNegInf = allNegInf && math.IsInf(float64(x[n*K+k]), -1)
				}
				if allNegInf {
					rowHasMax = false
				}
			}
			if !rowHasMax || K == 0 {
				continue // covered by TestLseSoftmaxSpecialRows
			}
			mixCheckLseResp(t, name, N, K, mixTo64(x), make([]float64, N*K), lse, resp)
			l2 := mixFill(N, 1)
			LseSoftmax(N, K, x, l2, nil)
			ewRequireSame(t, lse, l2, name+" lse alone")
			r2 := mixFill(N*K, 1)
			LseSoftmax(N, K, x, nil, r2)
			ewRequireSame(t, resp, r2, name+" resp alone")
		}
	}
}

// TestLseSoftmaxSpecialRows pins the documented behaviour of rows with infinities,
// NaN, signed zeros and values near float32's limits.
func TestLseSoftmaxSpecialRows(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	const big = float32(3e38)
	cases := []struct {
		name string
		x    []float32
		lse  float32
		resp []float32 // nil: all NaN
	}{
		{"all -Inf", []float32{-inf, -inf, -inf, -inf}, -inf, []float32{0.25, 0.25, 0.25, 0.25}},
		{"one +Inf", []float32{1, inf, -inf, 3}, inf, []float32{0, 1, 0, 0}},
		{"two +Inf", []float32{inf, 2, inf, -inf}, inf, []float32{0.5, 0, 0.5, 0}},
		{"NaN", []float32{1, nan, 2}, nan, nil},
		{"NaN and +Inf", []float32{inf, nan}, nan, nil},
		{"NaN and -Inf", []float32{-inf, nan}, nan, nil},
		{"-Inf with finite max", []float32{-inf, 0, -inf}, 0, []float32{0, 1, 0}},
		{"signed zeros", []float32{float32(math.Copysign(0, -1)), 0}, float32(math.Log(2)), []float32{0.5, 0.5}},
		{"single", []float32{-7.5}, -7.5, []float32{1}},
		{"huge equal", []float32{big, big}, big, []float32{0.5, 0.5}},
		{"huge apart", []float32{big, -big}, big, []float32{1, 0}},
	}
	for _, c := range cases {
		K := len(c.x)
		// Repeat the row past a warp so lanes other than 0 see the specials too.
		for _, rep := range []int{1, 40} {
			x := make([]float32, 0, K*rep)
			for i := 0; i < rep; i++ {
				x = append(x, c.x...)
			}
			lse := mixFill(1, 9)
			resp := mixFill(K*rep, 9)
			LseSoftmax(1, K*rep, x, lse, resp)
			wantLse := c.lse
			if rep > 1 && c.lse == c.lse && !math.IsInf(float64(c.lse), 0) {
				wantLse = float32(float64(c.lse) + math.Log(float64(rep)))
			}
			if wantLse != wantLse {
				require.True(t, lse[0] != lse[0], "%s x%d: lse = %g, want NaN", c.name, rep, lse[0])
			} else if lse[0] != wantLse {
				require.LessOrEqual(t, math.Abs(float64(lse[0]-wantLse)), 4*mixEps*math.Abs(float64(wantLse)), "%s x%d: lse = %g, want %g",
					c.name, rep, lse[0], wantLse)
			}
			for i, v := range resp {
				if c.resp == nil {
					require.True(t, v != v, "%s x%d: resp[%d] = %g, want NaN", c.name, rep, i, v)
					continue
				}
				want := c.resp[i%K] / float32(rep)
				require.LessOrEqual(t, math.Abs(float64(v-want)), 2*mixEps*float64(want), "%s x%d: resp[%d] = %g, want %g", c.name, rep, i, v, want)
			}
		}
	}
	// K = 0: the empty sum's log.
	lse := mixFill(2, 9)
	LseSoftmax(2, 0, nil, lse, []float32{})
	require.True(t, math.IsInf(float64(lse[0]), -1), "K=0: lse = %v, want -Inf", lse)
	require.True(t, math.IsInf(float64(lse[1]), -1), "K=0: lse = %v, want -Inf", lse)
}

func TestLseSoftmaxBwd(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	for _, sz := range [][2]int{{0, 3}, {1, 1}, {33, 31}, {5, 32}, {8, 33}, {4, 64}, {3, 100}} {
		N, K := sz[0], sz[1]
		x := mixNormals(r, N*K, 3)
		resp := make([]float32, N*K)
		LseSoftmax(N, K, x, nil, resp)
		glse := mixNormals(r, N, 1)
		gresp := mixNormals(r, N*K, 1)
		for mode := 0; mode < 3; mode++ {
			gl, gr := glse, gresp
			if mode == 1 {
				gl = nil
			} else if mode == 2 {
				gr = nil
			}
			name := fmt.Sprintf("N=%d K=%d glse=%v gresp=%v", N, K, gl != nil, gr != nil)
			want, mag := refLseSoftmaxBwd(N, K, mixTo64(resp), mixTo64(gl), mixTo64(gr))
			gx := mixFill(N*K, float32(math.NaN()))
			LseSoftmaxBwd(N, K, resp, gl, gr, gx, false)
			mixCheckClose(t, name, gx, want, mag, float64((K+31)/32+10), 0)
			// accumulate adds the fresh gradient to the old contents, one rounding.
			old := mixNormals(r, N*K, 1)
			acc := append([]float32(nil), old...)
			LseSoftmaxBwd(N, K, resp, gl, gr, acc, true)
			for i := range old {
				old[i] += gx[i]
			}
			ewRequireSame(t, old, acc, name+" accumulate")
		}
		// Both null: zero gradient.
		gx := mixFill(N*K, 5)
		LseSoftmaxBwd(N, K, resp, nil, nil, gx, false)
		for _, v := range gx {
			require.Equal(t, float32(0), v, "N=%d K=%d: no upstream, want a zero gradient", N, K)
		}
	}
}

// TestLseSoftmaxBwdFiniteDiff checks the float32 backward against central differences
// of the float64 forward F = sum glse*lse + sum gresp*resp.
func TestLseSoftmaxBwdFiniteDiff(t *testing.T) {
	r := rand.New(rand.NewSource(6))
	for _, sz := range [][2]int{{1, 1}, {2, 5}, {3, 33}} {
		N, K := sz[0], sz[1]
		x := mixNormals(r, N*K, 2)
		glse := mixNormals(r, N, 1)
		gresp := mixNormals(r, N*K, 1)
		resp := make([]float32, N*K)
		LseSoftmax(N, K, x, nil, resp)
		gx := make([]float32, N*K)
		LseSoftmaxBwd(N, K, resp, glse, gresp, gx, false)
		x64, gl64, gr64 := mixTo64(x), mixTo64(glse), mixTo64(gresp)
		f := func() float64 {
			lse, resp := refLseSoftmax(N, K, x64)
			return mixDot(gl64, lse) + mixDot(gr64, resp)
		}
		_, mag := refLseSoftmaxBwd(N, K, mixTo64(resp), gl64, gr64)
		for i := range x64 {
			fd := mixCentralDiff(f, x64, i, 1e-4)
			require.InDelta(t, fd, float64(gx[i]), 1e-5*mag[i]+1e-8, "N=%d K=%d: gx[%d] against the finite difference", N, K, i)
		}
	}
}

// mixGradRun runs the whole backward chain of MixtureLoglik on the twins: gL = gLd +
// LseSoftmaxBwd(resp; glse, gresp), then dz, dmu, dlv, and dlogpi (= gL, or its column
// sums for (K) weights).
func mixGradRun(in mixIn, resp, glse, gresp, gLd []float32) (gL, dz, dmu, dlv, dlogpi []float32) {
	gL = append([]float32(nil), gLd...)
	LseSoftmaxBwd(in.N, in.K, resp, glse, gresp, gL, true)
	dz = mixFill(in.N*in.D, float32(math.NaN()))
	MixtureBwdZ(in.N, in.K, in.D, in.z, in.mu, in.lv, in.ps, gL, dz, false)
	dmu = mixFill(len(in.mu), float32(math.NaN()))
	dlv = mixFill(len(in.lv), float32(math.NaN()))
	MixtureBwdParams(in.N, in.K, in.D, in.z, in.mu, in.lv, in.ps, gL, dmu, dlv, false)
	if in.pis != 0 {
		dlogpi = gL
	} else {
		dlogpi = make([]float32, in.K)
		for k := 0; k < in.K; k++ {
			for n := 0; n < in.N; n++ {
				dlogpi[k] += gL[n*in.K+k]
			}
		}
	}
	return
}

func TestMixtureBwdZ(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	for _, c := range mixCases {
		t.Run(c.String(), func(t *testing.T) {
			in := mixNewIn(r, c.N, c.K, c.D, c.perSample, c.withPi, c.piPerRow, c.lvLo, c.lvHi)
			gL := mixNormals(r, c.N*c.K, 1)
			dz := mixFill(c.N*c.D, float32(math.NaN()))
			MixtureBwdZ(c.N, c.K, c.D, in.z, in.mu, in.lv, in.ps, gL, dz, false)
			g := refMixtureBwd(in.to64(), mixTo64(gL))
			mixCheckClose(t, "dz", dz, g.dz, g.dzMag, float64(c.K+10), 0)
			old := mixNormals(r, c.N*c.D, 1)
			acc := append([]float32(nil), old...)
			MixtureBwdZ(c.N, c.K, c.D, in.z, in.mu, in.lv, in.ps, gL, acc, true)
			for i := range old {
				old[i] += dz[i]
			}
			ewRequireSame(t, old, acc, "dz accumulate")
		})
	}
}

func TestMixtureBwdParams(t *testing.T) {
	r := rand.New(rand.NewSource(8))
	for _, c := range mixCases {
		t.Run(c.String(), func(t *testing.T) {
			in := mixNewIn(r, c.N, c.K, c.D, c.perSample, c.withPi, c.piPerRow, c.lvLo, c.lvHi)
			gL := mixNormals(r, c.N*c.K, 1)
			dmu := mixFill(len(in.mu), float32(math.NaN()))
			dlv := mixFill(len(in.lv), float32(math.NaN()))
			MixtureBwdParams(c.N, c.K, c.D, in.z, in.mu, in.lv, in.ps, gL, dmu, dlv, false)
			g := refMixtureBwd(in.to64(), mixTo64(gL))
			terms := 1.0
			if !c.perSample {
				terms = float64(c.N)
			}
			mixCheckClose(t, "dmu", dmu, g.dmu, g.dmuMag, terms+10, 0)
			mixCheckClose(t, "dlv", dlv, g.dlv, g.dlvMag, terms+10, 0)
			// nil outputs and accumulate.
			oldMu := mixNormals(r, len(dmu), 1)
			accMu := append([]float32(nil), oldMu...)
			MixtureBwdParams(c.N, c.K, c.D, in.z, in.mu, in.lv, in.ps, gL, accMu, nil, true)
			oldLv := mixNormals(r, len(dlv), 1)
			accLv := append([]float32(nil), oldLv...)
			MixtureBwdParams(c.N, c.K, c.D, in.z, in.mu, in.lv, in.ps, gL, nil, accLv, true)
			for i := range oldMu {
				oldMu[i] += dmu[i]
				oldLv[i] += dlv[i]
			}
			ewRequireSame(t, oldMu, accMu, "dmu accumulate")
			ewRequireSame(t, oldLv, accLv, "dlv accumulate")
		})
	}
}

// TestMixtureGradFiniteDiff checks the whole float32 backward chain (lse_softmax_bwd,
// mixture_bwd_z, mixture_bwd_params, and dlogpi) against central differences of the
// float64 forward F = sum glse*lse + sum gresp*resp + sum gLd*L, in every input.
// Bound: 1e-4 of the gradient's magnitude (a wrong formula is off by O(1)); the
// float64 references themselves agree with the differences to 1e-7.
func TestMixtureGradFiniteDiff(t *testing.T) {
	r := rand.New(rand.NewSource(9))
	for _, c := range []mixCase{
		{1, 1, 1, false, true, false, -1, 1},
		{3, 4, 5, false, true, false, -2, 2},
		{3, 4, 5, true, true, true, -2, 2},
		{2, 3, 33, true, false, false, -3, 3},
		{4, 2, 3, false, true, true, 5, 8},
	} {
		t.Run(c.String(), func(t *testing.T) {
			in := mixNewIn(r, c.N, c.K, c.D, c.perSample, c.withPi, c.piPerRow, c.lvLo, c.lvHi)
			glse := mixNormals(r, c.N, 1)
			gresp := mixNormals(r, c.N*c.K, 1)
			gLd := mixNormals(r, c.N*c.K, 1)
			_, _, resp := mixRunLoglik(in)
			_, dz, dmu, dlv, dlogpi := mixGradRun(in, resp, glse, gresp, gLd)

			in64 := in.to64()
			gl64, gr64, gd64 := mixTo64(glse), mixTo64(gresp), mixTo64(gLd)
			f := func() float64 {
				L, _ := refMixtureLoglik(in64)
				lse, resp := refLseSoftmax(c.N, c.K, L)
				return mixDot(gl64, lse) + mixDot(gr64, resp) + mixDot(gd64, L)
			}
			// float64 chain for the magnitudes and the formula check.
			L64, _ := refMixtureLoglik(in64)
			_, resp64 := refLseSoftmax(c.N, c.K, L64)
			gL64, gLMag := refLseSoftmaxBwd(c.N, c.K, resp64, gl64, gr64)
			for i := range gL64 {
				gL64[i] += gd64[i]
				gLMag[i] += math.Abs(gd64[i])
			}
			ref := refMixtureBwd(in64, gL64)
			refMag := refMixtureBwd(in64, gLMag) // magnitudes with |gL| bounds
			// The differences cancel about 1e-12 of |F| (float64 rounding of F over a
			// step of 1e-4).
			fTol := 1e-11 * math.Abs(f())
			check := func(name string, got []float32, ref64 []float64, mag []float64, x []float64) {
				for i := range x {
					fd := mixCentralDiff(f, x, i, 1e-4)
					require.InDelta(t, fd, ref64[i], 1e-9*(mag[i]+1)+fTol, "%s[%d]: float64 formula against the finite difference", name, i)
					require.InDelta(t, fd, float64(got[i]), 1e-4*mag[i]+1e-7, "%s[%d]: twin against the finite difference (mag %.3g)", name, i, mag[i])
				}
			}
			check("dz", dz, ref.dz, refMag.dzMag, in64.z)
			check("dmu", dmu, ref.dmu, refMag.dmuMag, in64.mu)
			check("dlv", dlv, ref.dlv, refMag.dlvMag, in64.lv)
			if in64.logpi != nil {
				dlp, dlpMag := gL64, gLMag
				if in.pis == 0 {
					dlp, dlpMag = make([]float64, c.K), make([]float64, c.K)
					for n := 0; n < c.N; n++ {
						for k := 0; k < c.K; k++ {
							dlp[k] += gL64[n*c.K+k]
							dlpMag[k] += gLMag[n*c.K+k]
						}
					}
				}
				check("dlogpi", dlogpi, dlp, dlpMag, in64.logpi)
			}
		})
	}
}

// TestMixtureParallelSplit: the twins' results never depend on the number of
// goroutines (DETERMINISM.md, rule 11).
func TestMixtureParallelSplit(t *testing.T) {
	r := rand.New(rand.NewSource(10))
	const N, K, D = 300, 9, 40
	for _, perSample := range []bool{false, true} {
		in := mixNewIn(r, N, K, D, perSample, true, true, -3, 3)
		gL := mixNormals(r, N*K, 1)
		run := func() [][]float32 {
			L, lse, resp := mixRunLoglik(in)
			dz := make([]float32, N*D)
			MixtureBwdZ(N, K, D, in.z, in.mu, in.lv, in.ps, gL, dz, false)
			dmu, dlv := make([]float32, len(in.mu)), make([]float32, len(in.lv))
			MixtureBwdParams(N, K, D, in.z, in.mu, in.lv, in.ps, gL, dmu, dlv, false)
			KL := make([]float32, N*K)
			KlMixture(N, K, D, in.z, in.s, in.mu, in.lv, in.ps, KL)
			dm, ds := make([]float32, N*D), make([]float32, N*D)
			dmu2, dlv2 := make([]float32, len(in.mu)), make([]float32, len(in.lv))
			KlMixtureBwd(N, K, D, in.z, in.s, in.mu, in.lv, in.ps, gL, dm, ds, false, dmu2, dlv2, false)
			return [][]float32{L, lse, resp, dz, dmu, dlv, KL, dm, ds, dmu2, dlv2}
		}
		prev := runtime.GOMAXPROCS(1)
		one := run()
		runtime.GOMAXPROCS(7)
		many := run()
		runtime.GOMAXPROCS(prev)
		for i := range one {
			ewRequireSame(t, one[i], many[i], fmt.Sprintf("perSample=%v output %d", perSample, i))
		}
	}
}

// BenchmarkMixtureLoglik times the twin at model A's size (N=1024, K=16, D=200), with
// lse and resp. GB/s counts the bytes the kernel must move (inputs read once, outputs
// written once); GFLOP/s counts 5 flops per (n, k, d) term besides its exp.
func BenchmarkMixtureLoglik(b *testing.B) {
	const N, K, D = 1024, 16, 200
	for _, perSample := range []bool{false, true} {
		name := "shared"
		if perSample {
			name = "per-sample"
		}
		b.Run(name, func(b *testing.B) {
			r := rand.New(rand.NewSource(11))
			in := mixNewIn(r, N, K, D, perSample, true, false, -2, 2)
			L, lse, resp := make([]float32, N*K), make([]float32, N), make([]float32, N*K)
			bytes := 4 * (N*D + 2*len(in.mu) + len(in.logpi) + 2*N*K + N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				MixtureLoglik(N, K, D, in.z, in.mu, in.lv, in.ps, in.logpi, in.pis, L, lse, resp)
			}
			sec := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(float64(bytes)/sec/1e9, "GB/s")
			b.ReportMetric(5*N*K*D/sec/1e9, "GFLOP/s")
		})
	}
}

// TestMixtureSweep draws many random shapes, layouts and log-variance ranges and
// checks L, lse, resp and the KL against float64 with the bounds above; it also checks
// that a per-sample stride larger than K*D (padded parameter rows) gives the same bits
// as the packed layout.
func TestMixtureSweep(t *testing.T) {
	r := rand.New(rand.NewSource(12))
	iters := 150
	if testing.Short() {
		iters = 30
	}
	for it := 0; it < iters; it++ {
		c := mixCase{N: r.Intn(20), K: 1 + r.Intn(70), D: 1 + r.Intn(100), perSample: r.Intn(2) == 0,
			withPi: r.Intn(3) != 0, piPerRow: r.Intn(2) == 0}
		if r.Intn(8) == 0 {
			c.D = 200 + r.Intn(80)
			c.K = 1 + r.Intn(4)
		}
		lim := []float64{1, 5, 20, 80}[r.Intn(4)]
		c.lvLo, c.lvHi = -lim*r.Float64(), lim*r.Float64()
		in := mixNewIn(r, c.N, c.K, c.D, c.perSample, c.withPi, c.piPerRow, c.lvLo, c.lvHi)
		name := c.String()
		L, lse, resp := mixRunLoglik(in)
		L64, mag := refMixtureLoglik(in.to64())
		ulps := float64(c.D/32 + 16)
		mixCheckClose(t, name+" L", L, L64, mag, ulps, 0)
		lErr := make([]float64, len(mag))
		for i := range mag {
			lErr[i] = ulps * mixEps * mag[i]
		}
		mixCheckLseResp(t, name, c.N, c.K, L64, lErr, lse, resp)
		KL := make([]float32, c.N*c.K)
		KlMixture(c.N, c.K, c.D, in.z, in.s, in.mu, in.lv, in.ps, KL)
		KL64, kmag := refKlMixture(in.to64())
		mixCheckClose(t, name+" KL", KL, KL64, kmag, ulps, 0)

		if c.perSample {
			pad := 1 + r.Intn(5)
			ps := c.K*c.D + pad
			mu2, lv2 := make([]float32, c.N*ps), make([]float32, c.N*ps)
			for n := 0; n < c.N; n++ {
				copy(mu2[n*ps:], in.mu[n*in.ps:(n+1)*in.ps])
				copy(lv2[n*ps:], in.lv[n*in.ps:(n+1)*in.ps])
			}
			L2 := make([]float32, c.N*c.K)
			MixtureLoglik(c.N, c.K, c.D, in.z, mu2, lv2, ps, in.logpi, in.pis, L2, nil, nil)
			ewRequireSame(t, L, L2, name+" padded stride")
		}
	}
}
