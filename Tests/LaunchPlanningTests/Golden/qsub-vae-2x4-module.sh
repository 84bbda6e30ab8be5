#!/bin/bash
# Written by gentrain 0.1.0 for job vae-fashion (/home/ada/gentrain/jobs/vae-fashion.yaml). Submit: qsub THIS_FILE
#PBS -N vae-fashion
#PBS -l nodes=2:ppn=4
#PBS -l walltime=02:00:00
#PBS -q gpu-free
#PBS -o /home/ada/gentrain/runs/vae-fashion/pbs.log
#PBS -j oe
#PBS -r y
# SIGTERM (preemption, walltime): gentrain run checkpoints and exits with 75; ask for kill_delay >= 90 s.
cd /home/ada/gentrain
echo "gentrain: PBS job $PBS_JOBID on $(sort -u "$PBS_NODEFILE" | tr '\n' ' ')"
# gentrain from the module gentrain/0.1.0 (gentrain 0.1.0 wrote this script with --module).
command -v module >/dev/null 2>&1 || . /etc/profile
module load gentrain/0.1.0 || { echo "gentrain: cannot load the module gentrain/0.1.0" >&2; exit 1; }
exec gentrain run /home/ada/gentrain/jobs/vae-fashion.yaml --ranks 8 --threads-per-rank 1 --max-restarts 2 --set train.epochs=20
