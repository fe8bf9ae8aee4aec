// Array arguments of the bindings: taken exactly as the core reads them, or refused.
//
// "Check, refuse, then release the GIL": every array argument is checked here while the GIL
// is held (an ndarray, its dtype, its shape, its memory layout), and a wrong one raises an
// error naming the argument, what was expected and what was given. Nothing is converted or
// copied (pybind11's forcecast would turn a float64 image or int boxes into a silent copy):
// the checks are those of `py::array_t<T, py::array::c_style>` with `.noconvert()`, done by
// hand so that the message can say which argument is wrong and how.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <initializer_list>
#include <string>

#include "image_view.hpp"

namespace daka::args {

namespace py = pybind11;

inline constexpr py::ssize_t kAny = -1;  // a dimension of any length in an expected shape

std::string type_name(py::handle obj);    // e.g. "list", "numpy.ndarray"
std::string dtype_name(const py::array& a);  // e.g. "float64", ">f4"
std::string shape_str(const py::array& a);   // e.g. "(3, 128)", "(128,)"

// `obj` as an ndarray; TypeError "<name> must be a numpy.ndarray of <expected>, got <type>".
py::array ndarray(py::handle obj, const char* name, const std::string& expected);

// Refusals shared by the checks (all throw).
[[noreturn]] void wrong_dtype(const py::array& a, const char* name, const char* dtype);
void check_shape(const py::array& a, const char* name, std::initializer_list<py::ssize_t> shape,
                 const char* shape_text);
void check_c_contiguous(const py::array& a, const char* name);

// A C-contiguous, aligned ndarray of exactly dtype T and the given shape (kAny = any length),
// taken as is. shape_text is how the expected shape reads in messages, e.g. "(n, 4)".
template <typename T>
py::array_t<T, py::array::c_style> exact(py::handle obj, const char* name,
                                         std::initializer_list<py::ssize_t> shape, const char* shape_text,
                                         const char* dtype) {
    py::array a = ndarray(obj, name, std::string("dtype ") + dtype + " and shape " + shape_text);
    // equal(), not is(): an unpickled array has an equal but distinct dtype object; equal() is
    // numpy's equivalence, so a byte-swapped ">f4" is refused, as the core reads native order.
    if (!a.dtype().equal(py::dtype::of<T>())) wrong_dtype(a, name, dtype);
    check_shape(a, name, shape, shape_text);
    check_c_contiguous(a, name);
    return py::reinterpret_borrow<py::array_t<T, py::array::c_style>>(a);
}

// A BGR frame: uint8 (H, W, 3), not empty, with packed pixels; rows may be strided (a crop
// such as frame[40:, 300:] is read in place). frame[:, ::2] or a transposed array is refused.
BgrView bgr_frame(py::handle obj, const char* name = "frame");

}  // namespace daka::args
