// The I/O primitives Node lacks, for the hot loops:
// - `mrc extract`'s page copy (src/impl/extract-copy.ts): copyPages copies a block's set-bit pages from
//   the migration file to the block file, a pread and a pwrite per run of pages through a buffer of its
//   own (migration/ram.c's read_ramblock_mapped_ram does one pread per run straight into guest RAM), on
//   several threads of its own, each taking chunks of pages from a shared counter as QEMU's multifd file
//   channels do (a Node worker thread takes tens of ms to start; a pthread, microseconds), reading a
//   chunk's runs and then writing them one thread at a time (see struct block_copy), off the JS thread,
//   which reads the shared page count for progress. A failure is named exactly: a read error at the
//   source offset, a write error at the output offset, or the source ending early. (sendfile was tried:
//   a little faster on one thread, slower on the two extract runs: 110 against 92 ms for 52 000 runs of
//   one page, 353 against 285 ms for 1 GiB of runs of 256 pages, in C on the 2-CPU VM.)
// - `mrc save`'s bulk pass (src/impl/save-pages.ts): savePages reads each block's pages from its RAM
//   image through read-only mappings, as QEMU's guest RAM is mapped, finds the zero pages where they lie,
//   sets and clears their bits in the shared bitmap, and writes each run of the other pages with
//   pwrites straight from the mapping, on threads of its own taking chunks of the image from a shared
//   counter, one writer at a time (see struct block_save). An image that shrinks under its mapping
//   (SIGBUS, caught, or EFAULT from a write) has the chunk read again with pread, which says where it
//   ends.
// - `mrc send`'s windows of a RAM image (src/impl/multifd/page-window.ts): mapImagePages maps a window
//   read-only and finds its zero pages where they lie, and the send writes the others to its sockets
//   straight from the mapping, as QEMU's channels write from guest RAM (copyFromMapping copies from it
//   under the SIGBUS guard); readImagePages reads a window with pread where it cannot be mapped.
// - SEEK_DATA/SEEK_HOLE, which Node cannot ask (src/impl/allocation.ts; else through python3, ~30 ms to
//   start): dataExtents, the extents of a range of a file that hold data (save skips the holes of a
//   sparse RAM image; reencode those of a page array), and allocatedBytesIn, the bytes of ranges of a
//   file that are allocated (inspect).
//
// Optional: scripts/build-native.mjs builds it into dist/native/mrc-io.node when a C compiler and
// Node's headers are there; src/impl/native-io.ts loads it, and without it the same copy runs in JS.
#define _GNU_SOURCE
#include <errno.h>
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#endif
#include <node_api.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { STATUS_OK = 0, STATUS_READ = 1, STATUS_WRITE = 2, STATUS_SHORT = 3 };

/* Where a copy stopped: status, errno, and the file offset (read: source, write: output) or, for a
 * short source, the bytes of the run that were there. */
struct failure {
  double status, err, where;
};

/* Reads one run [src_off, src_off + len) into buf with pread; 0 when all of it came, else -1 with *f
 * filled (a short source: f->where is the bytes the run had). *have is the bytes read either way. */
static int read_run(int src, uint8_t *buf, int64_t src_off, int64_t len, int64_t *have, struct failure *f) {
  int64_t done = 0;
  while (done < len) {
    ssize_t got = pread(src, buf + done, (size_t)(len - done), src_off + done);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      f->status = got < 0 ? STATUS_READ : STATUS_SHORT;
      f->err = got < 0 ? errno : 0;
      f->where = got < 0 ? (double)(src_off + done) : (double)done;
      *have = done;
      return -1;
    }
    done += got;
  }
  *have = done;
  return 0;
}

/* Writes buf[0, len) at dst_off with pwrite; 0 when all of it went, else -1 with *f filled. */
static int write_run(int dst, const uint8_t *buf, int64_t dst_off, int64_t len, struct failure *f) {
  int64_t put = 0;
  while (put < len) {
    ssize_t n = pwrite(dst, buf + put, (size_t)(len - put), dst_off + put);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      f->status = STATUS_WRITE;
      f->err = n < 0 ? errno : EIO;
      f->where = (double)(dst_off + put);
      return -1;
    }
    put += n;
  }
  return 0;
}

static napi_value fail_args(napi_env env, const char *what) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", what);
  return NULL;
}

/* Whether `value` is a typed array of `type` (then *data and *length are its elements). */
static int typed_array(napi_env env, napi_value value, napi_typedarray_type type, void **data, size_t *length) {
  napi_typedarray_type actual;
  return napi_get_typedarray_info(env, value, &actual, length, data, NULL, NULL) == napi_ok && actual == type;
}

/* One writer at a time to an output: a spin, then a futex (why, and what was measured: struct block_copy). */
struct write_lock {
  int word;        /* 0 free, 1 held, 2 held and a thread may sleep on it (Drepper's mutex2) */
  int64_t spin_ns; /* how long a waiter spins: 0 when this process may run on one CPU only */
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

enum { WRITE_LOCK_SPIN_NS = 300000 };

static int64_t monotonic_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int write_lock_take(int *word, int from, int to) {
  return __atomic_compare_exchange_n(word, &from, to, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

/* Whether this process may run on more than one CPU: on one, a waiter's spin only delays the holder. */
static int on_several_cpus(void) {
#ifdef __linux__
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set) > 1;
#endif
  return sysconf(_SC_NPROCESSORS_ONLN) > 1;
}

static void write_lock(struct write_lock *l) {
  if (write_lock_take(&l->word, 0, 1)) return;
  int64_t until = monotonic_ns() + l->spin_ns;
  for (unsigned i = 1;; i++) {
    if (__atomic_load_n(&l->word, __ATOMIC_RELAXED) == 0 && write_lock_take(&l->word, 0, 1)) return;
    if ((i & 63) == 0 && monotonic_ns() > until) break;
    cpu_relax();
  }
#ifdef __linux__
  /* taken as 2 (a sleeper may wait), so the unlock wakes one */
  while (__atomic_exchange_n(&l->word, 2, __ATOMIC_ACQUIRE) != 0)
    syscall(SYS_futex, &l->word, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
#else
  while (!write_lock_take(&l->word, 0, 1)) sched_yield();
#endif
}

static void write_unlock(struct write_lock *l) {
  if (__atomic_exchange_n(&l->word, 0, __ATOMIC_RELEASE) == 2) {
#ifdef __linux__
    syscall(SYS_futex, &l->word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
#endif
  }
}

/* On a libuv pool thread: threads - 1 more pthreads running `channel`, this thread the last. */
static void run_on_threads(void *(*channel)(void *), void *arg, int threads) {
  pthread_t others[63];
  int started = 0;
  for (int i = 1; i < threads && started < 63; i++) {
    if (pthread_create(&others[started], NULL, channel, arg) != 0) break; /* fewer channels then */
    started++;
  }
  channel(arg);
  for (int i = 0; i < started; i++) pthread_join(others[i], NULL);
}

/* What a copy and a save share (the first member of struct block_copy and struct block_save): the JS
 * side of work running off the JS thread (its work item, and references keeping its arrays and its
 * callback alive until it ends: the last two are the result words, then the callback), the threads
 * running `channel`, the write lock, and the failure kept (under `lock`). */
enum { JOB_MAX_REFS = 8 };
struct threaded_job {
  napi_async_work work;
  napi_ref refs[JOB_MAX_REFS];
  int nrefs;
  void *(*channel)(void *);
  int threads;
  pthread_mutex_t lock;
  struct write_lock write_lock;
  struct failure f;
};

/* On a libuv pool thread: the job's threads - 1 more pthreads running its channel, this thread the last. */
static void threaded_job_execute(napi_env env, void *data) {
  (void)env;
  struct threaded_job *t = data;
  run_on_threads(t->channel, t, t->threads);
}

/* Checks a job's last three arguments, argv[0..2]: control (an Int32Array of 2), result (a Float64Array
 * of `result_words`) and done (a function). Returns control's elements, or NULL after throwing. */
static int32_t *job_args(napi_env env, const napi_value *argv, size_t result_words, const char *who) {
  char what[96];
  size_t control_len, result_len;
  void *control_data, *result_data;
  napi_valuetype fn_type;
  if (!typed_array(env, argv[0], napi_int32_array, &control_data, &control_len) || control_len < 2) {
    snprintf(what, sizeof what, "%s: control must be an Int32Array of 2 numbers", who);
    fail_args(env, what);
    return NULL;
  }
  if (!typed_array(env, argv[1], napi_float64_array, &result_data, &result_len) || result_len < result_words) {
    snprintf(what, sizeof what, "%s: result must be a Float64Array of %zu numbers", who, result_words);
    fail_args(env, what);
    return NULL;
  }
  if (napi_typeof(env, argv[2], &fn_type) != napi_ok || fn_type != napi_function) {
    snprintf(what, sizeof what, "%s: done must be a function", who);
    fail_args(env, what);
    return NULL;
  }
  return control_data;
}

/* Starts `t` (calloc'ed, its own fields filled), `threads` threads running `channel` on it: keeps
 * argv[kept[i]] alive and queues the work, then `complete` on the JS thread. When napi refuses, frees `t`
 * and throws `refused`. */
static void threaded_job_start(napi_env env, struct threaded_job *t, void *(*channel)(void *), int threads,
                               const napi_value *argv, const int *kept, int n, const char *name,
                               napi_async_complete_callback complete, const char *refused) {
  t->channel = channel;
  t->threads = threads;
  t->f.status = STATUS_OK;
  t->write_lock.spin_ns = on_several_cpus() ? WRITE_LOCK_SPIN_NS : 0;
  pthread_mutex_init(&t->lock, NULL);
  napi_value resource_name;
  int ok = n <= JOB_MAX_REFS && napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource_name) == napi_ok;
  while (ok && t->nrefs < n && napi_create_reference(env, argv[kept[t->nrefs]], 1, &t->refs[t->nrefs]) == napi_ok)
    t->nrefs++;
  ok = ok && t->nrefs == n;
  ok = ok &&
       napi_create_async_work(env, NULL, resource_name, threaded_job_execute, complete, t, &t->work) == napi_ok;
  if (ok && napi_queue_async_work(env, t->work) != napi_ok) {
    napi_delete_async_work(env, t->work);
    ok = 0;
  }
  if (ok) return;
  for (int i = 0; i < t->nrefs; i++) napi_delete_reference(env, t->refs[i]);
  pthread_mutex_destroy(&t->lock);
  free(t);
  napi_throw_error(env, NULL, refused);
}

/* On the JS thread once the work ran: the result words copied into the result array, done(status)
 * called (the failure kept, or -1 when napi could not run the work), every reference, the work item and
 * `t` released. */
static void threaded_job_end(napi_env env, struct threaded_job *t, napi_status status, const double *words,
                             size_t n) {
  napi_value result_value, callback, global, ret;
  size_t length;
  void *result_data;
  if (napi_get_reference_value(env, t->refs[t->nrefs - 2], &result_value) == napi_ok &&
      typed_array(env, result_value, napi_float64_array, &result_data, &length) && length >= n)
    memcpy(result_data, words, n * sizeof *words);
  if (napi_get_reference_value(env, t->refs[t->nrefs - 1], &callback) == napi_ok &&
      napi_get_global(env, &global) == napi_ok &&
      napi_create_int32(env, status == napi_ok ? (int32_t)t->f.status : -1, &ret) == napi_ok)
    napi_call_function(env, global, callback, 1, &ret, NULL);
  for (int i = 0; i < t->nrefs; i++) napi_delete_reference(env, t->refs[i]);
  napi_delete_async_work(env, t->work);
  pthread_mutex_destroy(&t->lock);
  free(t);
}

/* One block's page copy on several threads: migration/multifd.c's file channels each running
 * read_ramblock_mapped_ram on their share. Threads take chunks of `chunk_pages` pages from control[0]
 * (shared with JS, which may read it), read every run of set bits in a chunk (the bitmap as in the file:
 * bit i is byte i / 8, bit i % 8) into their buffer, then write the chunk's runs holding the write lock,
 * and add the pages copied to control[1] (JS's progress). The first failure is kept and stops the others
 * after their current chunk (control[0] is moved past the last chunk).
 *
 * The write lock: the kernel takes the output's inode lock around every buffered write (tmpfs, ext4),
 * so writes to one file never overlap anyway; when two threads meet there, the one that waits spins and
 * sleeps in the kernel, and the copy got slower with a second thread, not faster. One writer at a time,
 * the other thread reading its next chunk meanwhile, is faster or the same. In C on the 2-CPU VM, two
 * threads, medians of 3: 52 000 runs of one page to tmpfs (4 GiB, 95 % zero) 106 -> 87 ms; 1 GiB with
 * 50 % zero pages 195 -> 150 ms to tmpfs, 283 -> 205 ms to ext4; 1 GiB of runs of 256 pages ~300 ms
 * either way. A waiter spins for up to WRITE_LOCK_SPIN_NS (the other's chunk of writes takes tens of
 * microseconds; waking a sleeper costs more: a plain mutex made it 155-172 ms), then sleeps on a futex
 * (src/impl/write-lock.ts does the same for mrc save's threads). Sleeping matters when the holder stalls
 * in the kernel (writeback throttling, reclaim): 4 GiB of dense runs onto ext4 take 0.9 to 6 s on this VM
 * whichever lock is used, and in the slow runs a waiter that spun and yielded instead burnt 1.1-5.5 s of
 * user CPU, a sleeping one at most 0.7 s; elsewhere the two are as fast (1 GiB onto ext4: 0.20-0.23 s
 * for both). With two CPU hogs beside it, 126-148 ms for the 4 GiB 95 %-zero copy (122-182 ms without
 * the lock). A process that may run on one CPU only does not spin: there, 1 GiB 50 % zero took 250-258 ms
 * with a waiter that sleeps at once, 264-268 ms with one that spins first, 252-278 ms without the lock. */
struct block_copy {
  struct threaded_job t;
  int src, dst;
  const uint8_t *bitmap;
  int64_t num_pages, pages_offset, page_size, chunk_pages;
  int32_t *control;
  double page, run_bytes; /* the failed run: its first page, and its bytes */
};

static void block_copy_fail(struct block_copy *c, const struct failure *f, int64_t page, int64_t run_bytes) {
  pthread_mutex_lock(&c->t.lock);
  if (c->t.f.status == STATUS_OK) {
    c->t.f = *f;
    c->page = (double)page;
    c->run_bytes = (double)run_bytes;
  }
  pthread_mutex_unlock(&c->t.lock);
  int64_t chunks = (c->num_pages + c->chunk_pages - 1) / c->chunk_pages;
  __atomic_store_n(&c->control[0], (int32_t)(chunks < INT32_MAX ? chunks : INT32_MAX), __ATOMIC_SEQ_CST);
}

/* A run of a chunk: its first page, its bytes, and the bytes read of it. */
struct run {
  int64_t page, bytes, have;
};

static void *block_copy_channel(void *arg) {
  struct block_copy *c = arg;
  size_t buf_len = (size_t)(c->chunk_pages * c->page_size);
  uint8_t *buf = malloc(buf_len);
  /* runs of set bits in a chunk are at least one clear bit apart */
  struct run *runs = malloc(sizeof *runs * (size_t)((c->chunk_pages + 1) / 2));
  if (buf == NULL || runs == NULL) {
    struct failure f = {STATUS_READ, ENOMEM, (double)c->pages_offset};
    block_copy_fail(c, &f, 0, 0);
    free(buf);
    free(runs);
    return NULL;
  }
  for (;;) {
    int64_t first = (int64_t)__atomic_fetch_add(&c->control[0], 1, __ATOMIC_SEQ_CST) * c->chunk_pages;
    if (first < 0 || first >= c->num_pages) break;
    int64_t end = first + c->chunk_pages < c->num_pages ? first + c->chunk_pages : c->num_pages;
    /* read the chunk's runs, each at its place in buf, up to the first that fails */
    struct failure read_failure = {STATUS_OK, 0, 0};
    int n = 0;
    for (int64_t p = first; p < end;) {
      if (!(c->bitmap[p >> 3] >> (p & 7) & 1)) {
        p++;
        continue;
      }
      int64_t q = p + 1;
      while (q < end && (c->bitmap[q >> 3] >> (q & 7) & 1)) q++;
      struct run *r = &runs[n++];
      r->page = p;
      r->bytes = (q - p) * c->page_size;
      if (read_run(c->src, buf + (p - first) * c->page_size, c->pages_offset + p * c->page_size, r->bytes, &r->have,
                   &read_failure) != 0)
        break;
      p = q;
    }
    if (n == 0) continue; /* a chunk of clear bits: nothing to write, no lock to take */
    /* write what was read, in order: a write failure before the failed read is the first failure */
    struct failure write_failure = {STATUS_OK, 0, 0};
    int64_t copied = 0;
    int failed = -1;
    write_lock(&c->t.write_lock);
    for (int i = 0; i < n; i++) {
      if (write_run(c->dst, buf + (runs[i].page - first) * c->page_size, runs[i].page * c->page_size, runs[i].have,
                    &write_failure) != 0) {
        failed = i;
        break;
      }
      if (runs[i].have == runs[i].bytes) copied += runs[i].bytes / c->page_size;
    }
    write_unlock(&c->t.write_lock);
    __atomic_fetch_add(&c->control[1], (int32_t)copied, __ATOMIC_SEQ_CST);
    if (failed >= 0 || read_failure.status != STATUS_OK) {
      const struct run *r = &runs[failed >= 0 ? failed : n - 1];
      block_copy_fail(c, failed >= 0 ? &write_failure : &read_failure, r->page, r->bytes);
      break;
    }
  }
  free(buf);
  free(runs);
  return NULL;
}

static void block_copy_complete(napi_env env, napi_status status, void *data) {
  struct block_copy *c = data;
  const double words[5] = {c->t.f.status, c->page, c->t.f.err, c->t.f.where, c->run_bytes};
  threaded_job_end(env, &c->t, status, words, 5);
}

/* copyPages(src, dst, bitmap: Uint8Array, numPages, pagesOffset, pageSize, chunkPages, threads,
 *           control: Int32Array(2), result: Float64Array(5), done: (status) => void): undefined
 * Copies every set-bit page p of the block from src at pagesOffset + p * pageSize to dst at
 * p * pageSize on `threads` threads, off the JS thread; then done(status) with result = [status, first
 * page of the failed run, errno, offset (read: source, write: output) or bytes of the run the source
 * still had, bytes of the run]. */
static napi_value copy_pages(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value argv[11];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 11)
    return fail_args(env, "copyPages(src, dst, bitmap, numPages, pagesOffset, pageSize, chunkPages, threads, control, "
                          "result, done) takes eleven arguments");
  int32_t src, dst, threads;
  double num_pages, pages_offset, page_size, chunk_pages;
  if (napi_get_value_int32(env, argv[0], &src) != napi_ok || napi_get_value_int32(env, argv[1], &dst) != napi_ok ||
      napi_get_value_double(env, argv[3], &num_pages) != napi_ok ||
      napi_get_value_double(env, argv[4], &pages_offset) != napi_ok ||
      napi_get_value_double(env, argv[5], &page_size) != napi_ok ||
      napi_get_value_double(env, argv[6], &chunk_pages) != napi_ok ||
      napi_get_value_int32(env, argv[7], &threads) != napi_ok || num_pages < 0 || pages_offset < 0 ||
      page_size < 1 || chunk_pages < 8 || threads < 1)
    return fail_args(env, "copyPages: descriptors, counts and offsets must be numbers in range");
  size_t bitmap_len;
  void *bitmap_data;
  if (!typed_array(env, argv[2], napi_uint8_array, &bitmap_data, &bitmap_len) || (double)bitmap_len * 8 < num_pages)
    return fail_args(env, "copyPages: bitmap must be a Uint8Array of a bit per page");
  int32_t *control = job_args(env, argv + 8, 5, "copyPages");
  if (control == NULL) return NULL;
  struct block_copy *c = calloc(1, sizeof *c);
  if (c == NULL) {
    napi_throw_error(env, "ENOMEM", "copyPages: out of memory");
    return NULL;
  }
  c->src = src;
  c->dst = dst;
  c->bitmap = bitmap_data;
  c->num_pages = (int64_t)num_pages;
  c->pages_offset = (int64_t)pages_offset;
  c->page_size = (int64_t)page_size;
  c->chunk_pages = (int64_t)chunk_pages;
  c->control = control;
  /* kept alive until done runs: bitmap, control, result, done */
  static const int kept[4] = {2, 8, 9, 10};
  threaded_job_start(env, &c->t, block_copy_channel, threads, argv, kept, 4, "mrc-copy-pages", block_copy_complete,
                     "copyPages: cannot start the copy");
  return NULL;
}

/* SIGBUS while a save thread reads a mapping of the image: back to that read on this thread, else as
 * before. */
static __thread sigjmp_buf *volatile sigbus_guard __attribute__((tls_model("initial-exec")));
static struct sigaction sigbus_previous;
static pthread_once_t sigbus_once = PTHREAD_ONCE_INIT;

static void on_sigbus(int sig, siginfo_t *si, void *context) {
  (void)si;
  (void)context;
  if (sigbus_guard != NULL) siglongjmp(*sigbus_guard, 1);
  /* not one of their reads: the fault repeats under the disposition there was before */
  sigaction(sig, &sigbus_previous, NULL);
}

static void install_sigbus(void) {
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_sigaction = on_sigbus;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  sigaction(SIGBUS, &action, &sigbus_previous);
}

/* All zero bytes: a look at the first word (most data pages fail there), then glibc's memcmp (vectorized)
 * against a zero page. */
static const uint8_t zero_page[65536];

static int page_is_zero(const uint8_t *page, size_t size) {
  if (*(const uint64_t *)page != 0) return 0;
  for (size_t at = 0; at < size; at += sizeof zero_page) {
    size_t n = size - at < sizeof zero_page ? size - at : sizeof zero_page;
    if (memcmp(page + at, zero_page, n) != 0) return 0;
  }
  return 1;
}

/* The bulk pass of one block of a save (migration/multifd.c's file channels running
 * multifd_nocomp_send_prepare and file_write_ramblock_iov on their batches): threads take chunks, each
 * a range of pages of the RAM image, from control[0]. A chunk is mapped read-only, as QEMU's guest RAM
 * is mapped; with `detect` its zero pages are found where they lie (multifd_send_zero_page_detect) and
 * their bits cleared, the others' bits set; then every run of non-zero pages goes out in one pwrite
 * straight from the mapping (the kernel's copy into the output is the only one), holding the write lock
 * (struct write_lock: writes to one file serialize in the kernel anyway), a packet's pages at most per
 * pwrite (SAVE_WRITE_PAGES). control[1] counts the pages done, for JS's progress.
 *
 * The image may shrink after JS checked its size. A page past its end raises SIGBUS when the scan
 * touches it (caught) or fails the pwrite with EFAULT; either way the chunk is read again with pread into
 * a buffer, which says where the image ends, and if the image has grown back, writes what it now holds.
 * A mapping that cannot be made is read the same way.
 *
 * In C on the 2-CPU VM, a 1 GiB image onto ext4, two threads: 95 % zero pages 63-67 ms, 50 % 265-280 ms,
 * no zero page 248-260 ms. Copying the pages out of the mapping into a buffer first, to write them from
 * there, took 83-117, 295-385 and 249-2377 ms; reading each chunk with pread instead of mapping it
 * 120-126 ms for 95 % zero; four threads 91-113 ms. */
struct block_save {
  struct threaded_job t;
  int image, dst, detect;
  const double *chunks; /* pairs: first page, pages */
  int64_t nchunks, max_chunk_pages;
  uint8_t *bitmap;
  int64_t image_offset, pages_offset, page_size;
  int32_t *control;
  int64_t failed_chunk; /* the failure kept is the first in file order: the lowest chunk */
};

static void block_save_fail(struct block_save *s, const struct failure *f, int64_t chunk) {
  pthread_mutex_lock(&s->t.lock);
  if (s->t.f.status == STATUS_OK || chunk < s->failed_chunk) {
    s->t.f = *f;
    s->failed_chunk = chunk;
  }
  pthread_mutex_unlock(&s->t.lock);
  __atomic_store_n(&s->control[0], (int32_t)(s->nchunks < INT32_MAX ? s->nchunks : INT32_MAX), __ATOMIC_SEQ_CST);
}

/* flags[i] = page i of `pages` is zero (all 0 without `detect`); under the SIGBUS guard when mapped.
 * Returns 0, or -1 when a page is past the end of the mapped file. */
static int find_zero_pages(const uint8_t *pages, int64_t n, int64_t page_size, int detect, uint8_t *flags,
                           int mapped) {
  if (!detect) {
    memset(flags, 0, (size_t)n);
    return 0;
  }
  sigjmp_buf jump;
  if (mapped) {
    if (sigsetjmp(jump, 1) != 0) {
      sigbus_guard = NULL;
      return -1;
    }
    sigbus_guard = &jump;
  }
  for (int64_t i = 0; i < n; i++) flags[i] = (uint8_t)page_is_zero(pages + i * page_size, (size_t)page_size);
  sigbus_guard = NULL;
  return 0;
}

/* Pages per pwrite at most: a multifd packet's (MULTIFD_PAGES_PER_PACKET), as QEMU's channels write at
 * most a packet's pages at once. Longer writes had the kernel allocate the output's page cache in 2 MiB
 * folios, and on this VM (free page reporting: free 2 MiB blocks go back to the host) the first save
 * after a pause then took 2.0-2.6 s instead of 0.3 for a 1 GiB image with no zero page (16 MiB
 * writes, three of three times; 512 KiB writes: 0.30-0.33 s, and no slower otherwise). */
enum { SAVE_WRITE_PAGES = 128 };

/* Sets the bits of the chunk's non-zero pages and clears the others' (bytes may be shared with another
 * chunk's pages: atomically), then writes every run of non-zero pages of `pages` holding the write lock.
 * Returns 0, 1 when a pwrite met EFAULT reading a mapping (the image shrank), or -1 with *f filled. */
static int write_chunk(struct block_save *s, int64_t first, int64_t n, const uint8_t *flags, const uint8_t *pages,
                       int mapped, struct failure *f) {
  int any = 0;
  for (int64_t i = 0; i < n; i++) {
    int64_t p = first + i;
    uint8_t bit = (uint8_t)(1u << (p & 7));
    if (flags[i])
      __atomic_fetch_and(&s->bitmap[p >> 3], (uint8_t)~bit, __ATOMIC_RELAXED);
    else {
      __atomic_fetch_or(&s->bitmap[p >> 3], bit, __ATOMIC_RELAXED);
      any = 1;
    }
  }
  if (!any) return 0;
  int ret = 0;
  write_lock(&s->t.write_lock);
  for (int64_t i = 0; i < n && ret == 0;) {
    if (flags[i]) {
      i++;
      continue;
    }
    int64_t j = i + 1;
    while (j < n && !flags[j] && j - i < SAVE_WRITE_PAGES) j++;
    if (write_run(s->dst, pages + i * s->page_size, s->pages_offset + (first + i) * s->page_size,
                  (j - i) * s->page_size, f) != 0)
      ret = mapped && f->err == EFAULT ? 1 : -1;
    i = j;
  }
  write_unlock(&s->t.write_lock);
  return ret;
}

/* A chunk shorter than this is read with pread, not mapped: a mapping costs two system calls and a TLB
 * flush, more than copying a few pages. The page array of a sparse file saved again (reencode) is
 * mostly runs of one page: for the 1 GiB 95 %-zero file, 13 000 chunks, 490-554 ms mapped, 203-217 ms
 * read (mapping from 16 or from 64 pages: the same; 50 %-zero image files no slower). */
enum { SAVE_MAP_MIN_PAGES = 16 };

/* A read-only, populated mapping of `n` pages of `fd` from byte `start` (which need not be on a host
 * page): `pages` is where they are, `base` and `len` what munmap takes. */
struct page_map {
  uint8_t *base;
  size_t len;
  const uint8_t *pages;
};

/* 0 with *m made; -1 for fewer than SAVE_MAP_MIN_PAGES pages or when the mapping cannot be made. */
static int map_pages(int fd, int64_t start, int64_t n, int64_t page_size, struct page_map *m) {
  int64_t lead = start % sysconf(_SC_PAGESIZE);
  if (n < SAVE_MAP_MIN_PAGES) return -1;
  m->len = (size_t)(lead + n * page_size);
  m->base = mmap(NULL, m->len, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, (off_t)(start - lead));
  if (m->base == MAP_FAILED) return -1;
  m->pages = m->base + lead;
  return 0;
}

/* One chunk: mapped (SAVE_MAP_MIN_PAGES or more), else (or when the mapping fails) read into *buf,
 * allocated on first need. */
static int save_chunk(struct block_save *s, int64_t first, int64_t n, uint8_t *flags, uint8_t **buf,
                      struct failure *f) {
  int64_t start = s->image_offset + first * s->page_size;
  struct page_map m;
  if (map_pages(s->image, start, n, s->page_size, &m) == 0) {
    /* 1: a page past the image's end (SIGBUS in the scan, EFAULT in a write) */
    int r = find_zero_pages(m.pages, n, s->page_size, s->detect, flags, 1) == 0
                ? write_chunk(s, first, n, flags, m.pages, 1, f)
                : 1;
    munmap(m.base, m.len);
    if (r <= 0) return r;
  }
  if (*buf == NULL && (*buf = malloc((size_t)(s->max_chunk_pages * s->page_size))) == NULL) {
    f->status = STATUS_READ;
    f->err = ENOMEM;
    f->where = (double)(first * s->page_size);
    return -1;
  }
  int64_t have;
  if (read_run(s->image, *buf, start, n * s->page_size, &have, f) != 0) {
    /* where the image ends, or where the read failed, from the block's page 0 */
    f->where = (double)(first * s->page_size + have);
    return -1;
  }
  find_zero_pages(*buf, n, s->page_size, s->detect, flags, 0);
  return write_chunk(s, first, n, flags, *buf, 0, f);
}

static void *block_save_channel(void *arg) {
  struct block_save *s = arg;
  uint8_t *flags = malloc((size_t)s->max_chunk_pages);
  uint8_t *buf = NULL;
  if (flags == NULL) {
    struct failure f = {STATUS_READ, ENOMEM, 0};
    block_save_fail(s, &f, 0);
    return NULL;
  }
  for (;;) {
    int64_t k = (int64_t)__atomic_fetch_add(&s->control[0], 1, __ATOMIC_SEQ_CST);
    if (k < 0 || k >= s->nchunks) break;
    int64_t first = (int64_t)s->chunks[2 * k], n = (int64_t)s->chunks[2 * k + 1];
    struct failure f = {STATUS_OK, 0, 0};
    if (save_chunk(s, first, n, flags, &buf, &f) != 0) {
      block_save_fail(s, &f, k);
      break;
    }
    __atomic_fetch_add(&s->control[1], (int32_t)n, __ATOMIC_SEQ_CST);
  }
  free(flags);
  free(buf);
  return NULL;
}

static void block_save_complete(napi_env env, napi_status status, void *data) {
  struct block_save *s = data;
  const double words[4] = {s->t.f.status, s->t.f.status == STATUS_OK ? -1 : (double)s->failed_chunk, s->t.f.err,
                           s->t.f.where};
  threaded_job_end(env, &s->t, status, words, 4);
}

/* savePages(image, imageOffset, dst, pagesOffset, pageSize, detect, bitmap: Uint8Array,
 *           chunks: Float64Array, threads, control: Int32Array(2), result: Float64Array(4),
 *           done: (status) => void): undefined
 * The bulk pass of one block (struct block_save): every page named by `chunks` ([first page, pages]
 * pairs) is read from `image` at imageOffset + page * pageSize; with `detect`, zero pages have their bit
 * cleared and are not written, the others have it set and go to `dst` at pagesOffset + page * pageSize.
 * Then done(status) with result = [status, the failed chunk, errno, offset]: for a failed read the image
 * offset (from the block's page 0), for a short image where it ends, for a failed write the output's. */
static napi_value save_pages(napi_env env, napi_callback_info info) {
  size_t argc = 12;
  napi_value argv[12];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 12)
    return fail_args(env, "savePages(image, imageOffset, dst, pagesOffset, pageSize, detect, bitmap, chunks, "
                          "threads, control, result, done) takes twelve arguments");
  int32_t image, dst, threads, detect;
  double image_offset, pages_offset, page_size;
  if (napi_get_value_int32(env, argv[0], &image) != napi_ok ||
      napi_get_value_double(env, argv[1], &image_offset) != napi_ok ||
      napi_get_value_int32(env, argv[2], &dst) != napi_ok ||
      napi_get_value_double(env, argv[3], &pages_offset) != napi_ok ||
      napi_get_value_double(env, argv[4], &page_size) != napi_ok ||
      napi_get_value_int32(env, argv[5], &detect) != napi_ok ||
      napi_get_value_int32(env, argv[8], &threads) != napi_ok || image_offset < 0 || pages_offset < 0 ||
      page_size < 8 || (int64_t)page_size % 8 != 0 || threads < 1)
    return fail_args(env, "savePages: descriptors, counts and offsets must be numbers in range");
  size_t bitmap_len, chunks_len;
  void *bitmap_data, *chunks_data;
  if (!typed_array(env, argv[6], napi_uint8_array, &bitmap_data, &bitmap_len))
    return fail_args(env, "savePages: bitmap must be a Uint8Array");
  if (!typed_array(env, argv[7], napi_float64_array, &chunks_data, &chunks_len) || chunks_len % 2 != 0)
    return fail_args(env, "savePages: chunks must be a Float64Array of [first page, pages] pairs");
  const double *chunks = chunks_data;
  double max_chunk = 1;
  for (size_t i = 0; i < chunks_len; i += 2) {
    double first = chunks[i], n = chunks[i + 1];
    if (!(first >= 0 && n >= 1 && n <= 1 << 20 && first == (double)(int64_t)first && n == (double)(int64_t)n &&
          first + n <= (double)bitmap_len * 8))
      return fail_args(env, "savePages: a chunk must be 1 to 2^20 whole pages within the bitmap");
    if (n > max_chunk) max_chunk = n;
  }
  int32_t *control = job_args(env, argv + 9, 4, "savePages");
  if (control == NULL) return NULL;
  pthread_once(&sigbus_once, install_sigbus);
  struct block_save *s = calloc(1, sizeof *s);
  if (s == NULL) {
    napi_throw_error(env, "ENOMEM", "savePages: out of memory");
    return NULL;
  }
  s->image = image;
  s->dst = dst;
  s->detect = detect != 0;
  s->chunks = chunks;
  s->nchunks = (int64_t)(chunks_len / 2);
  s->max_chunk_pages = (int64_t)max_chunk;
  s->bitmap = bitmap_data;
  s->image_offset = (int64_t)image_offset;
  s->pages_offset = (int64_t)pages_offset;
  s->page_size = (int64_t)page_size;
  s->control = control;
  /* kept alive until done runs: bitmap, chunks, control, result, done */
  static const int kept[5] = {6, 7, 9, 10, 11};
  threaded_job_start(env, &s->t, block_save_channel, threads, argv, kept, 5, "mrc-save-pages", block_save_complete,
                     "savePages: cannot start the save");
  return NULL;
}

/* A send's window arguments (fd, offset, pageSize, detect) from argv[0..3]: 0 unless each is a number and
 * offset a whole number under 2^53, pageSize a multiple of 8 from 8 to 1 MiB. */
static int window_args(napi_env env, const napi_value *argv, int32_t *fd, double *offset, double *page_size,
                       int32_t *detect) {
  return napi_get_value_int32(env, argv[0], fd) == napi_ok && napi_get_value_double(env, argv[1], offset) == napi_ok &&
         napi_get_value_double(env, argv[2], page_size) == napi_ok &&
         napi_get_value_int32(env, argv[3], detect) == napi_ok && *offset >= 0 && *offset < 9007199254740992.0 &&
         *offset == (double)(int64_t)*offset && *page_size >= 8 && *page_size <= 1 << 20 &&
         (int64_t)*page_size % 8 == 0;
}

/* readImagePages(fd, offset, pageSize, detect, buf: Uint8Array, flags: Uint8Array, result: Float64Array(2))
 *   : status
 * A window of flags.length pages of a RAM image from `offset`, read with pread into buf (page i at
 * buf[i * pageSize]), for `mrc send` where mapImagePages maps nothing: with `detect`, flags[i] = 1 for a
 * zero page, else 0 (all 0 without). On the calling thread. Status 0; 1 for a failed read with
 * result = [errno, file offset]; 3 when the image ends first, result = [0, the bytes of the window it
 * has]. */
static napi_value read_image_pages(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 7)
    return fail_args(env, "readImagePages(fd, offset, pageSize, detect, buf, flags, result) takes seven arguments");
  int32_t fd, detect;
  double offset, page_size;
  if (!window_args(env, argv, &fd, &offset, &page_size, &detect))
    return fail_args(env, "readImagePages: the descriptor, offset and page size must be numbers in range");
  size_t buf_len, flags_len, result_len;
  void *buf, *flags, *result;
  if (!typed_array(env, argv[4], napi_uint8_array, &buf, &buf_len) ||
      !typed_array(env, argv[5], napi_uint8_array, &flags, &flags_len) ||
      !typed_array(env, argv[6], napi_float64_array, &result, &result_len) || result_len < 2 ||
      (double)flags_len * page_size > (double)buf_len)
    return fail_args(env, "readImagePages: buf and flags must be Uint8Arrays, buf holding every page flags names, "
                          "and result a Float64Array of 2");
  int64_t n = (int64_t)flags_len, size = (int64_t)page_size, start = (int64_t)offset;
  struct failure f = {STATUS_OK, 0, 0};
  int64_t have;
  if (read_run(fd, buf, start, n * size, &have, &f) == 0) find_zero_pages(buf, n, size, detect != 0, flags, 0);
  ((double *)result)[0] = f.err;
  ((double *)result)[1] = f.where;
  napi_value status;
  napi_create_int32(env, (int32_t)f.status, &status);
  return status;
}

/* A window of a RAM image that `mrc send` writes to its sockets straight from the mapping
 * (mapImagePages), as QEMU's channels write from guest RAM: mapped until unmapImagePages, or until its
 * ArrayBuffer is collected, whichever comes first (a collected one finds its own entry, never one at the
 * same address mapped since). The list is shared by every thread that loads the helper. */
struct image_map {
  uint8_t *base;
  size_t len;
  int live;
  struct image_map *next;
};
static pthread_mutex_t image_maps_lock = PTHREAD_MUTEX_INITIALIZER;
static struct image_map *image_maps;
static double image_maps_bytes;

/* Unmaps m if it is still mapped; with image_maps_lock held. */
static void image_map_drop(struct image_map *m) {
  if (!m->live) return;
  m->live = 0;
  munmap(m->base, m->len);
  image_maps_bytes -= (double)m->len;
  for (struct image_map **p = &image_maps; *p != NULL; p = &(*p)->next)
    if (*p == m) {
      *p = m->next;
      break;
    }
}

static void image_map_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)data;
  struct image_map *m = hint;
  pthread_mutex_lock(&image_maps_lock);
  image_map_drop(m);
  pthread_mutex_unlock(&image_maps_lock);
  free(m);
}

/* mapImagePages(fd, offset, pageSize, detect, flags, result: Float64Array(1)): ArrayBuffer | null
 * The window of flags.length pages of a RAM image from `offset`, mapped read-only (populated), for
 * `mrc send` to write from: page i at result[0] + i * pageSize of the returned ArrayBuffer; with `detect`,
 * flags[i] = 1 for a zero page, else 0 (all 0 without). Null, with nothing mapped, where readImagePages
 * must read the window instead: under SAVE_MAP_MIN_PAGES pages, not a regular file, an image that ends
 * before the window does (it says where), a mapping that cannot be made, or a page gone under the scan
 * (SIGBUS, caught). JS must not read the mapping's bytes itself (an image that shrinks later would raise
 * SIGBUS there): copyFromMapping copies them under the guard. */
static napi_value map_image_pages(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6], out;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 6)
    return fail_args(env, "mapImagePages(fd, offset, pageSize, detect, flags, result) takes six arguments");
  int32_t fd, detect;
  double offset, page_size;
  if (!window_args(env, argv, &fd, &offset, &page_size, &detect))
    return fail_args(env, "mapImagePages: the descriptor, offset and page size must be numbers in range");
  size_t flags_len, result_len;
  void *flags, *result;
  if (!typed_array(env, argv[4], napi_uint8_array, &flags, &flags_len) ||
      !typed_array(env, argv[5], napi_float64_array, &result, &result_len) || result_len < 1)
    return fail_args(env, "mapImagePages: flags must be a Uint8Array and result a Float64Array of 1");
  napi_get_null(env, &out);
  pthread_once(&sigbus_once, install_sigbus);
  int64_t n = (int64_t)flags_len, size = (int64_t)page_size, start = (int64_t)offset;
  struct stat st;
  struct page_map m;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (double)st.st_size < offset + (double)n * page_size ||
      map_pages(fd, start, n, size, &m) != 0)
    return out;
  struct image_map *im = malloc(sizeof *im);
  napi_value buffer;
  if (im == NULL || find_zero_pages(m.pages, n, size, detect != 0, flags, 1) != 0 ||
      napi_create_external_arraybuffer(env, m.base, m.len, image_map_finalize, im, &buffer) != napi_ok) {
    munmap(m.base, m.len);
    free(im);
    return out;
  }
  *im = (struct image_map){m.base, m.len, 1, NULL};
  pthread_mutex_lock(&image_maps_lock);
  im->next = image_maps;
  image_maps = im;
  image_maps_bytes += (double)m.len;
  pthread_mutex_unlock(&image_maps_lock);
  ((double *)result)[0] = (double)(m.pages - m.base);
  return buffer;
}

/* unmapImagePages(buffer: ArrayBuffer): boolean
 * Unmaps a window mapImagePages made and detaches its ArrayBuffer (its views then have no bytes);
 * false when it was not one, or was unmapped already. */
static napi_value unmap_image_pages(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  void *data;
  size_t len;
  bool is_buffer = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 ||
      napi_is_arraybuffer(env, argv[0], &is_buffer) != napi_ok || !is_buffer ||
      napi_get_arraybuffer_info(env, argv[0], &data, &len) != napi_ok)
    return fail_args(env, "unmapImagePages(buffer) takes the ArrayBuffer mapImagePages returned");
  int found = 0;
  pthread_mutex_lock(&image_maps_lock);
  for (struct image_map *m = image_maps; m != NULL; m = m->next)
    if (m->base == data && m->len == len) {
      napi_detach_arraybuffer(env, argv[0]);
      image_map_drop(m);
      found = 1;
      break;
    }
  pthread_mutex_unlock(&image_maps_lock);
  napi_get_boolean(env, found, &out);
  return out;
}

/* mappedImageBytes(): number — the bytes of every window mapImagePages has mapped and not yet unmapped. */
static napi_value mapped_image_bytes(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  pthread_mutex_lock(&image_maps_lock);
  double bytes = image_maps_bytes;
  pthread_mutex_unlock(&image_maps_lock);
  napi_create_double(env, bytes, &out);
  return out;
}

/* copyFromMapping(from: Uint8Array, to: Uint8Array): boolean
 * to.set(from) under the SIGBUS guard, for bytes of a mapImagePages window: false, with `to` partly
 * written, when a page of `from` is past the end of its file now. */
static napi_value copy_from_mapping(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out;
  void *from, *to;
  size_t from_len, to_len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2 ||
      !typed_array(env, argv[0], napi_uint8_array, &from, &from_len) ||
      !typed_array(env, argv[1], napi_uint8_array, &to, &to_len) || to_len < from_len)
    return fail_args(env, "copyFromMapping(from, to) takes two Uint8Arrays, `to` at least as long");
  pthread_once(&sigbus_once, install_sigbus);
  sigjmp_buf jump;
  volatile int ok = 0;
  if (sigsetjmp(jump, 1) == 0) {
    sigbus_guard = &jump;
    memcpy(to, from, from_len);
    ok = 1;
  }
  sigbus_guard = NULL;
  napi_get_boolean(env, ok, &out);
  return out;
}

/* Calls each(ctx, start, end) for every data extent of [from, to) of the file (to clipped to `size`),
 * in file order, as lseek(SEEK_DATA/SEEK_HOLE) reports them; -1 when the kernel cannot say (an lseek
 * error other than ENXIO, the end of the data) or when `each` returns non-zero. */
static int each_extent(int fd, int64_t from, int64_t to, int64_t size, int (*each)(void *, int64_t, int64_t),
                       void *ctx) {
  if (to > size) to = size;
  for (int64_t pos = from; pos < to;) {
    off_t start = lseek(fd, (off_t)pos, SEEK_DATA);
    if (start < 0 && errno == ENXIO) break; /* no data after pos */
    if (start < 0) return -1;
    if (start >= to) break;
    off_t stop = lseek(fd, start, SEEK_HOLE);
    if (stop < 0) return -1;
    if (stop > to) stop = (off_t)to;
    if (each(ctx, (int64_t)start, (int64_t)stop) != 0) return -1;
    pos = (int64_t)stop;
  }
  return 0;
}

/* Byte extents, grown as they are found: [start, end) pairs. */
struct extents {
  int64_t *pairs;
  size_t count, cap, max;
};

/* each_extent's callback: appends [start, end); -1 past `max` extents or out of memory. */
static int push_extent(void *ctx, int64_t start, int64_t end) {
  struct extents *e = ctx;
  if (e->count >= e->max) return -1;
  if (e->count == e->cap) {
    size_t cap = e->cap == 0 ? 64 : e->cap * 2;
    int64_t *grown = realloc(e->pairs, cap * 2 * sizeof *grown);
    if (grown == NULL) return -1;
    e->pairs = grown;
    e->cap = cap;
  }
  e->pairs[2 * e->count] = start;
  e->pairs[2 * e->count + 1] = end;
  e->count++;
  return 0;
}

/* each_extent's callback: adds the extent's bytes to *(int64_t *)ctx. */
static int add_extent(void *ctx, int64_t start, int64_t end) {
  *(int64_t *)ctx += end - start;
  return 0;
}

/* dataExtents(fd, from, to, maxExtents): Float64Array | null
 * The data extents of [from, to) of the file, to clipped to its size, as lseek(SEEK_DATA/SEEK_HOLE)
 * reports them: [start, end) byte pairs in file order. null when the kernel cannot say (an lseek error
 * other than ENXIO, the end of the data) or past maxExtents: the caller then reads every byte. */
static napi_value data_extents(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  int32_t fd;
  double from, to, max_extents;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 4 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_double(env, argv[1], &from) != napi_ok ||
      napi_get_value_double(env, argv[2], &to) != napi_ok ||
      napi_get_value_double(env, argv[3], &max_extents) != napi_ok || !(from >= 0 && to >= from) ||
      to > 9007199254740992.0 || max_extents < 0)
    return fail_args(env, "dataExtents(fd, from, to, maxExtents) takes a descriptor, offsets 0 <= from <= to <= 2^53 "
                          "and a count");
  struct extents e = {NULL, 0, 0, (size_t)max_extents};
  napi_value result, buffer;
  void *data;
  struct stat st;
  if (fstat(fd, &st) != 0 || each_extent(fd, (int64_t)from, (int64_t)to, (int64_t)st.st_size, push_extent, &e) != 0 ||
      napi_create_arraybuffer(env, e.count * 2 * sizeof(double), &data, &buffer) != napi_ok ||
      napi_create_typedarray(env, napi_float64_array, e.count * 2, buffer, 0, &result) != napi_ok) {
    napi_get_null(env, &result);
  } else {
    for (size_t i = 0; i < e.count * 2; i++) ((double *)data)[i] = (double)e.pairs[i];
  }
  free(e.pairs);
  return result;
}

/* allocatedBytesIn(fd, ranges: Float64Array): Float64Array | null
 * For each [start, end) pair of `ranges`, the bytes of the file in it that lie in data extents
 * (lseek SEEK_DATA/SEEK_HOLE), end clipped to the file's size; null when the kernel cannot say. */
static napi_value allocated_bytes_in(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd;
  size_t length;
  void *ranges_data;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      !typed_array(env, argv[1], napi_float64_array, &ranges_data, &length) || length % 2 != 0)
    return fail_args(env, "allocatedBytesIn(fd, ranges) takes a descriptor and a Float64Array of [start, end) pairs");
  const double *ranges = ranges_data;
  for (size_t i = 0; i < length; i++)
    if (!(ranges[i] >= 0 && ranges[i] <= 9007199254740992.0 && ranges[i] == (double)(int64_t)ranges[i]))
      return fail_args(env, "allocatedBytesIn: offsets must be whole numbers from 0 to 2^53");
  napi_value result, buffer;
  void *data;
  struct stat st;
  if (fstat(fd, &st) != 0 || napi_create_arraybuffer(env, length / 2 * sizeof(double), &data, &buffer) != napi_ok ||
      napi_create_typedarray(env, napi_float64_array, length / 2, buffer, 0, &result) != napi_ok) {
    napi_get_null(env, &result);
    return result;
  }
  for (size_t i = 0; i < length / 2; i++) {
    int64_t n = 0;
    if (each_extent(fd, (int64_t)ranges[2 * i], (int64_t)ranges[2 * i + 1], (int64_t)st.st_size, add_extent, &n) != 0) {
      napi_get_null(env, &result);
      return result;
    }
    ((double *)data)[i] = (double)n;
  }
  return result;
}

NAPI_MODULE_INIT() {
  static const struct {
    const char *name;
    napi_callback fn;
  } functions[] = {
      {"copyPages", copy_pages}, {"savePages", save_pages}, {"dataExtents", data_extents},
      {"allocatedBytesIn", allocated_bytes_in}, {"readImagePages", read_image_pages},
      {"mapImagePages", map_image_pages}, {"unmapImagePages", unmap_image_pages},
      {"mappedImageBytes", mapped_image_bytes}, {"copyFromMapping", copy_from_mapping}};
  for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
    napi_value fn;
    if (napi_create_function(env, functions[i].name, NAPI_AUTO_LENGTH, functions[i].fn, NULL, &fn) != napi_ok ||
        napi_set_named_property(env, exports, functions[i].name, fn) != napi_ok)
      return NULL;
  }
  return exports;
}
