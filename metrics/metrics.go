// Package metrics scores a clustering of a labelled data set (GMVAE.md, "Measuring
// clustering quality").
//
// Inputs are predicted cluster ids pred[i] in [0, K) and true class ids labels[i] in
// [0, C) for the same N examples (N >= 1; unlabelled examples must be filtered out
// first). K and C are independent: K > C, K < C, empty clusters and unused classes are
// all allowed. Every function is pure and deterministic.
//
//   - ACCPaper: the Makhzani/AAE protocol the GMVAE paper uses — each cluster takes the
//     label of the example with the highest posterior for it (needs a ranking key per
//     example and cluster: LogOdds of the model's logits, which float32 rounding cannot
//     tie);
//   - ACCPurity: each cluster takes its most frequent label (Rui Shu's protocol);
//   - ACCHungarian: a one-to-one matching of clusters to classes maximising agreement
//     (Kuhn–Munkres, written here), unmatched clusters counting wrong (VaDE and later);
//   - NMI with arithmetic-mean normalisation and ARI, equal to scikit-learn's
//     normalized_mutual_info_score and adjusted_rand_score, special cases included;
//   - Usage: how many examples each cluster holds;
//   - Evaluate gathers them in a Summary; Describe and OverSeeds aggregate runs as
//     "best, and mean ± s.d. over seeds".
//
// Accuracies are fractions in [0, 1].
package metrics

import (
	"errors"
	"fmt"
	"math"
	"math/big"
)

// ErrEmpty is returned for N = 0: no score is defined on no examples.
var ErrEmpty = errors.New("metrics: no examples (N = 0)")

// Bounds on what the scores tabulate. The cluster × class table (Contingency, and
// Summary.Contingency, which run summaries store whole) is dense: its size is set by
// the largest cluster id and the largest label, not by how many distinct ones occur,
// so one stray label of 10^8 made a table of 10^9 cells. Every entry point refuses
// ids and tables beyond these bounds with an error instead of allocating them.
const (
	// MaxClasses bounds class ids: labels must lie in [0, MaxClasses). It is the
	// data readers' bound (data.MaxClasses), so whatever data loads can be scored.
	MaxClasses = 1 << 16
	// MaxClusters bounds cluster ids and the number of clusters K.
	MaxClusters = 1 << 16
	// MaxTableCells bounds K × C, the cells of the cluster × class table
	// (16.8 M cells: 134 MB of ints, as many again as float64 for ACCHungarian).
	MaxTableCells = 1 << 24
)

// checkK checks a number of clusters given by the caller.
func checkK(k int) error {
	if k < 1 || k > MaxClusters {
		return fmt.Errorf("metrics: %d clusters, expected 1..%d", k, MaxClusters)
	}
	return nil
}

// checkTable checks that a k × c cluster × class table is within MaxTableCells.
func checkTable(k, c int) error {
	if int64(k)*int64(c) > MaxTableCells {
		return fmt.Errorf("metrics: a cluster × class table of %d × %d = %d cells (K = 1 + the largest cluster id, C = 1 + the largest label), expected at most %d: renumber the classes 0..C-1",
			k, c, int64(k)*int64(c), MaxTableCells)
	}
	return nil
}

// check validates pred and labels and returns N, the number of cluster ids used
// (1 + max pred) and of classes (1 + max label). Cluster ids must lie in
// [0, MaxClusters), labels in [0, MaxClasses), and the table they span within
// MaxTableCells.
func check(pred, labels []int) (n, k, c int, err error) {
	if len(pred) != len(labels) {
		return 0, 0, 0, fmt.Errorf("metrics: %d predictions for %d labels", len(pred), len(labels))
	}
	if len(pred) == 0 {
		return 0, 0, 0, ErrEmpty
	}
	for i := range pred {
		if pred[i] < 0 || pred[i] >= MaxClusters {
			return 0, 0, 0, fmt.Errorf("metrics: example %d: cluster id %d, expected 0..%d", i, pred[i], MaxClusters-1)
		}
		if labels[i] < 0 {
			return 0, 0, 0, fmt.Errorf("metrics: example %d: label %d, expected >= 0 (filter unlabelled examples out first)", i, labels[i])
		}
		if labels[i] >= MaxClasses {
			return 0, 0, 0, fmt.Errorf("metrics: example %d: label %d, expected a class id in [0, %d)", i, labels[i], MaxClasses)
		}
		k = max(k, pred[i]+1)
		c = max(c, labels[i]+1)
	}
	if err := checkTable(k, c); err != nil {
		return 0, 0, 0, err
	}
	return len(pred), k, c, nil
}

// Contingency returns the (K, C) table t[k][c] = number of examples in cluster k with
// label c, where K = 1 + max pred and C = 1 + max label.
func Contingency(pred, labels []int) ([][]int, error) {
	_, k, c, err := check(pred, labels)
	if err != nil {
		return nil, err
	}
	return contingency(pred, labels, k, c), nil
}

func contingency(pred, labels []int, k, c int) [][]int {
	cells := make([]int, k*c)
	t := make([][]int, k)
	for i := range t {
		t[i] = cells[i*c : (i+1)*c : (i+1)*c]
	}
	for i := range pred {
		t[pred[i]][labels[i]]++
	}
	return t
}

// Usage returns how many examples each of the k clusters holds (1 <= k <=
// MaxClusters). Every pred must be in [0, k). N = 0 gives k zeros (no error: usage of nothing is well defined).
func Usage(pred []int, k int) ([]int, error) {
	if err := checkK(k); err != nil {
		return nil, err
	}
	u := make([]int, k)
	for i, p := range pred {
		if p < 0 || p >= k {
			return nil, fmt.Errorf("metrics: example %d: cluster id %d, expected 0..%d", i, p, k-1)
		}
		u[p]++
	}
	return u, nil
}

// accuracy returns the fraction of examples whose cluster maps to their label;
// mapping[k] = -1 maps cluster k to no label.
func accuracy(pred, labels, mapping []int) float64 {
	hit := 0
	for i, p := range pred {
		if mapping[p] == labels[i] {
			hit++
		}
	}
	return float64(hit) / float64(len(pred))
}

// PaperMapping returns, for each of the k clusters, the label of the example with the
// highest posterior for that cluster (the lowest index among exact ties). score is the
// (N, k) row-major ranking key: any strictly increasing function of the posterior
// q(y=j|x_i), compared per cluster across examples; it must not be NaN.
//
// Use LogOdds of the model's logits, not the float32 posteriors themselves: a
// posterior rounds to exactly 1 once the other clusters' mass falls below 2^-24 (about
// 17 nats of margin), and trained models put thousands of test examples there (measured
// on MNIST: up to 1,081 examples of one cluster). The "highest" example among those is
// then the first in the file, not the most confident one.
func PaperMapping(labels []int, score []float64, k int) ([]int, error) {
	n := len(labels)
	if n == 0 {
		return nil, ErrEmpty
	}
	if err := checkK(k); err != nil {
		return nil, err
	}
	if len(score) != n*k {
		return nil, fmt.Errorf("metrics: posterior has %d values, expected N*K = %d*%d = %d", len(score), n, k, n*k)
	}
	best := make([]int, k) // argmax over examples, per cluster
	for i := 0; i < n; i++ {
		if labels[i] < 0 {
			return nil, fmt.Errorf("metrics: example %d: label %d, expected >= 0 (filter unlabelled examples out first)", i, labels[i])
		}
		row := score[i*k : (i+1)*k]
		for j, v := range row {
			if v != v {
				return nil, fmt.Errorf("metrics: posterior of example %d, cluster %d is NaN", i, j)
			}
			if v > score[best[j]*k+j] {
				best[j] = i
			}
		}
	}
	m := make([]int, k)
	for j := range m {
		m[j] = labels[best[j]]
	}
	return m, nil
}

// LogOdds returns the (N, k) log-odds of the posterior q = softmax(row) of each row of
// the (N, k) row-major logits (unnormalised log-posteriors):
//
//	r_ij = log(q_ij / (1 - q_ij)) = logits_ij - logsumexp_{l != j} logits_il,
//
// in float64. It is a strictly increasing function of q_ij that keeps its order where
// the float32 posterior has rounded to 1 or 0, so it is the ranking key PaperMapping
// wants. Special values: with k = 1, or where every other logit of the row is -Inf,
// r_ij = +Inf (q_ij = 1 exactly); a row with a NaN or +Inf logit, or only -Inf
// logits, has no posterior and is an error naming the example. The result depends on
// the logits alone (host arithmetic, the same on every backend).
func LogOdds(logits []float32, k int) ([]float64, error) {
	if k < 1 {
		return nil, fmt.Errorf("metrics: %d clusters, expected >= 1", k)
	}
	if len(logits)%k != 0 {
		return nil, fmt.Errorf("metrics: %d logits is not a whole number of rows of K = %d", len(logits), k)
	}
	n := len(logits) / k
	out := make([]float64, len(logits))
	for i := 0; i < n; i++ {
		row := logits[i*k : (i+1)*k]
		top := math.Inf(-1)
		for j, v := range row {
			if v != v || math.IsInf(float64(v), 1) {
				return nil, fmt.Errorf("metrics: logit of example %d, cluster %d is %v, expected a finite value or -Inf", i, j, v)
			}
			top = max(top, float64(v))
		}
		if math.IsInf(top, -1) {
			return nil, fmt.Errorf("metrics: every logit of example %d is -Inf (no posterior)", i)
		}
		for j := range row {
			// logsumexp over l != j, shifted by the largest of those logits.
			m := math.Inf(-1)
			for l, v := range row {
				if l != j {
					m = max(m, float64(v))
				}
			}
			if math.IsInf(m, -1) {
				out[i*k+j] = math.Inf(1)
				continue
			}
			sum := 0.0
			for l, v := range row {
				if l != j {
					sum += math.Exp(float64(v) - m)
				}
			}
			out[i*k+j] = float64(row[j]) - m - math.Log(sum)
		}
	}
	return out, nil
}

// ACCPaper is the GMVAE paper's accuracy (the AAE protocol): each cluster gives the
// label PaperMapping finds to all its examples; the score is the fraction labelled
// right. score is PaperMapping's ranking key (LogOdds of the logits). pred is usually
// the argmax of the posterior's rows (Argmax), but need not be. It is many-to-one and
// rises with K.
func ACCPaper(pred, labels []int, score []float64, k int) (float64, error) {
	if _, _, _, err := check(pred, labels); err != nil {
		return 0, err
	}
	m, err := PaperMapping(labels, score, k)
	if err != nil {
		return 0, err
	}
	for i, p := range pred {
		if p >= k {
			return 0, fmt.Errorf("metrics: example %d: cluster id %d, expected 0..%d", i, p, k-1)
		}
	}
	return accuracy(pred, labels, m), nil
}

// Argmax returns each row's index of the largest value of the (N, k) matrix post (the
// lowest index among ties; NaN is never the largest unless the whole row is NaN, then 0).
// It returns nil for k < 1.
func Argmax(post []float32, k int) []int {
	if k < 1 {
		return nil
	}
	n := len(post) / k
	out := make([]int, n)
	for i := range out {
		row := post[i*k : (i+1)*k]
		b := 0
		for j := 1; j < k; j++ {
			if row[j] > row[b] || (row[b] != row[b] && row[j] == row[j]) {
				b = j
			}
		}
		out[i] = b
	}
	return out
}

// PurityMapping returns, for each cluster 0..max(pred), its most frequent label (the
// smallest among ties; -1 for an empty cluster).
func PurityMapping(pred, labels []int) ([]int, error) {
	_, k, c, err := check(pred, labels)
	if err != nil {
		return nil, err
	}
	t := contingency(pred, labels, k, c)
	m := make([]int, k)
	for j, row := range t {
		m[j] = -1
		best := 0
		for l, v := range row {
			if v > best {
				best, m[j] = v, l
			}
		}
	}
	return m, nil
}

// ACCPurity is the accuracy when each cluster takes its most frequent label (cluster
// purity): sum over clusters of max_c t[k][c], over N. Many-to-one.
func ACCPurity(pred, labels []int) (float64, error) {
	m, err := PurityMapping(pred, labels)
	if err != nil {
		return 0, err
	}
	return accuracy(pred, labels, m), nil
}

// HungarianMapping returns the one-to-one matching of clusters 0..max(pred) to labels
// that maximises the number of examples whose cluster matches their label; a cluster
// left without a label (K > C) maps to -1.
func HungarianMapping(pred, labels []int) ([]int, error) {
	_, k, c, err := check(pred, labels)
	if err != nil {
		return nil, err
	}
	t := contingency(pred, labels, k, c)
	w := make([][]float64, k)
	for i, row := range t {
		w[i] = make([]float64, c)
		for j, v := range row {
			w[i][j] = float64(v)
		}
	}
	m, _, err := MaxWeightMatching(w) // counts: finite and rectangular, no error
	return m, err
}

// ACCHungarian is the accuracy under HungarianMapping: one-to-one, clusters left
// unmatched count wrong.
func ACCHungarian(pred, labels []int) (float64, error) {
	m, err := HungarianMapping(pred, labels)
	if err != nil {
		return 0, err
	}
	return accuracy(pred, labels, m), nil
}

// entropy is scikit-learn's entropy of a labelling given its class sizes (zeros
// skipped): -sum (n_i/N) (log n_i - log N), and 0 for a single class.
func entropy(sizes []int) float64 {
	var nz []float64
	sum := 0.0
	for _, s := range sizes {
		if s > 0 {
			nz = append(nz, float64(s))
			sum += float64(s)
		}
	}
	if len(nz) <= 1 {
		return 0
	}
	h := 0.0
	for _, p := range nz {
		h -= (p / sum) * (math.Log(p) - math.Log(sum))
	}
	return h
}

// NMI is the normalised mutual information with the arithmetic-mean normaliser,
// MI(pred, labels) / ((H(pred) + H(labels)) / 2), natural logs, computed as
// scikit-learn's normalized_mutual_info_score (version 1.2) does: 1 when both
// labellings have one distinct value each, 0 when the mutual information is 0. It is
// symmetric in its arguments and invariant to renaming clusters or classes.
func NMI(pred, labels []int) (float64, error) {
	n, k, c, err := check(pred, labels)
	if err != nil {
		return 0, err
	}
	t := contingency(pred, labels, k, c)
	rows, cols := margins(t, k, c)
	nr, nc := countNonzero(rows), countNonzero(cols)
	if nr == 1 && nc == 1 {
		return 1, nil
	}
	if nr == 1 || nc == 1 {
		return 0, nil // one labelling has a single value: MI = 0
	}
	// sklearn's mutual_info_score over the nonzero cells, with its tiny-term rule.
	N := float64(n)
	logN := math.Log(N)
	mi := 0.0
	for i := range t {
		for j, v := range t[i] {
			if v == 0 {
				continue
			}
			p := float64(v) / N
			outer := float64(int64(rows[i]) * int64(cols[j]))
			term := p*(math.Log(float64(v))-logN) + p*(-math.Log(outer)+logN+logN)
			if math.Abs(term) < 0x1p-52 {
				term = 0
			}
			mi += term
		}
	}
	if mi <= 0 {
		return 0, nil
	}
	hp, hl := entropy(rows), entropy(cols)
	return mi / ((hp + hl) / 2), nil
}

// ARI is the adjusted Rand index (Hubert and Arabie), computed as scikit-learn's
// adjusted_rand_score (version 1.2) does, from the pair confusion matrix in exact
// integers: 2 (tp tn - fn fp) / ((tp + fn)(fn + tn) + (tp + fp)(fp + tn)), and 1 when
// fn = fp = 0 (the two labellings agree on every pair, including both trivial). It is
// 1 for identical partitions, about 0 for random ones, and may be negative.
func ARI(pred, labels []int) (float64, error) {
	n, k, c, err := check(pred, labels)
	if err != nil {
		return 0, err
	}
	t := contingency(pred, labels, k, c)
	rows, cols := margins(t, k, c)
	// pair_confusion_matrix with labels as "true" (rows of sklearn's table) and pred as
	// clusters: counts of ordered pairs.
	var sumSq, sumRow, sumCol int64
	for i := range t {
		for j, v := range t[i] {
			sumSq += int64(v) * int64(v)
			sumRow += int64(v) * int64(rows[i])
			sumCol += int64(v) * int64(cols[j])
		}
	}
	N := int64(n)
	tp := sumSq - N
	fp := sumRow - sumSq // same cluster, different class
	fn := sumCol - sumSq // same class, different cluster
	tn := N*N - fp - fn - sumSq
	if fn == 0 && fp == 0 {
		return 1, nil
	}
	b := func(x int64) *big.Int { return big.NewInt(x) }
	num := new(big.Int).Sub(new(big.Int).Mul(b(tp), b(tn)), new(big.Int).Mul(b(fn), b(fp)))
	num.Mul(num, b(2))
	den := new(big.Int).Add(
		new(big.Int).Mul(b(tp+fn), b(fn+tn)),
		new(big.Int).Mul(b(tp+fp), b(fp+tn)))
	r, _ := new(big.Rat).SetFrac(num, den).Float64()
	return r, nil
}

func margins(t [][]int, k, c int) (rows, cols []int) {
	rows, cols = make([]int, k), make([]int, c)
	for i := range t {
		for j, v := range t[i] {
			rows[i] += v
			cols[j] += v
		}
	}
	return rows, cols
}

func countNonzero(x []int) int {
	n := 0
	for _, v := range x {
		if v != 0 {
			n++
		}
	}
	return n
}
