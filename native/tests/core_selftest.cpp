// Self-test of the C++ core without Python: the gallery's SIMD kernels against a scalar
// reference, the text renderer's layout promises, and the punch reader's dates and columns.
// `make test` builds it with AddressSanitizer and UndefinedBehaviorSanitizer (DAKA_SANITIZE)
// and runs it through CTest, so an out-of-bounds read in a kernel tail, a write past a
// frame edge or a bad shift fails the run even where the Python tests see right answers.
//
// Usage: core_selftest FONT_PATH [--dump-search FILE]   (a CJK font; CMake finds one at configure
// time). --dump-search also writes the results of fixed random searches to FILE, so that two
// builds of the kernel (SIMD and DAKA_GALLERY_SCALAR) can be compared (tests/arm64/).
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "gallery.hpp"
#include "punch_reader.hpp"
#include "text.hpp"

namespace {

int failures = 0;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            ++failures;                                                               \
        }                                                                             \
    } while (0)

template <typename E>
bool throws(const std::function<void()>& f) {
    try {
        f();
    } catch (const E&) {
        return true;
    } catch (...) {
        return false;
    }
    return false;
}

// --------------------------------------------------------------------------- gallery

struct Reference {  // the gallery as a plain list, searched in double precision
    std::size_t dim;
    std::vector<std::int64_t> ids;
    std::vector<std::vector<float>> rows;

    double dist(std::size_t r, const float* q) const {
        double s = 0;
        for (std::size_t j = 0; j < dim; ++j) {
            const double d = double(rows[r][j]) - double(q[j]);
            s += d * d;
        }
        return std::sqrt(s);
    }
    double dist_of(std::int64_t id, const float* q) const {
        for (std::size_t r = 0; r < ids.size(); ++r)
            if (ids[r] == id) return dist(r, q);
        return -1;
    }
    // The k best (distance, id), ties by the smaller id.
    std::vector<std::pair<double, std::int64_t>> top(const float* q, std::size_t k) const {
        std::vector<std::pair<double, std::int64_t>> all;
        for (std::size_t r = 0; r < ids.size(); ++r) all.emplace_back(dist(r, q), ids[r]);
        std::sort(all.begin(), all.end());
        all.resize(std::min(k, all.size()));
        return all;
    }
    void remove(std::int64_t id) {
        for (std::size_t r = 0; r < ids.size(); ++r)
            if (ids[r] == id) {
                ids.erase(ids.begin() + long(r));
                rows.erase(rows.begin() + long(r));
                return;
            }
    }
};

std::vector<float> normal(std::mt19937& rng, std::size_t n) {
    std::normal_distribution<float> d;
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

// Every query's k results against the reference: same distances rank by rank (float vs
// double accumulation: 1e-4 relative), each id really at that distance, the rest -1/inf.
bool matches_reference(const daka::GalleryIndex& g, const Reference& ref, const float* queries, std::size_t m,
                       std::size_t k) {
    std::vector<std::int64_t> ids(m * k);
    std::vector<float> dist(m * k);
    g.search(queries, m, k, ids.data(), dist.data());
    bool ok = true;
    for (std::size_t i = 0; i < m; ++i) {
        const float* q = queries + i * ref.dim;
        const auto want = ref.top(q, k);
        for (std::size_t r = 0; r < k; ++r) {
            const std::int64_t id = ids[i * k + r];
            const float d = dist[i * k + r];
            if (r >= want.size()) {
                ok = ok && id == -1 && std::isinf(d);
                continue;
            }
            const double tol = 1e-4 * std::max(1.0, want[r].first);
            ok = ok && std::abs(d - want[r].first) <= tol && std::abs(ref.dist_of(id, q) - want[r].first) <= tol;
            if (r > 0) ok = ok && dist[i * k + r - 1] <= d;
        }
    }
    return ok;
}

void test_gallery_search_matches_scalar_reference() {
    std::mt19937 rng(7);
    // Dims around the 16-float row granule and the kernels' 4-row groups and 64-row blocks.
    for (std::size_t dim : {std::size_t(1), std::size_t(5), std::size_t(16), std::size_t(17), std::size_t(128),
                            std::size_t(130)}) {
        for (std::size_t n : {std::size_t(0), std::size_t(1), std::size_t(3), std::size_t(4), std::size_t(5),
                              std::size_t(63), std::size_t(64), std::size_t(65), std::size_t(257)}) {
            daka::GalleryIndex g(dim);
            Reference ref{dim, {}, {}};
            const auto vecs = normal(rng, n * dim);
            std::vector<std::int64_t> ids(n);
            for (std::size_t i = 0; i < n; ++i) {
                ids[i] = std::int64_t(1000 + 7 * i);
                ref.ids.push_back(ids[i]);
                ref.rows.emplace_back(vecs.begin() + long(i * dim), vecs.begin() + long((i + 1) * dim));
            }
            g.add(ids.data(), vecs.data(), n);
            CHECK(g.size() == n);
            // Queries one float off alignment: the kernels load queries unaligned.
            const auto buf = normal(rng, 5 * dim + 1);
            for (std::size_t k : {std::size_t(1), std::size_t(3), n + 2}) {
                if (!matches_reference(g, ref, buf.data() + 1, 5, k)) {
                    std::fprintf(stderr, "gallery dim %zu n %zu k %zu differs from the reference\n", dim, n, k);
                    ++failures;
                }
            }
        }
    }
}

void test_gallery_ties_and_thread_independence() {
    std::mt19937 rng(11);
    const std::size_t dim = 128, n = daka::GalleryIndex::kParallelMinRows + 37;  // the parallel scan
    auto vecs = normal(rng, n * dim);
    // Rows 5, 900 and n-1 are the same vector: bit-identical distances, ties by the smaller id.
    std::copy(vecs.begin() + 5 * dim, vecs.begin() + 6 * dim, vecs.begin() + 900 * dim);
    std::copy(vecs.begin() + 5 * dim, vecs.begin() + 6 * dim, vecs.begin() + long((n - 1) * dim));
    std::vector<std::int64_t> ids(n);
    for (std::size_t i = 0; i < n; ++i) ids[i] = std::int64_t(n - i);  // descending: order != id order
    daka::GalleryIndex g(dim);
    g.add(ids.data(), vecs.data(), n);

    std::vector<float> q(vecs.begin() + 5 * dim, vecs.begin() + 6 * dim);
    std::int64_t out_ids[4];
    float out_dist[4];
    g.search(q.data(), 1, 4, out_ids, out_dist);
    CHECK(out_dist[0] == 0.f && out_dist[1] == 0.f && out_dist[2] == 0.f && out_dist[3] > 0.f);
    CHECK(out_ids[0] == ids[n - 1] && out_ids[1] == ids[900] && out_ids[2] == ids[5]);

    // The same answers, bit for bit, on one thread and on the OpenMP team; and a batch of
    // queries (parallel over queries) gives what the queries give one by one.
    const std::size_t m = 9, k = 5;
    const auto queries = normal(rng, m * dim);
    std::vector<std::int64_t> ids1(m * k), ids2(m * k), ids_one(m * k);
    std::vector<float> d1(m * k), d2(m * k), d_one(m * k);
    g.set_max_threads(1);
    g.search(queries.data(), m, k, ids1.data(), d1.data());
    g.set_max_threads(2);
    g.search(queries.data(), m, k, ids2.data(), d2.data());
    for (std::size_t i = 0; i < m; ++i) g.search(queries.data() + i * dim, 1, k, ids_one.data() + i * k, d_one.data() + i * k);
    CHECK(ids1 == ids2 && d1 == d2);
    CHECK(ids1 == ids_one && d1 == d_one);
    Reference ref{dim, {}, {}};
    for (std::size_t i = 0; i < n; ++i) {
        ref.ids.push_back(ids[i]);
        ref.rows.emplace_back(vecs.begin() + long(i * dim), vecs.begin() + long((i + 1) * dim));
    }
    CHECK(matches_reference(g, ref, queries.data(), 2, k));
}

void test_gallery_updates_and_refusals() {
    std::mt19937 rng(3);
    const std::size_t dim = 20;
    daka::GalleryIndex g(dim);
    Reference ref{dim, {}, {}};
    std::int64_t next = 0;
    auto add = [&](std::size_t n) {
        const auto v = normal(rng, n * dim);
        std::vector<std::int64_t> ids(n);
        for (auto& id : ids) id = next++;
        g.add(ids.data(), v.data(), n);
        for (std::size_t i = 0; i < n; ++i) {
            ref.ids.push_back(ids[i]);
            ref.rows.emplace_back(v.begin() + long(i * dim), v.begin() + long((i + 1) * dim));
        }
    };
    add(100);
    add(1);
    // Remove swaps the last row into the hole; replace overwrites in place.
    const std::int64_t gone[] = {0, 50, 100, 12345};
    CHECK(g.remove(gone, 4) == 3);
    for (std::int64_t id : {0, 50, 100}) ref.remove(id);
    const auto fresh = normal(rng, dim);
    const std::int64_t seven = 7;
    g.replace(&seven, fresh.data(), 1);
    for (std::size_t r = 0; r < ref.ids.size(); ++r)
        if (ref.ids[r] == 7) ref.rows[r] = fresh;
    CHECK(g.get(7) == fresh);
    CHECK(g.size() == ref.ids.size());
    const auto queries = normal(rng, 4 * dim);
    CHECK(matches_reference(g, ref, queries.data(), 4, 6));

    // Refusals leave the index as it was (all or nothing).
    const auto v = normal(rng, 3 * dim);
    std::int64_t present[] = {500, 501, 7};
    std::int64_t repeated[] = {500, 501, 500};
    std::int64_t negative[] = {500, -1, 502};
    std::int64_t fine[] = {500, 501, 502};
    CHECK(throws<std::invalid_argument>([&] { g.add(present, v.data(), 3); }));
    CHECK(throws<std::invalid_argument>([&] { g.add(repeated, v.data(), 3); }));
    CHECK(throws<std::invalid_argument>([&] { g.add(negative, v.data(), 3); }));
    auto nan = v;
    nan[2 * dim + 3] = std::numeric_limits<float>::quiet_NaN();
    CHECK(throws<std::invalid_argument>([&] { g.add(fine, nan.data(), 3); }));
    CHECK(throws<daka::GalleryKeyError>([&] { g.replace(fine, v.data(), 3); }));
    CHECK(throws<daka::GalleryKeyError>([&] { g.get(500); }));
    CHECK(g.size() == ref.ids.size() && !g.contains(500) && !g.contains(501));
    CHECK(matches_reference(g, ref, queries.data(), 4, 6));
    std::int64_t out_id;
    float out_d;
    CHECK(throws<std::invalid_argument>([&] { g.search(queries.data(), 1, 0, &out_id, &out_d); }));
    CHECK(throws<std::invalid_argument>([&] { g.search(nan.data() + 2 * dim, 1, 1, &out_id, &out_d); }));
}

// Fixed random galleries (sizes around the kernels' 4-row groups and 64-row blocks, and one that
// takes the parallel scan) searched with fixed queries: one line per result, "dim n query rank id
// distance", the distance with 9 significant digits (a float's round trip).
bool dump_search(const char* path) {
    std::FILE* out = std::fopen(path, "w");
    if (!out) return false;
    std::mt19937 rng(2024);
    const std::pair<std::size_t, std::size_t> shapes[] = {
        {128, 1}, {128, 67}, {128, 1000}, {130, 257}, {17, 5}, {128, daka::GalleryIndex::kParallelMinRows + 5}};
    for (const auto& [dim, n] : shapes) {
        const auto vecs = normal(rng, n * dim);
        std::vector<std::int64_t> ids(n);
        for (std::size_t i = 0; i < n; ++i) ids[i] = std::int64_t(3 * i + 1);
        daka::GalleryIndex g(dim);
        g.add(ids.data(), vecs.data(), n);
        const std::size_t m = 8, k = 5;
        const auto queries = normal(rng, m * dim);
        std::vector<std::int64_t> out_ids(m * k);
        std::vector<float> out_dist(m * k);
        g.search(queries.data(), m, k, out_ids.data(), out_dist.data());
        for (std::size_t q = 0; q < m; ++q)
            for (std::size_t r = 0; r < k; ++r)
                std::fprintf(out, "%zu %zu %zu %zu %lld %.9g\n", dim, n, q, r, static_cast<long long>(out_ids[q * k + r]),
                             double(out_dist[q * k + r]));
    }
    return std::fclose(out) == 0;
}

// --------------------------------------------------------------------------- text

void test_utf8_validation() {
    std::size_t at = 99;
    CHECK(daka::is_valid_utf8("\xe5\xbc\xa0\xe4\xbc\x9f", &at));  // 张伟
    CHECK(daka::is_valid_utf8(""));
    CHECK(!daka::is_valid_utf8("ab\xff", &at) && at == 2);
    CHECK(!daka::is_valid_utf8("\xc0\xaf", &at) && at == 0);          // overlong '/'
    CHECK(!daka::is_valid_utf8("x\xed\xa0\x80", &at) && at == 1);      // a surrogate
    CHECK(!daka::is_valid_utf8("\xf4\x90\x80\x80", &at) && at == 0);  // past U+10FFFF
    CHECK(!daka::is_valid_utf8("\xe5\xbc", &at) && at == 0);          // cut short
}

// A frame with guard bytes around it and at the end of each row (stride > 3 * width), so
// a write outside the frame shows (and ASan sees any write past the whole buffer).
struct GuardedFrame {
    static constexpr int kGuardRows = 2, kRowPad = 7;
    static constexpr std::uint8_t kGuard = 0xAB;
    int h, w;
    std::ptrdiff_t stride;
    std::vector<std::uint8_t> buf;
    GuardedFrame(int h_, int w_) : h(h_), w(w_), stride(3 * w_ + kRowPad) {
        buf.assign(std::size_t(stride) * std::size_t(h + 2 * kGuardRows), kGuard);
        for (int y = 0; y < h; ++y) std::memset(row(y), 0, std::size_t(3 * w));
    }
    std::uint8_t* row(int y) { return buf.data() + std::size_t(stride) * std::size_t(y + kGuardRows); }
    std::uint8_t* data() { return row(0); }
    bool guards_intact() {
        for (std::size_t i = 0; i < buf.size(); ++i) {
            const std::ptrdiff_t r = std::ptrdiff_t(i) / stride - kGuardRows, c = std::ptrdiff_t(i) % stride;
            const bool inside = r >= 0 && r < h && c < 3 * w;
            if (!inside && buf[i] != kGuard) return false;
        }
        return true;
    }
    // Bounding box (half-open) of the pixels that are no longer black; all zero if none.
    daka::PixelBox changed() {
        daka::PixelBox b{w, h, 0, 0};
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x) {
                const std::uint8_t* p = row(y) + 3 * x;
                if (p[0] | p[1] | p[2]) {
                    b.x0 = std::min(b.x0, x), b.y0 = std::min(b.y0, y);
                    b.x1 = std::max(b.x1, x + 1), b.y1 = std::max(b.y1, y + 1);
                }
            }
        return b.empty() ? daka::PixelBox{} : b;
    }
};

bool inside(const daka::PixelBox& in, const daka::PixelBox& out) {
    return in.empty() || (in.x0 >= out.x0 && in.y0 >= out.y0 && in.x1 <= out.x1 && in.y1 <= out.y1);
}

daka::PixelBox clip(std::int64_t x0, std::int64_t y0, std::int64_t x1, std::int64_t y1, int w, int h) {
    daka::PixelBox b{int(std::clamp<std::int64_t>(x0, 0, w)), int(std::clamp<std::int64_t>(y0, 0, h)),
                     int(std::clamp<std::int64_t>(x1, 0, w)), int(std::clamp<std::int64_t>(y1, 0, h))};
    return b.empty() ? daka::PixelBox{} : b;
}

void test_text_stays_in_its_box(const std::string& font) {
    daka::TextRenderer r(font, 0);
    const std::string name = "\xe6\xac\xa7\xe9\x98\xb3\xe5\xa8\x9c\xe5\xa8\x9cgjy";  // 欧阳娜娜gjy
    const int W = 120, H = 50;
    for (int size : {4, 16, 31}) {
        for (int outline : {0, 2}) {
            const daka::TextMetrics m = r.measure(name, size, outline);
            CHECK(m.width > 0 && m.height > 0 && m.baseline > 0 && m.baseline <= m.height);
            // Inside, across every edge, and wholly outside the frame.
            const std::pair<std::int64_t, std::int64_t> origins[] = {
                {3, 2}, {-m.width / 2, -m.height / 2}, {W - m.width / 3, H - m.height / 3}, {W + 5, 0},
                {-m.width - 1, 10}, {0, -std::int64_t(m.height)}, {std::numeric_limits<std::int64_t>::min() / 4, 0}};
            for (const auto& [x, y] : origins) {
                for (bool background : {false, true}) {
                    GuardedFrame f(H, W);
                    daka::TextStyle style;
                    style.outline_px = outline;
                    style.outline_color = {0, 0, 200};
                    style.background = background;
                    style.background_color = {1, 2, 3};
                    style.padding_px = 3;
                    const daka::PixelBox box = r.draw(f.data(), H, W, f.stride, name, x, y, size, style);
                    const int pad = background ? style.padding_px : 0;
                    const daka::PixelBox allowed = clip(x - pad, y - pad, x + m.width + pad, y + m.height + pad, W, H);
                    const daka::PixelBox changed = f.changed();
                    CHECK(f.guards_intact());
                    CHECK(inside(changed, box));    // every changed pixel is in the returned box
                    CHECK(inside(box, allowed));    // which is in the text box, clipped to the frame
                    if (background && !allowed.empty()) {  // an opaque background covers it all
                        CHECK(changed.x0 == allowed.x0 && changed.y0 == allowed.y0 && changed.x1 == allowed.x1 &&
                              changed.y1 == allowed.y1);
                    }
                    if (allowed.empty()) CHECK(box.empty() && changed.empty());
                }
            }
        }
    }
    // Empty text draws nothing, not even a background.
    GuardedFrame f(H, W);
    daka::TextStyle bg;
    bg.background = true;
    CHECK(r.draw(f.data(), H, W, f.stride, "", 5, 5, 24, bg).empty() && f.changed().empty());
    CHECK(r.measure("", 24).width == 0);
    // Refusals draw nothing.
    CHECK(throws<std::invalid_argument>([&] { r.draw(f.data(), H, W, f.stride, "a\xff", 5, 5, 24, bg); }));
    CHECK(throws<std::invalid_argument>([&] { r.measure("a", daka::TextRenderer::kMaxSizePx + 1); }));
    CHECK(throws<std::invalid_argument>([&] { r.measure("a", 24, daka::TextRenderer::kMaxOutlinePx + 1); }));
    CHECK(f.changed().empty() && f.guards_intact());
    // The glyph cache serves a second draw of the same name.
    const auto before = r.cache_stats();
    GuardedFrame g(H, W);
    r.draw(g.data(), H, W, g.stride, name, 3, 2, 16);
    const auto after = r.cache_stats();
    CHECK(after.misses == before.misses && after.hits > before.hits);
    CHECK(throws<daka::FontError>([&] { daka::TextRenderer("/nonexistent/font.ttf"); }));
}

// --------------------------------------------------------------------------- punch reader

void test_days_from_date_counts_every_day() {
    // Day by day from 1900-01-01 (-25567) to 2100-12-31 with the month lengths of the calendar.
    const int lengths[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    std::int32_t expected = -25567;
    bool ok = true;
    for (int y = 1900; y <= 2100; ++y)
        for (int m = 1; m <= 12; ++m) {
            const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            const int days = lengths[m - 1] + (m == 2 && leap);
            for (int d = 1; d <= days; ++d) ok = ok && daka::days_from_date(y, m, d) == expected++;
        }
    CHECK(ok);
    CHECK(daka::days_from_date(1970, 1, 1) == 0);
}

void exec(sqlite3* db, const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
        std::fprintf(stderr, "sqlite: %s\n", err ? err : "?");
        sqlite3_free(err);
        ++failures;
    }
}

void test_punch_reader_columns() {
    char dir[] = "/tmp/daka-core-selftest-XXXXXX";
    if (!mkdtemp(dir)) {
        std::perror("mkdtemp");
        ++failures;
        return;
    }
    const std::string missing = std::string(dir) + "/missing.db", path = std::string(dir) + "/punches.db";
    CHECK(throws<daka::PunchReadError>([&] { daka::PunchReader reader(missing); }));
    CHECK(access(missing.c_str(), F_OK) != 0);  // never creates a database

    sqlite3* db = nullptr;
    CHECK(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    // The columns the reader selects, as the store writes them.
    exec(db, "CREATE TABLE punches (id INTEGER PRIMARY KEY, staff_id INTEGER, staff_no TEXT, name TEXT,"
             " punched_at TEXT, local_date TEXT, source TEXT);"
             "INSERT INTO punches VALUES (3, 1, 'A1', 'Li', '2026-03-01 23:30:00', '2026-03-02', 'face');"
             "INSERT INTO punches VALUES (1, 2, 'B2', 'Wu', '2026-03-02 01:00:00.5', '2026-03-02', 'makeup');"
             "INSERT INTO punches VALUES (2, NULL, 'A1', 'Li', '2026-03-01 08:00:00', '2026-03-01', 'face');"
             "INSERT INTO punches VALUES (4, 1, 'A1', 'Li', '2026-03-05 08:00:00', '2026-03-05', 'face');");
    {
        daka::PunchReader reader(path);
        const std::int32_t d1 = daka::days_from_date(2026, 3, 1), d2 = d1 + 1;
        const daka::PunchColumns c = reader.read(d1, d2);
        CHECK((c.id == std::vector<std::int64_t>{2, 3, 1}));
        CHECK((c.day == std::vector<std::int32_t>{d1, d2, d2}));
        CHECK((c.staff_id == std::vector<std::int32_t>{-1, 1, 2}));
        CHECK((c.person == std::vector<std::int32_t>{0, 0, 1}) && c.people.size() == 2 && c.people[1].second == "Wu");
        CHECK((c.source == std::vector<std::uint8_t>{0, 0, 1}) && c.sources.size() == 2 && c.sources[1] == "makeup");
        const std::int64_t day_us = 86'400'000'000LL;
        CHECK(c.punched_at_us[0] == d1 * day_us + 8 * 3'600'000'000LL);
        CHECK(c.punched_at_us[2] == d2 * day_us + 3'600'000'000LL + 500'000);
        CHECK((reader.read(d1, d1 + 10, 1).id == std::vector<std::int64_t>{3, 4}));
        CHECK(throws<std::invalid_argument>([&] { reader.read(d2, d1); }));
        exec(db, "INSERT INTO punches VALUES (5, 1, 'A1', 'Li', '2026-03-01 25:00:00', '2026-03-01', 'face');");
        CHECK(throws<daka::PunchReadError>([&] { reader.read(d1, d2); }));
    }
    sqlite3_close(db);
    std::remove(path.c_str());
    rmdir(dir);
}

}  // namespace

int main(int argc, char** argv) {
    const bool dump = argc == 4 && std::strcmp(argv[2], "--dump-search") == 0;
    if (argc != 2 && !dump) {
        std::fprintf(stderr, "usage: %s FONT_PATH [--dump-search FILE]\n", argv[0]);
        return 2;
    }
    std::printf("gallery kernel: %s\n", daka::gallery_kernel());
    const std::pair<const char*, std::function<void()>> tests[] = {
        {"gallery search matches a scalar reference", test_gallery_search_matches_scalar_reference},
        {"gallery ties and thread independence", test_gallery_ties_and_thread_independence},
        {"gallery updates and refusals", test_gallery_updates_and_refusals},
        {"UTF-8 validation", test_utf8_validation},
        {"text stays in its box", [&] { test_text_stays_in_its_box(argv[1]); }},
        {"days from date", test_days_from_date_counts_every_day},
        {"punch reader columns", test_punch_reader_columns},
    };
    for (const auto& [name, test] : tests) {
        const int before = failures;
        try {
            test();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "%s: unexpected exception: %s\n", name, e.what());
            ++failures;
        }
        std::printf("%s %s\n", failures == before ? "ok  " : "FAIL", name);
    }
    if (dump && !dump_search(argv[3])) {
        std::fprintf(stderr, "cannot write %s\n", argv[3]);
        ++failures;
    }
    std::printf("%s\n", failures ? "core self-test FAILED" : "core self-test passed");
    return failures ? 1 : 0;
}
