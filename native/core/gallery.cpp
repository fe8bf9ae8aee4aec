#include "gallery.hpp"

#include <omp.h>
#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#endif

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <sstream>

// DAKA_GALLERY_SCALAR (CMake option) forces the portable kernel: the self-test builds it too and
// checks that both kernels of an architecture agree.
#if defined(DAKA_GALLERY_SCALAR)
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define DAKA_GALLERY_AVX2 1
#elif defined(__ARM_NEON) && defined(__aarch64__)
#include <arm_neon.h>
#define DAKA_GALLERY_NEON 1
#endif

namespace daka {

namespace {

constexpr std::size_t kAlign = 64;            // bytes; one cache line
constexpr std::size_t kLaneFloats = kAlign / sizeof(float);  // 16: row stride granule
constexpr std::size_t kBlockRows = 64;        // rows per scan block (32 KiB at dim 128)
constexpr std::size_t kUnitRows = 2048;       // rows per unit of parallel work (1 MiB at 128)
constexpr std::size_t kPrefetchBytes = 4096;  // how far ahead a scan prefetches
constexpr std::size_t kHugeAlign = std::size_t{2} << 20;  // transparent huge page size

std::size_t round_up(std::size_t x, std::size_t to) { return (x + to - 1) / to * to; }

// ---------------------------------------------------------------------------------------
// Distance kernel. sqdist4 computes the squared distances from q to four rows over `len`
// floats (a multiple of 16; rows are 64-byte aligned, q need not be). Every row goes
// through exactly the same sequence of operations whichever of the four slots it occupies,
// so a row's distance is bit-identical whether it is scanned in a group of four or alone
// (a lone row is passed four times). That makes results independent of how rows are split
// among threads and of their order in the matrix.
// ---------------------------------------------------------------------------------------
#if defined(DAKA_GALLERY_AVX2)

inline void sqdist4(const float* q, const float* r0, const float* r1, const float* r2,
                    const float* r3, std::size_t len, float* out) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();
    __m256 c0 = _mm256_setzero_ps(), c1 = _mm256_setzero_ps();
    __m256 d0 = _mm256_setzero_ps(), d1 = _mm256_setzero_ps();
    for (std::size_t j = 0; j < len; j += 16) {
        const __m256 q0 = _mm256_loadu_ps(q + j);
        const __m256 q1 = _mm256_loadu_ps(q + j + 8);
        __m256 t;
        t = _mm256_sub_ps(_mm256_load_ps(r0 + j), q0);
        a0 = _mm256_fmadd_ps(t, t, a0);
        t = _mm256_sub_ps(_mm256_load_ps(r0 + j + 8), q1);
        a1 = _mm256_fmadd_ps(t, t, a1);
        t = _mm256_sub_ps(_mm256_load_ps(r1 + j), q0);
        b0 = _mm256_fmadd_ps(t, t, b0);
        t = _mm256_sub_ps(_mm256_load_ps(r1 + j + 8), q1);
        b1 = _mm256_fmadd_ps(t, t, b1);
        t = _mm256_sub_ps(_mm256_load_ps(r2 + j), q0);
        c0 = _mm256_fmadd_ps(t, t, c0);
        t = _mm256_sub_ps(_mm256_load_ps(r2 + j + 8), q1);
        c1 = _mm256_fmadd_ps(t, t, c1);
        t = _mm256_sub_ps(_mm256_load_ps(r3 + j), q0);
        d0 = _mm256_fmadd_ps(t, t, d0);
        t = _mm256_sub_ps(_mm256_load_ps(r3 + j + 8), q1);
        d1 = _mm256_fmadd_ps(t, t, d1);
    }
    // hadd(x, y) = [x0+x1, x2+x3, y0+y1, y2+y3 | x4+x5, x6+x7, y4+y5, y6+y7]: the same
    // pairing for each operand, so the reduction is symmetric across the four rows.
    const __m256 s01 = _mm256_hadd_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(b0, b1));
    const __m256 s23 = _mm256_hadd_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(d0, d1));
    const __m256 s = _mm256_hadd_ps(s01, s23);
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1)));
}

#elif defined(DAKA_GALLERY_NEON)

inline void sqdist4(const float* q, const float* r0, const float* r1, const float* r2,
                    const float* r3, std::size_t len, float* out) {
    float32x4_t a0 = vdupq_n_f32(0.f), a1 = a0, b0 = a0, b1 = a0;
    float32x4_t c0 = a0, c1 = a0, d0 = a0, d1 = a0;
    for (std::size_t j = 0; j < len; j += 8) {
        const float32x4_t q0 = vld1q_f32(q + j);
        const float32x4_t q1 = vld1q_f32(q + j + 4);
        float32x4_t t;
        t = vsubq_f32(vld1q_f32(r0 + j), q0);
        a0 = vfmaq_f32(a0, t, t);
        t = vsubq_f32(vld1q_f32(r0 + j + 4), q1);
        a1 = vfmaq_f32(a1, t, t);
        t = vsubq_f32(vld1q_f32(r1 + j), q0);
        b0 = vfmaq_f32(b0, t, t);
        t = vsubq_f32(vld1q_f32(r1 + j + 4), q1);
        b1 = vfmaq_f32(b1, t, t);
        t = vsubq_f32(vld1q_f32(r2 + j), q0);
        c0 = vfmaq_f32(c0, t, t);
        t = vsubq_f32(vld1q_f32(r2 + j + 4), q1);
        c1 = vfmaq_f32(c1, t, t);
        t = vsubq_f32(vld1q_f32(r3 + j), q0);
        d0 = vfmaq_f32(d0, t, t);
        t = vsubq_f32(vld1q_f32(r3 + j + 4), q1);
        d1 = vfmaq_f32(d1, t, t);
    }
    // vpaddq(x, y) = [x0+x1, x2+x3, y0+y1, y2+y3]: symmetric across the four rows.
    const float32x4_t s01 = vpaddq_f32(vaddq_f32(a0, a1), vaddq_f32(b0, b1));
    const float32x4_t s23 = vpaddq_f32(vaddq_f32(c0, c1), vaddq_f32(d0, d1));
    vst1q_f32(out, vpaddq_f32(s01, s23));
}

#else  // portable scalar fallback

inline float sqdist1(const float* q, const float* r, std::size_t len) {
    float s[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
    for (std::size_t j = 0; j < len; j += 8) {
        for (std::size_t l = 0; l < 8; ++l) {
            const float t = r[j + l] - q[j + l];
            s[l] += t * t;
        }
    }
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

inline void sqdist4(const float* q, const float* r0, const float* r1, const float* r2,
                    const float* r3, std::size_t len, float* out) {
    out[0] = sqdist1(q, r0, len);
    out[1] = sqdist1(q, r1, len);
    out[2] = sqdist1(q, r2, len);
    out[3] = sqdist1(q, r3, len);
}

#endif

// ---------------------------------------------------------------------------------------
// Top-k selection: a bounded max-heap (worst candidate at the front) over caller-provided
// storage, ordered by (reported distance, id), the reported distance being the float
// sqrt of the squared distance. Ordering by the reported value (not by the squared one)
// keeps "ties broken by the smaller id" exact even when two different squared distances
// round to the same float distance. Ids are unique, so the order is total and the k best
// are well defined whatever order rows are offered in.
// ---------------------------------------------------------------------------------------
struct Cand {
    float dist;  // Euclidean distance as reported
    std::int64_t id;
};

struct CandLess {
    bool operator()(const Cand& a, const Cand& b) const {
        return a.dist < b.dist || (a.dist == b.dist && a.id < b.id);
    }
};

// The largest squared distance whose float sqrt is <= r: a squared distance above it can
// be rejected without taking its square root. Only a few steps of nextafter, and only
// when the k-th best changes.
float sq_limit(float r) {
    const float inf = std::numeric_limits<float>::infinity();
    if (!(r < inf)) return inf;
    float x = r * r;
    while (x > 0.f && std::sqrt(x) > r) x = std::nextafter(x, 0.f);
    for (;;) {
        const float up = std::nextafter(x, inf);
        if (!(std::sqrt(up) <= r)) break;
        x = up;
    }
    return x;
}

class TopK {
public:
    TopK() = default;
    TopK(Cand* storage, std::size_t k) : h_(storage), k_(k) {}

    // Offers n candidates (squared distance d2[i], id ids[i]). The common case, a row
    // farther than the current k-th best, costs one comparison.
    void offer_block(const float* d2, const std::int64_t* ids, std::size_t n) {
        std::size_t i = 0;
        for (; i < n && n_ < k_; ++i) {  // filling up
            h_[n_++] = Cand{std::sqrt(d2[i]), ids[i]};
            std::push_heap(h_, h_ + n_, CandLess{});
            if (n_ == k_) limit_ = sq_limit(h_[0].dist);
        }
        for (; i < n; ++i) {
            if (d2[i] > limit_) continue;
            const Cand c{std::sqrt(d2[i]), ids[i]};
            if (!CandLess{}(c, h_[0])) continue;  // same distance, larger id
            std::pop_heap(h_, h_ + n_, CandLess{});
            h_[n_ - 1] = c;
            std::push_heap(h_, h_ + n_, CandLess{});
            limit_ = sq_limit(h_[0].dist);
        }
    }

    // Turns the heap into an ascending array; returns the number of entries.
    std::size_t finish() {
        std::sort_heap(h_, h_ + n_, CandLess{});
        return n_;
    }

    const Cand* data() const { return h_; }

private:
    Cand* h_ = nullptr;
    std::size_t k_ = 0;
    std::size_t n_ = 0;
    float limit_ = std::numeric_limits<float>::infinity();
};

// Scans rows [r_begin, r_end) against queries [q_begin, q_end) (each `stride` floats),
// feeding tops[q - q_begin]. Rows are visited in cache-sized blocks so that a batch of
// queries reuses each block while it is in L1. The first query of a block prefetches the
// rows about kPrefetchBytes ahead: the hardware prefetchers stop at 4 KiB page boundaries,
// and a search over a gallery that has dropped out of the caches (the usual case between
// two camera frames) is bound by how fast memory is streamed in.
void scan(const float* data, std::size_t stride, const std::int64_t* row_ids,
          std::size_t r_begin, std::size_t r_end, const float* queries, std::size_t q_begin,
          std::size_t q_end, TopK* tops) {
    alignas(kAlign) float d2[kBlockRows];
    const std::size_t group_bytes = 4 * stride * sizeof(float);
    const std::size_t ahead = round_up(std::max(kPrefetchBytes, group_bytes), group_bytes) /
                              (stride * sizeof(float));  // rows, a multiple of 4
    for (std::size_t b = r_begin; b < r_end; b += kBlockRows) {
        const std::size_t e = std::min(b + kBlockRows, r_end);
        for (std::size_t q = q_begin; q < q_end; ++q) {
            const float* qv = queries + q * stride;
            const bool prefetch = q == q_begin;
            std::size_t i = b;
            for (; i + 4 <= e; i += 4) {
                const float* r = data + i * stride;
                if (prefetch && i + ahead + 4 <= r_end) {
                    const char* p = reinterpret_cast<const char*>(r + ahead * stride);
                    for (std::size_t o = 0; o < group_bytes; o += kAlign) __builtin_prefetch(p + o);
                }
                sqdist4(qv, r, r + stride, r + 2 * stride, r + 3 * stride, stride, d2 + (i - b));
            }
            for (; i < e; ++i) {
                const float* r = data + i * stride;
                float t[4];
                sqdist4(qv, r, r, r, r, stride, t);
                d2[i - b] = t[0];
            }
            tops[q - q_begin].offer_block(d2, row_ids + b, e - b);
        }
    }
}

#if defined(__linux__)
// Keeps the calling OpenMP helper thread off `cpu` (the CPU the searching thread is on).
// Without this, Linux may wake a helper on the caller's own, busy CPU (seen on VMs, where
// an idle vCPU does not look idle to the scheduler); two team threads then share one CPU
// and whichever reaches libgomp's spinning join barrier first holds the CPU until the next
// scheduler tick: a 1 ms search took 4-8 ms. Setting the mask migrates the helper at once,
// and later wake-ups land on an allowed CPU directly. The mask only ever drops the
// caller's CPU from the mask the helper had when first seen, and is redone only when the
// caller has moved, so the usual cost is one comparison.
void keep_helper_off_cpu(int cpu) {
    thread_local bool have_base = false;
    thread_local cpu_set_t base;
    thread_local int avoided = -1;
    if (cpu < 0 || cpu >= CPU_SETSIZE || cpu == avoided) return;
    if (!have_base) {
        CPU_ZERO(&base);
        if (pthread_getaffinity_np(pthread_self(), sizeof base, &base) != 0) return;
        have_base = true;
    }
    avoided = cpu;
    cpu_set_t mask = base;
    if (!CPU_ISSET(cpu, &mask)) return;
    CPU_CLR(cpu, &mask);
    if (CPU_COUNT(&mask) == 0) return;  // nowhere else to go
    pthread_setaffinity_np(pthread_self(), sizeof mask, &mask);
}

int current_cpu() { return sched_getcpu(); }
#else
void keep_helper_off_cpu(int) {}
int current_cpu() { return -1; }
#endif

// Runs body(thread, unit) for every unit in [0, units) on an OpenMP team. Units are
// claimed one at a time from an atomic counter (the only state the threads share; each
// thread writes only its own results), so a helper that starts late or shares its CPU
// with another process just takes fewer units instead of holding up the search.
template <class Body>
void run_units(int threads, std::size_t units, const Body& body) {
    std::atomic<std::size_t> next{0};
    const int caller_cpu = current_cpu();
#pragma omp parallel num_threads(threads)
    {
        const auto t = static_cast<std::size_t>(omp_get_thread_num());
        if (t != 0) keep_helper_off_cpu(caller_cpu);
        for (;;) {
            const std::size_t u = next.fetch_add(1, std::memory_order_relaxed);
            if (u >= units) break;
            body(t, u);
        }
    }
}

// Writes one query's sorted candidates (n of them, n <= k) and pads to k.
void write_result(const Cand* c, std::size_t n, std::size_t k, std::int64_t* out_ids,
                  float* out_dist) {
    for (std::size_t j = 0; j < n; ++j) {
        out_ids[j] = c[j].id;
        out_dist[j] = c[j].dist;
    }
    for (std::size_t j = n; j < k; ++j) {
        out_ids[j] = -1;
        out_dist[j] = std::numeric_limits<float>::infinity();
    }
}

// Index of the first non-finite value in v[0..n), or n if all are finite. Tests the
// exponent bits so that the loop vectorizes; the index is only searched for on failure.
std::size_t first_non_finite(const float* v, std::size_t n) {
    std::uint32_t bad = 0;
    for (std::size_t i = 0; i < n; ++i) {
        std::uint32_t bits;
        std::memcpy(&bits, v + i, sizeof bits);
        bad |= static_cast<std::uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
    }
    if (!bad) return n;
    for (std::size_t i = 0; i < n; ++i)
        if (!std::isfinite(v[i])) return i;
    return n;
}

// Throws if the batch repeats an id or holds a negative id.
void check_batch_ids(const std::int64_t* ids, std::size_t n, bool allow_negative) {
    if (n == 0) return;
    std::vector<std::int64_t> sorted(ids, ids + n);
    std::sort(sorted.begin(), sorted.end());
    if (!allow_negative && sorted.front() < 0) {
        std::ostringstream msg;
        msg << "id " << sorted.front() << " is negative; ids must be >= 0";
        throw std::invalid_argument(msg.str());
    }
    const auto dup = std::adjacent_find(sorted.begin(), sorted.end());
    if (dup != sorted.end()) {
        std::ostringstream msg;
        msg << "id " << *dup << " appears more than once in the batch";
        throw std::invalid_argument(msg.str());
    }
}

void check_count(std::size_t n, std::size_t dim) {
    if (dim != 0 && n > std::numeric_limits<std::size_t>::max() / sizeof(float) / dim)
        throw std::length_error("gallery batch too large");
}

}  // namespace

// ---------------------------------------------------------------------------------------

const char* gallery_kernel() {
#if defined(DAKA_GALLERY_AVX2)
    return "avx2";
#elif defined(DAKA_GALLERY_NEON)
    return "neon";
#else
    return "scalar";
#endif
}

void GalleryIndex::FreeDeleter::operator()(float* p) const noexcept { std::free(p); }

GalleryIndex::GalleryIndex(std::size_t dim) : dim_(dim), stride_(round_up(dim, kLaneFloats)) {
    if (dim == 0) throw std::invalid_argument("dim must be positive");
    if (dim > (std::size_t{1} << 20)) throw std::invalid_argument("dim is unreasonably large");
}

GalleryIndex::~GalleryIndex() = default;

void GalleryIndex::check_finite(const float* v, std::size_t n, const char* what) const {
    const std::size_t bad = first_non_finite(v, n * dim_);
    if (bad == n * dim_) return;
    std::ostringstream msg;
    msg << what << " " << bad / dim_ << " has a non-finite value (" << v[bad]
        << ") at position " << bad % dim_;
    throw std::invalid_argument(msg.str());
}

void GalleryIndex::grow_locked(std::size_t rows) {
    if (rows <= capacity_) return;
    std::size_t cap = std::max<std::size_t>({rows, capacity_ + capacity_ / 2, 64});
    if (cap > std::numeric_limits<std::size_t>::max() / sizeof(float) / stride_)
        throw std::length_error("gallery too large");
    const std::size_t row_bytes = stride_ * sizeof(float);  // a multiple of kAlign
    std::size_t bytes = cap * row_bytes;
    // Large matrices are aligned to and padded to 2 MiB and asked to be backed by huge
    // pages: far fewer TLB misses when a search streams through tens of MiB.
    const bool huge = bytes >= 2 * kHugeAlign;
    if (huge) {
        bytes = round_up(bytes, kHugeAlign);
        cap = bytes / row_bytes;
    }
    float* p = static_cast<float*>(std::aligned_alloc(huge ? kHugeAlign : kAlign, bytes));
    if (!p) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (huge) madvise(p, bytes, MADV_HUGEPAGE);  // advisory; failure is harmless
#endif
    if (size_) std::memcpy(p, data_.get(), size_ * row_bytes);
    data_.reset(p);
    capacity_ = cap;
}

void GalleryIndex::store_row_locked(std::size_t row, const float* src) {
    float* dst = data_.get() + row * stride_;
    std::memcpy(dst, src, dim_ * sizeof(float));
    if (stride_ > dim_) std::memset(dst + dim_, 0, (stride_ - dim_) * sizeof(float));
}

void GalleryIndex::reserve(std::size_t rows) {
    std::unique_lock<std::shared_mutex> lock(mutex_);
    grow_locked(rows);
    row_ids_.reserve(rows);
    row_of_.reserve(rows);
}

void GalleryIndex::add(const std::int64_t* ids, const float* vectors, std::size_t n) {
    if (n == 0) return;
    check_count(n, dim_);
    // Everything about the batch itself is checked before taking the lock.
    check_finite(vectors, n, "vector");
    check_batch_ids(ids, n, false);

    std::unique_lock<std::shared_mutex> lock(mutex_);
    for (std::size_t i = 0; i < n; ++i) {
        if (row_of_.count(ids[i])) {
            std::ostringstream msg;
            msg << "id " << ids[i] << " is already in the gallery";
            throw std::invalid_argument(msg.str());
        }
    }
    // Allocate first; nothing visible changes until every allocation has succeeded.
    const std::size_t need = size_ + n;
    grow_locked(need);
    row_ids_.reserve(need);
    row_of_.reserve(need);
    std::size_t inserted = 0;
    try {
        for (; inserted < n; ++inserted) row_of_.emplace(ids[inserted], size_ + inserted);
    } catch (...) {
        for (std::size_t i = 0; i < inserted; ++i) row_of_.erase(ids[i]);
        throw;
    }
    for (std::size_t i = 0; i < n; ++i) {
        store_row_locked(size_ + i, vectors + i * dim_);
        row_ids_.push_back(ids[i]);  // capacity reserved: cannot throw
    }
    size_ = need;
}

void GalleryIndex::replace(const std::int64_t* ids, const float* vectors, std::size_t n) {
    if (n == 0) return;
    check_count(n, dim_);
    check_finite(vectors, n, "vector");
    check_batch_ids(ids, n, true);
    std::vector<std::size_t> rows(n);

    std::unique_lock<std::shared_mutex> lock(mutex_);
    for (std::size_t i = 0; i < n; ++i) {
        const auto it = row_of_.find(ids[i]);
        if (it == row_of_.end()) {
            std::ostringstream msg;
            msg << "id " << ids[i] << " is not in the gallery";
            throw GalleryKeyError(msg.str());
        }
        rows[i] = it->second;
    }
    for (std::size_t i = 0; i < n; ++i) store_row_locked(rows[i], vectors + i * dim_);
}

std::size_t GalleryIndex::remove(const std::int64_t* ids, std::size_t n) {
    std::unique_lock<std::shared_mutex> lock(mutex_);
    std::size_t removed = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const auto it = row_of_.find(ids[i]);
        if (it == row_of_.end()) continue;
        const std::size_t row = it->second;
        const std::size_t last = size_ - 1;
        if (row != last) {  // move the last row into the hole
            std::memcpy(data_.get() + row * stride_, data_.get() + last * stride_,
                        stride_ * sizeof(float));
            row_ids_[row] = row_ids_[last];
            row_of_[row_ids_[row]] = row;  // existing key: no allocation
        }
        row_ids_.pop_back();
        row_of_.erase(it);
        size_ = last;
        ++removed;
    }
    return removed;
}

std::size_t GalleryIndex::size() const {
    std::shared_lock<std::shared_mutex> lock(mutex_);
    return size_;
}

std::size_t GalleryIndex::capacity() const {
    std::shared_lock<std::shared_mutex> lock(mutex_);
    return capacity_;
}

std::vector<std::int64_t> GalleryIndex::ids() const {
    std::vector<std::int64_t> out;
    {
        std::shared_lock<std::shared_mutex> lock(mutex_);
        out = row_ids_;
    }
    std::sort(out.begin(), out.end());
    return out;
}

bool GalleryIndex::contains(std::int64_t id) const {
    std::shared_lock<std::shared_mutex> lock(mutex_);
    return row_of_.count(id) != 0;
}

std::vector<float> GalleryIndex::get(std::int64_t id) const {
    std::vector<float> out(dim_);
    std::shared_lock<std::shared_mutex> lock(mutex_);
    const auto it = row_of_.find(id);
    if (it == row_of_.end()) {
        std::ostringstream msg;
        msg << "id " << id << " is not in the gallery";
        throw GalleryKeyError(msg.str());
    }
    std::memcpy(out.data(), data_.get() + it->second * stride_, dim_ * sizeof(float));
    return out;
}

void GalleryIndex::set_max_threads(int n) {
    if (n < 0) throw std::invalid_argument("max_threads must be >= 0 (0 = OpenMP default)");
    max_threads_.store(n, std::memory_order_relaxed);
}

int GalleryIndex::max_threads() const { return max_threads_.load(std::memory_order_relaxed); }

void GalleryIndex::search(const float* queries, std::size_t m, std::size_t k,
                          std::int64_t* out_ids, float* out_dist) const {
    if (k == 0) throw std::invalid_argument("k must be >= 1");
    if (m == 0) return;
    check_count(m, dim_);
    if (m > std::numeric_limits<std::size_t>::max() / k) throw std::length_error("m * k too large");
    check_finite(queries, m, "query");

    // The kernel reads whole strides; pad the queries only when dim is not a multiple of
    // 16 (for the usual 128 the caller's buffer is used as is).
    std::vector<float> padded;
    const float* q = queries;
    if (stride_ != dim_) {
        padded.assign(m * stride_, 0.f);
        for (std::size_t i = 0; i < m; ++i)
            std::memcpy(padded.data() + i * stride_, queries + i * dim_, dim_ * sizeof(float));
        q = padded.data();
    }

    std::shared_lock<std::shared_mutex> lock(mutex_);
    const std::size_t n = size_;
    const std::size_t kk = std::min(k, n);  // real results per query
    if (n == 0) {
        for (std::size_t i = 0; i < m; ++i) write_result(nullptr, 0, k, out_ids + i * k, out_dist + i * k);
        return;
    }

    // Threads: one unless the work (rows visited) pays for a team; then each thread gets
    // at least kParallelMinRows / 2 row visits.
    const std::size_t work = (n > std::numeric_limits<std::size_t>::max() / m) ? n : n * m;
    std::size_t threads = static_cast<std::size_t>(std::max(1, omp_get_max_threads()));
    const int cap = max_threads_.load(std::memory_order_relaxed);
    if (cap > 0) threads = std::min(threads, static_cast<std::size_t>(cap));
    threads = work < kParallelMinRows ? 1 : std::min(threads, work / (kParallelMinRows / 2));

    const float* data = data_.get();
    const std::int64_t* row_ids = row_ids_.data();

    if (threads == 1) {
        std::vector<Cand> store(m * kk);
        std::vector<TopK> tops(m);
        for (std::size_t i = 0; i < m; ++i) tops[i] = TopK(store.data() + i * kk, kk);
        scan(data, stride_, row_ids, 0, n, q, 0, m, tops.data());
        for (std::size_t i = 0; i < m; ++i) {
            const std::size_t got = tops[i].finish();
            write_result(tops[i].data(), got, k, out_ids + i * k, out_dist + i * k);
        }
        return;
    }

    if (n < kParallelMinRows) {
        // Small gallery, many queries: each unit is a group of queries scanned over all
        // rows and written out by the thread that claimed it; nothing to merge.
        const std::size_t per_unit = std::max<std::size_t>(1, kUnitRows / n);
        const std::size_t units = (m + per_unit - 1) / per_unit;
        std::vector<Cand> store(m * kk);
        std::vector<TopK> tops(m);
        for (std::size_t i = 0; i < m; ++i) tops[i] = TopK(store.data() + i * kk, kk);
        run_units(static_cast<int>(std::min(threads, units)), units, [&](std::size_t, std::size_t u) {
            const std::size_t q0 = u * per_unit, q1 = std::min(m, q0 + per_unit);
            scan(data, stride_, row_ids, 0, n, q, q0, q1, tops.data() + q0);
            for (std::size_t i = q0; i < q1; ++i) {
                const std::size_t got = tops[i].finish();
                write_result(tops[i].data(), got, k, out_ids + i * k, out_dist + i * k);
            }
        });
        return;
    }

    // Large gallery: each unit is a slice of rows scanned for all queries into the
    // claiming thread's own top-k lists (nothing shared is written); the lists are merged
    // afterwards. The merge is exact under the total (distance, id) order, so the result
    // does not depend on which thread scanned which slice.
    const std::size_t units = (n + kUnitRows - 1) / kUnitRows;
    threads = std::min(threads, units);
    std::vector<Cand> store(threads * m * kk);
    std::vector<TopK> tops(threads * m);
    for (std::size_t j = 0; j < threads * m; ++j) tops[j] = TopK(store.data() + j * kk, kk);
    run_units(static_cast<int>(threads), units, [&](std::size_t t, std::size_t u) {
        const std::size_t r0 = u * kUnitRows, r1 = std::min(n, r0 + kUnitRows);
        scan(data, stride_, row_ids, r0, r1, q, 0, m, tops.data() + t * m);
    });
    std::vector<Cand> merged;
    merged.reserve(threads * kk);
    for (std::size_t i = 0; i < m; ++i) {
        merged.clear();
        for (std::size_t t = 0; t < threads; ++t) {
            TopK& top = tops[t * m + i];
            const std::size_t got = top.finish();
            merged.insert(merged.end(), top.data(), top.data() + got);
        }
        const std::size_t got = std::min(kk, merged.size());
        std::partial_sort(merged.begin(), merged.begin() + got, merged.end(), CandLess{});
        write_result(merged.data(), got, k, out_ids + i * k, out_dist + i * k);
    }
}

}  // namespace daka
