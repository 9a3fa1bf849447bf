//go:build mpi

package trainer_test

// The MPI tests of the models and the trainer. ci/mpi-test.sh runs this test binary
// (built with -tags mpi) under `mpirun -np 2` and `-np 4` with -test.run MPIModels;
// started without a launcher, every test runs on one process (no MPI_Init).

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/gmvae/gmvae/checkpoint"
	"github.com/gmvae/gmvae/dist"
	"github.com/gmvae/gmvae/trainer"
)

// world is the job's communicator (dist.Open: MPI under a launcher, else one process).
var world dist.Comm

func TestMain(m *testing.M) {
	c, l, err := dist.Open()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	world = c
	if c.Rank() == 0 {
		fmt.Printf("gmvae: launch: %s; %s\n", l, c)
	}
	code := m.Run()
	// Every rank learns whether any rank failed, so that all exit alike.
	fails := []int64{int64(code)}
	if err := c.AllReduceSum(fails); err != nil {
		fmt.Fprintln(os.Stderr, err)
		c.Abort(3)
	}
	if err := c.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	if fails[0] != 0 {
		code = 1
	}
	os.Exit(code)
}

// mpiFail stops the whole job: a rank returning from a test while the others wait in
// a collective would hang them.
func mpiFail(err error) {
	fmt.Fprintf(os.Stderr, "rank %d of %d: %v\n", world.Rank(), world.Size(), err)
	world.Abort(1)
}

// TestMPIModels: models A and B trained on the MPI world with the recipe of
// docs/distributed.md end bit-equal to one process running the ranks' shards as
// micro-batches (computed by every rank on its own).
func TestMPIModels(t *testing.T) {
	c := world
	for _, name := range []string{"dilokthanakul", "shu"} {
		got, err := trainModel(c, name, 1)
		if err != nil {
			mpiFail(err)
		}
		ref, err := trainModel(dist.Single(), name, c.Size())
		if err != nil {
			mpiFail(err)
		}
		for i := range ref {
			if math.Float32bits(got[i]) != math.Float32bits(ref[i]) {
				mpiFail(fmt.Errorf("%s: parameter %d: %d MPI ranks %g, one process with %d micro-batches %g", name, i, c.Size(), got[i], c.Size(), ref[i]))
			}
		}
		if c.Rank() == 0 {
			t.Logf("%s on %d MPI ranks: bit-equal to one process with %d micro-batches", name, c.Size(), c.Size())
		}
	}
}

// bcastString sends rank 0's s to every rank.
func bcastString(c dist.Comm, s string) (string, error) {
	n := []int64{int64(len(s))}
	if err := c.Bcast(n, 0); err != nil {
		return "", err
	}
	b := make([]int64, n[0])
	for i := range b {
		if c.Rank() == 0 {
			b[i] = int64(s[i])
		}
	}
	if err := c.Bcast(b, 0); err != nil {
		return "", err
	}
	out := make([]byte, len(b))
	for i, v := range b {
		out[i] = byte(v)
	}
	return string(out), nil
}

// TestMPIModelsTrain: trainer.Train of models A and B on the MPI world (P ranks) gives,
// on every rank, the same parameters and results as the same Train on P in-process
// ranks (dist.NewLocalWorld, run by every MPI rank on its own); only rank 0 writes the
// run folder, whose checkpoint records P.
func TestMPIModelsTrain(t *testing.T) {
	c := world
	p := c.Size()
	for _, name := range []string{"dilokthanakul", "shu"} {
		dir := ""
		if c.Rank() == 0 {
			var err error
			if dir, err = os.MkdirTemp("", "gmvae-mpi-train-"); err != nil {
				mpiFail(err)
			}
			defer os.RemoveAll(dir)
		}
		dir, err := bcastString(c, dir)
		if err != nil {
			mpiFail(err)
		}
		got, res, err := trainDataParallel(c, name, dir)
		if err != nil {
			mpiFail(fmt.Errorf("%s: %w", name, err))
		}
		// The reference: P goroutine ranks in this process.
		ws := dist.NewLocalWorld(p)
		refs := make([][]float32, p)
		errs := make([]error, p)
		var wg sync.WaitGroup
		for r := range ws {
			wg.Add(1)
			go func(r int) {
				defer wg.Done()
				refs[r], _, errs[r] = trainDataParallel(ws[r], name, "")
			}(r)
		}
		wg.Wait()
		for r, err := range errs {
			if err != nil {
				mpiFail(fmt.Errorf("%s: local world rank %d: %w", name, r, err))
			}
		}
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(refs[c.Rank()][i]) {
				mpiFail(fmt.Errorf("%s: parameter %d: MPI rank %d of %d has %g, the in-process world %g", name, i, c.Rank(), p, got[i], refs[c.Rank()][i]))
			}
		}
		if res.WorldSize != p {
			mpiFail(fmt.Errorf("%s: result world size %d, want %d", name, res.WorldSize, p))
		}
		if err := c.Barrier(); err != nil {
			mpiFail(err)
		}
		if c.Rank() == 0 {
			es, err := os.ReadDir(dir)
			if err != nil {
				mpiFail(err)
			}
			var names []string
			for _, e := range es {
				names = append(names, e.Name())
			}
			sort.Strings(names)
			if want := []string{checkpoint.File, checkpoint.TimingFile, trainer.ConfigFile, trainer.MetricsFile, trainer.SummaryFile}; strings.Join(names, " ") != strings.Join(want, " ") {
				mpiFail(fmt.Errorf("%s: run folder holds %v, want %v", name, names, want))
			}
			ck, err := checkpoint.Load(filepath.Join(dir, checkpoint.File))
			if err != nil {
				mpiFail(err)
			}
			if ck.State.WorldSize != p {
				mpiFail(fmt.Errorf("%s: checkpoint world size %d, want %d", name, ck.State.WorldSize, p))
			}
			t.Logf("%s: Train on %d MPI ranks: bit-equal to %d in-process ranks, every rank; final test ELBO %.4f",
				name, p, p, float64(res.Final.Test.ELBO))
		}
		if err := c.Barrier(); err != nil {
			mpiFail(err)
		}
	}
}
