#!/usr/bin/env bash
# A one-host Slurm cluster made the way an administrator following Debian's
# packages would make it, NOT with this collection's roles: the cluster "we only
# connect to" of test_external.py. Runs as root on a pure Debian bookworm
# (Slurm 22.05) or trixie (24.11) machine.
#
#   external_cluster.sh up [REPO_URL]   install munge and Slurm, write a minimal
#        slurm.conf, start munge, slurmctld and slurmd. REPO_URL: a flat apt
#        repository (deb [trusted=yes] REPO_URL ./) used instead of the
#        machine's sources, as at an air-gapped site.
#   external_cluster.sh stop             stop slurmd, slurmctld and munge.
#
# No slurmrestd: the collection reaches this cluster over SSH only.
set -euo pipefail

CLUSTER=${EXTERNAL_CLUSTER_NAME:-extern}
PACKAGES=(munge slurmctld slurmd slurm-client)

up() {
  local repo=${1:-} apt_opts=()
  if [[ -n $repo ]]; then
    [[ $repo =~ ^https?://[^[:space:]]+$ ]] || { echo "not a repository URL: $repo" >&2; exit 2; }
    echo "deb [trusted=yes] $repo ./" >/etc/apt/sources.list.d/external-cluster.list
    # Only that repository: the machine's own sources may be out of reach.
    apt_opts=(-o Dir::Etc::SourceList=/etc/apt/sources.list.d/external-cluster.list -o Dir::Etc::SourceParts=-)
  fi
  apt-get "${apt_opts[@]}" update -q
  # Debian's slurmd starts on install, before any slurm.conf exists, and on trixie
  # hangs until systemd's start timeout (90 s): keep daemons down until configured.
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod 0755 /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install -y -q --no-install-recommends "${PACKAGES[@]}"
  rm -f /usr/sbin/policy-rc.d

  local host node
  host=$(hostname -s)
  # "NodeName=h CPUs=2 Boards=1 ... RealMemory=N" then "UpTime=...": the first line is the node.
  node=$(slurmd -C | head -n 1)
  [[ $node == NodeName=* ]] || { echo "slurmd -C printed no NodeName line: $node" >&2; exit 1; }
  install -d -o slurm -g slurm -m 0755 /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm
  cat >/etc/slurm/slurm.conf <<EOF
# Written by external_cluster.sh: one host, Debian's defaults otherwise.
ClusterName=$CLUSTER
SlurmctldHost=$host
SlurmUser=slurm
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
# No cgroups inside a container.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
$node State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  chmod 0644 /etc/slurm/slurm.conf
  systemctl enable --now munge
  systemctl enable --now slurmctld
  systemctl enable --now slurmd
  # Up when the node has registered (idle) with slurmctld.
  for _ in $(seq 60); do
    if sinfo -h -N -o '%N %T' 2>/dev/null | grep -qx "$host idle"; then
      echo "cluster $CLUSTER up: $host idle"
      return 0
    fi
    sleep 1
  done
  echo "node $host not idle after 60 s:" >&2
  sinfo -N >&2 || true
  exit 1
}

stop() {
  systemctl disable --now slurmd slurmctld munge
}

case ${1:-} in
  up) shift; up "$@" ;;
  stop) stop ;;
  *) echo "usage: $0 up [REPO_URL] | stop" >&2; exit 2 ;;
esac
