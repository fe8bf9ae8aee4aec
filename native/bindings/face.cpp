// Bindings of the face engine, the dlib ResNet and the build facts.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>

#include "arrays.hpp"
#include "bind.hpp"
#include "buildinfo.hpp"
#include "face_engine.hpp"
#include "resnet.hpp"

namespace py = pybind11;

namespace daka {
namespace {

using U8Array = py::array_t<uint8_t>;

// Boxes as the detector returns them: float64 (n, 4) left, top, right, bottom.
std::vector<Detection> boxes_from(const py::handle& obj) {
    const auto boxes = args::exact<double>(obj, "boxes", {args::kAny, 4}, "(n, 4)", "float64");
    auto b = boxes.unchecked<2>();
    std::vector<Detection> out(boxes.shape(0));
    for (py::ssize_t i = 0; i < boxes.shape(0); ++i) {
        for (int j = 0; j < 4; ++j)
            if (!std::isfinite(b(i, j))) throw py::value_error("boxes contain a non-finite value (box " + std::to_string(i) + ")");
        out[i].left = std::lround(b(i, 0));
        out[i].top = std::lround(b(i, 1));
        out[i].right = std::lround(b(i, 2));
        out[i].bottom = std::lround(b(i, 3));
        if (out[i].right < out[i].left || out[i].bottom < out[i].top)
            throw py::value_error("box " + std::to_string(i) + " has right < left or bottom < top");
    }
    return out;
}

// Landmarks as LandmarkModel.predict returns them: float32 (n, 5, 2) x, y.
std::vector<Landmarks5> shapes_from(const py::handle& obj) {
    const auto pts = args::exact<float>(obj, "landmarks", {args::kAny, 5, 2}, "(n, 5, 2)", "float32");
    auto p = pts.unchecked<3>();
    std::vector<Landmarks5> out(pts.shape(0));
    for (py::ssize_t i = 0; i < pts.shape(0); ++i)
        for (int j = 0; j < 5; ++j) {
            if (!std::isfinite(p(i, j, 0)) || !std::isfinite(p(i, j, 1)))
                throw py::value_error("landmarks contain a non-finite value");
            out[i][j] = {p(i, j, 0), p(i, j, 1)};
        }
    return out;
}

// Chips as extract_chips makes them: uint8 (n, 150, 150, 3), C-contiguous.
py::array_t<uint8_t, py::array::c_style> chips_from(const py::handle& obj) {
    return args::exact<uint8_t>(obj, "chips", {args::kAny, kChipSize, kChipSize, 3}, "(n, 150, 150, 3)", "uint8");
}

}  // namespace

void bind_buildinfo(py::module_& m) {
    m.def("build_info", [] {
        BuildInfo b = build_info();
        py::dict d;
        d["dlib_version"] = b.dlib_version;
        d["compiler"] = b.compiler;
        d["simd"] = b.simd;
        d["dlib_blas"] = b.dlib_blas;
        d["dlib_cuda"] = b.dlib_cuda;
        d["openmp_max_threads"] = b.openmp_max_threads;
        d["openmp_version"] = b.openmp_version;
        return d;
    }, "What the native core was compiled with.");
    m.def("loaded_libraries", &loaded_libraries, py::arg("needle"),
          "Paths of shared objects mapped into this process whose file name contains needle.");
}

void bind_face(py::module_& m) {
    m.attr("CHIP_SIZE") = kChipSize;
    m.attr("DESCRIPTOR_DIM") = kDescriptorDim;
    m.attr("HOG_WINDOW") = kHogWindow;

    py::class_<FaceDetector>(m, "FaceDetector", "dlib's HOG frontal face detector on BGR frames.")
        .def(py::init<>())
        .def("detect",
             [](const FaceDetector& self, const py::object& frame, double downscale, int upsample, int min_face,
                double adjust_threshold, bool grayscale, int threads) {
                 const BgrView view = args::bgr_frame(frame);
                 DetectOptions opt{downscale, upsample, min_face, adjust_threshold, grayscale, threads};
                 std::vector<Detection> dets;
                 {
                     py::gil_scoped_release nogil;
                     dets = self.detect(view, opt);
                 }
                 py::array_t<double> boxes({static_cast<py::ssize_t>(dets.size()), py::ssize_t{4}});
                 py::array_t<double> scores(static_cast<py::ssize_t>(dets.size()));
                 py::array_t<int32_t> views(static_cast<py::ssize_t>(dets.size()));
                 auto bx = boxes.mutable_unchecked<2>();
                 for (size_t i = 0; i < dets.size(); ++i) {
                     bx(i, 0) = dets[i].left; bx(i, 1) = dets[i].top;
                     bx(i, 2) = dets[i].right; bx(i, 3) = dets[i].bottom;
                     scores.mutable_at(i) = dets[i].score;
                     views.mutable_at(i) = dets[i].view;
                 }
                 return py::make_tuple(boxes, scores, views);
             },
             py::arg("frame"), py::arg("downscale") = 1.0, py::arg("upsample") = 0, py::arg("min_face") = 0,
             py::arg("adjust_threshold") = 0.0, py::arg("grayscale") = true, py::arg("threads") = 1,
             "Detect faces in frame (uint8 (H, W, 3) BGR; rows may be a crop's strided rows, pixels packed).\n"
             "Returns (boxes (n,4) left,top,right,bottom inclusive, scores (n,), views (n,)).\n"
             "downscale <= 0 derives the scale from min_face so a min_face face fits the 80 px HOG window.\n"
             "threads=2 splits the image pyramid over two threads (same faces; far-level boxes within ~1 px).")
        .def_static("effective_scale",
                    [](double downscale, int upsample, int min_face) {
                        return FaceDetector::effective_scale(DetectOptions{downscale, upsample, min_face, 0.0, true, 1});
                    },
                    py::arg("downscale") = 1.0, py::arg("upsample") = 0, py::arg("min_face") = 0);

    py::class_<LandmarkModel>(m, "LandmarkModel", "dlib's 5-point shape predictor.")
        .def(py::init<const std::string&>(), py::arg("path"))
        .def("predict",
             [](const LandmarkModel& self, const py::object& frame, const py::object& boxes) {
                 const BgrView view = args::bgr_frame(frame);
                 auto rects = boxes_from(boxes);
                 std::vector<Landmarks5> shapes;
                 {
                     py::gil_scoped_release nogil;
                     shapes = self.predict(view, rects);
                 }
                 py::array_t<float> out({static_cast<py::ssize_t>(shapes.size()), py::ssize_t{5}, py::ssize_t{2}});
                 auto o = out.mutable_unchecked<3>();
                 for (size_t i = 0; i < shapes.size(); ++i)
                     for (int j = 0; j < 5; ++j) { o(i, j, 0) = shapes[i][j][0]; o(i, j, 1) = shapes[i][j][1]; }
                 return out;
             },
             py::arg("frame"), py::arg("boxes"),
             "Landmarks float32 (n, 5, 2) as x, y for each box of boxes: float64 (n, 4), C-contiguous, as\n"
             "detect returns them. A wrong array raises TypeError/ValueError; nothing is converted.");

    m.def("extract_chips",
          [](const py::object& frame, const py::object& landmarks, int size, double padding) {
              const BgrView view = args::bgr_frame(frame);
              auto shapes = shapes_from(landmarks);
              if (size < 16 || size > 1024) throw py::value_error("size must be between 16 and 1024");
              if (padding < 0 || padding > 2) throw py::value_error("padding must be between 0 and 2");
              U8Array out({static_cast<py::ssize_t>(shapes.size()), static_cast<py::ssize_t>(size),
                           static_cast<py::ssize_t>(size), py::ssize_t{3}});
              uint8_t* dst = out.mutable_data();
              {
                  py::gil_scoped_release nogil;
                  extract_chips(view, shapes, size, padding, dst);
              }
              return out;
          },
          py::arg("frame"), py::arg("landmarks"), py::arg("size") = kChipSize, py::arg("padding") = 0.25,
          "Aligned BGR face chips (n, size, size, 3) from landmarks: float32 (n, 5, 2), C-contiguous, as\n"
          "LandmarkModel.predict returns them; as dlib aligns them. A wrong array raises TypeError/ValueError.");

    py::class_<DlibDescriptor>(m, "DlibDescriptor", "dlib's own ResNet descriptor path (reference and fallback).")
        .def(py::init<const std::string&>(), py::arg("path"))
        .def("compute",
             [](const DlibDescriptor& self, const py::object& chips_arg) {
                 const auto chips = chips_from(chips_arg);
                 const long n = static_cast<long>(chips.shape(0));
                 py::array_t<float> out({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(kDescriptorDim)});
                 const uint8_t* src = static_cast<const uint8_t*>(chips.data());
                 float* dst = out.mutable_data();
                 {
                     py::gil_scoped_release nogil;
                     if (n > 0) self.compute(src, n, dst);
                 }
                 return out;
             },
             py::arg("chips"),
             "128-D descriptors (n, 128) of BGR chips: uint8 (n, 150, 150, 3), C-contiguous. A wrong array\n"
             "raises TypeError/ValueError; nothing is converted.");

    m.def("export_resnet_layers",
          [](const std::string& path) {
              std::vector<LayerRecord> layers;
              {
                  py::gil_scoped_release nogil;
                  layers = export_resnet_layers(path);
              }
              py::list out;
              for (auto& l : layers) {
                  py::dict d;
                  d["kind"] = l.kind;
                  py::dict attrs;
                  for (auto& a : l.attrs) attrs[py::str(a.first)] = a.second;
                  d["attrs"] = attrs;
                  py::dict tensors;
                  for (auto& t : l.tensors) {
                      py::array_t<float> arr(t.shape);
                      std::copy(t.data.begin(), t.data.end(), arr.mutable_data());
                      tensors[py::str(t.name)] = arr;
                  }
                  d["tensors"] = tensors;
                  out.append(d);
              }
              return out;
          },
          py::arg("path"), "Layers of dlib_face_recognition_resnet_model_v1.dat from the input up, with parameters.");
}

}  // namespace daka
