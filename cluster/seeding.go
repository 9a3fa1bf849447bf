package cluster

import (
	"sort"

	"github.com/gmvae/gmvae/engine"
)

// seedPlusPlus returns the K initial centers (K, d) of restart r: scikit-learn's
// greedy k-means++ (_kmeans_plusplus), with uniforms from stream (seed, r, tagSeeding
// + step) (see "Random numbers" in the package comment):
//
//	step 0: c_0 = x_i with i = floor(u·n) (u uniform 0 of step 0);
//	D_i = ||x_i - c_0||², pot = sum_i D_i (float64, row order);
//	step c = 1..K-1: for t < T = 2 + floor(ln K), with u_t uniform t of step c, the
//	  candidate is the first row i with cumsum_i(D) >= u_t·pot (the last row if none:
//	  numpy's searchsorted, side "left", clipped); its potential is
//	  pot_t = sum_i min(D_i, ||x_i - x_cand||²); the candidate of lowest pot_t (the
//	  first on ties) becomes c_c, D becomes the minimum with it and pot its pot_t.
//
// Distances come from the mixture kernel (see "Distances"); the centers are copies of
// rows of x, exact.
func (w *kmWork) seedPlusPlus(seed uint64, r int) ([]float32, error) {
	s, k, d, n := w.s, w.k, w.s.d, w.s.n
	centers := make([]float32, k*d)
	first := min(int(uniform(seed, r, tagSeeding, 0)*float64(n)), n-1)
	row, err := s.row(first)
	if err != nil {
		return nil, err
	}
	copy(centers, row)
	closest := make([]float64, n)
	if err := w.candidateDist([][]float32{row}, func(i, t int, v float64) { closest[i] = v }); err != nil {
		return nil, err
	}
	cum := make([]float64, n)
	pot := cumsum(cum, closest)
	trialD := make([]float64, n*w.trials) // (n, T): min(D_i, ||x_i - cand_t||²)
	pots := make([]float64, w.trials)
	cand := make([]int, w.trials)
	rows := make([][]float32, w.trials)
	for c := 1; c < k; c++ {
		for t := range cand {
			target := float64(uniform(seed, r, tagSeeding+uint32(c), uint64(t)) * pot)
			cand[t] = min(sort.Search(n, func(i int) bool { return cum[i] >= target }), n-1)
			if rows[t], err = s.row(cand[t]); err != nil {
				return nil, err
			}
		}
		T := w.trials
		if err := w.candidateDist(rows, func(i, t int, v float64) { trialD[i*T+t] = min(closest[i], v) }); err != nil {
			return nil, err
		}
		best := 0
		for t := 0; t < T; t++ {
			pots[t] = 0
			for i := 0; i < n; i++ {
				pots[t] += trialD[i*T+t]
			}
			if pots[t] < pots[best] {
				best = t
			}
		}
		for i := range closest {
			closest[i] = trialD[i*T+best]
		}
		pot = cumsum(cum, closest)
		copy(centers[c*d:], rows[best])
	}
	return centers, nil
}

// cumsum sets cum to the running sums of v (float64, in order) and returns the total.
func cumsum(cum, v []float64) float64 {
	s := 0.0
	for i, x := range v {
		s += x
		cum[i] = s
	}
	return s
}

// candidateDist uploads the points pts (each (d)) as centers and calls f(i, t, D) with
// the squared distance D of every row i to every point t.
func (w *kmWork) candidateDist(pts [][]float32, f func(i, t int, v float64)) error {
	s, d, c := w.s, w.s.d, len(pts)
	flat := make([]float32, 0, c*d)
	for _, p := range pts {
		flat = append(flat, p...)
	}
	if err := s.b.Upload(w.centers.Slice(0, c*d), flat); err != nil {
		return err
	}
	return s.chunks(func(off, m int, xc *engine.Buf) error {
		l, err := w.dist(m, c, xc)
		if err != nil {
			return err
		}
		for i := 0; i < m; i++ {
			for t := 0; t < c; t++ {
				f(off+i, t, sqDist(l[i*c+t]))
			}
		}
		return nil
	})
}
