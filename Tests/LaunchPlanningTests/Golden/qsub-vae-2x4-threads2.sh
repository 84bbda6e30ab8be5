#!/bin/bash
# Written by gentrain 0.1.0 for job vae-fashion (/home/ada/gentrain/jobs/vae-fashion.yaml). Submit: qsub THIS_FILE
#PBS -N vae-fashion
#PBS -l nodes=2:ppn=8
#PBS -l walltime=02:00:00
#PBS -q gpu-free
#PBS -o /home/ada/gentrain/runs/vae-fashion/pbs.log
#PBS -j oe
#PBS -r y
# SIGTERM (preemption, walltime): gentrain run checkpoints and exits with 75; ask for kill_delay >= 90 s.
cd /home/ada/gentrain
echo "gentrain: PBS job $PBS_JOBID on $(sort -u "$PBS_NODEFILE" | tr '\n' ' ')"
exec /home/ada/gentrain/.build/release/gentrain run /home/ada/gentrain/jobs/vae-fashion.yaml --ranks 8 --threads-per-rank 2 --max-restarts 2 --set train.epochs=20 -- --map-by ppr:4:node
