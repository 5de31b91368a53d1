#!/usr/bin/env bash
# A throw-away single-node SLURM cluster (with accounting) for the tests.
#
#   tests/slurm/cluster.sh install   apt-get the packages (quick when present)
#   tests/slurm/cluster.sh start     bring up munged, mariadbd, slurmdbd, slurmctld, slurmd; wait for an idle node
#   tests/slurm/cluster.sh stop      cancel jobs, stop exactly the daemons `start` recorded, remove /etc links
#   tests/slurm/cluster.sh status    list the recorded daemons and `sinfo`; exit 1 unless all are alive
#
# Needs root (daemons, /etc/slurm). No systemd: every daemon runs in the foreground under setsid, and its
# PID is recorded in $SCLONG_SLURM_DIR/pids/. One node `localhost` (all CPUs, gres gpu:a100:1 backed by
# /dev/null), partitions `cpu` (default) and `gpu` on it, cluster/account `sclong`, user root.
#
# Environment: SCLONG_SLURM_DIR (state, default /tmp/sclong-slurm), SCLONG_SLURM_DB_PORT (MariaDB port on
# 127.0.0.1, default 3307), SCLONG_SLURM_MEM_MB (node RealMemory, default 3/4 of MemTotal).
set -euo pipefail

STATE=${SCLONG_SLURM_DIR:-/tmp/sclong-slurm}
DB_PORT=${SCLONG_SLURM_DB_PORT:-3307}
CLUSTER=sclong
ACCOUNT=sclong
GPU_TYPE=a100
PIDS=$STATE/pids
T0=${EPOCHREALTIME/./}

log() {
    local us=$(( ${EPOCHREALTIME/./} - T0 ))
    printf '[cluster.sh %3d.%02ds] %s\n' $(( us / 1000000 )) $(( us % 1000000 / 10000 )) "$*"
}
die() { log "ERROR: $*" >&2; exit 1; }

# wait_for SECONDS DESCRIPTION CMD...: poll CMD every 0.2 s until it succeeds.
wait_for() {
    local limit=$1 what=$2 deadline
    shift 2
    deadline=$(( SECONDS + limit ))
    until "$@" >/dev/null 2>&1; do
        (( SECONDS < deadline )) || die "timed out after ${limit}s waiting for $what (logs: $STATE/log)"
        sleep 0.2
    done
}

# alive NAME: the daemon recorded as NAME runs (same PID, and its command line still names NAME).
alive() {
    local pid
    pid=$(cat "$PIDS/$1" 2>/dev/null) || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$1"
}

# launch NAME CMD...: run CMD in the foreground of a new session, logs in $STATE/log/NAME.log, without
# the lock's fd 9 (a daemon holding it would block every later start/stop).
# The order of launches is kept in $PIDS/order so that `stop` can reverse it.
launch() {
    local name=$1
    shift
    setsid "$@" </dev/null >"$STATE/log/$name.log" 2>&1 9>&- &
    echo $! >"$PIDS/$name"
    echo "$name" >>"$PIDS/order"
}

node_idle() { [[ $(sinfo -h -n localhost -o %T | sort -u) == idle ]]; }
no_jobs() { [[ -z $(squeue -h -o %i) ]]; }
dead() { ! alive "$1"; }

cmd_install() {
    if [[ $(command -v slurmctld slurmd slurmdbd sacct munged mariadbd | wc -l) == 6 ]]; then
        log "packages already installed ($(slurmctld -V))"
        return
    fi
    command -v apt-get >/dev/null || die "apt-get not found"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge slurmdbd mariadb-server >/dev/null
    log "installed $(slurmctld -V)"
}

write_configs() {
    local cpus mem
    cpus=$(nproc)
    mem=${SCLONG_SLURM_MEM_MB:-$(awk '/^MemTotal:/ {print int($2 / 1024 * 3 / 4)}' /proc/meminfo)}
    cat >"$STATE/etc/slurm.conf" <<EOF
ClusterName=$CLUSTER
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.file.log
SlurmdLogFile=$STATE/log/slurmd.file.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
GresTypes=gpu
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageEnforce=associations
AccountingStorageTRES=gres/gpu,gres/gpu:$GPU_TYPE
AccountingStoreFlags=job_comment
ReturnToService=2
MinJobAge=300
KillWait=5
InactiveLimit=0
NodeName=localhost CPUs=$cpus RealMemory=$mem Gres=gpu:$GPU_TYPE:1 State=UNKNOWN
PartitionName=cpu Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=localhost MaxTime=INFINITE State=UP
EOF
    echo "NodeName=localhost Name=gpu Type=$GPU_TYPE File=/dev/null" >"$STATE/etc/gres.conf"
    cat >"$STATE/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
PidFile=$STATE/run/slurmdbd.pid
LogFile=$STATE/log/slurmdbd.file.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
EOF
    chmod 600 "$STATE/etc/slurmdbd.conf"
    # The jobstep plugin's inner srun drops SLURM_CONF, so the configs must be found at the default paths.
    local f
    for f in slurm.conf gres.conf slurmdbd.conf; do
        [[ ! -e /etc/slurm/$f || -L /etc/slurm/$f ]] || die "/etc/slurm/$f is a real file; not replacing it"
        ln -sfn "$STATE/etc/$f" "/etc/slurm/$f"
    done
}

start_munge() {
    install -d -o munge -g munge -m 700 "$STATE/munge"
    install -d -o munge -g munge -m 755 /run/munge
    dd if=/dev/urandom of="$STATE/munge/munge.key" bs=1024 count=1 status=none
    chown munge:munge "$STATE/munge/munge.key"
    chmod 400 "$STATE/munge/munge.key"
    launch munged setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged --foreground \
        --key-file="$STATE/munge/munge.key" --pid-file="$STATE/munge/munged.pid" \
        --log-file="$STATE/munge/munged.log" --seed-file="$STATE/munge/munged.seed"
    wait_for 10 munged munge -n
}

start_mariadb() {
    local db=$STATE/mariadb
    install -d -o mysql -g mysql -m 750 "$db"
    mariadb-install-db --no-defaults --user=mysql --datadir="$db/data" --skip-test-db \
        >"$STATE/log/mariadb-install-db.log" 2>&1
    launch mariadbd /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$db/data" \
        --socket="$db/mysqld.sock" --pid-file="$db/mysqld.pid" --bind-address=127.0.0.1 --port="$DB_PORT" \
        --skip-log-bin --innodb-buffer-pool-size=64M --log-error="$STATE/log/mariadbd.err.log"
    wait_for 30 mariadbd mariadb-admin --no-defaults --socket="$db/mysqld.sock" ping
    mariadb --no-defaults --socket="$db/mysqld.sock" <<EOF
CREATE DATABASE slurm_acct_db;
CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
EOF
}

start_slurm() {
    launch slurmdbd /usr/sbin/slurmdbd -D
    wait_for 30 slurmdbd sacctmgr -n list cluster
    {
        sacctmgr -i add cluster "$CLUSTER"
        sacctmgr -i add account "$ACCOUNT" Cluster="$CLUSTER" Description=tests Organization=sclong
        sacctmgr -i add user root Account="$ACCOUNT" DefaultAccount="$ACCOUNT"
    } >"$STATE/log/sacctmgr.log"
    log "slurmdbd up, cluster/account/user registered"
    launch slurmctld /usr/sbin/slurmctld -D
    wait_for 30 slurmctld scontrol ping
    launch slurmd /usr/sbin/slurmd -D -N localhost
    wait_for 60 "node localhost idle" node_idle
}

all_alive() {
    local name
    [[ -s $PIDS/order ]] || return 1
    while read -r name; do alive "$name" || return 1; done <"$PIDS/order"
}

cmd_start() {
    [[ $EUID == 0 ]] || die "must run as root"
    if all_alive; then
        log "already running (state $STATE)"
        return
    fi
    [[ ! -s $PIDS/order ]] || { log "partly running: stopping first"; cmd_stop; }
    # The state dir is wiped on every start (fresh job IDs and accounting); refuse to wipe a foreign one.
    if [[ -e $STATE && ! -e $STATE/.sclong-slurm ]]; then die "$STATE exists and was not made by this script"; fi
    rm -rf "$STATE"
    mkdir -p "$STATE"/{etc,log,run,ctld,slurmd,pids} /etc/slurm
    chmod 755 "$STATE"
    touch "$STATE/.sclong-slurm"
    write_configs
    log "configs written to $STATE/etc (linked from /etc/slurm)"
    start_munge
    log "munged up"
    start_mariadb
    log "mariadbd up on 127.0.0.1:$DB_PORT"
    start_slurm
    log "cluster up: $(sinfo -h -o '%P %T %G' | tr '\n' ' ')"
}

cmd_stop() {
    local name pid jobs
    if alive slurmctld; then
        jobs=$(squeue -h -o %i | tr '\n' ' ')
        if [[ -n ${jobs// } ]]; then
            # shellcheck disable=SC2086
            scancel $jobs || true
            wait_for 30 "jobs to end" no_jobs
            log "cancelled jobs $jobs"
        fi
    fi
    if [[ -s $PIDS/order ]]; then
        for name in $(tac "$PIDS/order"); do
            if alive "$name"; then
                pid=$(cat "$PIDS/$name")
                kill -TERM "$pid"
                wait_for 30 "$name ($pid) to exit" dead "$name"
                log "stopped $name ($pid)"
            fi
            rm -f "$PIDS/$name"
        done
        rm -f "$PIDS/order"
    fi
    for name in slurm.conf gres.conf slurmdbd.conf; do
        if [[ $(readlink "/etc/slurm/$name" 2>/dev/null) == "$STATE/etc/$name" ]]; then rm -f "/etc/slurm/$name"; fi
    done
    log "stopped (logs kept in $STATE/log)"
}

cmd_status() {
    local name rc=0
    [[ -s $PIDS/order ]] || { echo "not running (no daemons recorded in $PIDS)"; return 1; }
    while read -r name; do
        if alive "$name"; then echo "$name $(cat "$PIDS/$name") alive"; else echo "$name dead"; rc=1; fi
    done <"$PIDS/order"
    if alive slurmctld; then sinfo; fi
    return $rc
}

# One start/stop at a time (several pytest sessions may share the machine).
lock() { exec 9>"$STATE.lock"; flock -w 120 9 || die "could not lock $STATE.lock"; }

case ${1:-} in
    install) cmd_install ;;
    start) lock; cmd_start ;;
    stop) lock; cmd_stop ;;
    status) cmd_status ;;
    *) echo "usage: $0 {install|start|stop|status}" >&2; exit 2 ;;
esac
