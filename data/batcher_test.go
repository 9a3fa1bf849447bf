package data

import (
	"fmt"
	"slices"
	"testing"
)

func TestSplitMix64Reference(t *testing.T) {
	// The first outputs of splitmix64.c (Vigna) seeded with 1234567, as published with
	// the reference implementation and used by Java's SplittableRandom tests.
	g := SplitMix64{State: 1234567}
	want := []uint64{6457827717110365317, 3203168211198807973, 9817491932198370423, 4593380528125082431, 16408922859458223821}
	for i, w := range want {
		if got := g.Next(); got != w {
			t.Fatalf("output %d = %d, want %d", i, got, w)
		}
	}
}

func TestPermutationGolden(t *testing.T) {
	// Pinned: these orders are part of every run's reproducibility. If this test fails,
	// the shuffle changed and old runs no longer reproduce — do not "fix" the numbers.
	// They were also computed by an independent Python transcription of the algorithm
	// documented in batcher.go (the same four lists).
	cases := []struct {
		n     int
		seed  uint64
		epoch int
		want  string
	}{
		{10, 0, 0, "[7 3 4 1 0 2 9 8 5 6]"},
		{10, 0, 1, "[5 1 0 8 3 6 2 4 7 9]"},
		{10, 42, 0, "[1 5 0 8 3 2 9 7 4 6]"},
		{16, 1<<64 - 1, 7, "[14 12 6 4 3 7 8 5 2 9 0 1 13 15 10 11]"},
	}
	for _, c := range cases {
		if got := fmt.Sprint(Permutation(c.n, c.seed, c.epoch)); got != c.want {
			t.Errorf("Permutation(%d, %d, %d) = %s, want %s", c.n, c.seed, c.epoch, got, c.want)
		}
	}
}

func TestPermutationIsPermutation(t *testing.T) {
	for _, n := range []int{0, 1, 2, 31, 32, 33, 1000} {
		for epoch := 0; epoch < 3; epoch++ {
			p := Permutation(n, 99, epoch)
			s := slices.Clone(p)
			slices.Sort(s)
			for i, v := range s {
				if v != i {
					t.Fatalf("n=%d epoch=%d: not a permutation: %v", n, epoch, p)
				}
			}
			if !slices.Equal(p, Permutation(n, 99, epoch)) {
				t.Fatalf("n=%d epoch=%d: not deterministic", n, epoch)
			}
		}
	}
	if slices.Equal(Permutation(1000, 1, 0), Permutation(1000, 1, 1)) || slices.Equal(Permutation(1000, 1, 0), Permutation(1000, 2, 0)) {
		t.Error("different epochs or seeds gave the same order")
	}
}

func TestPermutationUniform(t *testing.T) {
	// All 24 orders of 4 elements over 24000 epochs: each expected 1000 times. Pearson's
	// chi-square with 23 degrees of freedom; 49.7 is its 0.999 quantile.
	counts := map[string]int{}
	const epochs = 24000
	for e := 0; e < epochs; e++ {
		counts[fmt.Sprint(Permutation(4, 5, e))]++
	}
	if len(counts) != 24 {
		t.Fatalf("%d distinct orders, want 24", len(counts))
	}
	chi2 := 0.0
	for _, c := range counts {
		d := float64(c) - 1000
		chi2 += d * d / 1000
	}
	if chi2 > 49.7 {
		t.Errorf("chi-square %.1f > 49.7: orders not uniform: %v", chi2, counts)
	}
}

func TestUint64nBounds(t *testing.T) {
	g := SplitMix64{State: 3}
	for _, n := range []uint64{1, 2, 3, 7, 1 << 32, 1<<63 + 1, 1<<64 - 1} {
		for i := 0; i < 1000; i++ {
			if v := g.Uint64n(n); v >= n {
				t.Fatalf("Uint64n(%d) = %d", n, v)
			}
		}
	}
}

func TestBatcher(t *testing.T) {
	cases := []struct {
		n, size  int
		dropLast bool
		batches  int
		last     int
	}{
		{10, 3, false, 4, 1},
		{10, 3, true, 3, 3},
		{9, 3, false, 3, 3},
		{9, 3, true, 3, 3},
		{2, 5, false, 1, 2},
		{2, 5, true, 0, 0},
		{0, 5, false, 0, 0},
		{1, 1, true, 1, 1},
	}
	for _, c := range cases {
		b, err := NewBatcher(c.n, c.size, 7, c.dropLast)
		if err != nil {
			t.Fatal(err)
		}
		for epoch := 0; epoch < 2; epoch++ {
			bs := b.Batches(epoch)
			if len(bs) != c.batches || b.NumBatches() != c.batches {
				t.Fatalf("%+v: %d batches (NumBatches %d), want %d", c, len(bs), b.NumBatches(), c.batches)
			}
			if c.batches > 0 && len(bs[len(bs)-1]) != c.last {
				t.Errorf("%+v: last batch has %d, want %d", c, len(bs[len(bs)-1]), c.last)
			}
			var all []int
			for _, x := range bs {
				all = append(all, x...)
			}
			order := b.Order(epoch)
			if !slices.Equal(all, order[:len(all)]) {
				t.Errorf("%+v: batches are not the epoch's order cut in pieces", c)
			}
		}
	}
	for _, bad := range [][2]int{{-1, 3}, {3, 0}} {
		if _, err := NewBatcher(bad[0], bad[1], 0, false); err == nil {
			t.Errorf("NewBatcher(%d, %d): no error", bad[0], bad[1])
		}
	}
	// Appending to a batch must not overwrite the next one.
	b, _ := NewBatcher(6, 2, 1, false)
	bs := b.Batches(0)
	next := slices.Clone(bs[1])
	_ = append(bs[0], -1)
	if !slices.Equal(bs[1], next) {
		t.Error("batches alias each other")
	}
	seq := SequentialBatches(5, 2)
	if fmt.Sprint(seq) != "[[0 1] [2 3] [4]]" {
		t.Errorf("SequentialBatches(5, 2) = %v", seq)
	}
}
