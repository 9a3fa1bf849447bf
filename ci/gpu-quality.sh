#!/usr/bin/env bash
# Trains the README's quality rows (docs/quality.md) on a lent GPU, a slice at a time:
# the device tool stops a command after 10 minutes, and a full row (5 seeds of 100 to
# 500 epochs) takes longer. Each call trains the row's seeds in turn until its time
# budget is spent, resuming every seed from its last checkpoint (written every
# -checkpoint-every steps and atomically, so a run stopped by the budget loses at most
# that many steps; a resumed run ends bit-identical to an uninterrupted one). Call it
# again until it prints "row complete".
#
#   bash gpu-bin/quality.sh ROW [BUDGET_S]
#
# ROW: a1 (model A, M = 1, 100 epochs at the authors' lr 1e-4), a1-lr3 (the same at
# lr 1e-3), a1-bn and a10-bn (the authors' network: two hidden layers of 500 and batch
# normalisation in the encoder, M = 1 and M = 10), a10 (model A, M = 10, 100 epochs),
# b (model B, exact marginal, 500 epochs), b-gumbel (model B with Gumbel-softmax, the
# PyTorch port's recipe: batch 64, annealed temperature, no binarisation, 200 epochs),
# vade (model C: 50 pretraining epochs, the GMM prior, 300 training epochs, the
# paper's length), vade-aug (the same with DEC-DA's augmentation of the pretraining: shifts of up to 3
# pixels, turns of up to 10 degrees).
# BUDGET_S: seconds of training this call may use (default 540, under the 10-minute
# limit). The state lives in gpu-bin/state/ROW/seed-N (kept while the machine stays
# warm; carry gpu-bin to bring it back to a fresh machine); metrics, summaries and
# checkpoints are copied to $OUT/ROW after every call. GMVAE_QUALITY_DEVICE overrides
# the device (cpu, to try the script without a GPU) and GMVAE_QUALITY_ARGS adds flags
# to every new run (e.g. "-subset 500 -epochs 2").
set -uo pipefail
cd "$(dirname "$0")" || exit 1
bash ./unpack.sh || exit 1 # ./train travels xz-compressed (ci/gpu-build.sh)
export GMVAE_MNIST_DIR=${GMVAE_MNIST_DIR:-$PWD/mnist}
row=${1:?usage: quality.sh a1|a1-lr3|a1-bn|a10|a10-bn|b|b-gumbel|vade|vade-aug [budget seconds]}
budget=${2:-540}
device=${GMVAE_QUALITY_DEVICE:-cuda}
OUT=${OUT:-/tmp/gpu-out}
seeds=(1 2 3 4 5)
case $row in
a1) args=(-model dilokthanakul -epochs 100) ;;
a1-lr3) args=(-model dilokthanakul -lr 1e-3 -epochs 100) ;;
a1-bn) args=(-model dilokthanakul -batch-norm -hidden "500,500" -epochs 100) ;;
a10) args=(-model dilokthanakul -m 10 -epochs 100) ;;
a10-bn) args=(-model dilokthanakul -batch-norm -hidden "500,500" -m 10 -epochs 100) ;;
b) args=(-model shu -epochs 500) ;;
b-gumbel) args=(-model shu -gumbel -batch 64 -binarize=false -epochs 200) ;;
vade) args=(-model vade -epochs 300) ;;
vade-aug) args=(-model vade -epochs 300 -augment-shift 3 -augment-rotate 10) ;;
*)
	echo "quality.sh: unknown row $row, want a1, a1-lr3, a1-bn, a10, a10-bn, b, b-gumbel, vade or vade-aug" >&2
	exit 2
	;;
esac
# shellcheck disable=SC2206 # word splitting of the extra flags is the point
extra=(${GMVAE_QUALITY_ARGS:-})
state=state/$row
mkdir -p "$state" "$OUT/$row"
end=$((SECONDS + budget))
complete=1
for s in "${seeds[@]}"; do
	dir=$state/seed-$s
	left=$((end - SECONDS))
	if [ -f "$dir/done" ]; then
		continue
	fi
	if [ "$left" -le 30 ]; then
		complete=0
		break
	fi
	if [ -f "$dir/config.json" ]; then
		# A run folder resumes whatever stage it stopped in (vade: pretraining, prior, training).
		cmd=(./train -device "$device" -no-pictures -checkpoint-every 500 -resume "$dir")
	else
		cmd=(./train -device "$device" -no-pictures -checkpoint-every 500 "${args[@]}" "${extra[@]}" -seed "$s" -out "$dir")
	fi
	echo "== $row seed $s: ${cmd[*]} (at most ${left}s)"
	timeout --signal=TERM "$left" "${cmd[@]}" >>"$state/seed-$s.log" 2>&1
	rc=$?
	tail -2 "$state/seed-$s.log"
	case $rc in
	0) touch "$dir/done" ;;
	124) complete=0 ;; # the budget ran out: the next call resumes
	*)
		echo "quality.sh: seed $s failed (exit $rc), see $state/seed-$s.log" >&2
		complete=0
		;;
	esac
done
cp -r "$state/." "$OUT/$row/"
if [ "$complete" = 1 ]; then
	echo "row complete: per-seed results in $OUT/$row/seed-*/summary.json"
else
	echo "row not complete: call again to continue"
fi
