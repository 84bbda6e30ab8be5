#!/bin/bash
# Written by gentrain 0.1.0 for job vae-fashion (/home/ada/gentrain/jobs/vae-fashion.yaml). Submit: sbatch THIS_FILE
#SBATCH --job-name=vae-fashion
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=4
#SBATCH --cpus-per-task=1
#SBATCH --time=02:00:00
#SBATCH --partition=gpu-free
#SBATCH --output=/home/ada/gentrain/runs/vae-fashion/slurm.log
#SBATCH --open-mode=append
#SBATCH --signal=B:USR1@90
#SBATCH --requeue
#SBATCH --chdir=/home/ada/gentrain
# On USR1 (or scancel -b -s TERM), gentrain run checkpoints, requeues this job, and it resumes.
echo "gentrain: Slurm job $SLURM_JOB_ID, restart ${SLURM_RESTART_COUNT:-0}, on $SLURM_JOB_NODELIST"
# gentrain from the module gentrain/0.1.0 (gentrain 0.1.0 wrote this script with --module).
command -v module >/dev/null 2>&1 || . /etc/profile
module load gentrain/0.1.0 || { echo "gentrain: cannot load the module gentrain/0.1.0" >&2; exit 1; }
exec gentrain run /home/ada/gentrain/jobs/vae-fashion.yaml --ranks 8 --threads-per-rank 1 --max-restarts 2 --set train.epochs=20
