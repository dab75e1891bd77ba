#!/usr/bin/env bash
# A proact campaign as a Slurm job array: each array task runs one shard (--shard i/N) into its own
# SQLite file, then one dependent job merges the shards. No queue, no Redis: the shard assignment is a
# pure function of (BER, trial), and merging gives exactly the trials of a single run.
#
#   mkdir -p logs
#   jid=$(sbatch --parsable --array=1-8 docs/slurm-array.sh)
#   sbatch --dependency=afterok:$jid --export=ALL,PROACT_STEP=merge docs/slurm-array.sh
#
# Everything is set through the environment (sbatch --export=ALL,VAR=value ...), defaults below:
#   PROACT         the proact command (e.g. "node /opt/proact/dist/src/cli/main.js")
#   MODEL, DATA    model file and dataset, at the same path on every node (shared filesystem)
#   OUT            folder on the shared filesystem for the shard databases and the merged one
#   CAMPAIGN_ARGS  the campaign's options; they must be the same for every shard (sequential stopping,
#                  --precision, needs all trials of a BER in one process: use a fixed --trials here,
#                  or queue mode, see docs/cluster.md)
#
#SBATCH --job-name=proact-campaign
#SBATCH --array=1-8
#SBATCH --cpus-per-task=2
#SBATCH --mem=4G
#SBATCH --time=04:00:00
#SBATCH --requeue
#SBATCH --output=logs/%x-%A_%a.out
set -euo pipefail

PROACT=${PROACT:-proact}
MODEL=${MODEL:-models/resnet20.onnx}
DATA=${DATA:-data/cifar-10-batches-bin}
OUT=${OUT:-results}
CAMPAIGN_ARGS=${CAMPAIGN_ARGS:---ber 1e-7,1e-6,1e-5,1e-4 --trials 400 --seed 1}

# PROACT and CAMPAIGN_ARGS are word-split on purpose (a command with arguments, a list of options).
if [ "${PROACT_STEP:-shard}" = merge ]; then
  # shellcheck disable=SC2086
  $PROACT campaign merge "$OUT"/shard-*.sqlite --out "$OUT/campaign.sqlite"
  # shellcheck disable=SC2086
  $PROACT campaign export "$OUT/campaign.sqlite"
  exit 0
fi

: "${SLURM_ARRAY_TASK_ID:?run as a job array: sbatch --array=1-N docs/slurm-array.sh}"
count=${SLURM_ARRAY_TASK_COUNT:?run as a job array: sbatch --array=1-N docs/slurm-array.sh}
# Shards are numbered 1..N whatever the array's first index (--array=0-7 works as well).
index=$((SLURM_ARRAY_TASK_ID - ${SLURM_ARRAY_TASK_MIN:-1} + 1))
cpus=${SLURM_CPUS_PER_TASK:-1}
mkdir -p "$OUT"
# --resume: a task that Slurm requeues (preemption, node failure) continues its shard where it stopped.
# One worker thread per CPU, each running whole trials on one onnxruntime thread.
# shellcheck disable=SC2086
$PROACT campaign --model "$MODEL" --data "$DATA" $CAMPAIGN_ARGS \
  --workers "$cpus" --threads 1 --shard "$index/$count" --db "$OUT/shard-$index.sqlite" --resume --json \
  > "$OUT/shard-$index.json"
