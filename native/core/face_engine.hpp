// Face detection (dlib HOG), 5-point landmarks and aligned chips on BGR frames.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "image_view.hpp"

namespace daka {

struct Detection {
    long left = 0, top = 0, right = 0, bottom = 0;  // inclusive box in frame pixels
    double score = 0.0;                             // HOG detection confidence
    int view = 0;                                   // which of the HOG filters fired (0 = frontal)
};

struct DetectOptions {
    // Scale applied to the frame before detection; <= 0 means "derive from min_face"
    // (the HOG window is 80 px, so a face of min_face px is scaled to just fit it).
    double downscale = 1.0;
    int upsample = 0;          // pyramid-up steps after downscaling (finds smaller faces, slower)
    int min_face = 0;          // drop detections narrower than this, in frame pixels
    double adjust_threshold = 0.0;
    bool grayscale = true;     // HOG on luminance: a third of the gradient work of colour HOG
    // 2 splits the image pyramid between two threads (levels 0-1 | levels 2+), merged by the same
    // non-maximum suppression; boxes found on the far levels may differ from 1 thread by ~1 px.
    int threads = 1;
};

constexpr int kHogWindow = 80;
using Landmarks5 = std::array<std::array<float, 2>, 5>;

class FaceDetector {
public:
    FaceDetector();
    ~FaceDetector();
    std::vector<Detection> detect(const BgrView& frame, const DetectOptions& opt) const;
    // The effective scale (downscale x 2^upsample) used for given options.
    static double effective_scale(const DetectOptions& opt);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    mutable std::mutex mutex_;
};

class LandmarkModel {
public:
    explicit LandmarkModel(const std::string& path);  // shape_predictor_5_face_landmarks.dat
    ~LandmarkModel();
    std::vector<Landmarks5> predict(const BgrView& frame, const std::vector<Detection>& boxes) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Write one size x size BGR chip per face into out (n * size * size * 3 bytes), aligned as
// dlib aligns its recognition chips (the 5 points, with padding around the face).
void extract_chips(const BgrView& frame, const std::vector<Landmarks5>& shapes, int size, double padding,
                   uint8_t* out);

}  // namespace daka
