// Checks of array arguments shared by the binding files (see arrays.hpp).
#include "arrays.hpp"

namespace daka::args {

std::string type_name(py::handle obj) {
    const py::handle type = py::type::handle_of(obj);
    const std::string module = py::str(type.attr("__module__")).cast<std::string>();
    const std::string name = py::str(type.attr("__qualname__")).cast<std::string>();
    return module == "builtins" ? name : module + "." + name;
}

std::string dtype_name(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

std::string shape_str(const py::array& a) {
    std::string s = "(";
    for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
    return s + (a.ndim() == 1 ? ",)" : ")");
}

py::array ndarray(py::handle obj, const char* name, const std::string& expected) {
    if (!py::isinstance<py::array>(obj))
        throw py::type_error(std::string(name) + " must be a numpy.ndarray of " + expected + ", got " +
                             type_name(obj));
    return py::reinterpret_borrow<py::array>(obj);
}

void wrong_dtype(const py::array& a, const char* name, const char* dtype) {
    throw py::type_error(std::string(name) + " must have dtype " + dtype + ", got " + dtype_name(a) +
                         " (convert with np.ascontiguousarray(x, dtype=np." + dtype + "))");
}

void check_shape(const py::array& a, const char* name, std::initializer_list<py::ssize_t> shape,
                 const char* shape_text) {
    bool ok = a.ndim() == static_cast<py::ssize_t>(shape.size());
    py::ssize_t i = 0;
    for (auto it = shape.begin(); ok && it != shape.end(); ++it, ++i) ok = *it == kAny || a.shape(i) == *it;
    if (!ok)
        throw py::value_error(std::string(name) + " must have shape " + shape_text + ", got " + shape_str(a));
}

void check_c_contiguous(const py::array& a, const char* name) {
    const int flags = a.flags();
    if (!(flags & py::array::c_style))
        throw py::value_error(std::string(name) + " must be C-contiguous, got strides " +
                              [&] {
                                  std::string s = "(";
                                  for (py::ssize_t i = 0; i < a.ndim(); ++i)
                                      s += (i ? ", " : "") + std::to_string(a.strides(i));
                                  return s + (a.ndim() == 1 ? ",)" : ")");
                              }() +
                              " (a view such as x[:, ::2] or a transposed array; use np.ascontiguousarray(x))");
    if (!(flags & py::detail::npy_api::NPY_ARRAY_ALIGNED_))
        throw py::value_error(std::string(name) + " must be an aligned array (use np.ascontiguousarray(x))");
}

BgrView bgr_frame(py::handle obj, const char* name) {
    py::array frame = ndarray(obj, name, "dtype uint8 and shape (H, W, 3) (BGR)");
    if (!frame.dtype().equal(py::dtype::of<uint8_t>())) wrong_dtype(frame, name, "uint8");
    check_shape(frame, name, {kAny, kAny, 3}, "(H, W, 3)");
    if (frame.shape(0) < 1 || frame.shape(1) < 1)
        throw py::value_error(std::string(name) + " is empty: shape " + shape_str(frame));
    if (frame.strides(2) != 1 || frame.strides(1) != 3 || frame.strides(0) < frame.shape(1) * 3)
        throw py::value_error(std::string(name) + " must have packed BGR pixels (rows may be a crop of a " +
                              "larger frame), got strides (" + std::to_string(frame.strides(0)) + ", " +
                              std::to_string(frame.strides(1)) + ", " + std::to_string(frame.strides(2)) +
                              "); use np.ascontiguousarray(" + name + ")");
    return BgrView{static_cast<const uint8_t*>(frame.data()), static_cast<long>(frame.shape(0)),
                   static_cast<long>(frame.shape(1)), static_cast<long>(frame.strides(0))};
}

}  // namespace daka::args
