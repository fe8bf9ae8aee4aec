#include "resnet.hpp"

#include <dlib/dnn.h>

#include <cstring>
#include <fstream>
#include <stdexcept>

namespace daka {
namespace {

using namespace dlib;

// The architecture stored in dlib_face_recognition_resnet_model_v1.dat, with batch norm
// already folded into affine layers. Written out so that dlib can deserialize the file.
template <int N, template <typename> class BN, int stride, typename SUBNET>
using conv_pair = BN<con<N, 3, 3, 1, 1, relu<BN<con<N, 3, 3, stride, stride, SUBNET>>>>>;

template <int N, typename SUBNET>
using res_same = relu<add_prev1<conv_pair<N, affine, 1, tag1<SUBNET>>>>;

template <int N, typename SUBNET>
using res_down = relu<add_prev2<avg_pool<2, 2, 2, 2, skip1<tag2<conv_pair<N, affine, 2, tag1<SUBNET>>>>>>>;

template <typename SUBNET> using stage256a = res_down<256, SUBNET>;
template <typename SUBNET> using stage256b = res_same<256, res_same<256, res_down<256, SUBNET>>>;
template <typename SUBNET> using stage128 = res_same<128, res_same<128, res_down<128, SUBNET>>>;
template <typename SUBNET> using stage64 = res_same<64, res_same<64, res_same<64, res_down<64, SUBNET>>>>;
template <typename SUBNET> using stage32 = res_same<32, res_same<32, res_same<32, SUBNET>>>;

using face_resnet = loss_metric<fc_no_bias<kDescriptorDim, avg_pool_everything<
    stage256a<stage256b<stage128<stage64<stage32<
    max_pool<3, 3, 2, 2, relu<affine<con<32, 7, 7, 2, 2,
    input_rgb_image_sized<kChipSize>>>>>>>>>>>>>;

face_resnet load_net(const std::string& path) {
    std::ifstream probe(path, std::ios::binary);
    if (!probe) throw std::runtime_error("cannot open model file: " + path);
    probe.close();
    face_resnet net;
    try {
        deserialize(path) >> net;
    } catch (const std::exception& e) {
        throw std::runtime_error("not a dlib face recognition ResNet model: " + path + " (" + e.what() + ")");
    }
    return net;
}

LayerTensor copy_tensor(const std::string& name, std::vector<long> shape, const float* src) {
    LayerTensor t{name, std::move(shape), {}};
    size_t count = 1;
    for (long d : t.shape) count *= static_cast<size_t>(d);
    t.data.assign(src, src + count);
    return t;
}

// Turns each visited layer into a LayerRecord; visit_layers walks from the loss down.
struct LayerLister {
    std::vector<LayerRecord>* out;

    template <long NF, long NR, long NC, int SY, int SX, int PY, int PX>
    void describe(LayerRecord& r, const con_<NF, NR, NC, SY, SX, PY, PX>& l) const {
        r.kind = "con";
        const tensor& p = l.get_layer_params();
        const long nf = l.num_filters();
        const long bias = l.bias_is_disabled() ? 0 : nf;
        const long k = (static_cast<long>(p.size()) - bias) / (nf * l.nr() * l.nc());
        r.attrs = {{"num_filters", nf}, {"nr", l.nr()}, {"nc", l.nc()}, {"stride_y", l.stride_y()},
                   {"stride_x", l.stride_x()}, {"padding_y", l.padding_y()}, {"padding_x", l.padding_x()},
                   {"k", k}};
        r.tensors.push_back(copy_tensor("weight", {nf, k, l.nr(), l.nc()}, p.host()));
        if (bias) r.tensors.push_back(copy_tensor("bias", {nf}, p.host() + nf * k * l.nr() * l.nc()));
    }
    void describe(LayerRecord& r, const affine_& l) const {
        r.kind = "affine";
        // Keep the alias instances alive: the tensor references point into them.
        auto gamma = l.get_gamma();
        auto beta = l.get_beta();
        const tensor& g = gamma;
        const tensor& b = beta;
        r.attrs = {{"mode", l.get_mode() == CONV_MODE ? 0 : 1}};
        r.tensors.push_back(copy_tensor("gamma", {static_cast<long>(g.size())}, g.host()));
        r.tensors.push_back(copy_tensor("beta", {static_cast<long>(b.size())}, b.host()));
    }
    void describe(LayerRecord& r, const relu_&) const { r.kind = "relu"; }
    template <long NR, long NC, int SY, int SX, int PY, int PX>
    void describe(LayerRecord& r, const max_pool_<NR, NC, SY, SX, PY, PX>& l) const {
        r.kind = "max_pool";
        pool_attrs(r, l);
    }
    template <long NR, long NC, int SY, int SX, int PY, int PX>
    void describe(LayerRecord& r, const avg_pool_<NR, NC, SY, SX, PY, PX>& l) const {
        r.kind = "avg_pool";
        pool_attrs(r, l);
    }
    template <template <typename> class TAG>
    void describe(LayerRecord& r, const add_prev_<TAG>&) const {
        r.kind = "add_prev";
        r.attrs = {{"tag", static_cast<long>(tag_id<TAG>::id)}};
    }
    template <unsigned long NO, fc_bias_mode BM>
    void describe(LayerRecord& r, const fc_<NO, BM>& l) const {
        r.kind = "fc";
        const tensor& p = l.get_layer_params();
        const long no = static_cast<long>(l.get_num_outputs());
        const bool has_bias = BM == FC_HAS_BIAS;
        const long ni = static_cast<long>(p.size()) / no - (has_bias ? 1 : 0);
        r.attrs = {{"num_outputs", no}, {"num_inputs", ni}, {"bias", has_bias ? 1 : 0}};
        r.tensors.push_back(copy_tensor("weight", {ni, no}, p.host()));
        if (has_bias) r.tensors.push_back(copy_tensor("bias", {no}, p.host() + ni * no));
    }
    template <typename L>
    void describe(LayerRecord& r, const L&) const {
        throw std::runtime_error("unsupported layer in model: " + std::string(typeid(L).name()));
    }
    template <typename L>
    static void pool_attrs(LayerRecord& r, const L& l) {
        r.attrs = {{"nr", l.nr()}, {"nc", l.nc()}, {"stride_y", l.stride_y()}, {"stride_x", l.stride_x()},
                   {"padding_y", l.padding_y()}, {"padding_x", l.padding_x()}};
    }

    template <typename T, typename U, typename E>
    void operator()(size_t, const add_layer<T, U, E>& l) const {
        LayerRecord r;
        describe(r, l.layer_details());
        out->push_back(std::move(r));
    }
    template <unsigned long ID, typename U, typename E>
    void operator()(size_t, const add_tag_layer<ID, U, E>&) const {
        out->push_back({"tag", {{"id", static_cast<long>(ID)}}, {}});
    }
    template <template <typename> class TAG, typename U>
    void operator()(size_t, const add_skip_layer<TAG, U>&) const {
        out->push_back({"skip", {{"id", static_cast<long>(tag_id<TAG>::id)}}, {}});
    }
    template <typename T, typename U>
    void operator()(size_t, const add_loss_layer<T, U>&) const {
        out->push_back({"loss_metric", {}, {}});
    }
    template <typename INPUT>
    void operator()(size_t, const INPUT& in) const {
        LayerRecord r{"input", {{"size", kChipSize}}, {}};
        const float mean[3] = {in.get_avg_red(), in.get_avg_green(), in.get_avg_blue()};
        r.tensors.push_back(copy_tensor("mean_rgb", {3}, mean));
        out->push_back(std::move(r));
    }
};

matrix<rgb_pixel> chip_to_rgb(const uint8_t* bgr) {
    matrix<rgb_pixel> m(kChipSize, kChipSize);
    for (long r = 0; r < kChipSize; ++r)
        for (long c = 0; c < kChipSize; ++c) {
            const uint8_t* p = bgr + (r * kChipSize + c) * 3;
            m(r, c) = rgb_pixel(p[2], p[1], p[0]);
        }
    return m;
}

}  // namespace

std::vector<LayerRecord> export_resnet_layers(const std::string& model_path) {
    face_resnet net = load_net(model_path);
    std::vector<LayerRecord> layers;
    visit_layers(net, LayerLister{&layers});
    std::vector<LayerRecord> from_input(layers.rbegin(), layers.rend());
    return from_input;
}

struct DlibDescriptor::Impl {
    face_resnet net;
};

DlibDescriptor::DlibDescriptor(const std::string& model_path) : impl_(new Impl{load_net(model_path)}) {}
DlibDescriptor::~DlibDescriptor() = default;

void DlibDescriptor::compute(const uint8_t* chips, long n, float* out) const {
    std::vector<matrix<rgb_pixel>> batch;
    batch.reserve(n);
    for (long i = 0; i < n; ++i) batch.push_back(chip_to_rgb(chips + i * kChipSize * kChipSize * 3));
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<matrix<float, 0, 1>> descriptors = impl_->net(batch, 16);
    for (long i = 0; i < n; ++i) std::memcpy(out + i * kDescriptorDim, &descriptors[i](0), kDescriptorDim * sizeof(float));
}

}  // namespace daka
