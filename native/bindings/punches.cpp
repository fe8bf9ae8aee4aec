// Python bindings of daka::PunchReader: a range of punches as numpy columns.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bind.hpp"
#include "punch_reader.hpp"

namespace py = pybind11;

namespace daka {
namespace {

template <typename T>
py::array_t<T> to_array(const std::vector<T>& v) {
    py::array_t<T> a(static_cast<py::ssize_t>(v.size()));
    if (!v.empty()) std::copy(v.begin(), v.end(), a.mutable_data());
    return a;
}

py::dict punch_read(PunchReader& reader, std::int32_t first_day, std::int32_t last_day, std::int64_t staff_id) {
    PunchColumns c;
    {
        py::gil_scoped_release nogil;
        c = reader.read(first_day, last_day, staff_id);
    }
    py::list people, sources;
    for (const auto& [no, name] : c.people) people.append(py::make_tuple(py::str(no), py::str(name)));
    for (const auto& s : c.sources) sources.append(py::str(s));
    py::dict out;
    out["day"] = to_array(c.day);
    out["punched_at_us"] = to_array(c.punched_at_us);
    out["id"] = to_array(c.id);
    out["staff_id"] = to_array(c.staff_id);
    out["person"] = to_array(c.person);
    out["source"] = to_array(c.source);
    out["people"] = people;
    out["sources"] = sources;
    return out;
}

}  // namespace

void bind_punches(py::module_& m) {
    py::register_exception<PunchReadError>(m, "PunchReadError", PyExc_RuntimeError);

    py::class_<PunchReader>(m, "PunchReader", R"doc(
Punches of a range of terminal-local dates read from the SQLite file into columns.

Opens an existing database (never creates one) on its own read-only connection; one read at a
time per reader (a mutex), from any thread, with the GIL released while SQLite works.
)doc")
        .def(py::init<const std::string&, int>(), py::arg("path"), py::arg("busy_timeout_ms") = 5000)
        .def_property_readonly("path", &PunchReader::path)
        .def("read", &punch_read, py::arg("first_day"), py::arg("last_day"), py::arg("staff_id") = -1,
             R"doc(Punches with first_day <= local date <= last_day (days since 1970-01-01), of one
staff member when staff_id >= 0, in (local date, time, id) order.

Returns a dict: day int32 (days since 1970-01-01), punched_at_us int64 (UTC microseconds since
the epoch), id int64, staff_id int32 (-1 = none), person int32 (index into people), source uint8
(index into sources), people [(staff no, name)], sources [str]. Raises PunchReadError when the
database cannot be read or holds a value in another format, ValueError when last_day < first_day.)doc");
}

}  // namespace daka
