package main

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/gmvae/gmvae/data"
	"github.com/gmvae/gmvae/internal/cli"
)

// isShardDir reports whether path is a folder holding a shard set's manifest.json
// (what cmd/convert writes): -train and -test accept one.
func isShardDir(path string) bool {
	st, err := os.Stat(path)
	if err != nil || !st.IsDir() {
		return false
	}
	_, err = os.Stat(filepath.Join(path, data.ManifestFile))
	return err == nil
}

// openShards opens the shard folder dir for training (the files are memory-mapped,
// so a set larger than memory trains) and verifies it: one sequential read of every
// shard checks the CRCs, the values and the labels against the manifest before the
// first step. A shard folder carries its own labels, so labels (-train-labels or
// -test-labels) must be empty (-label-col is for a CSV file beside it). The files
// stay mapped until the process ends.
func openShards(dir, labels string) (data.Source, error) {
	if labels != "" {
		return nil, cli.Usagef("%s is a shard folder, which carries its labels (from cmd/convert -labels or -label-col); drop the labels file %s", dir, labels)
	}
	s, err := data.OpenSharded(dir)
	if err != nil {
		return nil, err
	}
	if err := s.Verify(); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}
