package cluster

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/kernels"
	"github.com/gmvae/gmvae/kernels/fmath"
	"github.com/gmvae/gmvae/ops"
)

// KMeansConfig configures FitKMeans. A zero field takes its default (Defaults).
type KMeansConfig struct {
	// K is the number of clusters, 1 <= K <= n.
	K int
	// Restarts is the number of k-means++ seedings, each followed by Lloyd iterations;
	// the run of lowest inertia is kept (scikit-learn's n_init). Default 10.
	Restarts int
	// MaxIter bounds the Lloyd iterations of one restart. Default 300.
	MaxIter int
	// Tol stops a restart once the squared center shift of an iteration,
	// sum_k ||c_k' - c_k||², is at most Tol times the mean of x's per-feature variances
	// (scikit-learn's tol). A restart also stops when an iteration leaves every label
	// unchanged. Default 1e-4; 0 means the default, so ask for a tiny positive value
	// to stop on unchanged labels only.
	Tol float64
	// Seed keys the random numbers of the k-means++ seedings.
	Seed uint64
}

// Defaults returns c with every zero field set to its default: Restarts 10, MaxIter
// 300, Tol 1e-4 (K and Seed have none).
func (c KMeansConfig) Defaults() KMeansConfig {
	if c.Restarts == 0 {
		c.Restarts = 10
	}
	if c.MaxIter == 0 {
		c.MaxIter = 300
	}
	if c.Tol == 0 {
		c.Tol = 1e-4
	}
	return c
}

// Validate reports the first field out of range, naming it. Call it on Defaults().
func (c KMeansConfig) Validate() error {
	switch {
	case c.K < 1 || c.K > maxK:
		return fmt.Errorf("cluster: KMeansConfig.K = %d: want 1 <= K <= %d", c.K, maxK)
	case c.Restarts < 1:
		return fmt.Errorf("cluster: KMeansConfig.Restarts = %d: want >= 1", c.Restarts)
	case c.MaxIter < 1:
		return fmt.Errorf("cluster: KMeansConfig.MaxIter = %d: want >= 1", c.MaxIter)
	case !(c.Tol >= 0) || math.IsInf(c.Tol, 0):
		return fmt.Errorf("cluster: KMeansConfig.Tol = %g: want a finite value >= 0", c.Tol)
	}
	return nil
}

// KMeans is a fitted k-means model: K centers c_k in R^D minimising the inertia
// sum_i min_k ||x_i - c_k||² locally (Lloyd's algorithm from a k-means++ seeding).
type KMeans struct {
	K, D int
	// Centers holds the K centers, (K, D) row-major.
	Centers []float32
	// Labels is the nearest center of every training row (first index on ties).
	Labels []int
	// Inertia is sum_i ||x_i - c_{Labels[i]}||² over the training rows, float64 in row
	// order (each squared distance from the mixture kernel, see the package comment).
	Inertia float64
	// Iters is the number of Lloyd iterations of the kept restart.
	Iters int
	// Converged says whether the kept restart stopped on Tol or on unchanged labels
	// rather than on MaxIter.
	Converged bool
	// Restart is the index of the kept restart: the lowest inertia, the first on ties.
	Restart int
	// Inertias holds every restart's final inertia, so a caller can report how the
	// label-free criterion chose.
	Inertias []float64
}

// FitKMeans clusters the n rows of x (n, d) on backend b into cfg.K clusters, as
// scikit-learn's KMeans(n_clusters=K, n_init=Restarts, max_iter=MaxIter, tol=Tol,
// algorithm="lloyd") does:
//
//   - seeding, per restart r: greedy k-means++ (seedPlusPlus): the first center a
//     uniformly drawn row; each next one the best, by the resulting potential
//     sum_i min_k ||x_i - c_k||², of 2 + floor(ln K) rows drawn with probability
//     proportional to their squared distance to the nearest chosen center;
//   - Lloyd iterations: every row goes to its nearest center; each center becomes the
//     mean of its rows, c_k = (sum_{i in k} x_i) / |k|, the sums as one-hot(labels)ᵀ·X
//     (GemmTN per chunk, float64 across chunks); a cluster left empty takes the row
//     farthest from its center (scikit-learn's relocation, below); stop when no label
//     changes, when the squared shift sum_k ||c_k' - c_k||² <= Tol × mean variance,
//     or after MaxIter iterations; then the labels and inertia of the final centers;
//   - the restart of lowest inertia is kept.
//
// Relocation: the e empty clusters, in increasing order, take the e rows farthest from
// the center they were assigned to (decreasing distance, the lower row first on
// ties); each such row's value moves from its old cluster's sum to the empty
// cluster's. A cluster emptied by that keeps its previous center.
//
// n < K, K < 1, d < 1, a NaN or an infinity in x and bad config fields are errors.
// The same inputs give the same bits on every backend.
func FitKMeans(ctx context.Context, b engine.Backend, x *engine.Buf, n, d int, cfg KMeansConfig) (*KMeans, error) {
	cfg = cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s, err := newSession(ctx, b, x, n, d)
	if err != nil {
		return nil, err
	}
	if n < cfg.K {
		return nil, fmt.Errorf("cluster: n = %d rows < K = %d clusters", n, cfg.K)
	}
	km, err := fitKMeans(s, cfg)
	if cerr := s.close(); err == nil && cerr != nil {
		return nil, cerr
	}
	return km, err
}

func fitKMeans(s *session, cfg KMeansConfig) (*KMeans, error) {
	st, err := s.columnStats()
	if err != nil {
		return nil, err
	}
	ws, err := newKMWork(s, cfg.K)
	if err != nil {
		return nil, err
	}
	km := &KMeans{K: cfg.K, D: s.d, Inertia: math.Inf(1)}
	for r := 0; r < cfg.Restarts; r++ {
		run, err := ws.single(cfg.Seed, r, cfg.MaxIter, cfg.Tol*st.meanVar())
		if err != nil {
			return nil, err
		}
		km.Inertias = append(km.Inertias, run.inertia)
		if r == 0 || run.inertia < km.Inertia {
			km.Centers, km.Labels, km.Inertia = run.centers, run.labels, run.inertia
			km.Iters, km.Converged, km.Restart = run.iters, run.converged, r
		}
	}
	return km, nil
}

// kmWork holds the device buffers of k-means on one session.
type kmWork struct {
	s       *session
	k       int
	trials  int         // k-means++ candidates per step: 2 + floor(ln K)
	centers *engine.Buf // (max(K, trials), d): the centers or the candidates
	lv      *engine.Buf // (max(K, trials), d) of -log(2π)
	l       *engine.Buf // (rows, max(K, trials)): the kernel's L
	onehot  *engine.Buf // (rows, K)
	sums    *engine.Buf // (K, d)
	hostL   []float32
	hostOH  []float32
	hostSum []float32
}

func newKMWork(s *session, k int) (*kmWork, error) {
	w := &kmWork{s: s, k: k, trials: 2 + int(math.Log(float64(k)))}
	p := max(k, w.trials)
	err := s.bufs([]**engine.Buf{&w.centers, &w.lv, &w.l, &w.onehot, &w.sums},
		[]int{p * s.d, p * s.d, s.rows * p, s.rows * k, k * s.d},
		[]string{"centers", "log-variances -log(2π)", "L", "one-hot labels", "center sums"})
	if err != nil {
		return nil, err
	}
	lv := make([]float32, p*s.d)
	for i := range lv {
		lv[i] = -fmath.Log2Pi
	}
	if err := s.b.Upload(w.lv, lv); err != nil {
		return nil, err
	}
	w.hostL = make([]float32, s.rows*p)
	w.hostOH = make([]float32, s.rows*k)
	w.hostSum = make([]float32, k*s.d)
	return w, nil
}

// dist computes, for the chunk xc (m, d) and the c points uploaded in w.centers, the
// kernel's L (m, c) (see "Distances" in the package comment) into w.hostL[:m*c].
func (w *kmWork) dist(m, c int, xc *engine.Buf) ([]float32, error) {
	s := w.s
	if err := ops.MixtureLoglik(s.b, m, c, s.d, xc, w.centers, w.lv, 0, nil, 0, w.l, nil, nil); err != nil {
		return nil, err
	}
	h := w.hostL[:m*c]
	return h, s.download(h, w.l)
}

// sqDist converts the kernel's L to a squared distance, -2L/e.
func sqDist(l float32) float64 { return float64(-2*l) / distScale }

// kmRun is the outcome of one restart.
type kmRun struct {
	centers   []float32
	labels    []int
	dist      []float64 // each row's squared distance to its center
	inertia   float64
	iters     int
	converged bool
}

// nearest assigns every row to its nearest center of centers (uploaded here), writing
// labels and squared distances, and, when sums is not nil, adds the chunk sums of the
// rows of each cluster, one-hot(labels)ᵀ·X, into sums (K, d) in chunk order.
func (w *kmWork) nearest(centers []float32, labels []int, dist, sums []float64) error {
	s, k := w.s, w.k
	if err := s.b.Upload(w.centers.Slice(0, len(centers)), centers); err != nil {
		return err
	}
	return s.chunks(func(off, m int, xc *engine.Buf) error {
		l, err := w.dist(m, k, xc)
		if err != nil {
			return err
		}
		for i := 0; i < m; i++ {
			row := l[i*k : i*k+k]
			j := argmaxRow(row)
			labels[off+i] = j
			dist[off+i] = sqDist(row[j])
		}
		if sums == nil {
			return nil
		}
		oh := w.hostOH[:m*k]
		clear(oh)
		for i := 0; i < m; i++ {
			oh[i*k+labels[off+i]] = 1
		}
		if err := s.b.Upload(w.onehot.Slice(0, m*k), oh); err != nil {
			return err
		}
		if err := ops.GemmTN(s.b, w.onehot, xc, nil, w.sums, k, s.d, m, kernels.ActNone, false); err != nil {
			return err
		}
		if err := s.download(w.hostSum, w.sums); err != nil {
			return err
		}
		for j, v := range w.hostSum {
			sums[j] += float64(v)
		}
		return nil
	})
}

// single runs restart r: k-means++ seeding, then Lloyd iterations until no label
// changes, the squared center shift is <= tol, or maxIter iterations.
func (w *kmWork) single(seed uint64, r, maxIter int, tol float64) (*kmRun, error) {
	s, k, d := w.s, w.k, w.s.d
	centers, err := w.seedPlusPlus(seed, r)
	if err != nil {
		return nil, err
	}
	run := &kmRun{labels: make([]int, s.n), dist: make([]float64, s.n)}
	old := make([]int, s.n)
	for i := range old {
		old[i] = -1
	}
	used := slices.Clone(centers) // the centers of the labels in run.labels
	sums := make([]float64, k*d)
	counts := make([]int, k)
	for it := 0; it < maxIter; it++ {
		clear(sums)
		clear(counts)
		copy(used, centers)
		if err := w.nearest(used, run.labels, run.dist, sums); err != nil {
			return nil, err
		}
		for _, j := range run.labels {
			counts[j]++
		}
		if err := w.relocate(run.labels, run.dist, sums, counts); err != nil {
			return nil, err
		}
		shift := 0.0
		for j := 0; j < k; j++ {
			if counts[j] == 0 {
				continue // emptied by relocation: keeps its center
			}
			for f := 0; f < d; f++ {
				c := float32(sums[j*d+f] / float64(counts[j]))
				diff := float64(c) - float64(centers[j*d+f])
				shift += float64(diff * diff)
				centers[j*d+f] = c
			}
		}
		run.iters = it + 1
		if slices.Equal(run.labels, old) {
			run.converged = true
			break
		}
		if shift <= tol {
			run.converged = true
			break
		}
		copy(old, run.labels)
	}
	if !slices.Equal(used, centers) {
		if err := w.nearest(centers, run.labels, run.dist, nil); err != nil {
			return nil, err
		}
	}
	run.centers = centers
	for _, v := range run.dist {
		run.inertia += v
	}
	return run, nil
}

// relocate moves rows into the empty clusters as scikit-learn does (see FitKMeans):
// empty clusters in increasing order take the rows of largest distance to their
// center, largest first, lower row first on ties. sums and counts are updated; labels
// are not (as scikit-learn's).
func (w *kmWork) relocate(labels []int, dist, sums []float64, counts []int) error {
	var empty []int
	for j, c := range counts {
		if c == 0 {
			empty = append(empty, j)
		}
	}
	if len(empty) == 0 {
		return nil
	}
	idx := make([]int, len(dist))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return dist[idx[a]] > dist[idx[b]] })
	d := w.s.d
	for e, j := range empty {
		i := idx[e]
		row, err := w.s.row(i)
		if err != nil {
			return err
		}
		old := labels[i]
		for f, v := range row {
			sums[old*d+f] -= float64(v)
			sums[j*d+f] = float64(v)
		}
		counts[j] = 1
		counts[old]--
	}
	return nil
}

// Assign returns the nearest center of every row of x (n, D) on backend b: the first
// k of the largest -||x_i - c_k||² as the mixture kernel computes it (see "Distances"
// in the package comment).
func (km *KMeans) Assign(b engine.Backend, x *engine.Buf, n int) ([]int, error) {
	labels, _, err := km.Nearest(b, x, n)
	return labels, err
}

// Nearest returns the nearest center of every row of x (n, D) on backend b, as
// Assign, and the squared distance ||x_i - c_{labels[i]}||² to it (float32 kernel
// terms, see "Distances" in the package comment); the sum of dist over the training
// rows is the Inertia.
func (km *KMeans) Nearest(b engine.Backend, x *engine.Buf, n int) (labels []int, dist []float64, err error) {
	if km == nil || km.K < 1 || km.D < 1 || len(km.Centers) != km.K*km.D {
		return nil, nil, fmt.Errorf("cluster: KMeans.Nearest: model is not fitted or has inconsistent shapes")
	}
	s, err := newSession(context.Background(), b, x, n, km.D)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if cerr := s.close(); err == nil && cerr != nil {
			labels, dist, err = nil, nil, cerr
		}
	}()
	if _, err := s.colSums(); err != nil {
		return nil, nil, err
	}
	w, err := newKMWork(s, km.K)
	if err != nil {
		return nil, nil, err
	}
	labels, dist = make([]int, n), make([]float64, n)
	if err := w.nearest(km.Centers, labels, dist, nil); err != nil {
		return nil, nil, err
	}
	return labels, dist, nil
}
