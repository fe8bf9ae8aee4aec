// A borrowed BGR buffer seen by dlib as an image of bgr_pixel, without a copy.
#pragma once
#include <dlib/image_processing/generic_image.h>
#include <dlib/pixel.h>

#include <cstddef>
#include <cstdint>

namespace daka {

struct BgrView {
    const uint8_t* data = nullptr;
    long rows = 0;
    long cols = 0;
    long stride = 0;  // bytes per row
};

// dlib's generic image interface, found by argument-dependent lookup.
inline long num_rows(const BgrView& v) { return v.rows; }
inline long num_columns(const BgrView& v) { return v.cols; }
inline long width_step(const BgrView& v) { return v.stride; }
inline const void* image_data(const BgrView& v) { return v.data; }
// dlib asks for a mutable pointer even for read-only access; the view is never written.
inline void* image_data(BgrView& v) { return const_cast<uint8_t*>(v.data); }

}  // namespace daka

namespace dlib {
template <>
struct image_traits<daka::BgrView> {
    typedef bgr_pixel pixel_type;
};
}  // namespace dlib
