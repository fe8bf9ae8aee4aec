// Python bindings of daka::GalleryIndex.
//
// Arguments are validated while holding the GIL (dtype, contiguity, shape), with messages
// that say what was expected; the big float arrays are never converted or copied. The C++
// work then runs with the GIL released, so other Python threads keep running during a
// search or a large add.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "arrays.hpp"
#include "bind.hpp"
#include "gallery.hpp"

namespace py = pybind11;

namespace daka {
namespace {

using FloatArray = py::array_t<float, py::array::c_style>;
using IdArray = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;

using args::dtype_name;
using args::shape_str;

// A float32, C-contiguous, aligned ndarray, taken as is (no conversion, no copy); the shape is
// checked by the caller, which knows what it should be.
FloatArray as_float_array(const py::handle& obj, const char* name) {
    const py::array a = args::ndarray(obj, name, "dtype float32");
    if (!a.dtype().equal(py::dtype::of<float>())) args::wrong_dtype(a, name, "float32");
    args::check_c_contiguous(a, name);
    return py::reinterpret_borrow<FloatArray>(a);
}

// Ids: a Python/numpy integer (one id) or a 1-D array-like of integers. Ids are small, so
// any integer dtype is accepted and converted to int64; floats and bools are refused.
IdArray as_id_array(const py::handle& obj) {
    if (!py::isinstance<py::array>(obj) && PyIndex_Check(obj.ptr()) &&
        !PyBool_Check(obj.ptr())) {
        IdArray one(py::ssize_t{1});
        try {
            one.mutable_at(0) = obj.cast<std::int64_t>();
        } catch (const py::cast_error&) {
            throw py::value_error("id " + py::repr(obj).cast<std::string>() + " does not fit in int64");
        }
        return one;
    }
    py::array a = py::array::ensure(obj);
    if (!a) {
        PyErr_Clear();
        throw py::type_error("ids must be an int64 array or a sequence of integers");
    }
    const char kind = a.dtype().kind();
    if (a.size() != 0 && kind != 'i' && kind != 'u') {
        throw py::type_error("ids must be integers (int64), got dtype " + dtype_name(a));
    }
    if (a.ndim() == 0) a = a.attr("reshape")(1);
    if (a.ndim() != 1) {
        throw py::value_error("ids must be 1-D, got shape " + shape_str(a));
    }
    if (kind == 'u' && a.itemsize() >= 8 && a.size() != 0 &&
        py::module_::import("numpy").attr("any")(a.attr("__gt__")(INT64_MAX)).cast<bool>()) {
        throw py::value_error("ids must fit in int64");
    }
    IdArray ids = IdArray::ensure(a);  // converts other integer widths; copies only ids
    if (!ids) throw py::error_already_set();
    return ids;
}

// Vectors for a batch of `n` ids: (n, dim), or (dim,) when n == 1.
FloatArray as_vectors(const py::handle& obj, py::ssize_t n, std::size_t dim) {
    FloatArray v = as_float_array(obj, "vectors");
    const auto d = static_cast<py::ssize_t>(dim);
    const bool ok = (v.ndim() == 2 && v.shape(0) == n && v.shape(1) == d) ||
                    (v.ndim() == 1 && n == 1 && v.shape(0) == d);
    if (!ok) {
        throw py::value_error("vectors must have shape (" + std::to_string(n) + ", " +
                              std::to_string(dim) + ") to match " + std::to_string(n) +
                              " id(s) and dim " + std::to_string(dim) + ", got " + shape_str(v));
    }
    return v;
}

void gallery_add(GalleryIndex& g, const py::object& ids_obj, const py::object& vec_obj) {
    const IdArray ids = as_id_array(ids_obj);
    const FloatArray v = as_vectors(vec_obj, ids.shape(0), g.dim());
    const auto n = static_cast<std::size_t>(ids.shape(0));
    py::gil_scoped_release nogil;
    g.add(ids.data(), v.data(), n);
}

void gallery_replace(GalleryIndex& g, const py::object& ids_obj, const py::object& vec_obj) {
    const IdArray ids = as_id_array(ids_obj);
    const FloatArray v = as_vectors(vec_obj, ids.shape(0), g.dim());
    const auto n = static_cast<std::size_t>(ids.shape(0));
    py::gil_scoped_release nogil;
    g.replace(ids.data(), v.data(), n);
}

std::size_t gallery_remove(GalleryIndex& g, const py::object& ids_obj) {
    const IdArray ids = as_id_array(ids_obj);
    const auto n = static_cast<std::size_t>(ids.shape(0));
    py::gil_scoped_release nogil;
    return g.remove(ids.data(), n);
}

py::tuple gallery_search(const GalleryIndex& g, const py::object& q_obj, py::ssize_t k) {
    if (k < 1) throw py::value_error("k must be >= 1, got " + std::to_string(k));
    const FloatArray q = as_float_array(q_obj, "queries");
    const auto d = static_cast<py::ssize_t>(g.dim());
    py::ssize_t m = 0;
    if (q.ndim() == 1 && q.shape(0) == d) {
        m = 1;
    } else if (q.ndim() == 2 && q.shape(1) == d) {
        m = q.shape(0);
    } else {
        throw py::value_error("queries must have shape (" + std::to_string(d) + ",) or (m, " +
                              std::to_string(d) + "), got " + shape_str(q));
    }
    py::array_t<std::int64_t> out_ids({m, k});
    py::array_t<float> out_dist({m, k});
    std::int64_t* ids_ptr = out_ids.mutable_data();
    float* dist_ptr = out_dist.mutable_data();
    {
        py::gil_scoped_release nogil;
        g.search(q.data(), static_cast<std::size_t>(m), static_cast<std::size_t>(k), ids_ptr,
                 dist_ptr);
    }
    return py::make_tuple(std::move(out_ids), std::move(out_dist));
}

py::array_t<float> gallery_get(const GalleryIndex& g, std::int64_t id) {
    std::vector<float> v;
    {
        py::gil_scoped_release nogil;
        v = g.get(id);
    }
    py::array_t<float> out(static_cast<py::ssize_t>(v.size()));
    std::copy(v.begin(), v.end(), out.mutable_data());
    return out;
}

py::array_t<std::int64_t> gallery_ids(const GalleryIndex& g) {
    std::vector<std::int64_t> ids;
    {
        py::gil_scoped_release nogil;
        ids = g.ids();
    }
    py::array_t<std::int64_t> out(static_cast<py::ssize_t>(ids.size()));
    std::copy(ids.begin(), ids.end(), out.mutable_data());
    return out;
}

bool gallery_contains(const GalleryIndex& g, const py::handle& obj) {
    if (PyBool_Check(obj.ptr()) || !PyIndex_Check(obj.ptr())) return false;  // not an id
    std::int64_t id = 0;
    try {
        id = obj.cast<std::int64_t>();
    } catch (const py::cast_error&) {
        return false;  // an integer outside int64
    }
    return g.contains(id);
}

}  // namespace

void bind_gallery(py::module_& m) {
    py::register_local_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const GalleryKeyError& e) {
            PyErr_SetString(PyExc_KeyError, e.what());
        }
    });

    py::class_<GalleryIndex>(m, "GalleryIndex", R"doc(
Enrolled face descriptors searched 1:N by Euclidean distance.

Vectors are float32 rows of length `dim` kept in one contiguous aligned matrix; ids are
non-negative int64 (-1 marks "no result" in search output). Safe to search from one thread
while another adds, removes or replaces; the GIL is released during the C++ work.
)doc")
        .def(py::init<std::size_t>(), py::arg("dim") = 128)
        .def_property_readonly("dim", &GalleryIndex::dim, "Length of every vector.")
        .def("__len__", &GalleryIndex::size)
        .def("__contains__", &gallery_contains, py::arg("id"))
        .def("add", &gallery_add, py::arg("ids"), py::arg("vectors"),
             R"doc(Add vectors (float32, C-contiguous, shape (n, dim), or (dim,) for one id).

Raises ValueError if an id is negative, already present or repeated, if a value is not
finite, or if the shape is wrong; TypeError for a wrong dtype. Nothing is added on error.)doc")
        .def("replace", &gallery_replace, py::arg("ids"), py::arg("vectors"),
             R"doc(Overwrite the vectors of existing ids (same array rules as add).

Raises KeyError if an id is missing. Nothing is changed on error.)doc")
        .def("remove", &gallery_remove, py::arg("ids"),
             "Remove ids (absent ids are ignored); returns how many were removed.")
        .def("search", &gallery_search, py::arg("queries"), py::arg("k") = 1,
             R"doc(The k nearest ids of each query.

queries: float32, C-contiguous, shape (dim,) or (m, dim). Returns (ids int64 (m, k),
distances float32 (m, k)): Euclidean distances ascending, ties by smaller id; missing
results (k > len) are id -1 with distance inf.)doc")
        .def("ids", &gallery_ids, "All ids, ascending (int64 array).")
        .def("get", &gallery_get, py::arg("id"), "Copy of the vector of `id` (KeyError if absent).")
        .def("reserve", &GalleryIndex::reserve, py::arg("rows"),
             py::call_guard<py::gil_scoped_release>(), "Pre-allocate room for `rows` rows.")
        .def_property("max_threads", &GalleryIndex::max_threads, &GalleryIndex::set_max_threads,
                      "Cap on search threads (0 = OpenMP default).")
        .def_property_readonly_static("parallel_min_rows", [](py::object) {
            return GalleryIndex::kParallelMinRows;
        }, "Gallery size from which a single search uses several threads.")
        .def("__repr__", [](const GalleryIndex& g) {
            return "GalleryIndex(dim=" + std::to_string(g.dim()) + ", size=" +
                   std::to_string(g.size()) + ")";
        });
}

}  // namespace daka
