package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/checkpoint"
	"github.com/gmvae/gmvae/trainer"
)

// epochRecord is the part of a metrics.jsonl line the end-to-end tests read.
type epochRecord struct {
	Epoch int `json:"epoch"`
	Train struct {
		Loss float64 `json:"loss"`
	} `json:"train"`
	Test struct {
		ELBO float64 `json:"elbo"`
	} `json:"test"`
	UsedClusters int `json:"used_clusters"`
}

// readMetrics returns the epoch records of a run folder's metrics.jsonl.
func readMetrics(t *testing.T, dir string) []epochRecord {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, trainer.MetricsFile))
	require.NoError(t, err)
	defer f.Close()
	var recs []epochRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r epochRecord
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r), trainer.MetricsFile)
		recs = append(recs, r)
	}
	require.NoError(t, sc.Err())
	return recs
}

// TestMNISTTrainingImproves trains each model for a few hundred steps on an MNIST
// subset (small networks: model A 300 steps on 5,000 images, model B 600 steps on
// 10,000) with the train command and checks that learning happens: the
// held-out ELBO rises from the first epoch to the last by a clear margin, the
// training loss falls, and the examples spread over several clusters (model B's
// single-cluster collapse at initialisation, fixed in shu.go, is the regression
// this guards against). MNIST ships with a module this package imports, so the test
// does not skip.
func TestMNISTTrainingImproves(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for hundreds of steps per model")
	}
	for _, tc := range []struct {
		model      string
		args       []string
		minGain    float64 // nats of test ELBO gained from epoch 1 to epoch 3
		minCluster int     // clusters used on the held-out set at the end
	}{
		{"dilokthanakul", []string{"-subset", "5000", "-hidden", "64", "-lr", "1e-3"}, 5, 3},
		{"shu", []string{"-subset", "10000", "-hidden", "256"}, 5, 5},
	} {
		t.Run(tc.model, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			args := append([]string{"-model", tc.model, "-test-subset", "1000",
				"-epochs", "3", "-batch", "50", "-dz", "16", "-dw", "8",
				"-device", "cpu", "-no-pictures", "-out", out}, tc.args...)
			code, stdout, stderr := runCmd(t, args...)
			require.Equal(t, 0, code, "exit code\n%s\n%s", stdout, stderr)
			recs := readMetrics(t, out)
			require.Len(t, recs, 3, "metrics records, want one per epoch")
			first, last := recs[0], recs[2]
			for _, r := range recs {
				t.Logf("epoch %d: train loss %.3f, test ELBO %.3f, %d clusters used", r.Epoch, r.Train.Loss, r.Test.ELBO, r.UsedClusters)
				require.False(t, math.IsNaN(r.Test.ELBO) || math.IsInf(r.Test.ELBO, 0), "epoch %d: test ELBO %v", r.Epoch, r.Test.ELBO)
			}
			assert.GreaterOrEqual(t, last.Test.ELBO-first.Test.ELBO, tc.minGain, "test ELBO went from %.3f to %.3f: gain in nats", first.Test.ELBO, last.Test.ELBO)
			assert.Less(t, last.Train.Loss, first.Train.Loss, "training loss went from %.3f to %.3f, want it to fall", first.Train.Loss, last.Train.Loss)
			assert.GreaterOrEqual(t, last.UsedClusters, tc.minCluster, "clusters used at the end")
		})
	}
}

// TestCheckpointBitsCPUAndEmulator trains each model for a few steps on MNIST with
// the train command on the CPU backend and on the PTX emulator (the shipped kernels,
// as a GPU runs them), and requires the two checkpoints to be the same bytes: the
// parameters, Adam's moments and the run's state.
func TestCheckpointBitsCPUAndEmulator(t *testing.T) {
	for _, model := range []string{"dilokthanakul", "shu"} {
		t.Run(model, func(t *testing.T) {
			var ref []byte
			for _, dev := range []string{"cpu", "emu"} {
				out := filepath.Join(t.TempDir(), dev)
				code, stdout, stderr := runCmd(t, "-model", model, "-device", dev, "-subset", "48", "-test-subset", "16",
					"-batch", "16", "-max-steps", "3", "-epochs", "1", "-hidden", "16", "-dz", "4", "-dw", "3",
					"-seed", strconv.Itoa(7), "-no-pictures", "-out", out)
				require.Equal(t, 0, code, "%s: exit code\n%s\n%s", dev, stdout, stderr)
				ck, err := os.ReadFile(filepath.Join(out, checkpoint.File))
				require.NoError(t, err)
				if ref == nil {
					ref = ck
					continue
				}
				if !bytes.Equal(ck, ref) {
					i := 0
					for i < len(ck) && i < len(ref) && ck[i] == ref[i] {
						i++
					}
					assert.Failf(t, "checkpoints differ", "%s: checkpoint (%d bytes) differs from the cpu run's (%d bytes) at byte %d", dev, len(ck), len(ref), i)
				}
			}
		})
	}
}
