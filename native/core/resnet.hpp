// dlib's face recognition ResNet (dlib_face_recognition_resnet_model_v1.dat): the reference
// descriptor path, and the layer dump from which the ONNX graph is built at set-up.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace daka {

constexpr int kChipSize = 150;
constexpr int kDescriptorDim = 128;

struct LayerTensor {
    std::string name;
    std::vector<long> shape;
    std::vector<float> data;
};

// One layer of a dlib network, listed from the input up. kind is one of: input, con, affine,
// relu, max_pool, avg_pool, add_prev, tag, skip, fc, loss_metric.
struct LayerRecord {
    std::string kind;
    std::vector<std::pair<std::string, long>> attrs;
    std::vector<LayerTensor> tensors;
};

// Deserialize the model file with dlib and list its layers with their parameters.
std::vector<LayerRecord> export_resnet_layers(const std::string& model_path);

class DlibDescriptor {
public:
    explicit DlibDescriptor(const std::string& model_path);
    ~DlibDescriptor();
    // chips: n BGR chips of kChipSize x kChipSize, contiguous; out: n x kDescriptorDim floats.
    void compute(const uint8_t* chips, long n, float* out) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    mutable std::mutex mutex_;  // a dlib net keeps its activations inside: one call at a time
};

}  // namespace daka
