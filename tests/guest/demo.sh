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

step "a durable reader (subscription 'billing') handles 3 of them and exits"
reader orders billing 3

step "it starts again, handles the rest, sleeps in epoll... and is killed with SIGKILL"
reader orders billing &
pid=$!
sleep 2
kill -9 $pid
wait $pid 2>/dev/null || true

step "meanwhile nobody has the ring open; a new writer appends 2 more"
writer orders 2

step "the reader restarts and resumes exactly after the last record it handled"
reader orders billing 2

step "an operator looks at the log with shmring-dump (as JSON for the last 2)"
shmring-dump orders
shmring-dump --json -n 2 orders

step "what the kernel says about the ring (/proc/shmring)"
cat /proc/shmring
