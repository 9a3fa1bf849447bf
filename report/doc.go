// Package report draws the pictures and text people look at after (and during) a
// training run: grids of generated or reconstructed images (ImageGrid), loss and
// clustering-score curves (Curves, CurvesFromMetrics), a 2-D view of the latent space
// coloured by cluster (PCA2, Scatter2D), a progress display (Progress) and a
// one-screen summary (FormatSummary).
//
// It takes plain slices and maps and knows nothing of the engine or the models, so it
// can be used and tested alone. Pictures are PNG files written atomically (through a
// temporary file in the same folder). Bad values never make it fail: NaN pixels are
// drawn in NaNColor, non-finite curve and scatter points are left out and counted.
package report
