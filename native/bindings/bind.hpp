// Declarations shared by the binding files. Only files in bindings/ include pybind11.
#pragma once
#include <pybind11/pybind11.h>

namespace daka {
void bind_buildinfo(pybind11::module_& m);  // in face.cpp
void bind_face(pybind11::module_& m);
void bind_gallery(pybind11::module_& m);
void bind_punches(pybind11::module_& m);
void bind_text(pybind11::module_& m);
}  // namespace daka
