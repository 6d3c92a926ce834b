#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The demo `make demo` runs in the VM: a crash-proof command log in action.
set -e
step() { printf '\n== %s\n' "$*"; }

step "the module, loaded with shmring-ctl (libkmod)"
shmring-ctl status
ls -l /dev/shmring

step "a writer appends 5 commands to ring 'orders' and exits"
writer orders 5

step "a durable reader (subscription 'billing') handles 3 of them, then is killed"
reader orders billing 3 &
pid=$!
wait $pid || true
kill -9 $pid 2>/dev/null || true

step "another writer appends 2 more; a third is killed with SIGKILL mid-way"
writer orders 2
writer orders 1000 &
wpid=$!
kill -9 $wpid 2>/dev/null || true
wait $wpid 2>/dev/null || true

step "the reader restarts and resumes exactly after the last record it handled"
reader orders billing 4

step "what the kernel says about the ring (/proc/shmring)"
cat /proc/shmring
