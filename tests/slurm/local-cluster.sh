#!/usr/bin/env bash
# A single-node SLURM cluster (munged, slurmctld, slurmd) under one state directory, for the
# tests in tests/slurm.rs.
#
#   local-cluster.sh install         install munge and SLURM from the distribution (apt)
#   local-cluster.sh up STATE_DIR    configure and start the daemons, wait for an idle node,
#                                    and print `export` lines for SLURM_CONF and the shared dir
#   local-cluster.sh down STATE_DIR  cancel every job, then stop the daemons by their PIDs
#
# The cluster listens on 127.0.0.1 only and needs neither systemd nor an accounting
# database. It must run as root, because slurmd switches to the job owner's user. Keep
# STATE_DIR short: the munge socket inside it must fit a unix socket path (108 bytes).
#
# Ports: CELLRUN_SLURM_CTLD_PORT (default 6817) and CELLRUN_SLURM_SLURMD_PORT (6818).
set -euo pipefail

CTLD_PORT=${CELLRUN_SLURM_CTLD_PORT:-6817}
SLURMD_PORT=${CELLRUN_SLURM_SLURMD_PORT:-6818}
NODE=localhost

log() { printf 'local-cluster: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

set_paths() {
  [ -n "${1:-}" ] || die "name the state directory"
  STATE=$(realpath -m -- "$1")
  CONF=$STATE/etc/slurm.conf
  RUN=$STATE/run
  LOGS=$STATE/log
  SOCKET=$RUN/munge.socket
  [ ${#SOCKET} -lt 100 ] || die "the state directory $STATE is too long for the munge socket path; choose a shorter one"
}

# The packages start their system services from postinst unless a policy-rc.d denies it;
# this one exists only during the installation.
install_packages() {
  local commands=(munged slurmctld slurmd sbatch squeue scontrol scancel sinfo) missing=() name
  for name in "${commands[@]}"; do
    command -v "$name" >/dev/null || missing+=("$name")
  done
  [ ${#missing[@]} -eq 0 ] && return 0

  log "installing munge and SLURM (missing: ${missing[*]})"
  local own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    own_policy=1
  fi
  local packages=(slurmctld slurmd slurm-client munge) status=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${packages[@]}" >&2 \
    || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${packages[@]}" >&2; } \
    || status=$?
  [ $own_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
  [ $status = 0 ] || die "apt-get install ${packages[*]} failed"
}

# A PID is ours only when its command line names the state directory: every daemon gets
# its config or key file by absolute path.
our_pid() {
  local file=$RUN/$1.pid pid
  [ -f "$file" ] || return 0
  pid=$(tr -dc '0-9' < "$file")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "$STATE/" && echo "$pid"
  return 0
}

wait_for_file() {
  local i
  for i in $(seq 100); do [ -s "$1" ] && return 0; sleep 0.1; done
  return 1
}

port_in_use() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

write_config() {
  mkdir -p "$STATE/etc" "$RUN" "$LOGS" "$STATE/munge" "$STATE/ctld" "$STATE/spool" "$STATE/shared"
  # munged requires a key directory only root can read and a socket directory all may enter.
  chmod 755 "$STATE" "$STATE/etc" "$RUN" "$LOGS"
  chmod 700 "$STATE/munge" "$STATE/ctld"
  chmod 1777 "$STATE/shared"
  if [ ! -s "$STATE/munge/munge.key" ]; then
    dd if=/dev/urandom of="$STATE/munge/munge.key" bs=1024 count=1 status=none
    chmod 600 "$STATE/munge/munge.key"
  fi

  # The node's hardware exactly as slurmd detects it, so that slurmctld never drains it.
  local hardware
  hardware=$(env -u SLURM_CONF slurmd -C 2>/dev/null | head -n 1 | sed 's/^NodeName=[^ ]* //')
  [ -n "$hardware" ] || die "slurmd -C printed no hardware line"

  cat > "$CONF.new" <<EOF
# Single-node test cluster of cellrun, listening on 127.0.0.1 only.
ClusterName=cellrun-test
SlurmctldHost=localhost
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCKET
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool/%n
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$LOGS/jobcomp.txt
MpiDefault=none
ReturnToService=2
KillWait=5
MinJobAge=600
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=256
NodeName=$NODE NodeAddr=127.0.0.1 NodeHostname=localhost $hardware State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
  mv "$CONF.new" "$CONF"
  chmod 644 "$CONF"
}

start_daemons() {
  if [ -z "$(our_pid munged)" ]; then
    rm -f "$SOCKET" "$SOCKET.lock"
    munged --key-file="$STATE/munge/munge.key" --socket="$SOCKET" --pid-file="$RUN/munged.pid" \
      --log-file="$LOGS/munged.log" --seed-file="$STATE/munge/munged.seed" \
      || die "munged failed to start; see $LOGS/munged.log"
    wait_for_file "$RUN/munged.pid" || die "munged wrote no PID file; see $LOGS/munged.log"
  fi
  if [ -z "$(our_pid slurmctld)" ]; then
    port_in_use "$CTLD_PORT" && die "127.0.0.1:$CTLD_PORT is in use; set CELLRUN_SLURM_CTLD_PORT"
    SLURM_CONF=$CONF slurmctld -f "$CONF" || die "slurmctld failed to start; see $LOGS/slurmctld.log"
    wait_for_file "$RUN/slurmctld.pid" || die "slurmctld wrote no PID file; see $LOGS/slurmctld.log"
  fi
  if [ -z "$(our_pid slurmd)" ]; then
    port_in_use "$SLURMD_PORT" && die "127.0.0.1:$SLURMD_PORT is in use; set CELLRUN_SLURM_SLURMD_PORT"
    # -N: the node is called localhost whatever the machine's host name.
    SLURM_CONF=$CONF slurmd -f "$CONF" -N "$NODE" || die "slurmd failed to start; see $LOGS/slurmd.log"
    wait_for_file "$RUN/slurmd.pid" || die "slurmd wrote no PID file; see $LOGS/slurmd.log"
  fi
}

wait_until_idle() {
  local deadline=$((SECONDS + 60)) state resumed=0
  while :; do
    state=$(SLURM_CONF=$CONF sinfo -h -n "$NODE" -o '%T' 2>/dev/null || true)
    case "$state" in
      idle|mixed|allocated|completing) return 0 ;;
      *drain*|down*)
        if [ $resumed = 0 ]; then
          SLURM_CONF=$CONF scontrol update NodeName="$NODE" State=RESUME >&2 || true
          resumed=1
        fi ;;
    esac
    [ $SECONDS -lt $deadline ] || die "the node is not idle after 60 s (state '$state'); see $LOGS/"
    sleep 0.2
  done
}

up() {
  [ "$(id -u)" = 0 ] || die "run as root: slurmd switches to the user of each job"
  install_packages
  write_config
  start_daemons
  wait_until_idle
  log "cluster up; state in $STATE"
  echo "export SLURM_CONF=$CONF"
  echo "export CELLRUN_SLURM_SHARED=$STATE/shared"
}

cancel_jobs() {
  [ -n "$(our_pid slurmctld)" ] || return 0
  local jobs i
  jobs=$(SLURM_CONF=$CONF squeue -h -o '%F' 2>/dev/null | sort -u | tr '\n' ' ')
  [ -n "${jobs// /}" ] || return 0
  # shellcheck disable=SC2086
  SLURM_CONF=$CONF scancel $jobs 2>/dev/null || true
  for i in $(seq 100); do
    [ -z "$(SLURM_CONF=$CONF squeue -h -t RUNNING,COMPLETING -o %i 2>/dev/null)" ] && return 0
    sleep 0.2
  done
  log "jobs still running after 20 s; stopping the daemons anyway"
}

stop() {
  local pid i
  pid=$(our_pid "$1")
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  rm -f "$RUN/$1.pid"
}

# slurmstepd outlives slurmd by design; those of this cluster carry its SLURM_CONF.
stop_step_daemons() {
  local proc
  for proc in /proc/[0-9]*; do
    [ "$(cat "$proc/comm" 2>/dev/null)" = slurmstepd ] || continue
    tr '\0' '\n' < "$proc/environ" 2>/dev/null | grep -qxF "SLURM_CONF=$CONF" || continue
    kill -KILL "${proc#/proc/}" 2>/dev/null || true
  done
}

down() {
  [ -d "$STATE" ] || return 0
  cancel_jobs
  stop slurmd
  stop slurmctld
  stop_step_daemons
  stop munged
  rm -f "$SOCKET" "$SOCKET.lock"
  log "cluster down; its state is still in $STATE"
}

main() {
  local command=${1:-}
  case "$command" in
    install) install_packages ;;
    up) set_paths "${2:-}"; up ;;
    down) set_paths "${2:-}"; down ;;
    *) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
}
main "$@"
