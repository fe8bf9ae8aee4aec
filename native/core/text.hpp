// TextRenderer: draws UTF-8 text (Chinese names and the like) onto BGR frames in place.
//
// HarfBuzz shapes the text (hb_ft font over a FreeType face), FreeType rasterises each
// glyph to 8-bit coverage once, a bounded LRU cache keeps the bitmaps, and the frame is
// alpha-blended in place. One mutex guards the font and the cache, so any number of
// threads may share one renderer.
//
// Coordinates: pixels, x to the right, y down. Boxes are half-open, [x0, x1) x [y0, y1).
//
// The text box. For a given text, size and outline width the renderer defines one box:
// the union of the font's line box (advance width x ascender..descender, grown by the
// outline width on every side) and the ink of every glyph (outline included). measure()
// returns that box's width and height and the distance from its top to the baseline;
// draw(x, y) places the box's top-left corner at (x, y), so the ink it writes always lies
// inside [x, x + width) x [y, y + height). A background box, when asked for, is the text
// box grown by `padding_px` on every side, and so starts at (x - padding, y - padding).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace daka {

struct Bgr {
    std::uint8_t b = 0, g = 0, r = 0;
};

struct TextStyle {
    Bgr color{255, 255, 255};
    int outline_px = 0;  // 0 = no outline
    Bgr outline_color{0, 0, 0};
    bool background = false;
    Bgr background_color{0, 0, 0};
    std::uint8_t background_alpha = 255;  // 0 = invisible, 255 = opaque
    int padding_px = 4;                   // background box margin around the text box
};

struct TextMetrics {
    std::int64_t width = 0;  // text box width (0 for empty text)
    int height = 0;          // text box height
    int baseline = 0;        // from the top of the text box down to the baseline
};

struct PixelBox {
    int x0 = 0, y0 = 0, x1 = 0, y1 = 0;  // half-open; all zero when nothing was touched
    bool empty() const { return x1 <= x0 || y1 <= y0; }
};

struct GlyphCacheStats {
    std::size_t entries = 0;
    std::size_t bytes = 0;           // approximate memory held by cached bitmaps
    std::size_t capacity_bytes = 0;  // the budget; least recently used glyphs go first
    std::uint64_t hits = 0, misses = 0, evictions = 0;
};

// Raised by the constructor; kind() lets a binding pick the right exception type.
class FontError : public std::runtime_error {
public:
    enum class Kind { NotFound, NotAFont, BadFaceIndex, Other };
    FontError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
    Kind kind() const { return kind_; }

private:
    Kind kind_;
};

// True if `s` is well-formed UTF-8 (no overlongs, surrogates or code points past
// U+10FFFF). On failure, *bad_offset (if given) receives the offset of the first bad byte.
bool is_valid_utf8(std::string_view s, std::size_t* bad_offset = nullptr);

class TextRenderer {
public:
    static constexpr int kMinSizePx = 4;
    static constexpr int kMaxSizePx = 512;
    static constexpr int kMaxOutlinePx = 16;
    static constexpr int kMaxPaddingPx = 256;
    static constexpr std::size_t kDefaultCacheBytes = std::size_t(8) << 20;

    // Opens face `face_index` of the font file (a .ttc holds several faces). Throws
    // FontError if the file is missing, is not a font, or has no such face.
    TextRenderer(const std::string& font_path, int face_index = 0,
                 std::size_t cache_bytes = kDefaultCacheBytes);
    ~TextRenderer();
    TextRenderer(const TextRenderer&) = delete;
    TextRenderer& operator=(const TextRenderer&) = delete;

    const std::string& font_path() const;
    int face_index() const;
    int num_faces() const;
    const std::string& family_name() const;
    const std::string& style_name() const;

    // Size of the text box (see the top of this file). Throws std::invalid_argument for
    // invalid UTF-8 or a size/outline out of range.
    TextMetrics measure(std::string_view utf8, int size_px, int outline_px = 0);

    // Draws `utf8` with the text box's top-left at (x, y) into a BGR frame of `height` rows
    // of `width` pixels, `stride` bytes apart (stride >= 3 * width; 0 means 3 * width).
    // Pixels outside the frame are never written. Returns the bounding box of the pixels
    // actually written (clipped to the frame), empty if none. Empty text draws nothing.
    PixelBox draw(std::uint8_t* frame, int height, int width, std::ptrdiff_t stride,
                  std::string_view utf8, std::int64_t x, std::int64_t y, int size_px,
                  const TextStyle& style = {});

    GlyphCacheStats cache_stats() const;
    void clear_cache();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace daka
