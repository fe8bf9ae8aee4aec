// GalleryIndex: the enrolled face descriptors, searched 1:N by Euclidean distance.
//
// All vectors live in one contiguous, 64-byte-aligned, row-major float matrix. The row
// stride is `dim` rounded up to a multiple of 16 floats (one cache line), so every row
// starts on a cache line; the padding columns are kept at zero. Removal swaps the last
// row into the freed slot, and a hash map keeps id -> row.
//
// Thread safety: any number of threads may call the const methods (search, get, ids, ...)
// while one or more threads call add/replace/remove/reserve; searches take a shared lock,
// updates an exclusive one. A search therefore always sees a state between two whole
// updates, never a half-applied batch.
//
// Searches over large galleries (or big query batches) run on an OpenMP team; Linux helper
// threads of that team are kept off the CPU of the searching thread (see gallery.cpp).
//
// This header never includes Python headers; the bindings live in bindings/gallery.cpp.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace daka {

// An id that the operation needs is not in the index (replace, get). The bindings map it
// to KeyError; every other argument error is std::invalid_argument (ValueError).
class GalleryKeyError : public std::out_of_range {
public:
    using std::out_of_range::out_of_range;
};

// The distance kernel compiled in: "avx2", "neon" or "scalar" (the portable one).
const char* gallery_kernel();

class GalleryIndex {
public:
    // Galleries with at least this many rows are scanned by several OpenMP threads, each
    // over its own contiguous slice of rows; smaller ones by the calling thread alone
    // (unless a large batch of queries makes the work big enough, see search()).
    static constexpr std::size_t kParallelMinRows = 20000;

    explicit GalleryIndex(std::size_t dim = 128);
    ~GalleryIndex();
    GalleryIndex(const GalleryIndex&) = delete;
    GalleryIndex& operator=(const GalleryIndex&) = delete;

    // Adds n rows; ids[i] gets vectors[i*dim .. i*dim+dim). Throws std::invalid_argument if
    // an id is negative (-1 is the "no result" marker of search), already present, or
    // repeated in the batch, or if a value is not finite. All-or-nothing: on any error the
    // index is unchanged.
    void add(const std::int64_t* ids, const float* vectors, std::size_t n);

    // Overwrites the vectors of n existing ids. Throws GalleryKeyError if an id is missing,
    // std::invalid_argument if an id is repeated or a value is not finite. All-or-nothing.
    void replace(const std::int64_t* ids, const float* vectors, std::size_t n);

    // Removes the given ids; ids that are absent (or repeated) are ignored. Returns how
    // many rows were removed.
    std::size_t remove(const std::int64_t* ids, std::size_t n);

    // Pre-allocates room for `rows` rows (never shrinks).
    void reserve(std::size_t rows);

    std::size_t size() const;
    std::size_t dim() const { return dim_; }
    std::size_t capacity() const;
    std::vector<std::int64_t> ids() const;  // ascending
    bool contains(std::int64_t id) const;
    std::vector<float> get(std::int64_t id) const;  // throws GalleryKeyError

    // For each of the m queries (row-major m x dim), the k nearest rows by Euclidean
    // distance: out_ids and out_dist are m x k, row-major. Within a query the results are
    // in ascending distance, ties broken by the smaller id; slots beyond the gallery size
    // get id -1 and distance +inf. Distances are the Euclidean distance (not squared).
    // Throws std::invalid_argument if k == 0 or a query value is not finite. The result
    // does not depend on the number of threads or on the order of the rows.
    void search(const float* queries, std::size_t m, std::size_t k, std::int64_t* out_ids,
                float* out_dist) const;

    // Upper bound on OpenMP threads used by search(); 0 (default) = OpenMP's default.
    void set_max_threads(int n);
    int max_threads() const;

private:
    struct FreeDeleter {
        void operator()(float* p) const noexcept;
    };

    void grow_locked(std::size_t rows);  // capacity >= rows; exclusive lock held
    void store_row_locked(std::size_t row, const float* src);
    void check_finite(const float* v, std::size_t n, const char* what) const;

    const std::size_t dim_;
    const std::size_t stride_;  // floats per row: dim_ rounded up to a multiple of 16
    std::unique_ptr<float[], FreeDeleter> data_;  // capacity_ x stride_, 64-byte aligned
    std::size_t capacity_ = 0;
    std::size_t size_ = 0;
    std::vector<std::int64_t> row_ids_;  // row -> id, size_ entries
    std::unordered_map<std::int64_t, std::size_t> row_of_;  // id -> row
    std::atomic<int> max_threads_{0};
    mutable std::shared_mutex mutex_;
};

}  // namespace daka
