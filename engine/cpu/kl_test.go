package cpu

import (
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"
)

// Error bounds of the KL twins against float64, in units of mixEps (float32's unit
// roundoff) times the output's magnitude (the sum of the absolute values of what it
// adds up; see mixture_ref_test.go):
//   - kl_mixture, kl_std_normal: (D/32 + 16) eps * magnitude (per dimension two exps
//     at <= 1 ulp, a subtraction, two fmas and the lane sum; 5 butterfly roundings; the
//     final halving is exact);
//   - kl_mixture_bwd: (terms + 10) eps * magnitude, terms = K for dm and ds, N for
//     shared dmu and dlv, 1 per sample;
//   - kl_std_normal_bwd: 8 eps * magnitude.
// The measured worst cases (go test -v) sit well inside these bounds.

func TestKlMixture(t *testing.T) {
	r := rand.New(rand.NewSource(21))
	for _, c := range mixCases {
		t.Run(c.String(), func(t *testing.T) {
			in := mixNewIn(r, c.N, c.K, c.D, c.perSample, false, false, c.lvLo, c.lvHi)
			KL := mixFill(c.N*c.K, float32(math.NaN()))
			KlMixture(c.N, c.K, c.D, in.z, in.s, in.mu, in.lv, in.ps, KL)
			want, mag := refKlMixture(in.to64())
			mixCheckClose(t, "KL", KL, want, mag, float64(c.D/32+16), 0)
		})
	}
}

// TestKlMixtureSpecial: KL(q || q) is zero within rounding; a NaN in m or s poisons
// its row only.
func TestKlMixtureSpecial(t *testing.T) {
	r := rand.New(rand.NewSource(22))
	const N, K, D = 3, 2, 45
	in := mixNewIn(r, N, K, D, true, false, false, -5, 5)
	for n := 0; n < N; n++ {
		for k := 0; k < K; k++ {
			copy(in.mu[n*in.ps+k*D:n*in.ps+k*D+D], in.z[n*D:n*D+D])
			copy(in.lv[n*in.ps+k*D:n*in.ps+k*D+D], in.s[n*D:n*D+D])
		}
	}
	in.z[1*D+40] = float32(math.NaN())
	KL := mixFill(N*K, 9)
	KlMixture(N, K, D, in.z, in.s, in.mu, in.lv, in.ps, KL)
	for i, v := range KL {
		if i/K == 1 {
			require.True(t, v != v, "KL[%d] = %g, want NaN", i, v)
			continue
		}
		require.LessOrEqual(t, math.Abs(float64(v)), 4*D*mixEps, "KL(q||q)[%d] = %g", i, v)
	}
}

func TestKlMixtureBwd(t *testing.T) {
	r := rand.New(rand.NewSource(23))
	for _, c := range mixCases {
		t.Run(c.String(), func(t *testing.T) {
			in := mixNewIn(r, c.N, c.K, c.D, c.perSample, false, false, c.lvLo, c.lvHi)
			gKL := mixNormals(r, c.N*c.K, 1)
			nQ, nP := c.N*c.D, len(in.mu)
			dm, ds := mixFill(nQ, float32(math.NaN())), mixFill(nQ, float32(math.NaN()))
			dmu, dlv := mixFill(nP, float32(math.NaN())), mixFill(nP, float32(math.NaN()))
			KlMixtureBwd(c.N, c.K, c.D, in.z, in.s, in.mu, in.lv, in.ps, gKL, dm, ds, false, dmu, dlv, false)
			g := refKlMixtureBwd(in.to64(), mixTo64(gKL))
			pTerms := 1.0
			if !c.perSample {
				pTerms = float64(c.N)
			}
			mixCheckClose(t, "dm", dm, g.dz, g.dzMag, float64(c.K+10), 0)
			mixCheckClose(t, "ds", ds, g.ds, g.dsMag, float64(c.K+10), 0)
			mixCheckClose(t, "dmu", dmu, g.dmu, g.dmuMag, pTerms+10, 0)
			mixCheckClose(t, "dlv", dlv, g.dlv, g.dlvMag, pTerms+10, 0)

			// Every output alone (the others nil), with accumulation: old + fresh.
			outs := [][]float32{dm, ds, dmu, dlv}
			for j := range outs {
				old := mixNormals(r, len(outs[j]), 1)
				buf := append([]float32(nil), old...)
				args := [4][]float32{}
				args[j] = buf
				KlMixtureBwd(c.N, c.K, c.D, in.z, in.s, in.mu, in.lv, in.ps, gKL,
					args[0], args[1], true, args[2], args[3], true)
				for i := range old {
					old[i] += outs[j][i]
				}
				ewRequireSame(t, old, buf, "accumulate alone")
			}
		})
	}
}

func TestKlStdNormal(t *testing.T) {
	r := rand.New(rand.NewSource(24))
	for _, sz := range [][2]int{{0, 5}, {1, 1}, {33, 31}, {3, 32}, {5, 33}, {4, 200}} {
		for _, lim := range []float64{2, 80} {
			N, D := sz[0], sz[1]
			m := mixNormals(r, N*D, 2)
			s := mixUniforms(r, N*D, -lim, lim)
			KL := mixFill(N, float32(math.NaN()))
			KlStdNormal(N, D, m, s, KL)
			want, mag := refKlStdNormal(N, D, mixTo64(m), mixTo64(s))
			mixCheckClose(t, "KL", KL, want, mag, float64(D/32+16), 0)

			g := mixNormals(r, N, 1)
			dm, ds := mixFill(N*D, float32(math.NaN())), mixFill(N*D, float32(math.NaN()))
			KlStdNormalBwd(N, D, m, s, g, dm, ds, false)
			wdm, wds := make([]float64, N*D), make([]float64, N*D)
			mdm, mds := make([]float64, N*D), make([]float64, N*D)
			for i := range wdm {
				gv, es := float64(g[i/D]), math.Exp(float64(s[i]))
				wdm[i], mdm[i] = gv*float64(m[i]), math.Abs(gv*float64(m[i]))
				wds[i], mds[i] = 0.5*gv*(es-1), 0.5*math.Abs(gv)*(es+1)
			}
			mixCheckClose(t, "dm", dm, wdm, mdm, 8, 0)
			mixCheckClose(t, "ds", ds, wds, mds, 8, 0)
			old := mixNormals(r, N*D, 1)
			acc := append([]float32(nil), old...)
			KlStdNormalBwd(N, D, m, s, g, nil, acc, true)
			for i := range old {
				old[i] += ds[i]
			}
			ewRequireSame(t, old, acc, "ds accumulate")
		}
	}
}

// TestKlGradFiniteDiff checks the float32 backward twins against fourth-order central
// differences of the float64 forward F = sum gKL*KL_mixture + sum g*KL_std, in every
// input. Bound: 1e-4 of the gradient's magnitude for the twins; the float64 formulas
// agree with the differences to 1e-9.
func TestKlGradFiniteDiff(t *testing.T) {
	r := rand.New(rand.NewSource(25))
	for _, c := range []mixCase{
		{1, 1, 1, false, false, false, -1, 1},
		{3, 4, 5, false, false, false, -2, 2},
		{3, 4, 5, true, false, false, -2, 2},
		{2, 3, 33, true, false, false, -3, 3},
		{4, 2, 3, false, false, false, 5, 8},
	} {
		t.Run(c.String(), func(t *testing.T) {
			in := mixNewIn(r, c.N, c.K, c.D, c.perSample, false, false, c.lvLo, c.lvHi)
			gKL := mixNormals(r, c.N*c.K, 1)
			gStd := mixNormals(r, c.N, 1)
			nQ, nP := c.N*c.D, len(in.mu)
			dm, ds := make([]float32, nQ), make([]float32, nQ)
			dmu, dlv := make([]float32, nP), make([]float32, nP)
			KlMixtureBwd(c.N, c.K, c.D, in.z, in.s, in.mu, in.lv, in.ps, gKL, dm, ds, false, dmu, dlv, false)
			KlStdNormalBwd(c.N, c.D, in.z, in.s, gStd, dm, ds, true)

			in64 := in.to64()
			gk64, gs64 := mixTo64(gKL), mixTo64(gStd)
			f := func() float64 {
				KL, _ := refKlMixture(in64)
				KS, _ := refKlStdNormal(c.N, c.D, in64.z, in64.s)
				return mixDot(gk64, KL) + mixDot(gs64, KS)
			}
			ref := refKlMixtureBwd(in64, gk64)
			absG := make([]float64, len(gk64))
			for i, v := range gk64 {
				absG[i] = math.Abs(v)
			}
			mag := refKlMixtureBwd(in64, absG)
			for i := range ref.dz {
				gv, es := gs64[i/c.D], math.Exp(in64.s[i])
				ref.dz[i] += gv * in64.z[i]
				mag.dzMag[i] += math.Abs(gv * in64.z[i])
				ref.ds[i] += 0.5 * gv * (es - 1)
				mag.dsMag[i] += 0.5 * math.Abs(gv) * (es + 1)
			}
			fTol := 1e-11 * math.Abs(f())
			check := func(name string, got []float32, ref64, m []float64, x []float64) {
				for i := range x {
					fd := mixCentralDiff(f, x, i, 1e-4)
					require.InDelta(t, fd, ref64[i], 1e-9*(m[i]+1)+fTol, "%s[%d]: float64 formula against the finite difference", name, i)
					require.InDelta(t, fd, float64(got[i]), 1e-4*m[i]+1e-7, "%s[%d]: twin against the finite difference (mag %.3g)", name, i, m[i])
				}
			}
			check("dm", dm, ref.dz, mag.dzMag, in64.z)
			check("ds", ds, ref.ds, mag.dsMag, in64.s)
			check("dmu", dmu, ref.dmu, mag.dmuMag, in64.mu)
			check("dlv", dlv, ref.dlv, mag.dlvMag, in64.lv)
		})
	}
}

// BenchmarkKlMixture times the twin at model A's size (N=1024, K=16, D=200).
func BenchmarkKlMixture(b *testing.B) {
	const N, K, D = 1024, 16, 200
	for _, perSample := range []bool{false, true} {
		name := "shared"
		if perSample {
			name = "per-sample"
		}
		b.Run(name, func(b *testing.B) {
			r := rand.New(rand.NewSource(26))
			in := mixNewIn(r, N, K, D, perSample, false, false, -2, 2)
			KL := make([]float32, N*K)
			for i := 0; i < b.N; i++ {
				KlMixture(N, K, D, in.z, in.s, in.mu, in.lv, in.ps, KL)
			}
			b.ReportMetric(float64(N*K*D)/(b.Elapsed().Seconds()/float64(b.N))/1e9, "Gterms/s")
		})
	}
}
