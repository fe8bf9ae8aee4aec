#include "face_engine.hpp"

#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_transforms.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace daka {
namespace {

// Bilinear resample of a BGR view into an image of pixel type P (gray or RGB), in one pass.
template <typename P>
void resample(const BgrView& src, double scale, dlib::array2d<P>& dst) {
    const long rows = std::max(1L, std::lround(src.rows * scale));
    const long cols = std::max(1L, std::lround(src.cols * scale));
    dst.set_size(rows, cols);
    const double sy = static_cast<double>(src.rows) / rows;
    const double sx = static_cast<double>(src.cols) / cols;
    std::vector<long> x0(cols);
    std::vector<float> fx(cols);
    for (long c = 0; c < cols; ++c) {
        double x = std::clamp((c + 0.5) * sx - 0.5, 0.0, static_cast<double>(src.cols - 1));
        x0[c] = std::min(static_cast<long>(x), src.cols - 2 < 0 ? 0 : src.cols - 2);
        fx[c] = static_cast<float>(x - x0[c]);
    }
    const long xmax = src.cols - 1;
    for (long r = 0; r < rows; ++r) {
        double y = std::clamp((r + 0.5) * sy - 0.5, 0.0, static_cast<double>(src.rows - 1));
        long y0 = std::min(static_cast<long>(y), src.rows - 2 < 0 ? 0 : src.rows - 2);
        float fy = static_cast<float>(y - y0);
        const uint8_t* row0 = src.data + y0 * src.stride;
        const uint8_t* row1 = src.data + std::min(y0 + 1, src.rows - 1) * src.stride;
        for (long c = 0; c < cols; ++c) {
            const long xa = x0[c], xb = std::min(x0[c] + 1, xmax);
            const float w = fx[c];
            float ch[3];
            for (int k = 0; k < 3; ++k) {
                float top = row0[xa * 3 + k] + w * (row0[xb * 3 + k] - row0[xa * 3 + k]);
                float bot = row1[xa * 3 + k] + w * (row1[xb * 3 + k] - row1[xa * 3 + k]);
                ch[k] = top + fy * (bot - top);
            }
            if constexpr (std::is_same_v<P, unsigned char>) {
                // dlib's own BGR -> gray rule: the mean of the three channels.
                dst[r][c] = static_cast<unsigned char>((ch[0] + ch[1] + ch[2]) / 3.0f + 0.5f);
            } else {
                dst[r][c] = dlib::rgb_pixel(static_cast<unsigned char>(ch[2] + 0.5f),
                                            static_cast<unsigned char>(ch[1] + 0.5f),
                                            static_cast<unsigned char>(ch[0] + 0.5f));
            }
        }
    }
}

template <typename P>
void copy_pixels(const BgrView& src, dlib::array2d<P>& dst) {
    dst.set_size(src.rows, src.cols);
    for (long r = 0; r < src.rows; ++r) {
        const uint8_t* p = src.data + r * src.stride;
        for (long c = 0; c < src.cols; ++c, p += 3) {
            if constexpr (std::is_same_v<P, unsigned char>)
                dst[r][c] = static_cast<unsigned char>((p[0] + p[1] + p[2] + 1) / 3);
            else
                dst[r][c] = dlib::rgb_pixel(p[2], p[1], p[0]);
        }
    }
}

}  // namespace

struct FaceDetector::Impl {
    using Detector = dlib::frontal_face_detector;
    static constexpr unsigned long kNearLevels = 2;  // levels 0-1 hold about half of the work

    Detector detector = dlib::get_frontal_face_detector();
    Detector near_levels, far_levels;  // the two halves, without suppression of their own
    dlib::test_box_overlap suppression = detector.get_overlap_tester();
    dlib::array2d<unsigned char> gray;
    dlib::array2d<dlib::rgb_pixel> colour;

    Impl() {
        std::vector<Detector::feature_vector_type> weights;
        for (unsigned long i = 0; i < detector.num_detectors(); ++i) weights.push_back(detector.get_w(i));
        const dlib::test_box_overlap keep_all(1.0, 1.0);  // no ratio exceeds 1: nothing overlaps
        dlib::scan_fhog_pyramid<dlib::pyramid_down<6>> near_scanner, far_scanner;
        near_scanner.copy_configuration(detector.get_scanner());
        near_scanner.set_max_pyramid_levels(kNearLevels);
        far_scanner.copy_configuration(detector.get_scanner());
        near_levels = Detector(near_scanner, keep_all, weights);
        far_levels = Detector(far_scanner, keep_all, weights);
    }

    // The number of pyramid levels dlib's scanner uses for an image of this size.
    unsigned long pyramid_levels(long rows, long cols) const {
        const auto& sc = detector.get_scanner();
        dlib::pyramid_down<6> pyr;
        dlib::rectangle rect(cols, rows);
        unsigned long levels = 0;
        do {
            rect = pyr.rect_down(rect);
            ++levels;
        } while (rect.width() >= sc.get_min_pyramid_layer_width() &&
                 rect.height() >= sc.get_min_pyramid_layer_height() && levels < sc.get_max_pyramid_levels());
        return levels;
    }

    template <typename P>
    std::vector<dlib::rect_detection> split_detect(const dlib::array2d<P>& img, double adjust) {
        std::vector<dlib::rect_detection> near, far;
        const bool has_far = pyramid_levels(img.nr(), img.nc()) > kNearLevels;
#pragma omp parallel sections num_threads(2) if (has_far)
        {
#pragma omp section
            near_levels(img, near, adjust);
#pragma omp section
            if (has_far) {
                // The same images dlib's pyramid would make for levels 1 and 2.
                dlib::pyramid_down<6> pyr;
                dlib::array2d<P> level1, level2;
                pyr(img, level1);
                pyr(level1, level2);
                far_levels(level2, far, adjust);
                for (auto& d : far) d.rect = pyr.rect_up(dlib::drectangle(d.rect), kNearLevels);
            }
        }
        near.insert(near.end(), far.begin(), far.end());
        // dlib's own non-maximum suppression: strongest first, drop what overlaps a kept box.
        std::stable_sort(near.begin(), near.end(), [](const auto& a, const auto& b) {
            return a.detection_confidence > b.detection_confidence;
        });
        std::vector<dlib::rect_detection> kept;
        for (const auto& d : near) {
            bool overlaps = false;
            for (const auto& k : kept)
                if (suppression(k.rect, d.rect)) { overlaps = true; break; }
            if (!overlaps) kept.push_back(d);
        }
        return kept;
    }

    template <typename P>
    std::vector<dlib::rect_detection> run(const BgrView& frame, double scale, const DetectOptions& opt,
                                          dlib::array2d<P>& img) {
        if (scale == 1.0)
            copy_pixels(frame, img);
        else
            resample(frame, scale, img);
        for (int i = 0; i < opt.upsample; ++i) dlib::pyramid_up(img);
        std::vector<dlib::rect_detection> dets;
        if (opt.threads > 1)
            dets = split_detect(img, opt.adjust_threshold);
        else
            detector(img, dets, opt.adjust_threshold);
        // Back to the downscaled frame's coordinates exactly as dlib maps pyramid_up results.
        dlib::pyramid_down<2> pyr;
        for (auto& d : dets) d.rect = pyr.rect_down(d.rect, opt.upsample);
        return dets;
    }
};

FaceDetector::FaceDetector() : impl_(new Impl) {}
FaceDetector::~FaceDetector() = default;

double FaceDetector::effective_scale(const DetectOptions& opt) {
    double down = opt.downscale;
    if (down <= 0.0) down = opt.min_face > 0 ? std::min(1.0, static_cast<double>(kHogWindow) / opt.min_face) : 1.0;
    return down * std::pow(2.0, opt.upsample);
}

std::vector<Detection> FaceDetector::detect(const BgrView& frame, const DetectOptions& opt) const {
    if (opt.downscale > 1.0) throw std::invalid_argument("downscale must be <= 1 (use upsample to enlarge)");
    if (opt.upsample < 0 || opt.upsample > 3) throw std::invalid_argument("upsample must be between 0 and 3");
    if (opt.min_face < 0) throw std::invalid_argument("min_face must be >= 0");
    if (opt.threads < 1 || opt.threads > 2) throw std::invalid_argument("threads must be 1 or 2");
    const double eff = effective_scale(opt);
    const double down = eff / std::pow(2.0, opt.upsample);  // rects come back at this scale
    if (std::lround(frame.rows * eff) < kHogWindow / 2 || std::lround(frame.cols * eff) < kHogWindow / 2)
        return {};  // too small to hold any face at this scale

    std::vector<dlib::rect_detection> raw;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        raw = opt.grayscale ? impl_->run(frame, down, opt, impl_->gray) : impl_->run(frame, down, opt, impl_->colour);
    }
    std::vector<Detection> out;
    out.reserve(raw.size());
    for (const auto& d : raw) {
        Detection det;
        if (down == 1.0) {
            det.left = d.rect.left(); det.top = d.rect.top();
            det.right = d.rect.right(); det.bottom = d.rect.bottom();
        } else {
            det.left = std::lround(d.rect.left() / down);
            det.top = std::lround(d.rect.top() / down);
            det.right = std::lround((d.rect.right() + 1) / down) - 1;
            det.bottom = std::lround((d.rect.bottom() + 1) / down) - 1;
        }
        det.score = d.detection_confidence;
        det.view = static_cast<int>(d.weight_index);
        if (det.right - det.left + 1 < opt.min_face) continue;
        out.push_back(det);
    }
    return out;
}

struct LandmarkModel::Impl {
    dlib::shape_predictor predictor;
};

LandmarkModel::LandmarkModel(const std::string& path) : impl_(new Impl) {
    std::ifstream probe(path, std::ios::binary);
    if (!probe) throw std::runtime_error("cannot open landmark model: " + path);
    probe.close();
    try {
        dlib::deserialize(path) >> impl_->predictor;
    } catch (const std::exception& e) {
        throw std::runtime_error("not a dlib shape predictor: " + path + " (" + e.what() + ")");
    }
    if (impl_->predictor.num_parts() != 5)
        throw std::runtime_error("expected a 5-point landmark model, got " +
                                 std::to_string(impl_->predictor.num_parts()) + " points: " + path);
}
LandmarkModel::~LandmarkModel() = default;

std::vector<Landmarks5> LandmarkModel::predict(const BgrView& frame, const std::vector<Detection>& boxes) const {
    std::vector<Landmarks5> out;
    out.reserve(boxes.size());
    for (const auto& b : boxes) {
        // shape_predictor is const and keeps no state: safe from several threads at once.
        auto shape = impl_->predictor(frame, dlib::rectangle(b.left, b.top, b.right, b.bottom));
        Landmarks5 lm;
        for (int i = 0; i < 5; ++i) lm[i] = {static_cast<float>(shape.part(i).x()), static_cast<float>(shape.part(i).y())};
        out.push_back(lm);
    }
    return out;
}

void extract_chips(const BgrView& frame, const std::vector<Landmarks5>& shapes, int size, double padding,
                   uint8_t* out) {
    for (size_t i = 0; i < shapes.size(); ++i) {
        std::vector<dlib::point> parts;
        long l = LONG_MAX, t = LONG_MAX, r = LONG_MIN, b = LONG_MIN;
        for (const auto& p : shapes[i]) {
            dlib::point q(std::lround(p[0]), std::lround(p[1]));
            parts.push_back(q);
            l = std::min(l, q.x()); t = std::min(t, q.y()); r = std::max(r, q.x()); b = std::max(b, q.y());
        }
        dlib::full_object_detection det(dlib::rectangle(l, t, r, b), parts);
        dlib::matrix<dlib::bgr_pixel> chip;
        dlib::extract_image_chip(frame, dlib::get_face_chip_details(det, size, padding), chip);
        std::memcpy(out + i * size * size * 3, &chip(0, 0), static_cast<size_t>(size) * size * 3);
    }
}

}  // namespace daka
