# shellcheck shell=bash
# The test runs' scratch directories on a tmpfs (scripts/test), and what a run
# that could not clean up after itself left behind.
#
# A run removes its directory on exit, but not when it is SIGKILLed (an OOM
# kill, a CI timeout): about 2 GB would then stay in /dev/shm for good. So
# each directory names the process that owns it, and the next run removes
# every directory whose owner is gone.

# The kernel's start time of process $1 (clock ticks since boot), empty if it is gone.
process_start_time() {
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 0
    stat="${stat##*) }"  # after "pid (comm) ": state is field 1, starttime field 20
    awk '{print $20}' <<<"$stat"
}

# Record this shell ($$) as the owner of scratch directory $1.
claim_scratch() {
    echo "$$ $(process_start_time $$)" >"$1/owner"
}

# Remove the kcb-test-* directories in $1 whose owner has exited; the start
# time tells an owner from a later process that got the same pid.
remove_stale_scratch() {
    local dir pid started
    for dir in "$1"/kcb-test-*; do
        [[ -f "$dir/owner" ]] || continue
        read -r pid started <"$dir/owner" || continue
        if [[ -z "$pid" || "$(process_start_time "$pid")" != "$started" ]]; then
            echo "removing the scratch directory of an earlier run that was killed: $dir" >&2
            rm -rf "$dir"
        fi
    done
}
