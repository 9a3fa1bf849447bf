package report

import (
	"fmt"
	"math"
)

// PCA2 projects the n rows of x (n, d), row-major, onto their top two principal
// components: point i is ((x_i - mean) . v1, (x_i - mean) . v2), where v1 and v2 are
// the leading unit eigenvectors of the sample covariance, found by power iteration in
// float64 (v2 kept orthogonal to v1). The result is deterministic: a fixed start
// vector, fixed loop orders, and each component's sign chosen so that its entry of
// largest magnitude (the first such on a tie) is positive.
//
// Rows holding a NaN or ±Inf are left out of the fit and get NaN points (Scatter2D
// skips them). With d == 1 the second coordinate is 0; with constant data both are 0.
// It panics if n or d is negative or len(x) < n*d.
func PCA2(x []float32, n, d int) [][2]float64 {
	if n < 0 || d < 0 || len(x) < n*d {
		panic(fmt.Sprintf("report.PCA2: %d values for (%d, %d)", len(x), n, d))
	}
	out := make([][2]float64, n)
	good := make([]bool, n)
	m := 0
	for i := range n {
		good[i] = true
		for _, v := range x[i*d : (i+1)*d] {
			if !isFinite(float64(v)) {
				good[i] = false
				out[i] = [2]float64{math.NaN(), math.NaN()}
				break
			}
		}
		if good[i] {
			m++
		}
	}
	if m == 0 || d == 0 {
		return out
	}
	mean := make([]float64, d)
	for i := range n {
		if good[i] {
			for j, v := range x[i*d : (i+1)*d] {
				mean[j] += float64(v)
			}
		}
	}
	for j := range mean {
		mean[j] /= float64(m)
	}
	// Covariance (times m; the scale does not change eigenvectors), upper triangle
	// accumulated then mirrored.
	cov := make([]float64, d*d)
	c := make([]float64, d)
	for i := range n {
		if !good[i] {
			continue
		}
		for j, v := range x[i*d : (i+1)*d] {
			c[j] = float64(v) - mean[j]
		}
		for a := range d {
			ca := c[a]
			row := cov[a*d : (a+1)*d]
			for b := a; b < d; b++ {
				row[b] += ca * c[b]
			}
		}
	}
	for a := range d {
		for b := range a {
			cov[a*d+b] = cov[b*d+a]
		}
	}
	v1 := powerIteration(cov, d, nil)
	v2 := powerIteration(cov, d, v1)
	for i := range n {
		if !good[i] {
			continue
		}
		var p, q float64
		for j, v := range x[i*d : (i+1)*d] {
			cj := float64(v) - mean[j]
			p += cj * v1[j]
			q += cj * v2[j]
		}
		out[i] = [2]float64{p, q}
	}
	return out
}

// powerIteration returns the leading unit eigenvector of the symmetric positive
// semi-definite (d, d) matrix a, restricted to the complement of orth (nil: none), or
// the zero vector when that complement is empty (d == 1 with orth set) or a vanishes
// on it.
func powerIteration(a []float64, d int, orth []float64) []float64 {
	v := make([]float64, d)
	for i := range v {
		// A fixed, irregular start: never orthogonal to an eigenvector by accident of
		// symmetry, unlike a constant or basis vector.
		_, f := math.Modf(float64(i+1) * 0.6180339887498949)
		v[i] = 1 + f
	}
	project := func(u []float64) bool {
		if orth != nil {
			var dot float64
			for i := range u {
				dot += u[i] * orth[i]
			}
			for i := range u {
				u[i] -= dot * orth[i]
			}
		}
		return normalize(u)
	}
	if !project(v) {
		return make([]float64, d)
	}
	w := make([]float64, d)
	const maxIter = 5000
	for range maxIter {
		for r := range d {
			var s float64
			for j, aj := range a[r*d : (r+1)*d] {
				s += aj * v[j]
			}
			w[r] = s
		}
		if !project(w) {
			// a is zero on the complement: any unit vector there is an eigenvector.
			break
		}
		var diff float64
		for i := range v {
			diff = math.Max(diff, math.Abs(w[i]-v[i]))
		}
		v, w = w, v
		if diff < 1e-13 {
			break
		}
	}
	// Sign convention: the largest-magnitude entry is positive.
	big := 0
	for i := range v {
		if math.Abs(v[i]) > math.Abs(v[big]) {
			big = i
		}
	}
	if v[big] < 0 {
		for i := range v {
			v[i] = -v[i]
		}
	}
	return v
}

// normalize scales u to unit length; false (u untouched) when its norm is zero or
// not finite.
func normalize(u []float64) bool {
	var s float64
	for _, x := range u {
		s += x * x
	}
	nrm := math.Sqrt(s)
	if nrm == 0 || !isFinite(nrm) {
		return false
	}
	for i := range u {
		u[i] /= nrm
	}
	return true
}
