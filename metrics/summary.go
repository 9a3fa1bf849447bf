package metrics

import (
	"fmt"
	"math"
)

// Summary gathers every clustering score of one model on one labelled data set.
type Summary struct {
	N, K, C int // examples, clusters of the model, classes (1 + max label)

	ACCPaper     float64 // by Ranking.LogOdds; NaN without
	ACCPaperF32  float64 // by Ranking.Post (as the GMVAE authors' code); NaN without
	ACCPurity    float64
	ACCHungarian float64
	NMI          float64
	ARI          float64

	Usage        []int   // examples per cluster, length K
	UsedClusters int     // clusters holding at least one example
	LargestShare float64 // the largest cluster's share of the examples (1: collapsed)

	// Contingency is the (K, C) table of examples per cluster and class:
	// Contingency[k][c] examples of class c are in cluster k. It shows what the scores
	// summarise: which classes a cluster merges, which class is split over clusters.
	Contingency [][]int
}

// Ranking holds the keys by which the paper protocol (ACCPaper) picks each cluster's
// example, (N, k) row-major; either may be nil.
type Ranking struct {
	// LogOdds (LogOdds of the model's logits) gives Summary.ACCPaper: the protocol as
	// defined, each cluster labelled by its most confident example. With Gaussian
	// components that example can be an outlier far from every mean, where the widest
	// component wins by a huge margin (measured on MNIST: a "1" labelling a cluster of
	// 732 "2"s), so the two variants differ both ways.
	LogOdds []float64
	// Post (the float32 posteriors) gives Summary.ACCPaperF32: the protocol as the GMVAE
	// authors' Torch code computes it (ClusteringEvaluations.lua: a float32 softmax,
	// and the first example among those tied at the maximum, often thousands at 1).
	// Their published numbers are this one.
	Post []float32
}

// Evaluate scores pred (cluster ids in [0, k)) against labels (class ids >= 0); the
// paper protocol's two variants use r's keys and are NaN without them.
func Evaluate(pred, labels []int, r Ranking, k int) (Summary, error) {
	n, _, c, err := check(pred, labels)
	if err != nil {
		return Summary{}, err
	}
	if err := checkK(k); err != nil {
		return Summary{}, err
	}
	if err := checkTable(k, c); err != nil {
		return Summary{}, err
	}
	s := Summary{N: n, K: k, C: c, ACCPaper: math.NaN(), ACCPaperF32: math.NaN()}
	if s.Usage, err = Usage(pred, k); err != nil {
		return Summary{}, err
	}
	largest := 0
	for _, u := range s.Usage {
		if u > 0 {
			s.UsedClusters++
		}
		largest = max(largest, u)
	}
	s.LargestShare = float64(largest) / float64(n)
	s.Contingency = contingency(pred, labels, k, c)
	if r.LogOdds != nil {
		if s.ACCPaper, err = ACCPaper(pred, labels, r.LogOdds, k); err != nil {
			return Summary{}, err
		}
	}
	if r.Post != nil {
		wide := make([]float64, len(r.Post)) // exact: the same order and the same ties
		for i, v := range r.Post {
			wide[i] = float64(v)
		}
		if s.ACCPaperF32, err = ACCPaper(pred, labels, wide, k); err != nil {
			return Summary{}, err
		}
	}
	if s.ACCPurity, err = ACCPurity(pred, labels); err != nil {
		return Summary{}, err
	}
	if s.ACCHungarian, err = ACCHungarian(pred, labels); err != nil {
		return Summary{}, err
	}
	if s.NMI, err = NMI(pred, labels); err != nil {
		return Summary{}, err
	}
	if s.ARI, err = ARI(pred, labels); err != nil {
		return Summary{}, err
	}
	return s, nil
}

// String formats the summary on one line, accuracies in percent as the published
// tables give them.
func (s Summary) String() string {
	return fmt.Sprintf("N=%d K=%d C=%d ACC paper %.2f%% (float32 ties %.2f%%) purity %.2f%% hungarian %.2f%% NMI %.4f ARI %.4f; %d/%d clusters used, largest holds %.1f%%",
		s.N, s.K, s.C, 100*s.ACCPaper, 100*s.ACCPaperF32, 100*s.ACCPurity, 100*s.ACCHungarian, s.NMI, s.ARI, s.UsedClusters, s.K, 100*s.LargestShare)
}

// MeanStd returns the mean and the sample standard deviation (divisor n-1, the usual
// "mean ± s.d." over seeds) of xs; the s.d. of one value is 0, and of none both are NaN.
func MeanStd(xs []float64) (mean, sd float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	if len(xs) == 1 {
		return mean, 0
	}
	ss := 0.0
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / float64(len(xs)-1))
}

// Stat describes one score over several runs (seeds): NaN values (a score a run did
// not produce) are left out.
type Stat struct {
	N       int     // runs with a value
	Best    float64 // the largest value (every score here is "higher is better")
	BestRun int     // index in the input of the (first) best run; -1 if N = 0
	Worst   float64 // the smallest value
	Mean    float64
	SD      float64 // sample standard deviation, divisor N-1 (0 when N = 1)
	PopSD   float64 // population standard deviation, divisor N (numpy's default)
}

// Describe returns the Stat of xs (NaNs skipped).
func Describe(xs []float64) Stat {
	s := Stat{BestRun: -1, Best: math.NaN(), Worst: math.NaN()}
	var vals []float64
	for i, x := range xs {
		if math.IsNaN(x) {
			continue
		}
		vals = append(vals, x)
		if s.BestRun < 0 || x > s.Best {
			s.Best, s.BestRun = x, i
		}
		if len(vals) == 1 || x < s.Worst {
			s.Worst = x
		}
	}
	s.N = len(vals)
	s.Mean, s.SD = MeanStd(vals)
	if s.N > 0 {
		s.PopSD = s.SD * math.Sqrt(float64(s.N-1)/float64(s.N))
	} else {
		s.PopSD = math.NaN()
	}
	return s
}

// Format writes the Stat as the published tables do: "best 93.67, 86.94 ± 6.62 (n=10)"
// with values in percent (2 decimals) when percent is true, else with 4 decimals.
func (s Stat) Format(percent bool) string {
	if percent {
		return fmt.Sprintf("best %.2f, %.2f ± %.2f (n=%d)", 100*s.Best, 100*s.Mean, 100*s.SD, s.N)
	}
	return fmt.Sprintf("best %.4f, %.4f ± %.4f (n=%d)", s.Best, s.Mean, s.SD, s.N)
}

// SeedsSummary aggregates the Summaries of several runs of one configuration.
type SeedsSummary struct {
	Runs         int
	ACCPaper     Stat
	ACCPaperF32  Stat
	ACCPurity    Stat
	ACCHungarian Stat
	NMI          Stat
	ARI          Stat
}

// OverSeeds aggregates runs (one Summary per seed) into best and mean ± s.d. per score.
// Each score's best run is chosen for that score alone, as published tables do.
func OverSeeds(runs []Summary) SeedsSummary {
	get := func(f func(Summary) float64) Stat {
		xs := make([]float64, len(runs))
		for i, r := range runs {
			xs[i] = f(r)
		}
		return Describe(xs)
	}
	return SeedsSummary{
		Runs:         len(runs),
		ACCPaper:     get(func(s Summary) float64 { return s.ACCPaper }),
		ACCPaperF32:  get(func(s Summary) float64 { return s.ACCPaperF32 }),
		ACCPurity:    get(func(s Summary) float64 { return s.ACCPurity }),
		ACCHungarian: get(func(s Summary) float64 { return s.ACCHungarian }),
		NMI:          get(func(s Summary) float64 { return s.NMI }),
		ARI:          get(func(s Summary) float64 { return s.ARI }),
	}
}

// String formats the aggregate on a few lines, accuracies in percent.
func (s SeedsSummary) String() string {
	return fmt.Sprintf("%d runs\nACC paper     %s\n  float32 ties %s\nACC purity    %s\nACC hungarian %s\nNMI           %s\nARI           %s",
		s.Runs, s.ACCPaper.Format(true), s.ACCPaperF32.Format(true), s.ACCPurity.Format(true), s.ACCHungarian.Format(true), s.NMI.Format(false), s.ARI.Format(false))
}
