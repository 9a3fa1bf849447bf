package predict_test

import (
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"gorgonia.org/tensor"

	"github.com/gmvae/gmvae/checkpoint"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/gmvae"
	"github.com/gmvae/gmvae/predict"
)

// ExamplePredictor_Predict loads a checkpoint and assigns a batch of new observations
// to clusters. The checkpoint here is written on the spot from a freshly initialised
// tiny model; a real one comes from Train (runs/<name>/checkpoint.safetensors).
func ExamplePredictor_Predict() {
	dir, err := os.MkdirTemp("", "gmvae-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, checkpoint.File)
	if err := writeExampleCheckpoint(path); err != nil {
		log.Fatal(err)
	}

	b := engine.NewCPU() // or engine.OpenBackend("auto")
	p, err := predict.Load(b, path)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	// Three observations of D = 4 values in [0, 1], as a (3, 4) float32 tensor.
	x := tensor.New(tensor.WithShape(3, 4), tensor.WithBacking([]float32{
		0.9, 0.8, 0.1, 0.0,
		0.0, 0.1, 0.9, 1.0,
		0.5, 0.5, 0.5, 0.5,
	}))
	clusters, posteriors, latent, err := p.Predict(x)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("clusters:", clusters.Shape(), clusters.Data())
	fmt.Println("posteriors:", posteriors.Shape(), posteriors.Dtype())
	fmt.Println("latent means:", latent.Shape(), latent.Dtype())
	row0, _ := posteriors.Slice(tensor.S(0))
	sum := float32(0)
	for _, v := range row0.Data().([]float32) {
		sum += v
	}
	fmt.Printf("row 0 posterior sums to %.4f\n", sum)
	// Output:
	// clusters: (3) [0 2 2]
	// posteriors: (3, 3) float32
	// latent means: (3, 2) float32
	// row 0 posterior sums to 1.0000
}

// writeExampleCheckpoint saves a freshly initialised tiny model (D=4, K=3, Dz=2) as a
// checkpoint at path.
func writeExampleCheckpoint(path string) error {
	b := engine.NewCPU()
	m, err := gmvae.New(b, gmvae.Config{Model: "shu", D: 4, K: 3, Dz: 2, Hidden: []int{8}, MaxBatch: 2, Seed: 1})
	if err != nil {
		return err
	}
	defer m.Release()
	names, sizes := m.Params().Layout()
	n := m.Params().Len()
	mc, err := json.Marshal(m.Config())
	if err != nil {
		return err
	}
	ck := &checkpoint.Checkpoint{Model: mc, Train: json.RawMessage(`{}`), Names: names, Sizes: sizes,
		P: make([]float32, n), M: make([]float32, n), V: make([]float32, n)}
	ck.State.WorldSize = 1
	if err := b.Download(ck.P, m.Params().P); err != nil {
		return err
	}
	return checkpoint.Save(path, ck)
}
