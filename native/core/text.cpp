#include "text.hpp"

#include <ft2build.h>
#include FT_FREETYPE_H
#include FT_BITMAP_H
#include <hb-ft.h>
#include <hb.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <list>
#include <mutex>
#include <new>
#include <unordered_map>
#include <utility>
#include <vector>

namespace daka {

namespace {

// Shaping uses unhinted advances (HarfBuzz's own default for hb_ft), so layout does not
// depend on the hinter; glyph origins are rounded to whole pixels when placed.
constexpr FT_Int32 kShapeLoadFlags = FT_LOAD_DEFAULT | FT_LOAD_NO_HINTING;
// Rasterising uses light hinting: vertical-only snapping that keeps horizontal strokes of
// CJK glyphs crisp at label sizes without changing advance widths, so it matches the
// unhinted layout. Embedded bitmaps are skipped: they are 1-bit and would not blend.
constexpr FT_Int32 kRenderLoadFlags = FT_LOAD_TARGET_LIGHT | FT_LOAD_NO_BITMAP;
// Hard cap on the coordinates used for placement; anything this far away is off-frame
// anyway, and it keeps every sum below in int64 range.
constexpr std::int64_t kCoordLimit = std::int64_t(1) << 61;
// A big text leaves its glyph arrays inside the reused hb_buffer; past this many glyphs
// the buffer is recreated so one long string does not pin its memory for ever.
constexpr unsigned kBufferKeepGlyphs = 1u << 14;

// One cached glyph bitmap: 8-bit coverage, trimmed to its inked pixels.
struct Glyph {
    int left = 0, top = 0;  // bitmap top-left relative to the pen position on the baseline, y down
    int width = 0, rows = 0;
    std::vector<std::uint8_t> cov;  // rows * width, row-major
    std::size_t cost() const { return cov.size() + sizeof(Glyph) + 64; }  // 64 ~ cache node overhead
};
using GlyphPtr = std::shared_ptr<const Glyph>;

std::string ft_error_text(FT_Error err) {
    char buf[96];
    const char* s = FT_Error_String(err);  // NULL unless FreeType was built with error strings
    std::snprintf(buf, sizeof buf, "FreeType error 0x%02X%s%s%s", unsigned(err), s ? " (" : "",
                  s ? s : "", s ? ")" : "");
    return buf;
}

// Round a 26.6 fixed-point value to whole pixels (half up).
inline std::int64_t round26(std::int64_t v) { return (v + 32) >> 6; }

// Shrink a coverage bitmap to the bounding box of its non-zero pixels.
void trim(Glyph& g) {
    int minx = g.width, maxx = -1, miny = g.rows, maxy = -1;
    for (int y = 0; y < g.rows; ++y) {
        const std::uint8_t* row = g.cov.data() + std::size_t(y) * g.width;
        for (int x = 0; x < g.width; ++x) {
            if (row[x]) {
                minx = std::min(minx, x);
                maxx = std::max(maxx, x);
                miny = std::min(miny, y);
                maxy = y;
            }
        }
    }
    if (maxx < 0) {
        g.width = g.rows = 0;
        g.cov.clear();
        g.cov.shrink_to_fit();
        return;
    }
    const int w = maxx - minx + 1, h = maxy - miny + 1;
    if (w == g.width && h == g.rows) return;
    std::vector<std::uint8_t> out(std::size_t(w) * h);
    for (int y = 0; y < h; ++y)
        std::memcpy(out.data() + std::size_t(y) * w,
                    g.cov.data() + std::size_t(y + miny) * g.width + minx, std::size_t(w));
    g.cov = std::move(out);
    g.left += minx;
    g.top += miny;
    g.width = w;
    g.rows = h;
}

// The outline of a glyph as its own coverage mask: the fill mask dilated by a disc of
// radius r. Drawn under the fill, the visible part is a ring r pixels wide.
//
// Why dilate the coverage rather than run FT_Stroker on the outline: the stroker's
// "outside border" depends on contour orientation and on contours not overlapping, and
// CJK fonts often have overlapping contours and tight counters, where stroked outlines
// show gaps or spikes. A dilation of the rendered mask cannot have those artefacts: its
// result is by construction everything within r pixels of the ink. It costs O(r^2) per
// pixel, but runs once per (glyph, size, outline) and is then served from the cache.
//
// Each disc offset d gets weight clamp(r + 1 - |d|, 0, 1), i.e. roughly how much of a
// pixel at that distance lies within r of an inked pixel, so the ring keeps anti-aliased
// edges: a straight edge moves out by exactly r pixels and keeps its edge coverage.
Glyph dilate(const Glyph& fill, int r) {
    Glyph out;
    if (fill.width == 0 || r <= 0) return fill;
    out.width = fill.width + 2 * r;
    out.rows = fill.rows + 2 * r;
    out.left = fill.left - r;
    out.top = fill.top - r;
    out.cov.assign(std::size_t(out.width) * out.rows, 0);
    for (int dy = -r; dy <= r; ++dy) {
        for (int dx = -r; dx <= r; ++dx) {
            const double w = std::clamp(r + 1.0 - std::sqrt(double(dx * dx + dy * dy)), 0.0, 1.0);
            const unsigned w8 = unsigned(std::lround(w * 255.0));
            if (w8 == 0) continue;
            for (int y = 0; y < fill.rows; ++y) {
                const std::uint8_t* src = fill.cov.data() + std::size_t(y) * fill.width;
                std::uint8_t* dst = out.cov.data() + std::size_t(y + r + dy) * out.width + (r + dx);
                if (w8 == 255) {
                    for (int x = 0; x < fill.width; ++x) dst[x] = std::max(dst[x], src[x]);
                } else {
                    for (int x = 0; x < fill.width; ++x) {
                        const std::uint8_t v = std::uint8_t((src[x] * w8 + 127) / 255);
                        dst[x] = std::max(dst[x], v);
                    }
                }
            }
        }
    }
    trim(out);
    return out;
}

// Blend `c` into the frame with per-pixel coverage `a`: d = (d * (255 - a) + c * a) / 255.
inline void blend_px(std::uint8_t* d, const Bgr& c, unsigned a) {
    const unsigned na = 255 - a;
    d[0] = std::uint8_t((d[0] * na + c.b * a + 127) / 255);
    d[1] = std::uint8_t((d[1] * na + c.g * a + 127) / 255);
    d[2] = std::uint8_t((d[2] * na + c.r * a + 127) / 255);
}

struct Frame {
    std::uint8_t* data;
    int height, width;
    std::ptrdiff_t stride;
};

void grow(PixelBox& box, bool& any, int x0, int y0, int x1, int y1) {
    if (!any) {
        box = {x0, y0, x1, y1};
        any = true;
        return;
    }
    box.x0 = std::min(box.x0, x0);
    box.y0 = std::min(box.y0, y0);
    box.x1 = std::max(box.x1, x1);
    box.y1 = std::max(box.y1, y1);
}

// Blend one coverage mask whose top-left lands at (gx, gy). Only the part inside the frame
// is visited; the touched box grows by the pixels that actually had coverage.
void blend_mask(const Frame& f, const Glyph& g, std::int64_t gx, std::int64_t gy, const Bgr& c,
                PixelBox& touched, bool& any) {
    if (g.width == 0) return;
    const std::int64_t x0 = std::max<std::int64_t>(gx, 0);
    const std::int64_t x1 = std::min<std::int64_t>(gx + g.width, f.width);
    const std::int64_t y0 = std::max<std::int64_t>(gy, 0);
    const std::int64_t y1 = std::min<std::int64_t>(gy + g.rows, f.height);
    if (x0 >= x1 || y0 >= y1) return;
    const int n = int(x1 - x0);
    int minx = INT_MAX, maxx = -1, miny = -1, maxy = -1;
    for (std::int64_t y = y0; y < y1; ++y) {
        const std::uint8_t* src = g.cov.data() + std::size_t(y - gy) * g.width + std::size_t(x0 - gx);
        std::uint8_t* dst = f.data + y * f.stride + x0 * 3;
        int first = -1, last = -1;
        for (int i = 0; i < n; ++i) {
            const unsigned a = src[i];
            if (a == 0) continue;
            if (first < 0) first = i;
            last = i;
            std::uint8_t* d = dst + 3 * i;
            if (a == 255) {
                d[0] = c.b;
                d[1] = c.g;
                d[2] = c.r;
            } else {
                blend_px(d, c, a);
            }
        }
        if (first >= 0) {
            minx = std::min(minx, first);
            maxx = std::max(maxx, last);
            if (miny < 0) miny = int(y);
            maxy = int(y);
        }
    }
    if (maxx >= 0) grow(touched, any, int(x0) + minx, miny, int(x0) + maxx + 1, maxy + 1);
}

void blend_rect(const Frame& f, std::int64_t rx0, std::int64_t ry0, std::int64_t rx1,
                std::int64_t ry1, const Bgr& c, unsigned alpha, PixelBox& touched, bool& any) {
    if (alpha == 0) return;
    const std::int64_t x0 = std::max<std::int64_t>(rx0, 0), x1 = std::min<std::int64_t>(rx1, f.width);
    const std::int64_t y0 = std::max<std::int64_t>(ry0, 0), y1 = std::min<std::int64_t>(ry1, f.height);
    if (x0 >= x1 || y0 >= y1) return;
    for (std::int64_t y = y0; y < y1; ++y) {
        std::uint8_t* d = f.data + y * f.stride + x0 * 3;
        if (alpha == 255) {
            for (std::int64_t x = x0; x < x1; ++x, d += 3) {
                d[0] = c.b;
                d[1] = c.g;
                d[2] = c.r;
            }
        } else {
            for (std::int64_t x = x0; x < x1; ++x, d += 3) blend_px(d, c, alpha);
        }
    }
    grow(touched, any, int(x0), int(y0), int(x1), int(y1));
}

void check_size(int size_px) {
    if (size_px < TextRenderer::kMinSizePx || size_px > TextRenderer::kMaxSizePx)
        throw std::invalid_argument("text size must be " + std::to_string(TextRenderer::kMinSizePx) +
                                    ".." + std::to_string(TextRenderer::kMaxSizePx) + " px, got " +
                                    std::to_string(size_px));
}

void check_outline(int outline_px) {
    if (outline_px < 0 || outline_px > TextRenderer::kMaxOutlinePx)
        throw std::invalid_argument("outline must be 0.." + std::to_string(TextRenderer::kMaxOutlinePx) +
                                    " px, got " + std::to_string(outline_px));
}

void check_utf8(std::string_view s) {
    std::size_t bad = 0;
    if (!is_valid_utf8(s, &bad))
        throw std::invalid_argument("text is not valid UTF-8 (bad byte at offset " + std::to_string(bad) + ")");
}

}  // namespace

bool is_valid_utf8(std::string_view s, std::size_t* bad_offset) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const std::size_t n = s.size();
    std::size_t i = 0;
    while (i < n) {
        const unsigned c = p[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t len;
        std::uint32_t cp, min_cp;
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2, cp = c & 0x1F, min_cp = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, cp = c & 0x0F, min_cp = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4, cp = c & 0x07, min_cp = 0x10000;
        } else {
            if (bad_offset) *bad_offset = i;
            return false;
        }
        bool ok = n - i >= len;
        for (std::size_t k = 1; ok && k < len; ++k) {
            const unsigned cc = p[i + k];
            if ((cc & 0xC0) != 0x80) ok = false;
            cp = (cp << 6) | (cc & 0x3F);
        }
        if (!ok || cp < min_cp || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            if (bad_offset) *bad_offset = i;
            return false;
        }
        i += len;
    }
    return true;
}

struct TextRenderer::Impl {
    // Immutable after construction.
    std::string path;
    int face_index = 0;
    int num_faces = 0;
    std::string family, style;

    // Everything below is guarded by `mu`: FreeType faces, HarfBuzz fonts and buffers are
    // not safe to use from two threads at once, and neither is the cache.
    mutable std::mutex mu;
    FT_Library lib = nullptr;
    FT_Face face = nullptr;
    hb_font_t* hb_font = nullptr;
    hb_buffer_t* buf = nullptr;
    int cur_size = 0;
    int ascent = 0, descent = 0;  // of the current size, whole pixels, both >= 0

    // LRU glyph cache: most recently used at the front.
    using Entry = std::pair<std::uint64_t, GlyphPtr>;
    std::list<Entry> lru;
    std::unordered_map<std::uint64_t, std::list<Entry>::iterator> index;
    std::size_t capacity_bytes = 0, bytes = 0;
    std::uint64_t hits = 0, misses = 0, evictions = 0;

    struct Placed {
        GlyphPtr fill, outline;  // outline is null when not asked for
        std::int64_t x, y;       // pen position, pixels, relative to the pen start on the baseline
    };
    struct Layout {
        std::vector<Placed> glyphs;
        // The text box relative to the pen start on the baseline (y down).
        std::int64_t left = 0, top = 0, right = 0, bottom = 0;
    };

    ~Impl() {
        if (buf) hb_buffer_destroy(buf);
        if (hb_font) hb_font_destroy(hb_font);  // drops its reference to `face`
        if (face) FT_Done_Face(face);
        if (lib) FT_Done_FreeType(lib);
    }

    void set_size(int size_px) {
        if (size_px == cur_size) return;
        FT_Error err = FT_Set_Pixel_Sizes(face, 0, FT_UInt(size_px));
        if (err) throw std::runtime_error("cannot set font size " + std::to_string(size_px) + ": " + ft_error_text(err));
        hb_ft_font_changed(hb_font);
        ascent = int((face->size->metrics.ascender + 63) >> 6);
        descent = int((-face->size->metrics.descender + 63) >> 6);
        if (ascent < 0) ascent = 0;
        if (descent < 0) descent = 0;
        if (ascent + descent == 0) {  // a font without vertical metrics: assume 80/20
            ascent = (size_px * 4 + 4) / 5;
            descent = size_px - ascent;
        }
        cur_size = size_px;
    }

    static std::uint64_t key_of(unsigned gid, int size_px, int outline_px) {
        return (std::uint64_t(gid) << 32) | (std::uint64_t(size_px) << 16) | std::uint64_t(outline_px);
    }

    GlyphPtr rasterise(unsigned gid) {
        auto g = std::make_shared<Glyph>();
        FT_Error err = FT_Load_Glyph(face, gid, kRenderLoadFlags);
        if (!err && face->glyph->format != FT_GLYPH_FORMAT_BITMAP)
            err = FT_Render_Glyph(face->glyph, FT_RENDER_MODE_NORMAL);
        if (err) return g;  // a glyph the font cannot render draws as nothing
        const FT_GlyphSlot slot = face->glyph;
        const FT_Bitmap& bm = slot->bitmap;
        if (bm.width == 0 || bm.rows == 0) return g;
        g->left = slot->bitmap_left;
        g->top = -slot->bitmap_top;
        g->width = int(bm.width);
        g->rows = int(bm.rows);
        g->cov.resize(std::size_t(g->width) * g->rows);

        const FT_Bitmap* src = &bm;
        FT_Bitmap converted;
        FT_Bitmap_Init(&converted);
        unsigned levels = 256;
        if (bm.pixel_mode == FT_PIXEL_MODE_GRAY) {
            levels = bm.num_grays;
        } else if (bm.pixel_mode == FT_PIXEL_MODE_MONO || bm.pixel_mode == FT_PIXEL_MODE_GRAY2 ||
                   bm.pixel_mode == FT_PIXEL_MODE_GRAY4) {
            levels = bm.pixel_mode == FT_PIXEL_MODE_MONO ? 2u : bm.pixel_mode == FT_PIXEL_MODE_GRAY2 ? 4u : 16u;
            if (FT_Bitmap_Convert(lib, &bm, &converted, 1)) {
                FT_Bitmap_Done(lib, &converted);
                return std::make_shared<Glyph>();
            }
            src = &converted;
        } else {  // LCD or colour bitmaps: never requested
            return std::make_shared<Glyph>();
        }
        const int pitch = src->pitch;
        for (int y = 0; y < g->rows; ++y) {
            // A negative pitch means the bitmap's rows are stored bottom-up.
            const unsigned char* row =
                pitch >= 0 ? src->buffer + std::ptrdiff_t(y) * pitch
                           : src->buffer + std::ptrdiff_t(g->rows - 1 - y) * -pitch;
            std::uint8_t* out = g->cov.data() + std::size_t(y) * g->width;
            if (levels == 256) {
                std::memcpy(out, row, std::size_t(g->width));
            } else {
                const unsigned top = levels > 1 ? levels - 1 : 1;
                for (int x = 0; x < g->width; ++x) out[x] = std::uint8_t(std::min(255u, row[x] * 255u / top));
            }
        }
        FT_Bitmap_Done(lib, &converted);
        trim(*g);
        return g;
    }

    GlyphPtr glyph(unsigned gid, int size_px, int outline_px) {
        const std::uint64_t key = key_of(gid, size_px, outline_px);
        auto it = index.find(key);
        if (it != index.end()) {
            ++hits;
            lru.splice(lru.begin(), lru, it->second);
            return it->second->second;
        }
        ++misses;
        GlyphPtr g;
        if (outline_px == 0) {
            g = rasterise(gid);
        } else {
            GlyphPtr fill = glyph(gid, size_px, 0);
            g = std::make_shared<Glyph>(dilate(*fill, outline_px));
        }
        lru.emplace_front(key, g);
        index[key] = lru.begin();
        bytes += g->cost();
        // Evict from the cold end; the entry just added always stays. Glyphs evicted while
        // a draw still holds them live on through the draw's shared_ptr.
        while (bytes > capacity_bytes && lru.size() > 1) {
            bytes -= lru.back().second->cost();
            index.erase(lru.back().first);
            lru.pop_back();
            ++evictions;
        }
        return g;
    }

    // Shapes and places `text`; fetches (and caches) every glyph. Caller holds `mu`.
    void layout(std::string_view text, int size_px, int outline_px, Layout& out) {
        set_size(size_px);
        const std::int64_t o = outline_px;
        out.glyphs.clear();
        std::int64_t pen_x = 0, pen_y = 0;  // 26.6
        bool ink = false;
        std::int64_t il = 0, it = 0, ir = 0, ib = 0;  // ink box
        auto add_ink = [&](const Glyph& g, std::int64_t x, std::int64_t y) {
            if (g.width == 0) return;
            const std::int64_t l = x + g.left, t = y + g.top, r = l + g.width, b = t + g.rows;
            if (!ink) {
                il = l, it = t, ir = r, ib = b, ink = true;
            } else {
                il = std::min(il, l), it = std::min(it, t), ir = std::max(ir, r), ib = std::max(ib, b);
            }
        };
        if (!text.empty()) {
            if (text.size() > std::size_t(INT_MAX)) throw std::length_error("text too long");
            hb_buffer_clear_contents(buf);
            hb_buffer_add_utf8(buf, text.data(), int(text.size()), 0, int(text.size()));
            hb_buffer_guess_segment_properties(buf);
            hb_shape(hb_font, buf, nullptr, 0);
            if (!hb_buffer_allocation_successful(buf)) throw std::bad_alloc();
            unsigned n = 0;
            const hb_glyph_info_t* info = hb_buffer_get_glyph_infos(buf, &n);
            const hb_glyph_position_t* pos = hb_buffer_get_glyph_positions(buf, nullptr);
            out.glyphs.reserve(n);
            for (unsigned i = 0; i < n; ++i) {
                Placed p;
                p.x = round26(pen_x + pos[i].x_offset);
                p.y = -round26(pen_y + pos[i].y_offset);  // HarfBuzz's y points up
                p.fill = glyph(info[i].codepoint, size_px, 0);
                add_ink(*p.fill, p.x, p.y);
                if (outline_px > 0) {
                    p.outline = glyph(info[i].codepoint, size_px, outline_px);
                    add_ink(*p.outline, p.x, p.y);
                }
                pen_x += pos[i].x_advance;
                pen_y += pos[i].y_advance;
                out.glyphs.push_back(std::move(p));
            }
            if (n > kBufferKeepGlyphs) {
                hb_buffer_destroy(buf);
                buf = hb_buffer_create();
            } else {
                hb_buffer_clear_contents(buf);
            }
        }
        const std::int64_t advance = round26(pen_x);
        out.left = std::min<std::int64_t>(0, advance) - o;
        out.right = std::max<std::int64_t>(0, advance) + o;
        out.top = -std::int64_t(ascent) - o;
        out.bottom = std::int64_t(descent) + o;
        if (ink) {
            out.left = std::min(out.left, il);
            out.top = std::min(out.top, it);
            out.right = std::max(out.right, ir);
            out.bottom = std::max(out.bottom, ib);
        }
    }
};

TextRenderer::TextRenderer(const std::string& font_path, int face_index, std::size_t cache_bytes)
    : impl_(std::make_unique<Impl>()) {
    Impl& d = *impl_;
    d.path = font_path;
    d.face_index = face_index;
    d.capacity_bytes = cache_bytes;

    if (font_path.find('\0') != std::string::npos)
        throw FontError(FontError::Kind::NotFound, "font path contains a NUL byte");
    struct stat st {};
    if (::stat(font_path.c_str(), &st) != 0) {
        const int e = errno;
        if (e == ENOENT || e == ENOTDIR)
            throw FontError(FontError::Kind::NotFound, "font file not found: '" + font_path + "'");
        throw FontError(FontError::Kind::Other, "cannot access font file '" + font_path + "': " + std::strerror(e));
    }
    if (S_ISDIR(st.st_mode))
        throw FontError(FontError::Kind::NotAFont, "font path is a directory, not a font file: '" + font_path + "'");
    if (face_index < 0)
        throw FontError(FontError::Kind::BadFaceIndex, "face index must be >= 0, got " + std::to_string(face_index));

    FT_Error err = FT_Init_FreeType(&d.lib);
    if (err) {
        d.lib = nullptr;
        throw FontError(FontError::Kind::Other, "cannot initialise FreeType: " + ft_error_text(err));
    }
    // Face index -1 only asks how many faces the file holds.
    FT_Face probe = nullptr;
    err = FT_New_Face(d.lib, font_path.c_str(), -1, &probe);
    if (err) {
        if (err == FT_Err_Cannot_Open_Resource)
            throw FontError(FontError::Kind::Other, "cannot open font file '" + font_path + "': " + ft_error_text(err));
        throw FontError(FontError::Kind::NotAFont,
                        "not a font file FreeType can read: '" + font_path + "' (" + ft_error_text(err) + ")");
    }
    d.num_faces = int(probe->num_faces);
    FT_Done_Face(probe);
    if (face_index >= d.num_faces)
        throw FontError(FontError::Kind::BadFaceIndex,
                        "face index " + std::to_string(face_index) + " out of range: '" + font_path + "' has " +
                            std::to_string(d.num_faces) + " face(s), valid indices 0.." +
                            std::to_string(d.num_faces - 1));
    err = FT_New_Face(d.lib, font_path.c_str(), face_index, &d.face);
    if (err) {
        d.face = nullptr;
        throw FontError(FontError::Kind::NotAFont, "cannot load face " + std::to_string(face_index) + " of '" +
                                                       font_path + "': " + ft_error_text(err));
    }
    if (!FT_IS_SCALABLE(d.face))
        throw FontError(FontError::Kind::NotAFont, "'" + font_path + "' face " + std::to_string(face_index) +
                                                       " is a bitmap-only font; an outline font is required");
    d.family = d.face->family_name ? d.face->family_name : "";
    d.style = d.face->style_name ? d.face->style_name : "";

    d.hb_font = hb_ft_font_create_referenced(d.face);
    hb_ft_font_set_load_flags(d.hb_font, kShapeLoadFlags);
    d.buf = hb_buffer_create();
    if (!hb_buffer_allocation_successful(d.buf)) throw std::bad_alloc();
    d.set_size(24);
}

TextRenderer::~TextRenderer() = default;

const std::string& TextRenderer::font_path() const { return impl_->path; }
int TextRenderer::face_index() const { return impl_->face_index; }
int TextRenderer::num_faces() const { return impl_->num_faces; }
const std::string& TextRenderer::family_name() const { return impl_->family; }
const std::string& TextRenderer::style_name() const { return impl_->style; }

TextMetrics TextRenderer::measure(std::string_view utf8, int size_px, int outline_px) {
    check_size(size_px);
    check_outline(outline_px);
    check_utf8(utf8);
    Impl::Layout lay;
    {
        std::lock_guard<std::mutex> lock(impl_->mu);
        impl_->layout(utf8, size_px, outline_px, lay);
    }
    TextMetrics m;
    m.width = utf8.empty() ? 0 : lay.right - lay.left;
    m.height = int(lay.bottom - lay.top);
    m.baseline = int(-lay.top);
    return m;
}

PixelBox TextRenderer::draw(std::uint8_t* frame, int height, int width, std::ptrdiff_t stride,
                            std::string_view utf8, std::int64_t x, std::int64_t y, int size_px,
                            const TextStyle& style) {
    if (height < 0 || width < 0) throw std::invalid_argument("frame height and width must be >= 0");
    if (stride == 0) stride = std::ptrdiff_t(width) * 3;
    if (stride < std::ptrdiff_t(width) * 3)
        throw std::invalid_argument("frame stride must be at least 3 * width bytes");
    if (!frame && height > 0 && width > 0) throw std::invalid_argument("frame pointer is null");
    check_size(size_px);
    check_outline(style.outline_px);
    if (style.padding_px < 0 || style.padding_px > kMaxPaddingPx)
        throw std::invalid_argument("padding must be 0.." + std::to_string(kMaxPaddingPx) + " px, got " +
                                    std::to_string(style.padding_px));
    check_utf8(utf8);
    if (utf8.empty()) return {};

    Impl::Layout lay;
    {
        std::lock_guard<std::mutex> lock(impl_->mu);
        impl_->layout(utf8, size_px, style.outline_px, lay);
    }
    // Blending needs no lock: the layout holds its own references to the glyph bitmaps.
    if (height == 0 || width == 0) return {};
    x = std::clamp(x, -kCoordLimit, kCoordLimit);
    y = std::clamp(y, -kCoordLimit, kCoordLimit);
    const Frame f{frame, height, width, stride};
    const std::int64_t ox = x - lay.left, oy = y - lay.top;  // pen start in frame pixels
    PixelBox touched;
    bool any = false;
    if (style.background) {
        const std::int64_t p = style.padding_px;
        blend_rect(f, x - p, y - p, x + (lay.right - lay.left) + p, y + (lay.bottom - lay.top) + p,
                   style.background_color, style.background_alpha, touched, any);
    }
    // All outlines first, then all fills, so a neighbour's outline never covers a glyph.
    if (style.outline_px > 0)
        for (const auto& p : lay.glyphs)
            blend_mask(f, *p.outline, ox + p.x + p.outline->left, oy + p.y + p.outline->top,
                       style.outline_color, touched, any);
    for (const auto& p : lay.glyphs)
        blend_mask(f, *p.fill, ox + p.x + p.fill->left, oy + p.y + p.fill->top, style.color, touched, any);
    return any ? touched : PixelBox{};
}

GlyphCacheStats TextRenderer::cache_stats() const {
    std::lock_guard<std::mutex> lock(impl_->mu);
    GlyphCacheStats s;
    s.entries = impl_->lru.size();
    s.bytes = impl_->bytes;
    s.capacity_bytes = impl_->capacity_bytes;
    s.hits = impl_->hits;
    s.misses = impl_->misses;
    s.evictions = impl_->evictions;
    return s;
}

void TextRenderer::clear_cache() {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->lru.clear();
    impl_->index.clear();
    impl_->bytes = 0;
}

}  // namespace daka
