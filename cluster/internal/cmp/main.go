// Command cmp compares package cluster with scikit-learn (bench/cluster/sklearn_ref.py)
// and times it on MNIST-sized data. It is a benchmark, not part of the library.
//
//	/usr/bin/python3 bench/cluster/sklearn_ref.py export DIR
//	/usr/bin/python3 bench/cluster/sklearn_ref.py fit DIR 5
//	go run ./cluster/internal/cmp -dir DIR [-seeds 5] [-device cpu|emu]
//
// fits FitKMeans (Restarts 10) and FitGMM (defaults; and with full covariances) with Seed 0..seeds-1 on every
// DIR/*.csv (K = its number of classes), reads scikit-learn's labels from
// DIR/sklearn.json, and prints a markdown table of Hungarian ACC and NMI (both from
// package metrics, for both sides), the objective (k-means inertia, GMM mean
// log-likelihood per row) and the ARI between our labels and scikit-learn's, as
// mean ± s.d. over the seeds.
//
//	go run ./cluster/internal/cmp -mnist 10000
//
// times both fits on the first 10000 MNIST training images (K = 10) on the CPU
// backend: a default fit, and the time per Lloyd / EM iteration from fits of 1 and 11
// iterations.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gmvae/gmvae/cluster"
	"github.com/gmvae/gmvae/cuda/emu"
	"github.com/gmvae/gmvae/data"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/metrics"
)

func main() {
	dir := flag.String("dir", "", "folder written by sklearn_ref.py export and fit")
	seeds := flag.Int("seeds", 5, "seeds 0..seeds-1")
	device := flag.String("device", "cpu", "cpu or emu")
	mnist := flag.Int("mnist", 0, "time the fits on this many MNIST training images instead")
	dist := flag.Int("dist", 0, "print the distribution of single-run objectives over this many seeds instead")
	flag.Parse()
	var b engine.Backend = engine.NewCPU()
	if *device == "emu" {
		b = engine.NewGPU(emu.New(emu.Options{}), engine.GPUOptions{})
	}
	switch {
	case *mnist > 0:
		if err := timeMNIST(b, *mnist); err != nil {
			log.Fatal(err)
		}
	case *dir != "" && *dist > 0:
		if err := distribution(b, *dir, *dist); err != nil {
			log.Fatal(err)
		}
	case *dir != "":
		if err := compare(b, *dir, *seeds); err != nil {
			log.Fatal(err)
		}
	default:
		flag.Usage()
		os.Exit(2)
	}
}

// skRun is one scikit-learn fit as sklearn_ref.py writes it.
type skRun struct {
	Labels  []int   `json:"labels"`
	Inertia float64 `json:"inertia"`
	LogLik  float64 `json:"loglik"`
	Iters   int     `json:"iters"`
	Seconds float64 `json:"seconds"`
}

// scores collects one side's scores over seeds.
type scores struct{ acc, nmi, obj, iters, agree []float64 }

func (s *scores) add(pred, truth []int, obj float64, iters int) error {
	acc, err := metrics.ACCHungarian(pred, truth)
	if err != nil {
		return err
	}
	nmi, err := metrics.NMI(pred, truth)
	if err != nil {
		return err
	}
	s.acc, s.nmi = append(s.acc, acc), append(s.nmi, nmi)
	s.obj, s.iters = append(s.obj, obj), append(s.iters, float64(iters))
	return nil
}

func pm(xs []float64, scale float64, prec int) string {
	st := metrics.Describe(xs)
	return fmt.Sprintf("%.*f ± %.*f", prec, scale*st.Mean, prec, scale*st.SD)
}

func compare(b engine.Backend, dir string, seeds int) error {
	raw, err := os.ReadFile(filepath.Join(dir, "sklearn.json"))
	if err != nil {
		return err
	}
	var sk map[string]map[string][]skRun
	if err := json.Unmarshal(raw, &sk); err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.csv"))
	if err != nil {
		return err
	}
	sort.Strings(files)
	fmt.Printf("backend: %s; %d seeds; mean ± s.d. over seeds\n\n", b.Name(), seeds)
	fmt.Println("| data (n×d, K) | method | ACC ours | ACC sklearn | NMI ours | NMI sklearn | objective ours | objective sklearn | iters ours / sklearn | ARI(ours, sklearn) |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|")
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".csv")
		ds, err := data.LoadCSV(f, data.CSVOptions{Label: data.LabelByName("label")})
		if err != nil {
			return err
		}
		k := ds.NumClasses()
		xb, err := b.New(len(ds.X), "data")
		if err != nil {
			return err
		}
		if err := b.Upload(xb, ds.X); err != nil {
			return err
		}
		for _, method := range []string{"kmeans", "gmm", "gmm-full"} {
			runs := sk[name][method]
			if len(runs) < seeds {
				return fmt.Errorf("%s %s: sklearn.json has %d seeds, want %d", name, method, len(runs), seeds)
			}
			var ours, theirs scores
			var agree []float64
			for s := 0; s < seeds; s++ {
				var pred []int
				var obj float64
				var iters int
				if method == "kmeans" {
					km, err := cluster.FitKMeans(context.Background(), b, xb, ds.N, ds.D, cluster.KMeansConfig{K: k, Seed: uint64(s)})
					if err != nil {
						return err
					}
					pred, obj, iters = km.Labels, km.Inertia, km.Iters
					if err := theirs.add(runs[s].Labels, ds.Labels, runs[s].Inertia, runs[s].Iters); err != nil {
						return err
					}
				} else {
					cov := cluster.CovDiag
					if method == "gmm-full" {
						cov = cluster.CovFull
					}
					g, err := cluster.FitGMM(context.Background(), b, xb, ds.N, ds.D, cluster.GMMConfig{K: k, Seed: uint64(s), Covariance: cov})
					if err != nil {
						return err
					}
					if _, pred, err = g.Posteriors(b, xb, ds.N); err != nil {
						return err
					}
					obj, iters = g.LogLik, g.Iters
					if err := theirs.add(runs[s].Labels, ds.Labels, runs[s].LogLik, runs[s].Iters); err != nil {
						return err
					}
				}
				if err := ours.add(pred, ds.Labels, obj, iters); err != nil {
					return err
				}
				ari, err := metrics.ARI(pred, runs[s].Labels)
				if err != nil {
					return err
				}
				agree = append(agree, ari)
			}
			objPrec := 4
			fmt.Printf("| %s (%d×%d, %d) | %s | %s | %s | %s | %s | %s | %s | %.1f / %.1f | %s |\n",
				name, ds.N, ds.D, k, method, pm(ours.acc, 100, 1), pm(theirs.acc, 100, 1),
				pm(ours.nmi, 100, 1), pm(theirs.nmi, 100, 1), pm(ours.obj, 1, objPrec), pm(theirs.obj, 1, objPrec),
				metrics.Describe(ours.iters).Mean, metrics.Describe(theirs.iters).Mean, pm(agree, 1, 3))
		}
		if err := b.Release(xb); err != nil {
			return err
		}
	}
	return nil
}

// distribution prints, for every DIR/*.csv, how often single runs (k-means with
// Restarts 1, the GMM's default) over seeds 0..seeds-1 end at each objective value
// (inertia, mean log-likelihood; rounded as sklearn_ref.py dist rounds them).
func distribution(b engine.Backend, dir string, seeds int) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.csv"))
	if err != nil {
		return err
	}
	sort.Strings(files)
	for _, f := range files {
		ds, err := data.LoadCSV(f, data.CSVOptions{Label: data.LabelByName("label")})
		if err != nil {
			return err
		}
		k := ds.NumClasses()
		xb, err := b.New(len(ds.X), "data")
		if err != nil {
			return err
		}
		if err := b.Upload(xb, ds.X); err != nil {
			return err
		}
		km, gm := map[string]int{}, map[string]int{}
		for s := 0; s < seeds; s++ {
			r, err := cluster.FitKMeans(context.Background(), b, xb, ds.N, ds.D, cluster.KMeansConfig{K: k, Restarts: 1, Seed: uint64(s)})
			if err != nil {
				return err
			}
			km[fmt.Sprintf("%.2f", r.Inertia)]++
			g, err := cluster.FitGMM(context.Background(), b, xb, ds.N, ds.D, cluster.GMMConfig{K: k, Seed: uint64(s)})
			if err != nil {
				return err
			}
			gm[fmt.Sprintf("%.3f", g.History[len(g.History)-1])]++
		}
		fmt.Printf("%s: k-means Restarts 1 inertias %s\n", filepath.Base(f), hist(km))
		fmt.Printf("%s: GMM log-likelihoods (last E-step) %s\n", filepath.Base(f), hist(gm))
		if err := b.Release(xb); err != nil {
			return err
		}
	}
	return nil
}

// hist formats value counts in increasing numeric order.
func hist(m map[string]int) string {
	type vc struct {
		v float64
		s string
		c int
	}
	var l []vc
	for s, c := range m {
		var v float64
		fmt.Sscan(s, &v)
		l = append(l, vc{v, s, c})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].v < l[j].v })
	var parts []string
	for _, x := range l {
		parts = append(parts, fmt.Sprintf("%s×%d", x.s, x.c))
	}
	return strings.Join(parts, " ")
}

func timeMNIST(b engine.Backend, n int) error {
	train, _, err := data.LoadMNIST("")
	if err != nil {
		return err
	}
	n = min(n, train.N)
	d := train.D
	xb, err := b.New(n*d, "mnist")
	if err != nil {
		return err
	}
	if err := b.Upload(xb, train.X[:n*d]); err != nil {
		return err
	}
	ctx := context.Background()
	fmt.Printf("MNIST %d×%d, K = 10, backend %s\n", n, d, b.Name())
	timeIt := func(what string, f func() error) (time.Duration, error) {
		t0 := time.Now()
		err := f()
		dt := time.Since(t0)
		fmt.Printf("  %-46s %8.2f s\n", what, dt.Seconds())
		return dt, err
	}
	var km *cluster.KMeans
	if _, err := timeIt("FitKMeans default (Restarts 10)", func() (err error) {
		km, err = cluster.FitKMeans(ctx, b, xb, n, d, cluster.KMeansConfig{K: 10})
		return err
	}); err != nil {
		return err
	}
	fmt.Printf("    kept restart %d, %d iterations, inertia %.6g; inertias %.6g\n", km.Restart, km.Iters, km.Inertia, km.Inertias)
	kmN := func(iters int) func() error {
		return func() error {
			_, err := cluster.FitKMeans(ctx, b, xb, n, d, cluster.KMeansConfig{K: 10, Restarts: 1, MaxIter: iters, Tol: 1e-300})
			return err
		}
	}
	t1, err := timeIt("FitKMeans Restarts 1, 1 iteration", kmN(1))
	if err != nil {
		return err
	}
	t11, err := timeIt("FitKMeans Restarts 1, 11 iterations", kmN(11))
	if err != nil {
		return err
	}
	fmt.Printf("  => %.1f ms per Lloyd iteration (seeding + stats + 1 iteration: %.2f s)\n", (t11-t1).Seconds()/10*1e3, t1.Seconds())
	var g *cluster.GMM
	if _, err := timeIt("FitGMM default", func() (err error) {
		g, err = cluster.FitGMM(ctx, b, xb, n, d, cluster.GMMConfig{K: 10})
		return err
	}); err != nil {
		return err
	}
	fmt.Printf("    %d iterations, converged %v, mean log-likelihood %.6g\n", g.Iters, g.Converged, g.LogLik)
	gmN := func(iters int) func() error {
		return func() error {
			_, err := cluster.FitGMM(ctx, b, xb, n, d, cluster.GMMConfig{K: 10, MaxIter: iters, Tol: 1e-300})
			return err
		}
	}
	t1, err = timeIt("FitGMM 1 EM iteration", gmN(1))
	if err != nil {
		return err
	}
	t11, err = timeIt("FitGMM 11 EM iterations", gmN(11))
	if err != nil {
		return err
	}
	fmt.Printf("  => %.1f ms per EM iteration (k-means init + 1 iteration: %.2f s)\n", (t11-t1).Seconds()/10*1e3, t1.Seconds())
	return b.Release(xb)
}
