// The I/O primitives Node lacks, for the two hot loops:
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
// - `mrc save`'s reads of a RAM image (src/impl/channel-worker.ts): mapImage maps a window of the image
//   read-only, as QEMU's guest RAM is mapped, so pages are checked for zeros where they lie (zeroPages)
//   and only the others are copied out (copyOut) to be written. A window is unmapped (unmap) before the
//   next is mapped. A page the image no longer has (the file shrank after it was checked) raises SIGBUS
//   on access; zeroPages and copyOut (the copy of the other pages into a slot), the only readers of a
//   mapping, catch it and say so, and the caller rereads with pread, which names the short image.
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
  int src, dst, threads;
  const uint8_t *bitmap;
  int64_t num_pages, pages_offset, page_size, chunk_pages;
  int32_t *control;
  pthread_mutex_t lock;
  int write_lock; /* 0 free, 1 held, 2 held and a thread may sleep on it (Drepper's mutex2) */
  int64_t spin_ns; /* how long a waiter spins: 0 when this process may run on one CPU only */
  struct failure f;
  double page, run_bytes; /* the failed run: its first page, and its bytes */
  napi_async_work work;
  napi_ref refs[4]; /* bitmap, control, result, callback */
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

static void write_lock(struct block_copy *c) {
  if (write_lock_take(&c->write_lock, 0, 1)) return;
  int64_t until = monotonic_ns() + c->spin_ns;
  for (unsigned i = 1;; i++) {
    if (__atomic_load_n(&c->write_lock, __ATOMIC_RELAXED) == 0 && write_lock_take(&c->write_lock, 0, 1)) return;
    if ((i & 63) == 0 && monotonic_ns() > until) break;
    cpu_relax();
  }
#ifdef __linux__
  /* taken as 2 (a sleeper may wait), so the unlock wakes one */
  while (__atomic_exchange_n(&c->write_lock, 2, __ATOMIC_ACQUIRE) != 0)
    syscall(SYS_futex, &c->write_lock, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
#else
  while (!write_lock_take(&c->write_lock, 0, 1)) sched_yield();
#endif
}

static void write_unlock(struct block_copy *c) {
  if (__atomic_exchange_n(&c->write_lock, 0, __ATOMIC_RELEASE) == 2) {
#ifdef __linux__
    syscall(SYS_futex, &c->write_lock, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
#endif
  }
}

static void block_copy_fail(struct block_copy *c, const struct failure *f, int64_t page, int64_t run_bytes) {
  pthread_mutex_lock(&c->lock);
  if (c->f.status == STATUS_OK) {
    c->f = *f;
    c->page = (double)page;
    c->run_bytes = (double)run_bytes;
  }
  pthread_mutex_unlock(&c->lock);
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
    write_lock(c);
    for (int i = 0; i < n; i++) {
      if (write_run(c->dst, buf + (runs[i].page - first) * c->page_size, runs[i].page * c->page_size, runs[i].have,
                    &write_failure) != 0) {
        failed = i;
        break;
      }
      if (runs[i].have == runs[i].bytes) copied += runs[i].bytes / c->page_size;
    }
    write_unlock(c);
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

/* On a libuv pool thread: threads - 1 more channels, this thread the last. */
static void block_copy_execute(napi_env env, void *data) {
  (void)env;
  struct block_copy *c = data;
  pthread_t others[63];
  int started = 0;
  for (int i = 1; i < c->threads && started < 63; i++) {
    if (pthread_create(&others[started], NULL, block_copy_channel, c) != 0) break; /* fewer channels then */
    started++;
  }
  block_copy_channel(c);
  for (int i = 0; i < started; i++) pthread_join(others[i], NULL);
}

static void block_copy_complete(napi_env env, napi_status status, void *data) {
  struct block_copy *c = data;
  napi_value result_value, callback, global, ret;
  napi_typedarray_type type;
  size_t length;
  void *result_data;
  if (napi_get_reference_value(env, c->refs[2], &result_value) == napi_ok &&
      napi_get_typedarray_info(env, result_value, &type, &length, &result_data, NULL, NULL) == napi_ok) {
    double *result = result_data;
    result[0] = c->f.status;
    result[1] = c->page;
    result[2] = c->f.err;
    result[3] = c->f.where;
    result[4] = c->run_bytes;
  }
  if (napi_get_reference_value(env, c->refs[3], &callback) == napi_ok && napi_get_global(env, &global) == napi_ok &&
      napi_create_int32(env, status == napi_ok ? (int32_t)c->f.status : -1, &ret) == napi_ok)
    napi_call_function(env, global, callback, 1, &ret, NULL);
  for (int i = 0; i < 4; i++) napi_delete_reference(env, c->refs[i]);
  napi_delete_async_work(env, c->work);
  pthread_mutex_destroy(&c->lock);
  free(c);
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
  napi_typedarray_type type;
  size_t bitmap_len, control_len, result_len;
  void *bitmap_data, *control_data, *result_data;
  napi_valuetype fn_type;
  if (napi_get_typedarray_info(env, argv[2], &type, &bitmap_len, &bitmap_data, NULL, NULL) != napi_ok ||
      type != napi_uint8_array || (double)bitmap_len * 8 < num_pages)
    return fail_args(env, "copyPages: bitmap must be a Uint8Array of a bit per page");
  if (napi_get_typedarray_info(env, argv[8], &type, &control_len, &control_data, NULL, NULL) != napi_ok ||
      type != napi_int32_array || control_len < 2)
    return fail_args(env, "copyPages: control must be an Int32Array of 2 numbers");
  if (napi_get_typedarray_info(env, argv[9], &type, &result_len, &result_data, NULL, NULL) != napi_ok ||
      type != napi_float64_array || result_len < 5)
    return fail_args(env, "copyPages: result must be a Float64Array of 5 numbers");
  if (napi_typeof(env, argv[10], &fn_type) != napi_ok || fn_type != napi_function)
    return fail_args(env, "copyPages: done must be a function");
  struct block_copy *c = calloc(1, sizeof *c);
  if (c == NULL) {
    napi_throw_error(env, "ENOMEM", "copyPages: out of memory");
    return NULL;
  }
  c->src = src;
  c->dst = dst;
  c->threads = threads;
  c->bitmap = bitmap_data;
  c->num_pages = (int64_t)num_pages;
  c->pages_offset = (int64_t)pages_offset;
  c->page_size = (int64_t)page_size;
  c->chunk_pages = (int64_t)chunk_pages;
  c->control = control_data;
  c->f.status = STATUS_OK;
  c->spin_ns = on_several_cpus() ? WRITE_LOCK_SPIN_NS : 0;
  pthread_mutex_init(&c->lock, NULL);
  napi_value name;
  int ok = napi_create_string_utf8(env, "mrc-copy-pages", NAPI_AUTO_LENGTH, &name) == napi_ok;
  /* kept alive until done runs: bitmap, control, result, done */
  static const int kept[4] = {2, 8, 9, 10};
  int refs = 0;
  while (ok && refs < 4 && napi_create_reference(env, argv[kept[refs]], 1, &c->refs[refs]) == napi_ok) refs++;
  ok = ok && refs == 4;
  ok = ok && napi_create_async_work(env, NULL, name, block_copy_execute, block_copy_complete, c, &c->work) == napi_ok &&
       napi_queue_async_work(env, c->work) == napi_ok;
  if (!ok) {
    for (int i = 0; i < refs; i++) napi_delete_reference(env, c->refs[i]);
    pthread_mutex_destroy(&c->lock);
    free(c);
    napi_throw_error(env, NULL, "copyPages: cannot start the copy");
  }
  return NULL;
}

/* mapImage(fd, offset, length): ArrayBuffer over [offset, offset + length) of the file, read-only and
 * populated. offset must be a multiple of pageSize (the host's). Throws an error whose code is the
 * errno, in decimal. */
static napi_value map_image(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t fd;
  double offset, length;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_double(env, argv[1], &offset) != napi_ok ||
      napi_get_value_double(env, argv[2], &length) != napi_ok || offset < 0 || length <= 0)
    return fail_args(env, "mapImage(fd, offset, length) takes a descriptor, an offset and a length > 0");
  void *at = mmap(NULL, (size_t)length, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, (off_t)offset);
  if (at == MAP_FAILED) {
    char code[16];
    snprintf(code, sizeof code, "%d", errno); /* callers fall back to pread, which names the error */
    napi_throw_error(env, code, strerror(errno));
    return NULL;
  }
  napi_value buffer;
  if (napi_create_external_arraybuffer(env, at, (size_t)length, NULL, NULL, &buffer) != napi_ok) {
    munmap(at, (size_t)length);
    napi_throw_error(env, NULL, "mapImage: cannot make an ArrayBuffer of the mapping");
    return NULL;
  }
  return buffer;
}

/* unmap(buffer): detaches an ArrayBuffer from mapImage (its length becomes 0) and unmaps it. */
static napi_value unmap(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  void *at;
  size_t length;
  bool detached;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 ||
      napi_get_arraybuffer_info(env, argv[0], &at, &length) != napi_ok)
    return fail_args(env, "unmap(buffer) takes an ArrayBuffer from mapImage");
  if (napi_is_detached_arraybuffer(env, argv[0], &detached) != napi_ok || detached || length == 0) return NULL;
  if (napi_detach_arraybuffer(env, argv[0]) != napi_ok) return fail_args(env, "unmap: the buffer cannot be detached");
  munmap(at, length);
  return NULL;
}

/* SIGBUS while zeroPages or copyOut reads a mapping: back to that call on this thread, else as before. */
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

/* zeroPages(buffer, byteOffset, pages, pageSize, out: Uint8Array): number
 * out[i] = 1 when page i (at byteOffset + i * pageSize) is all zero bytes, else 0. Returns the count of
 * zero pages, or -1 when a page is no longer in the file (SIGBUS; out is then partly filled). */
static napi_value zero_pages(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  void *data, *out_data;
  size_t length, out_length;
  double offset;
  uint32_t pages, page_size;
  napi_typedarray_type type;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 5 ||
      napi_get_arraybuffer_info(env, argv[0], &data, &length) != napi_ok ||
      napi_get_value_double(env, argv[1], &offset) != napi_ok || napi_get_value_uint32(env, argv[2], &pages) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &page_size) != napi_ok ||
      napi_get_typedarray_info(env, argv[4], &type, &out_length, &out_data, NULL, NULL) != napi_ok)
    return fail_args(env, "zeroPages(buffer, byteOffset, pages, pageSize, out) takes an ArrayBuffer and a Uint8Array");
  if (type != napi_uint8_array || out_length < pages || page_size == 0 || page_size % 64 != 0 || offset < 0 ||
      (double)length < offset + (double)pages * page_size)
    return fail_args(env, "zeroPages: the pages must lie in the buffer and out must have a byte per page");
  pthread_once(&sigbus_once, install_sigbus);
  const char *base = (const char *)data + (size_t)offset;
  uint8_t *out = out_data;
  volatile int32_t zeros = 0;
  sigjmp_buf jump;
  if (sigsetjmp(jump, 1) != 0) {
    sigbus_guard = NULL;
    napi_value ret;
    napi_create_int32(env, -1, &ret);
    return ret;
  }
  sigbus_guard = &jump;
  for (uint32_t i = 0; i < pages; i++) {
    out[i] = (uint8_t)page_is_zero((const uint8_t *)(base + (size_t)i * page_size), page_size);
    zeros += out[i];
  }
  sigbus_guard = NULL;
  napi_value ret;
  napi_create_int32(env, zeros, &ret);
  return ret;
}

/* copyOut(buffer, byteOffset, length, dest: Uint8Array, destOffset): number
 * Copies `length` bytes of a mapImage buffer into dest. Returns 0, or -1 when a page is past the end of
 * the mapped file (it shrank: SIGBUS, caught; dest is then partly written). */
static napi_value copy_out(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  void *data, *dest_data;
  size_t length, dest_length;
  double offset, count, dest_offset;
  napi_typedarray_type type;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 5 ||
      napi_get_arraybuffer_info(env, argv[0], &data, &length) != napi_ok ||
      napi_get_value_double(env, argv[1], &offset) != napi_ok || napi_get_value_double(env, argv[2], &count) != napi_ok ||
      napi_get_typedarray_info(env, argv[3], &type, &dest_length, &dest_data, NULL, NULL) != napi_ok ||
      napi_get_value_double(env, argv[4], &dest_offset) != napi_ok)
    return fail_args(env, "copyOut(buffer, byteOffset, length, dest, destOffset) takes an ArrayBuffer and a Uint8Array");
  if (type != napi_uint8_array || offset < 0 || count < 0 || dest_offset < 0 || (double)length < offset + count ||
      (double)dest_length < dest_offset + count)
    return fail_args(env, "copyOut: the bytes must lie in the buffer and in dest");
  pthread_once(&sigbus_once, install_sigbus);
  napi_value ret;
  sigjmp_buf jump;
  if (sigsetjmp(jump, 1) != 0) {
    sigbus_guard = NULL;
    napi_create_int32(env, -1, &ret);
    return ret;
  }
  sigbus_guard = &jump;
  memcpy((char *)dest_data + (size_t)dest_offset, (const char *)data + (size_t)offset, (size_t)count);
  sigbus_guard = NULL;
  napi_create_int32(env, 0, &ret);
  return ret;
}

NAPI_MODULE_INIT() {
  static const struct {
    const char *name;
    napi_callback fn;
  } functions[] = {{"copyPages", copy_pages},
                   {"mapImage", map_image}, {"unmap", unmap}, {"zeroPages", zero_pages}, {"copyOut", copy_out}};
  napi_value page_size;
  if (napi_create_int64(env, sysconf(_SC_PAGESIZE), &page_size) != napi_ok ||
      napi_set_named_property(env, exports, "pageSize", page_size) != napi_ok)
    return NULL;
  for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
    napi_value fn;
    if (napi_create_function(env, functions[i].name, NAPI_AUTO_LENGTH, functions[i].fn, NULL, &fn) != napi_ok ||
        napi_set_named_property(env, exports, functions[i].name, fn) != napi_ok)
      return NULL;
  }
  return exports;
}
