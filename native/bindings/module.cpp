// The compiled module app.native._core: one entry point, one bind_* per component.
#include <pybind11/pybind11.h>

#include "bind.hpp"

PYBIND11_MODULE(_core, m) {
    m.doc() = "Daka native core: face engine, gallery index, punch reader, text renderer";
    daka::bind_buildinfo(m);
    daka::bind_face(m);
    daka::bind_gallery(m);
    daka::bind_punches(m);
    daka::bind_text(m);
}
