#!/usr/bin/env bash
# One GPU session in about 8 minutes: the card; training throughput of the 124M preset at
# sequence 1024 and 2048, and at 1024 with an FP8 output head; then two short real-data runs of
# `python -m warc2gpt.train` on token shards in $DATA (plain head, FP8 head) to compare losses.
# Usage (repository root): OUT=out DATA=.gpu_data/tokens bash benchmarks/gpu_check.sh, with the
# shards made beforehand by `python benchmarks/gpu_data.py` and carried to the GPU machine.
# COMPARE_FP32_RESIDUAL=1 adds a throughput run with the residual stream in float32.
set -uo pipefail
OUT=${OUT:-out}
DATA=${DATA:-.gpu_data/tokens}
TRAIN_STEPS=${TRAIN_STEPS:-120}
TRAIN_LIMIT=${TRAIN_LIMIT:-130}
mkdir -p "$OUT"
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
nvidia-smi | tee "$OUT/nvidia-smi.txt"
python3 -c "import sys, torch; print(sys.version.split()[0], torch.__version__, torch.version.cuda)"

echo "== throughput: the preset (bf16 residual stream, no softcap), 65536 tokens per step"
timeout 180 python3 benchmarks/train_throughput.py --seq 1024 2048 --steps 20 --warmup 6 --profile 3 \
  2>&1 | tee "$OUT/throughput.txt"
echo "== the preset with an FP8 output head"
timeout 110 python3 benchmarks/train_throughput.py --seq 1024 --steps 20 --warmup 6 --profile 3 \
  --set train.fp8_head=true 2>&1 | tee "$OUT/throughput_fp8.txt"
if [ "${COMPARE_FP32_RESIDUAL:-0}" = 1 ]; then
  echo "== the preset with a float32 residual stream"
  timeout 100 python3 benchmarks/train_throughput.py --seq 1024 --steps 20 --warmup 6 \
    --set train.bf16_residual=false 2>&1 | tee "$OUT/throughput_fp32_residual.txt"
fi

# real_run NAME [--set ...]: $TRAIN_STEPS steps of the preset on $DATA, outputs under $OUT/NAME.
real_run() {
  local name=$1
  shift
  echo "== real-data run '$name': $TRAIN_STEPS steps on $DATA $*"
  rm -rf artifacts metrics plots
  timeout "$TRAIN_LIMIT" python3 -m warc2gpt.train --params presets/gpt2-124m.yaml --quiet \
    --set train.data="$DATA" --set train.vocab_size=50257 \
    --set train.steps="$TRAIN_STEPS" --set train.total_batch_tokens=131072 \
    --set train.warmup_steps=30 --set train.schedule=wsd --set train.decay_frac=0.3 \
    --set train.eval_every=20 --set train.eval_tokens=262144 --set train.checkpoint_every=0 \
    --set train.log_every=20 --set tracking.enabled=false "$@" 2>&1 | tee "$OUT/train_$name.log"
  echo "train exit: ${PIPESTATUS[0]}"
  mkdir -p "$OUT/$name"
  cp metrics/train.json plots/train.tsv plots/val.tsv "$OUT/$name/" 2>/dev/null
  python3 - <<'PY'
import csv, json, pathlib
p = pathlib.Path("plots/train.tsv")
if p.exists():
    rows = list(csv.DictReader(p.open(), delimiter="\t"))
    for r in rows[:: max(1, len(rows) // 8)] + rows[-1:]:
        print(f"step {r['step']:>4} loss {float(r['loss']):.3f} tok/s {float(r['tokens_per_s']):,.0f} "
              f"mfu {float(r['mfu'] or 0):.1%}")
v = pathlib.Path("plots/val.tsv")
if v.exists():
    print("val:", " ".join(f"{r['step']}:{float(r['val_loss']):.3f}" for r in csv.DictReader(v.open(), delimiter="\t")))
m = pathlib.Path("metrics/train.json")
if m.exists():
    d = json.loads(m.read_text())
    print({k: d[k] for k in ("val_loss", "unigram_entropy", "tokens_per_s", "mfu", "peak_memory_gib", "epochs", "wall_s")})
PY
}

real_run plain
real_run fp8 --set train.fp8_head=true
