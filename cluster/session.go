package cluster

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/kernels"
	"github.com/gmvae/gmvae/kernels/fmath"
	"github.com/gmvae/gmvae/kernels/philox"
	"github.com/gmvae/gmvae/ops"
)

// chunkRows is the number of rows processed per chunk (see the package comment): a
// constant that is part of the results' definition. Only tests lower it, to run the
// multi-chunk paths on tiny data.
var chunkRows = 4096

// maxK bounds the number of clusters so that k-means++ steps keep distinct random
// streams (tag + step below 2^24).
const maxK = 1 << 24

// distScale is e = exp(log 2π) as the mixture kernel computes it (see "Distances" in
// the package comment): a squared distance is -2L/e.
var distScale = float64(fmath.Exp(fmath.Log2Pi))

// Random stream tags (see "Random numbers" in the package comment).
const (
	tagSeeding uint32 = 0x4B000000
	tagResp    uint32 = 0x52000000
)

// uniform returns uniform number i of stream kernels.StreamID(restart, tag) under seed:
// ((w0>>6)·2^26 + (w1>>6) + 1/2) / 2^52 with (w0, w1) words 2(i%2), 2(i%2)+1 of Philox
// block i/2, a float64 in (0, 1) computed exactly.
func uniform(seed uint64, restart int, tag uint32, i uint64) float64 {
	w := philox.Block(seed, kernels.StreamID(uint64(restart), tag), i/2)
	j := 2 * (i % 2)
	v := uint64(w[j]>>6)<<26 | uint64(w[j+1]>>6)
	return (float64(v) + 0.5) / (1 << 52)
}

// session is one fit or prediction over x (n, d) on backend b: it owns the device
// buffers it allocates and gives them back in close.
type session struct {
	ctx   context.Context
	b     engine.Backend
	x     *engine.Buf
	n, d  int
	rows  int // rows of the largest chunk: min(n, chunkRows)
	owned []*engine.Buf
}

// newSession checks the shapes of a call and returns its session.
func newSession(ctx context.Context, b engine.Backend, x *engine.Buf, n, d int) (*session, error) {
	switch {
	case b == nil:
		return nil, errors.New("cluster: nil backend")
	case x == nil:
		return nil, errors.New("cluster: nil data buffer x")
	case n <= 0:
		return nil, fmt.Errorf("cluster: n = %d rows: want >= 1", n)
	case d <= 0:
		return nil, fmt.Errorf("cluster: d = %d features: want >= 1", d)
	case x.Len() < n*d:
		return nil, fmt.Errorf("cluster: x has %d elements, n×d = %d×%d needs %d", x.Len(), n, d, n*d)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	return &session{ctx: ctx, b: b, x: x, n: n, d: d, rows: min(n, chunkRows)}, nil
}

// buf returns a new device buffer of n elements that close releases.
func (s *session) buf(n int, tag string) (*engine.Buf, error) {
	bf, err := s.b.New(n, "cluster: "+tag)
	if err != nil {
		return nil, err
	}
	s.owned = append(s.owned, bf)
	return bf, nil
}

// bufs allocates several buffers: lens[i] elements for *dst[i].
func (s *session) bufs(dst []**engine.Buf, lens []int, tags []string) error {
	for i := range dst {
		bf, err := s.buf(max(lens[i], 1), tags[i])
		if err != nil {
			return err
		}
		*dst[i] = bf
	}
	return nil
}

// upload allocates a buffer holding v.
func (s *session) upload(v []float32, tag string) (*engine.Buf, error) {
	bf, err := s.buf(len(v), tag)
	if err != nil {
		return nil, err
	}
	return bf, s.b.Upload(bf, v)
}

// close releases every buffer of the session and returns the first error.
func (s *session) close() error {
	var first error
	for _, bf := range s.owned {
		if err := s.b.Release(bf); err != nil && first == nil {
			first = err
		}
	}
	s.owned = nil
	return first
}

// chunks calls f for every chunk of rows [off, off+m) in order, with xc the chunk's
// rows of x (a view, (m, d)). It stops at the first error or when ctx is done.
func (s *session) chunks(f func(off, m int, xc *engine.Buf) error) error {
	for off := 0; off < s.n; off += s.rows {
		if err := s.ctx.Err(); err != nil {
			return err
		}
		m := min(s.rows, s.n-off)
		if err := f(off, m, s.x.Slice(off*s.d, m*s.d)); err != nil {
			return err
		}
	}
	return nil
}

// row downloads row i of x.
func (s *session) row(i int) ([]float32, error) {
	r := make([]float32, s.d)
	return r, s.b.Download(r, s.x.Slice(i*s.d, s.d))
}

// download copies the first len(dst) elements of src to dst.
func (s *session) download(dst []float32, src *engine.Buf) error {
	return s.b.Download(dst, src.Slice(0, len(dst)))
}

// colSums returns the float64 sums of x's columns: per chunk Colsum (row order from
// +0, float32), added in chunk order in float64. It fails, naming the first such
// column, when a sum is not finite: the column holds a NaN or an infinity (or values
// whose float32 sum overflows), which no fit can use.
func (s *session) colSums() ([]float64, error) {
	cs, err := s.buf(s.d, "column sums")
	if err != nil {
		return nil, err
	}
	h := make([]float32, s.d)
	sum := make([]float64, s.d)
	err = s.chunks(func(off, m int, xc *engine.Buf) error {
		if err := ops.Colsum(s.b, xc, cs, m, s.d, false); err != nil {
			return err
		}
		if err := s.download(h, cs); err != nil {
			return err
		}
		for j, v := range h {
			sum[j] += float64(v)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for j, v := range sum {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("cluster: x column %d (of %d) holds NaN or ±Inf (or values whose float32 sum overflows)", j, s.d)
		}
	}
	return sum, nil
}

// stats are x's column means and (biased) variances.
type stats struct {
	mean, vari []float64
	mean32     []float32   // float32(mean): the centering of centered()
	mu0        *engine.Buf // mean32 on the device
	ones, zero *engine.Buf // (d) of 1 and of 0: bn_fwd's scale and shift
	xcen, x2   *engine.Buf // chunk scratch (rows, d): x - mu0 and its square
}

// meanVar returns the mean of the column variances.
func (st *stats) meanVar() float64 {
	v := 0.0
	for _, x := range st.vari {
		v += x
	}
	return v / float64(len(st.vari))
}

// columnStats checks x (see colSums; and that the squares below stay finite) and
// computes its column means and variances in
// two passes: mean = colsum/n; then with mu0 = float32(mean) and xc = x - mu0 (bn_fwd
// with scale 1 and shift 0: one float32 subtraction per element),
// var = sum(xc²)/n - (sum(xc)/n)², the second term correcting for mu0's rounding;
// sums as in colSums.
func (s *session) columnStats() (*stats, error) {
	sum, err := s.colSums()
	if err != nil {
		return nil, err
	}
	mean := make([]float64, s.d)
	mu0 := make([]float32, s.d)
	for j, v := range sum {
		mean[j] = v / float64(s.n)
		mu0[j] = float32(mean[j])
	}
	st, err := s.centering(mu0)
	if err != nil {
		return nil, err
	}
	st.mean, st.vari = mean, make([]float64, s.d)
	cs, err := s.buf(s.d, "column sums")
	if err != nil {
		return nil, err
	}
	h := make([]float32, s.d)
	s1 := make([]float64, s.d)
	s2 := make([]float64, s.d)
	err = s.chunks(func(off, m int, xc *engine.Buf) error {
		if err := st.centered(s, m, xc); err != nil {
			return err
		}
		for _, p := range []struct {
			src *engine.Buf
			acc []float64
		}{{st.xcen, s1}, {st.x2, s2}} {
			if err := ops.Colsum(s.b, p.src, cs, m, s.d, false); err != nil {
				return err
			}
			if err := s.download(h, cs); err != nil {
				return err
			}
			for j, v := range h {
				p.acc[j] += float64(v)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for j := range st.vari {
		m1 := s1[j] / float64(s.n)
		st.vari[j] = max(s2[j]/float64(s.n)-float64(m1*m1), 0)
		if math.IsInf(st.vari[j], 0) || math.IsNaN(st.vari[j]) {
			return nil, fmt.Errorf("cluster: x column %d (of %d): squared deviations overflow float32 (values too far apart); rescale the data", j, s.d)
		}
	}
	return st, nil
}

// centering returns stats that center chunks at mean32 (centered), with no column
// statistics.
func (s *session) centering(mean32 []float32) (*stats, error) {
	st := &stats{mean32: mean32}
	ones := make([]float32, s.d)
	for j := range ones {
		ones[j] = 1
	}
	var err error
	if st.mu0, err = s.upload(mean32, "column means"); err != nil {
		return nil, err
	}
	if st.ones, err = s.upload(ones, "ones"); err != nil {
		return nil, err
	}
	if st.zero, err = s.upload(make([]float32, s.d), "zeros"); err != nil {
		return nil, err
	}
	if err := s.bufs([]**engine.Buf{&st.xcen, &st.x2}, []int{s.rows * s.d, s.rows * s.d},
		[]string{"centered chunk", "squared chunk"}); err != nil {
		return nil, err
	}
	return st, nil
}

// centered writes the chunk xc (m, d) minus the column means mu0 into st.xcen and its
// elementwise square into st.x2.
func (st *stats) centered(s *session, m int, xc *engine.Buf) error {
	if err := ops.BnFwd(s.b, xc, st.mu0, st.ones, st.ones, st.zero, st.xcen, m, s.d, kernels.ActNone); err != nil {
		return err
	}
	return ops.EwMul(s.b, st.xcen, st.xcen, st.x2, m*s.d)
}

// argmaxRow returns the first index of the largest of l[0..K-1] (NaN never wins).
func argmaxRow(l []float32) int {
	best := 0
	for k := 1; k < len(l); k++ {
		if l[k] > l[best] {
			best = k
		}
	}
	return best
}
