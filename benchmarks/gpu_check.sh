#!/usr/bin/env bash
# One GPU session in about 8 minutes. In order of what matters most, so a cut-off run still
# answers the first questions:
#   1. the card, torch/CUDA/cuDNN versions and the attention kernel PyTorch picks by default;
#   2. training throughput of the 124M preset at sequence 1024 and 2048 (profiled by kernel kind);
#   3. the preset at 1024 preferring the cuDNN and the flash attention kernel;
#   4. the FP8 output head at 1024 with the faster attention choice of 2-3 (profiled);
#   5. two short real-data runs of `python -m warc2gpt.train` on the token shards in $DATA
#      (plain head, FP8 head, both with that attention choice) to compare their losses;
#   6. one table of it all.
# Usage (repository root): OUT=out DATA=.gpu_data/tokens bash benchmarks/gpu_check.sh, with the
# shards made beforehand by `python benchmarks/gpu_data.py` and carried to the GPU machine.
# Every figure also lands under $OUT: throughput_*.txt/json, train_*.log and <run>/ plot files.
set -uo pipefail
OUT=${OUT:-out}
DATA=${DATA:-.gpu_data/tokens}
TRAIN_STEPS=${TRAIN_STEPS:-100}
TRAIN_LIMIT=${TRAIN_LIMIT:-110}
mkdir -p "$OUT"
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
nvidia-smi | tee "$OUT/nvidia-smi.txt"
python3 - <<'PY' 2>&1 | tee "$OUT/versions.txt"
import sys

import torch

kernels = {0: "math", 1: "flash", 2: "efficient", 3: "cudnn", 4: "overrideable"}
print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda,
      "cudnn", torch.backends.cudnn.version())
q = torch.randn(64, 12, 1024, 64, device="cuda", dtype=torch.bfloat16, requires_grad=True)
choice = torch._fused_sdp_choice(q, q, q, is_causal=True)
print("default SDPA kernel for (64, 12, 1024, 64) bf16 causal:", kernels.get(choice, choice))
print("default priority:", [kernels.get(i, i) for i in torch._C._get_sdp_priority_order()])
PY

# bench NAME LIMIT_S ARGS...: benchmarks/train_throughput.py, table and JSON under $OUT.
bench() {
  local name=$1 limit=$2
  shift 2
  echo "== throughput '$name': $*"
  timeout "$limit" python3 benchmarks/train_throughput.py --steps 15 --warmup 5 \
    --json "$OUT/throughput_$name.json" "$@" 2>&1 | tee "$OUT/throughput_$name.txt"
}

bench preset 170 --seq 1024 2048 --profile 2
bench cudnn 90 --seq 1024 --set train.attention=cudnn
bench flash 90 --seq 1024 --set train.attention=flash
ATTENTION=$(
  python3 - "$OUT" <<'PY'
import json, pathlib, sys

out = pathlib.Path(sys.argv[1])
best, best_rate = "auto", 0.0
for name, setting in (("preset", "auto"), ("cudnn", "cudnn"), ("flash", "flash")):
    path = out / f"throughput_{name}.json"
    if path.exists():
        rate = next((r["tokens_per_s"] for r in json.loads(path.read_text())["rows"]
                     if r["seq"] == 1024), 0.0)
        if rate > best_rate * 1.005:  # auto unless another is clearly faster
            best, best_rate = setting, rate
print(best)
PY
)
echo "== attention for the rest: $ATTENTION"
bench fp8 100 --seq 1024 --profile 2 --set train.fp8_head=true --set train.attention="$ATTENTION"

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
    --set train.log_every=20 --set tracking.enabled=false --set train.attention="$ATTENTION" \
    "$@" 2>&1 | tee "$OUT/train_$name.log"
  echo "train exit: ${PIPESTATUS[0]}"
  mkdir -p "$OUT/$name"
  cp metrics/train.json plots/train.tsv plots/val.tsv "$OUT/$name/" 2>/dev/null
}

real_run plain
real_run fp8 --set train.fp8_head=true

python3 - "$OUT" <<'PY'
import csv, json, pathlib, sys

out = pathlib.Path(sys.argv[1])
print("\n== throughput (random tokens, 65,536 per step)")
print(f"{'run':<8} {'seq':>5} {'tokens/s':>10} {'MFU 989':>8} {'MFU meas':>9} {'mem GiB':>8}")
for name in ("preset", "cudnn", "flash", "fp8"):
    path = out / f"throughput_{name}.json"
    if not path.exists():
        print(f"{name:<8} (no result)")
        continue
    data = json.loads(path.read_text())
    peak = data["matmul_peak_tflops"] or float("nan")
    for r in data["rows"]:
        print(f"{name:<8} {r['seq']:>5} {r['tokens_per_s']:>10,.0f} {r['tflops'] / 989:>8.1%} "
              f"{r['tflops'] / peak:>9.1%} {r['peak_mem_gib'] or 0:>8.1f}")
print("\n== real data (131,072 tokens per step)")
for name in ("plain", "fp8"):
    metrics = out / name / "train.json"
    if not metrics.exists():
        print(f"{name:<6} (no result)")
        continue
    m = json.loads(metrics.read_text())
    vals = out / name / "val.tsv"
    curve = " ".join(f"{r['step']}:{float(r['val_loss']):.3f}"
                     for r in csv.DictReader(vals.open(), delimiter="\t")) if vals.exists() else ""
    print(f"{name:<6} train {m['train_loss']:.3f} val {m['val_loss']:.3f} "
          f"(unigram {m['unigram_entropy']:.3f}) {m['tokens_per_s']:,.0f} tok/s "
          f"MFU {m['mfu'] or 0:.1%} {m['peak_memory_gib'] or 0:.1f} GiB {m['wall_s']:.0f} s")
    print(f"       val curve {curve}")
PY
