package metrics

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lcgInts reproduces testdata/sklearn_ref.py's input generator.
func lcgInts(seed uint64, n, m int) []int {
	x, out := seed, make([]int, n)
	for i := range out {
		x = x*6364136223846793005 + 1442695040888963407
		out[i] = int((x >> 33) % uint64(m))
	}
	return out
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// sklearnTol: our NMI sums its terms in another order than numpy's pairwise sum; the
// difference is a few ulps of values below 10.
const sklearnTol = 1e-13

func TestAgainstSklearn(t *testing.T) {
	// Values printed by testdata/sklearn_ref.py (scikit-learn 1.2.1, scipy 1.10.1):
	// normalized_mutual_info_score, adjusted_rand_score, purity from the contingency
	// table's row maxima, and Hungarian accuracy from scipy's linear_sum_assignment.
	cases := []struct {
		name                string
		seed                uint64
		n, k, c, noise      int
		nmi, ari, pur, hung float64
	}{
		{"n200_K12_C10", 1, 200, 12, 10, 40, 0.5228688761562611, 0.39055615371609487, 0.65, 0.63},
		{"n1000_K3_C5", 2, 1000, 3, 5, 100, 0.0030188469254049644, -2.1609598767492974e-05, 0.225, 0.225},
		{"n500_K10_C10", 3, 500, 10, 10, 20, 0.6756039373671224, 0.6608368902517697, 0.83, 0.83},
		{"n97_K16_C4", 4, 97, 16, 4, 60, 0.24925060187257653, 0.1199948575414251, 0.6082474226804123, 0.38144329896907214},
	}
	for _, c := range cases {
		labels := lcgInts(c.seed, c.n, c.c)
		rnd := lcgInts(c.seed+100, c.n, c.k)
		coin := lcgInts(c.seed+200, c.n, 100)
		pred := make([]int, c.n)
		for i := range pred {
			if coin[i] < c.noise {
				pred[i] = rnd[i]
			} else {
				pred[i] = (labels[i]*7 + 3) % c.k
			}
		}
		nmi, err := NMI(pred, labels)
		require.NoError(t, err, "NMI")
		ari, err := ARI(pred, labels)
		require.NoError(t, err, "ARI")
		pur, _ := ACCPurity(pred, labels)
		hung, _ := ACCHungarian(pred, labels)
		assert.InDelta(t, c.nmi, nmi, sklearnTol, "%s: NMI against sklearn", c.name)
		assert.InDelta(t, c.ari, ari, 1e-15, "%s: ARI against sklearn", c.name)
		assert.InDelta(t, c.pur, pur, 1e-15, "%s: purity against sklearn", c.name)
		assert.InDelta(t, c.hung, hung, 1e-15, "%s: hungarian against sklearn", c.name)
	}
}

func TestHandExamples(t *testing.T) {
	// Example A: labels 0 0 0 1 1 1, clusters 0 0 1 1 2 2 (K=3 > C=2).
	// Contingency (cluster x class): k0 [2 0], k1 [1 1], k2 [0 2].
	//   purity    = (2 + 1 + 2) / 6 = 5/6
	//   hungarian = k0->0 (2) + k2->1 (2), k1 unmatched = 4/6
	//   NMI: H(labels) = ln 2, H(pred) = ln 3, MI = 2 * (1/3) ln((1/3)/((1/3)(1/2))) = (2/3) ln 2,
	//        NMI = (2/3) ln 2 / ((ln 2 + ln 3)/2) = (4/3) ln 2 / ln 6 = 0.5158037429793888 (sklearn)
	//   ARI: sum C(n_ij,2) = 2, cluster pairs 3*C(2,2) = 3, class pairs 2*C(3,2) = 6, C(6,2) = 15,
	//        expected = 3*6/15 = 1.2, max = (3+6)/2 = 4.5, ARI = 0.8/3.3 = 8/33 (sklearn 0.24242424242424243)
	// Doc examples of sklearn's adjusted_rand_score / normalized_mutual_info_score, as
	// (labels, pred): their values printed by sklearn 1.2.1.
	cases := []struct {
		name                string
		labels, pred        []int
		pur, hung, nmi, ari float64
	}{
		{"A", []int{0, 0, 0, 1, 1, 1}, []int{0, 0, 1, 1, 2, 2}, 5.0 / 6, 4.0 / 6, 4 * math.Ln2 / 3 / math.Log(6), 8.0 / 33},
		{"sklearn 0.57", []int{0, 0, 1, 1}, []int{0, 0, 1, 2}, 1, 0.75, 0.8, 0.5714285714285714},
		{"sklearn split", []int{0, 0, 0, 0}, []int{0, 1, 2, 3}, 1, 0.25, 0, 0},
		{"sklearn -0.5", []int{0, 0, 1, 1}, []int{0, 1, 0, 1}, 0.5, 0.5, 0, -0.5},
		{"sklearn renamed", []int{0, 0, 1, 1}, []int{1, 1, 0, 0}, 1, 1, 1, 1},
		{"one class, one cluster", []int{3, 3, 3}, []int{1, 1, 1}, 1, 1, 1, 1},
		{"all in one cluster", []int{0, 1, 2}, []int{0, 0, 0}, 1.0 / 3, 1.0 / 3, 0, 0},
		{"one example", []int{5}, []int{0}, 1, 1, 1, 1},
		{"singletons", []int{0, 1, 2, 3}, []int{3, 2, 1, 0}, 1, 1, 1, 1},
	}
	// "sklearn 0.57" NMI: H(labels) = ln 2, H(pred) = 1.5 ln 2, MI = ln 2 -> ln 2 / (1.25 ln 2) = 0.8
	// (sklearn prints 0.7999999999999999).
	for _, c := range cases {
		pur, err1 := ACCPurity(c.pred, c.labels)
		hung, err2 := ACCHungarian(c.pred, c.labels)
		nmi, err3 := NMI(c.pred, c.labels)
		ari, err4 := ARI(c.pred, c.labels)
		require.NoError(t, errors.Join(err1, err2, err3, err4), c.name)
		assert.InDelta(t, c.pur, pur, 1e-15, "%s: purity", c.name)
		assert.InDelta(t, c.hung, hung, 1e-15, "%s: hungarian", c.name)
		assert.InDelta(t, c.nmi, nmi, 1e-15, "%s: NMI", c.name)
		assert.InDelta(t, c.ari, ari, 1e-15, "%s: ARI", c.name)
	}
}

func TestACCPaper(t *testing.T) {
	// labels 0 0 0 1 1 1; posteriors (K = 3), pred = row argmax = 0 0 1 1 2 0.
	// Cluster 0's highest posterior: example 0 (0.9), label 0.
	// Cluster 1's: example 3 (0.8), label 1. Cluster 2's: example 4 (0.9), label 1.
	// Predicted labels 0 0 1 1 1 0 against 0 0 0 1 1 1: right at 0, 1, 3, 4 -> 4/6.
	// Purity for comparison: k0 {0,0,1} -> 2, k1 {0,1} -> 1, k2 {1} -> 1: 4/6;
	// Hungarian: k0->0 (2) + k1->1 or k2->1 (1): 3/6.
	labels := []int{0, 0, 0, 1, 1, 1}
	post := []float32{
		0.9, 0.1, 0.0,
		0.6, 0.3, 0.1,
		0.2, 0.7, 0.1,
		0.1, 0.8, 0.1,
		0.0, 0.1, 0.9,
		0.5, 0.2, 0.3,
	}
	pred := Argmax(post, 3)
	require.Equal(t, []int{0, 0, 1, 1, 2, 0}, pred, "Argmax")
	m, err := PaperMapping(labels, f64(post), 3)
	assert.NoError(t, err, "PaperMapping")
	assert.Equal(t, []int{0, 1, 1}, m, "PaperMapping")
	s, err := Evaluate(pred, labels, Ranking{LogOdds: f64(post), Post: post}, 3)
	require.NoError(t, err)
	assert.Equal(t, 4.0/6, s.ACCPaper, "paper")
	assert.Equal(t, 4.0/6, s.ACCPaperF32, "paper (f32)")
	assert.Equal(t, 4.0/6, s.ACCPurity, "purity")
	assert.Equal(t, 3.0/6, s.ACCHungarian, "hungarian")
	assert.Equal(t, []int{3, 2, 1}, s.Usage, "summary %+v: usage", s)
	assert.Equal(t, 3, s.UsedClusters, "summary %+v: used clusters", s)
	assert.Equal(t, 0.5, s.LargestShare, "summary %+v: largest share", s)
	assert.Equal(t, [3]int{6, 3, 2}, [3]int{s.N, s.K, s.C}, "summary %+v: N, K, C", s)
	// pred 0 0 1 1 2 0 against labels 0 0 0 1 1 1: cluster 0 holds 0, 0, 1; cluster 1
	// holds 0, 1; cluster 2 holds 1.
	assert.Equal(t, [][]int{{2, 1}, {1, 1}, {0, 1}}, s.Contingency, "contingency")

	// K = 1: the single cluster takes the label of its most confident example (here the
	// minority label 1), unlike purity (majority 0): paper 1/3, purity 2/3.
	acc, err := ACCPaper([]int{0, 0, 0}, []int{0, 0, 1}, []float64{0.2, 0.3, 0.9}, 1)
	assert.NoError(t, err, "K=1")
	assert.Equal(t, 1.0/3, acc, "K=1")
	// Exact ties go to the lowest example index.
	m, err = PaperMapping([]int{4, 7}, []float64{-1, -1}, 1)
	require.NoError(t, err, "PaperMapping")
	assert.Equal(t, 4, m[0], "tie: %v", m)
	// Empty clusters (K = 5, only 0 and 3 used) still get a label, which no example uses.
	post5 := []float32{
		0.5, 0.1, 0.1, 0.2, 0.1,
		0.1, 0.1, 0.1, 0.6, 0.1,
	}
	s, err = Evaluate([]int{0, 3}, []int{2, 1}, Ranking{LogOdds: f64(post5)}, 5)
	assert.NoError(t, err, "empty clusters")
	assert.Equal(t, 1.0, s.ACCPaper, "empty clusters: %+v: paper", s)
	assert.True(t, math.IsNaN(s.ACCPaperF32), "empty clusters: %+v: paper (f32) %v, want NaN", s, s.ACCPaperF32)
	assert.Equal(t, []int{1, 0, 0, 1, 0}, s.Usage, "empty clusters: %+v: usage", s)
	assert.Equal(t, 2, s.UsedClusters, "empty clusters: %+v: used clusters", s)
	// The table has a row for every cluster of the model, used or not.
	assert.Equal(t, [][]int{{0, 0, 1}, {0, 0, 0}, {0, 0, 0}, {0, 1, 0}, {0, 0, 0}}, s.Contingency, "empty clusters: contingency")
	// Without a posterior ACCPaper is NaN and the rest is computed.
	s, err = Evaluate([]int{0, 3}, []int{2, 1}, Ranking{}, 5)
	assert.NoError(t, err, "no posterior")
	assert.True(t, math.IsNaN(s.ACCPaper), "no posterior: %+v: paper %v, want NaN", s, s.ACCPaper)
	assert.True(t, math.IsNaN(s.ACCPaperF32), "no posterior: %+v: paper (f32) %v, want NaN", s, s.ACCPaperF32)
	assert.Equal(t, 1.0, s.ACCHungarian, "no posterior: %+v: hungarian", s)
	assert.Contains(t, s.String(), "hungarian 100.00%", "String")
}

// f64 widens float32 posteriors into ranking scores.
func f64(post []float32) []float64 {
	out := make([]float64, len(post))
	for i, v := range post {
		out[i] = float64(v)
	}
	return out
}

func TestLogOdds(t *testing.T) {
	inf := float32(math.Inf(1))
	cases := []struct {
		name   string
		logits []float32
		k      int
		want   []float64
	}{
		{"two clusters", []float32{0, 0, 3, 1}, 2, []float64{0, 0, 2, -2}},
		{"shift invariant", []float32{100, 100, 103, 101}, 2, []float64{0, 0, 2, -2}},
		{"three clusters", []float32{1, 2, 3}, 3, []float64{
			1 - math.Log(math.Exp(2)+math.Exp(3)),
			2 - math.Log(math.Exp(1)+math.Exp(3)),
			3 - math.Log(math.Exp(1)+math.Exp(2))}},
		{"K = 1", []float32{-5, 7}, 1, []float64{math.Inf(1), math.Inf(1)}},
		{"others -Inf", []float32{-inf, 4, -inf}, 3, []float64{math.Inf(-1), math.Inf(1), math.Inf(-1)}},
		{"no rows", nil, 4, []float64{}},
	}
	for _, c := range cases {
		got, err := LogOdds(c.logits, c.k)
		require.NoError(t, err, c.name)
		require.Len(t, got, len(c.want), c.name)
		for i := range got {
			if got[i] != c.want[i] && !near(got[i], c.want[i], 1e-14) { // first difference only
				assert.InDelta(t, c.want[i], got[i], 1e-14, "%s: [%d]", c.name, i)
				break
			}
		}
	}

	// Against the definition log(q/(1-q)) in float64 on random rows where q is moderate.
	r := rand.New(rand.NewPCG(3, 4))
	const n, k = 200, 7
	logits := make([]float32, n*k)
	for i := range logits {
		logits[i] = float32(r.NormFloat64() * 3)
	}
	got, err := LogOdds(logits, k)
	require.NoError(t, err)
rows:
	for i := 0; i < n; i++ {
		row := logits[i*k : (i+1)*k]
		z := 0.0
		for _, v := range row {
			z += math.Exp(float64(v))
		}
		for j, v := range row {
			q := math.Exp(float64(v)) / z
			if want := math.Log(q / (1 - q)); !near(got[i*k+j], want, 1e-9) { // first difference only
				assert.LessOrEqual(t, math.Abs(got[i*k+j]-want), 1e-9, "row %d cluster %d: %v, definition gives %v: difference", i, j, got[i*k+j], want)
				break rows
			}
		}
	}

	for _, c := range []struct {
		logits []float32
		k      int
		msg    string
	}{
		{[]float32{0, float32(math.NaN())}, 2, "example 0, cluster 1 is NaN"},
		{[]float32{0, 1, inf, 0}, 2, "example 1, cluster 0 is +Inf"},
		{[]float32{0, 1, -inf, -inf}, 2, "every logit of example 1 is -Inf"},
		{[]float32{0, 1, 2}, 2, "3 logits is not a whole number of rows of K = 2"},
		{[]float32{0}, 0, "0 clusters"},
	} {
		_, err := LogOdds(c.logits, c.k)
		assert.ErrorContains(t, err, c.msg, "LogOdds(%v, %d)", c.logits, c.k)
	}
}

// TestPaperMappingSaturated is the case LogOdds exists for: two examples whose float32
// posteriors for cluster 0 are both exactly 1, the second far more confident. The
// posteriors tie and pick the first example; the log-odds pick the second.
func TestPaperMappingSaturated(t *testing.T) {
	labels := []int{3, 5}
	logits := []float32{20, 0, 80, 0} // q_00 = 1 - 2e-9, q_10 = 1 - 2e-35: both round to 1
	post := []float32{1, 0, 1, 0}
	for i := 0; i < 2; i++ {
		e0, e1 := math.Exp(float64(logits[2*i])), math.Exp(float64(logits[2*i+1]))
		require.Equal(t, post[2*i], float32(e0/(e0+e1)), "example %d: float32 posterior, as the test assumes", i)
	}
	m, err := PaperMapping(labels, f64(post), 2)
	require.NoError(t, err, "PaperMapping")
	assert.Equal(t, 3, m[0], "float32 posteriors: cluster 0's label, want the tie's first example's")
	score, err := LogOdds(logits, 2)
	require.NoError(t, err)
	m, err = PaperMapping(labels, score, 2)
	require.NoError(t, err, "PaperMapping")
	assert.Equal(t, 5, m[0], "log-odds: cluster 0's label, want the most confident example's")
	// Evaluate reports both: both examples in cluster 0, labelled 3 (f32: 1 of 2 right)
	// or 5 (log-odds: 1 of 2 right); with a third example of label 5 the two differ.
	s, err := Evaluate([]int{0, 0, 0}, []int{3, 5, 5}, Ranking{
		LogOdds: append(score, 0, 0), Post: append(post, 0.5, 0.5)}, 2)
	assert.NoError(t, err, "Evaluate")
	assert.Equal(t, 2.0/3, s.ACCPaper, "Evaluate: paper")
	assert.Equal(t, 1.0/3, s.ACCPaperF32, "Evaluate: float32 ties")
}

func TestArgmax(t *testing.T) {
	nan := float32(math.NaN())
	got := Argmax([]float32{1, 1, 0, nan, 2, 1, nan, nan, 0, 0, 0, 0}, 3)
	assert.Equal(t, []int{0, 1, 2, 0}, got, "Argmax")
}

func TestAllInOneCluster(t *testing.T) {
	// A collapsed model: K = 10, every example in cluster 3; labels 0..4 twice each.
	labels := []int{0, 1, 2, 3, 4, 0, 1, 2, 3, 4}
	pred := make([]int, 10)
	post := make([]float32, 10*10)
	for i := range pred {
		pred[i] = 3
		post[i*10+3] = 1
	}
	s, err := Evaluate(pred, labels, Ranking{LogOdds: f64(post), Post: post}, 10)
	require.NoError(t, err)
	// Purity = Hungarian = 2/10 (one class of 2); NMI = ARI = 0; the paper protocol gives
	// cluster 3 the label of example 0 (all tie at 1): 2/10.
	for _, c := range []struct {
		name      string
		want, got float64
	}{
		{"purity", 0.2, s.ACCPurity}, {"hungarian", 0.2, s.ACCHungarian}, {"NMI", 0, s.NMI}, {"ARI", 0, s.ARI},
		{"paper", 0.2, s.ACCPaper}, {"paper (f32)", 0.2, s.ACCPaperF32}, {"largest share", 1, s.LargestShare},
	} {
		assert.Equal(t, c.want, c.got, "%s (%+v)", c.name, s)
	}
	assert.Equal(t, 1, s.UsedClusters, "used clusters (%+v)", s)
}

func TestErrors(t *testing.T) {
	fns := map[string]func(p, l []int) (float64, error){
		"purity": ACCPurity, "hungarian": ACCHungarian, "nmi": NMI, "ari": ARI,
	}
	for name, f := range fns {
		_, err := f(nil, nil)
		assert.ErrorIs(t, err, ErrEmpty, "%s(N=0)", name)
		for _, c := range []struct {
			what         string
			pred, labels []int
			want         string
		}{
			{"length mismatch", []int{0}, []int{0, 1}, "1 predictions for 2 labels"},
			{"label -1", []int{0, 1}, []int{0, -1}, "example 1: label -1"},
			{"pred -2", []int{-2, 1}, []int{0, 1}, "cluster id -2"},
		} {
			_, err = f(c.pred, c.labels)
			assert.ErrorContains(t, err, c.want, "%s(%s)", name, c.what)
		}
	}
	_, err := Evaluate(nil, nil, Ranking{}, 3)
	assert.ErrorIs(t, err, ErrEmpty, "Evaluate(N=0)")
	_, err = ACCPaper([]int{0}, []int{0}, []float64{1, 0}, 3)
	assert.ErrorContains(t, err, "posterior has 2 values, expected N*K = 1*3 = 3", "post length")
	_, err = ACCPaper([]int{0, 0}, []int{0, 0}, []float64{1, math.NaN()}, 1)
	assert.ErrorContains(t, err, "example 1, cluster 0 is NaN", "NaN posterior")
	_, err = ACCPaper([]int{2}, []int{0}, []float64{1, 0}, 2)
	assert.ErrorContains(t, err, "cluster id 2, expected 0..1", "pred >= K")
	_, err = Evaluate([]int{4}, []int{0}, Ranking{}, 3)
	assert.Error(t, err, "Evaluate with pred >= k")
	_, err = Usage([]int{0}, 0)
	assert.Error(t, err, "Usage k=0")
	u, err := Usage(nil, 2)
	assert.NoError(t, err, "Usage of nothing")
	assert.Equal(t, []int{0, 0}, u, "Usage of nothing")
}

func TestInvariance(t *testing.T) {
	// Renaming clusters, renaming classes and reordering examples change no score
	// (NMI within summation-order rounding); NMI and ARI are symmetric.
	r := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 50; trial++ {
		n, k, c := 1+r.IntN(300), 1+r.IntN(20), 1+r.IntN(12)
		labels, pred := make([]int, n), make([]int, n)
		for i := range labels {
			labels[i] = r.IntN(c)
			if r.IntN(3) == 0 {
				pred[i] = r.IntN(k)
			} else {
				pred[i] = labels[i] % k
			}
		}
		pk, pc, order := r.Perm(k), r.Perm(c), r.Perm(n)
		l2, p2 := make([]int, n), make([]int, n)
		for i, j := range order {
			l2[i], p2[i] = pc[labels[j]], pk[pred[j]]
		}
		s1, err := Evaluate(pred, labels, Ranking{}, k)
		require.NoError(t, err)
		s2, err := Evaluate(p2, l2, Ranking{}, k)
		require.NoError(t, err, "Evaluate")
		require.Equal(t, s1.ACCPurity, s2.ACCPurity, "trial %d: purity, then renamed and reordered", trial)
		require.Equal(t, s1.ACCHungarian, s2.ACCHungarian, "trial %d: hungarian, then renamed and reordered", trial)
		require.Equal(t, s1.ARI, s2.ARI, "trial %d: ARI, then renamed and reordered", trial)
		require.LessOrEqual(t, math.Abs(s1.NMI-s2.NMI), 1e-14, "trial %d: NMI %v, then renamed and reordered %v: difference", trial, s1.NMI, s2.NMI)
		nmiT, err := NMI(labels, pred)
		require.NoError(t, err, "NMI")
		ariT, err := ARI(labels, pred)
		require.NoError(t, err, "ARI")
		require.LessOrEqual(t, math.Abs(nmiT-s1.NMI), 1e-14, "trial %d: not symmetric: NMI %v %v: difference", trial, nmiT, s1.NMI)
		require.Equal(t, s1.ARI, ariT, "trial %d: not symmetric: ARI", trial)
		for _, v := range []float64{s1.ACCPurity, s1.ACCHungarian, s1.NMI} {
			require.False(t, v < 0 || v > 1, "trial %d: score out of [0,1]: %v", trial, s1)
		}
		require.LessOrEqual(t, s1.ACCHungarian, s1.ACCPurity, "trial %d: one-to-one beats many-to-one: %v", trial, s1)
	}
}

// bruteMax tries every injective map of the smaller side into the larger one.
func bruteMax(w [][]float64) float64 {
	n, m := len(w), len(w[0])
	best := math.Inf(-1)
	var rec func(i int, used []bool, sum float64, matched int)
	rec = func(i int, used []bool, sum float64, matched int) {
		if i == n {
			if matched == min(n, m) {
				best = max(best, sum)
			}
			return
		}
		if n-i > min(n, m)-matched { // row i may stay unmatched
			rec(i+1, used, sum, matched)
		}
		for j := 0; j < m; j++ {
			if !used[j] {
				used[j] = true
				rec(i+1, used, sum+w[i][j], matched+1)
				used[j] = false
			}
		}
	}
	rec(0, make([]bool, m), 0, 0)
	return best
}

func TestMaxWeightMatching(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 300; trial++ {
		n, m := 1+r.IntN(7), 1+r.IntN(7)
		w := make([][]float64, n)
		for i := range w {
			w[i] = make([]float64, m)
			for j := range w[i] {
				w[i][j] = float64(r.IntN(20) - 5) // negatives and ties included
			}
		}
		match, total, err := MaxWeightMatching(w)
		require.NoError(t, err)
		// a valid matching of min(n, m) pairs whose weight is the reported total
		seen, pairs, sum := map[int]bool{}, 0, 0.0
		for i, j := range match {
			if j < 0 {
				continue
			}
			require.False(t, seen[j], "column %d used twice: %v", j, match)
			seen[j] = true
			pairs++
			sum += w[i][j]
		}
		require.Equal(t, min(n, m), pairs, "%v: pairs matched", w)
		require.Equal(t, sum, total, "%v: the matched weights' sum, then the reported total", w)
		require.Equal(t, bruteMax(w), total, "%dx%d %v: total, against brute force", n, m, w)
	}
	_, _, err := MaxWeightMatching([][]float64{{1, 2}, {3}})
	assert.Error(t, err, "ragged")
	_, _, err = MaxWeightMatching([][]float64{{math.Inf(1)}})
	assert.Error(t, err, "Inf")
	m, tot, err := MaxWeightMatching(nil)
	assert.NoError(t, err, "empty")
	assert.Empty(t, m, "empty")
	assert.Zero(t, tot, "empty")
	m, _, err = MaxWeightMatching([][]float64{{}, {}})
	assert.NoError(t, err, "no columns")
	assert.Equal(t, []int{-1, -1}, m, "no columns")
}

func TestHungarianLarge(t *testing.T) {
	// K = 64 clusters, C = 10 classes, N = 10000 (the size of MNIST's test set): fast,
	// and the one-to-one accuracy equals the best over all matchings of the 10 classes,
	// checked against a greedy lower bound and the purity upper bound.
	r := rand.New(rand.NewPCG(5, 6))
	n, k, c := 10000, 64, 10
	labels, pred := make([]int, n), make([]int, n)
	for i := range labels {
		labels[i] = r.IntN(c)
		pred[i] = (labels[i]*6 + r.IntN(6)) % k
	}
	h, err := ACCHungarian(pred, labels)
	require.NoError(t, err)
	p, _ := ACCPurity(pred, labels)
	// each class spreads uniformly over 6 clusters: one-to-one keeps about 1/6
	assert.False(t, h < 0.15 || h > 0.19, "hungarian %v, want 0.15..0.19", h)
	assert.Equal(t, 1.0, p, "purity")
	// ARI's exact-integer path against the textbook float formula (Hubert and Arabie):
	// (sum C(n_ij,2) - sum C(a_i,2) sum C(b_j,2) / C(N,2)) /
	// ((sum C(a_i,2) + sum C(b_j,2))/2 - sum C(a_i,2) sum C(b_j,2) / C(N,2)).
	t2 := contingency(pred, labels, k, c)
	rows, cols := margins(t2, k, c)
	c2 := func(x int) float64 { return float64(x) * float64(x-1) / 2 }
	var sij, sa, sb float64
	for i := range t2 {
		for _, v := range t2[i] {
			sij += c2(v)
		}
	}
	for _, a := range rows {
		sa += c2(a)
	}
	for _, b := range cols {
		sb += c2(b)
	}
	exp := sa * sb / c2(n)
	want := (sij - exp) / ((sa+sb)/2 - exp)
	ari, err := ARI(pred, labels)
	require.NoError(t, err, "ARI")
	assert.LessOrEqual(t, math.Abs(ari-want), 1e-12, "ARI %v, textbook formula %v: difference", ari, want)
}

func BenchmarkEvaluate(b *testing.B) {
	// MNIST's test set scored for a K = 64 model.
	r := rand.New(rand.NewPCG(7, 8))
	n, k := 10000, 64
	labels, pred := make([]int, n), make([]int, n)
	post := make([]float32, n*k)
	for i := range labels {
		labels[i] = r.IntN(10)
		pred[i] = (labels[i]*6 + r.IntN(6)) % k
		for j := 0; j < k; j++ {
			post[i*k+j] = r.Float32()
		}
		post[i*k+pred[i]] = 2
	}
	score := f64(post)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Evaluate(pred, labels, Ranking{LogOdds: score}, k); err != nil {
			b.Fatal(err)
		}
	}
}

func TestMeanStdDescribe(t *testing.T) {
	mean, sd := MeanStd([]float64{1, 2, 3, 4})
	assert.Equal(t, 2.5, mean, "MeanStd: mean")
	assert.InDelta(t, math.Sqrt(5.0/3), sd, 1e-15, "MeanStd: s.d., want sqrt(5/3)")
	m, s := MeanStd([]float64{7})
	assert.Equal(t, [2]float64{7, 0}, [2]float64{m, s}, "one value: mean, s.d.")
	m, s = MeanStd(nil)
	assert.True(t, math.IsNaN(m) && math.IsNaN(s), "none: %v %v, want NaN NaN", m, s)
	st := Describe([]float64{0.9, math.NaN(), 0.95, 0.7, 0.95})
	assert.Equal(t, 4, st.N, "Describe: %+v: N", st)
	assert.Equal(t, 0.95, st.Best, "Describe: %+v: best", st)
	assert.Equal(t, 2, st.BestRun, "Describe: %+v: best run", st)
	assert.Equal(t, 0.7, st.Worst, "Describe: %+v: worst", st)
	assert.InDelta(t, 0.875, st.Mean, 1e-15, "Describe: %+v: mean", st)
	// population s.d. = sample s.d. * sqrt((n-1)/n): values 0.9 0.95 0.7 0.95, mean 0.875,
	// squared deviations 0.000625 0.005625 0.030625 0.005625 (sum 0.0425)
	assert.InDelta(t, math.Sqrt(0.0425/3), st.SD, 1e-15, "SD")
	assert.InDelta(t, math.Sqrt(0.0425/4), st.PopSD, 1e-15, "PopSD")
	assert.Equal(t, "best 95.00, 87.50 ± 11.90 (n=4)", st.Format(true), "Format")
	empty := Describe([]float64{math.NaN()})
	assert.Equal(t, 0, empty.N, "all NaN: %+v: N", empty)
	assert.Equal(t, -1, empty.BestRun, "all NaN: %+v: best run", empty)
	assert.True(t, math.IsNaN(empty.Mean), "all NaN: %+v: mean, want NaN", empty)
	runs := []Summary{
		{ACCPaper: 0.9, ACCPurity: 0.8, ACCHungarian: 0.7, NMI: 0.6, ARI: 0.5},
		{ACCPaper: math.NaN(), ACCPurity: 0.9, ACCHungarian: 0.6, NMI: 0.7, ARI: 0.4},
	}
	o := OverSeeds(runs)
	assert.Equal(t, 2, o.Runs, "OverSeeds: %+v: runs", o)
	assert.Equal(t, 1, o.ACCPaper.N, "OverSeeds: %+v: ACCPaper.N", o)
	assert.Equal(t, 1, o.ACCPurity.BestRun, "OverSeeds: %+v: ACCPurity.BestRun", o)
	assert.Equal(t, 0, o.ACCHungarian.BestRun, "OverSeeds: %+v: ACCHungarian.BestRun", o)
	assert.Equal(t, 0.7, o.NMI.Best, "OverSeeds: %+v: NMI.Best", o)
	assert.Equal(t, 0.4, o.ARI.Worst, "OverSeeds: %+v: ARI.Worst", o)
	assert.Contains(t, o.String(), "ACC purity    best 90.00, 85.00 ± 7.07 (n=2)", "OverSeeds.String")
}

func ExampleEvaluate() {
	labels := []int{0, 0, 0, 1, 1, 1}
	pred := []int{0, 0, 1, 1, 2, 2}
	s, err := Evaluate(pred, labels, Ranking{}, 4)
	if err != nil {
		panic(err)
	}
	fmt.Printf("purity %.4f hungarian %.4f NMI %.4f ARI %.4f usage %v\n", s.ACCPurity, s.ACCHungarian, s.NMI, s.ARI, s.Usage)
	// Output: purity 0.8333 hungarian 0.6667 NMI 0.5158 ARI 0.2424 usage [2 2 2 0]
}
