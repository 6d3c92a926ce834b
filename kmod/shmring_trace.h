/* SPDX-License-Identifier: GPL-2.0 */
/*
 * shmring tracepoints: events/shmring/ in tracefs, shmring:* for perf and
 * bpftrace. docs/tracing.md describes each event and its fields.
 *
 * Every string is a kernel copy of bounded length: ring names (at most
 * SHMRING_NAME_MAX - 1 bytes, checked at creation) and subscription names
 * (SHMRING_SUB_NAME_MAX - 1, copied with strscpy()). Nothing here reads
 * user memory. A disabled event costs a static branch (a no-op); work done
 * only for an event is guarded by trace_<event>_enabled().
 *
 * shmring_trace.c defines CREATE_TRACE_POINTS and includes this header.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM shmring

#if !defined(_SHMRING_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _SHMRING_TRACE_H

#include <linux/tracepoint.h>
#include <linux/uidgid.h>

#include "shmring_internal.h"

#define shmring_show_policy(p)						\
	__print_symbolic(p, { SHMRING_POLICY_OVERWRITE, "overwrite" },	\
			 { SHMRING_POLICY_LOSSLESS, "lossless" })

/* A ring was created (inserted into its IPC namespace). */
TRACE_EVENT(shmring_ring_create,
	TP_PROTO(const struct shmring_ring *ring),
	TP_ARGS(ring),
	TP_STRUCT__entry(
		__string(ring, ring->name)
		__field(u64, size)
		__field(u32, max_record)
		__field(u32, policy)
		__field(u32, flags)
		__field(u32, chunk)
		__field(u32, mode)
		__field(u32, uid)
	),
	TP_fast_assign(
		shmring_assign_str(ring, ring->name);
		__entry->size = ring->data_size;
		__entry->max_record = ring->max_record;
		__entry->policy = ring->policy;
		__entry->flags = ring->flags;
		__entry->chunk = ring->zc_chunk;
		__entry->mode = ring->mode;
		__entry->uid = from_kuid(&init_user_ns, ring->uid);
	),
	TP_printk("ring=%s size=%llu max_record=%u policy=%s flags=0x%x chunk=%u mode=0%o uid=%u",
		  __get_str(ring), __entry->size, __entry->max_record,
		  shmring_show_policy(__entry->policy), __entry->flags,
		  __entry->chunk, __entry->mode, __entry->uid)
);

/* A ring left its namespace: unlinked, or its namespace died. */
TRACE_EVENT(shmring_ring_unlink,
	TP_PROTO(const struct shmring_ring *ring),
	TP_ARGS(ring),
	TP_STRUCT__entry(
		__string(ring, ring->name)
		__field(u64, size)
		__field(u32, policy)
		__field(u32, flags)
		__field(u64, records)
		__field(u64, lost)
	),
	TP_fast_assign(
		shmring_assign_str(ring, ring->name);
		__entry->size = ring->data_size;
		__entry->policy = ring->policy;
		__entry->flags = ring->flags;
		__entry->records = READ_ONCE(ring->records_written);
		__entry->lost = READ_ONCE(ring->records_lost);
	),
	TP_printk("ring=%s size=%llu policy=%s flags=0x%x records=%llu lost=%llu",
		  __get_str(ring), __entry->size,
		  shmring_show_policy(__entry->policy), __entry->flags,
		  __entry->records, __entry->lost)
);

/*
 * Records were committed (numbered under wlock; readers see them before
 * the call returns), one event per commit: a write(2), or a WRITE_BATCH
 * record too large to stage (count 1); the records of WRITE_BATCH staged
 * together (count of them, seq the first: shmring_write(3) is a batch of
 * one); a zero-copy chunk when it closes (seq SHMRING_TRACE_SEQ_NONE:
 * zero-copy records are numbered by readers, in chunk order; type 0).
 * bytes is payload; type is the first record's.
 */
#define SHMRING_TRACE_SEQ_NONE	U64_MAX

TRACE_EVENT(shmring_commit,
	TP_PROTO(const struct shmring_ring *ring, u64 seq, u32 count,
		 u64 bytes, u32 type),
	TP_ARGS(ring, seq, count, bytes, type),
	TP_STRUCT__entry(
		__string(ring, ring->name)
		__field(u64, seq)
		__field(u32, count)
		__field(u32, type)
		__field(u64, bytes)
	),
	TP_fast_assign(
		shmring_assign_str(ring, ring->name);
		__entry->seq = seq;
		__entry->count = count;
		__entry->type = type;
		__entry->bytes = bytes;
	),
	TP_printk("ring=%s seq=%llu count=%u bytes=%llu type=%u",
		  __get_str(ring), __entry->seq, __entry->count,
		  __entry->bytes, __entry->type)
);

/*
 * The tail moved over @lost records some reader or subscription had not
 * read (overwrite policy); @tail_seq is the oldest record left.
 */
TRACE_EVENT(shmring_lost,
	TP_PROTO(const struct shmring_ring *ring, u64 lost, u64 tail_seq),
	TP_ARGS(ring, lost, tail_seq),
	TP_STRUCT__entry(
		__string(ring, ring->name)
		__field(u64, lost)
		__field(u64, tail_seq)
		__field(u64, total)
	),
	TP_fast_assign(
		shmring_assign_str(ring, ring->name);
		__entry->lost = lost;
		__entry->tail_seq = tail_seq;
		__entry->total = READ_ONCE(ring->records_lost);
	),
	TP_printk("ring=%s lost=%llu tail_seq=%llu total=%llu",
		  __get_str(ring), __entry->lost, __entry->tail_seq,
		  __entry->total)
);

/*
 * A cursor was lapped: the tail passed it. @sub is the subscription's
 * name ("" for a reader of its own), @pid the reader's (0 for a detached
 * subscription); @from where the cursor was, @to the new tail, @seq the
 * sequence number there (where the reader resumes).
 */
TRACE_EVENT(shmring_reader_lapped,
	TP_PROTO(const struct shmring_ring *ring, const char *sub, pid_t pid,
		 bool tap, u64 from, u64 to, u64 seq),
	TP_ARGS(ring, sub, pid, tap, from, to, seq),
	TP_STRUCT__entry(
		__string(ring, ring->name)
		__string(sub, sub)
		__field(pid_t, pid)
		__field(bool, tap)
		__field(u64, from)
		__field(u64, to)
		__field(u64, seq)
	),
	TP_fast_assign(
		shmring_assign_str(ring, ring->name);
		shmring_assign_str(sub, sub);
		__entry->pid = pid;
		__entry->tap = tap;
		__entry->from = from;
		__entry->to = to;
		__entry->seq = seq;
	),
	TP_printk("ring=%s sub=%s pid=%d tap=%d from=%llu to=%llu seq=%llu",
		  __get_str(ring), __get_str(sub), __entry->pid, __entry->tap,
		  __entry->from, __entry->to, __entry->seq)
);

/* A lossless writer goes to sleep until @bytes fit. */
TRACE_EVENT(shmring_writer_wait,
	TP_PROTO(const struct shmring_ring *ring, u64 bytes),
	TP_ARGS(ring, bytes),
	TP_STRUCT__entry(
		__string(ring, ring->name)
		__field(u64, bytes)
		__field(u64, waits)
	),
	TP_fast_assign(
		shmring_assign_str(ring, ring->name);
		__entry->bytes = bytes;
		__entry->waits = READ_ONCE(ring->writer_waits);
	),
	TP_printk("ring=%s bytes=%llu waits=%llu",
		  __get_str(ring), __entry->bytes, __entry->waits)
);

/*
 * The writer stopped waiting: @ret 0 (room, or the ring was unlinked) or
 * -ERESTARTSYS (a signal); @wakeups times it was woken to look.
 */
TRACE_EVENT(shmring_writer_woken,
	TP_PROTO(const struct shmring_ring *ring, u64 bytes, int ret,
		 u32 wakeups),
	TP_ARGS(ring, bytes, ret, wakeups),
	TP_STRUCT__entry(
		__string(ring, ring->name)
		__field(u64, bytes)
		__field(int, ret)
		__field(u32, wakeups)
	),
	TP_fast_assign(
		shmring_assign_str(ring, ring->name);
		__entry->bytes = bytes;
		__entry->ret = ret;
		__entry->wakeups = wakeups;
	),
	TP_printk("ring=%s bytes=%llu ret=%d wakeups=%u",
		  __get_str(ring), __entry->bytes, __entry->ret,
		  __entry->wakeups)
);

/* A reader attached to a durable subscription (@created: made for it). */
TRACE_EVENT(shmring_sub_attach,
	TP_PROTO(const struct shmring_ring *ring, const struct shmring_sub *sub,
		 bool created),
	TP_ARGS(ring, sub, created),
	TP_STRUCT__entry(
		__string(ring, ring->name)
		__string(sub, sub->name)
		__field(bool, created)
		__field(bool, shared)
		__field(u64, pos)
		__field(u64, seq)
	),
	TP_fast_assign(
		shmring_assign_str(ring, ring->name);
		shmring_assign_str(sub, sub->name);
		__entry->created = created;
		__entry->shared = sub->shared;
		__entry->pos = READ_ONCE(sub->rp->pos) & ~SHMRING_POS_LAPPED;
		__entry->seq = READ_ONCE(sub->rp->seq);
	),
	TP_printk("ring=%s sub=%s created=%d shared=%d pos=%llu seq=%llu",
		  __get_str(ring), __get_str(sub), __entry->created,
		  __entry->shared, __entry->pos, __entry->seq)
);

/* A reader detached from a durable subscription; where it stays. */
TRACE_EVENT(shmring_sub_detach,
	TP_PROTO(const struct shmring_ring *ring, const struct shmring_sub *sub),
	TP_ARGS(ring, sub),
	TP_STRUCT__entry(
		__string(ring, ring->name)
		__string(sub, sub->name)
		__field(u64, pos)
		__field(u64, seq)
		__field(u64, read)
		__field(u64, lost)
	),
	TP_fast_assign(
		shmring_assign_str(ring, ring->name);
		shmring_assign_str(sub, sub->name);
		__entry->pos = READ_ONCE(sub->rp->pos) & ~SHMRING_POS_LAPPED;
		__entry->seq = READ_ONCE(sub->rp->seq);
		__entry->read = READ_ONCE(sub->rp->records_read);
		__entry->lost = READ_ONCE(sub->rp->records_lost);
	),
	TP_printk("ring=%s sub=%s pos=%llu seq=%llu read=%llu lost=%llu",
		  __get_str(ring), __get_str(sub), __entry->pos, __entry->seq,
		  __entry->read, __entry->lost)
);

#endif /* _SHMRING_TRACE_H */

/* Outside the guard: define_trace.h reads this file again from here. */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE shmring_trace
#include <trace/define_trace.h>
