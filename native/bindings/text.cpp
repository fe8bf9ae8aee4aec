// Python bindings of daka::TextRenderer (see core/text.hpp for the layout model).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <array>
#include <climits>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "bind.hpp"
#include "text.hpp"

namespace py = pybind11;

namespace daka {
namespace {

std::string type_name(const py::handle& obj) { return Py_TYPE(obj.ptr())->tp_name; }

// UTF-8 of a str (strict: a lone surrogate raises UnicodeEncodeError) or the raw bytes of
// a bytes object (checked by the core: invalid UTF-8 raises ValueError). The view borrows
// the object's buffer; the object is a call argument, so it outlives the call, and both
// types are immutable, so the view stays valid while the GIL is released.
std::string_view text_arg(const py::handle& text) {
    if (PyUnicode_Check(text.ptr())) {
        Py_ssize_t n = 0;
        const char* s = PyUnicode_AsUTF8AndSize(text.ptr(), &n);
        if (!s) throw py::error_already_set();
        return {s, std::size_t(n)};
    }
    if (PyBytes_Check(text.ptr()))
        return {PyBytes_AS_STRING(text.ptr()), std::size_t(PyBytes_GET_SIZE(text.ptr()))};
    throw py::type_error("text must be str (or UTF-8 bytes), got " + type_name(text));
}

// An int-like (int, numpy integer, anything with __index__; not float). Overflow saturates.
bool index_value(const py::handle& item, long long& out) {
    if (PyFloat_Check(item.ptr()) || !PyIndex_Check(item.ptr())) return false;
    PyObject* v = PyNumber_Index(item.ptr());
    if (!v) {
        PyErr_Clear();
        return false;
    }
    int overflow = 0;
    out = PyLong_AsLongLongAndOverflow(v, &overflow);
    Py_DECREF(v);
    if (overflow > 0) out = LLONG_MAX;
    if (overflow < 0) out = LLONG_MIN;
    return true;
}

// A tuple/list of n ints 0..255, e.g. a (B, G, R) colour.
std::array<int, 4> byte_tuple(const py::handle& obj, const char* what, std::size_t n, const char* layout) {
    const std::string expected = std::string(what) + " must be a tuple of " + std::to_string(n) +
                                 " ints 0..255 " + layout;
    if (!PySequence_Check(obj.ptr()) || PyUnicode_Check(obj.ptr()) || PyBytes_Check(obj.ptr()))
        throw py::type_error(expected + ", got " + type_name(obj));
    py::sequence seq = py::reinterpret_borrow<py::sequence>(obj);
    if (seq.size() != n)
        throw py::value_error(expected + ", got " + std::to_string(seq.size()) + " values");
    std::array<int, 4> out{0, 0, 0, 0};
    for (std::size_t i = 0; i < n; ++i) {
        py::object item = seq[i];
        long long v = 0;
        if (!index_value(item, v)) throw py::type_error(expected + ", got a " + type_name(item) + " in it");
        if (v < 0 || v > 255) throw py::value_error(expected + ", got " + std::to_string(v) + " in it");
        out[i] = int(v);
    }
    return out;
}

Bgr bgr_of(const std::array<int, 4>& v) { return Bgr{std::uint8_t(v[0]), std::uint8_t(v[1]), std::uint8_t(v[2])}; }

struct FrameArg {
    std::uint8_t* data = nullptr;
    int height = 0, width = 0;
};

// The frame must be exactly what the core writes into: no conversion, no copy, because a
// copy would be drawn into and then thrown away, and the caller would never see the text.
FrameArg frame_arg(const py::handle& obj) {
    const char* expected = "frame must be a numpy.ndarray of dtype uint8 and shape (H, W, 3) (BGR)";
    if (!py::isinstance<py::array>(obj)) throw py::type_error(std::string(expected) + ", got " + type_name(obj));
    auto arr = py::reinterpret_borrow<py::array>(obj);
    const py::dtype dt = arr.dtype();
    if (dt.kind() != 'u' || dt.itemsize() != 1)
        throw py::type_error(std::string(expected) + ", got dtype " + std::string(py::str(dt)));
    if (arr.ndim() != 3 || arr.shape(2) != 3) {
        std::string shape = "(";
        for (py::ssize_t i = 0; i < arr.ndim(); ++i) shape += (i ? ", " : "") + std::to_string(arr.shape(i));
        shape += arr.ndim() == 1 ? ",)" : ")";
        throw py::value_error(std::string(expected) + ", got shape " + shape);
    }
    if (!(arr.flags() & py::array::c_style))
        throw py::value_error(
            "frame must be C-contiguous (a view such as frame[:, ::2], frame[..., ::-1] or a Fortran-ordered "
            "array is not); make one with numpy.ascontiguousarray() and draw into that array");
    if (!arr.writeable()) throw py::value_error("frame is read-only (writeable=False); text is drawn into it in place");
    if (arr.shape(0) > INT_MAX || arr.shape(1) > INT_MAX / 3) throw py::value_error("frame is too large");
    FrameArg f;
    f.height = int(arr.shape(0));
    f.width = int(arr.shape(1));
    f.data = static_cast<std::uint8_t*>(arr.mutable_data());
    return f;
}

py::object metrics_tuple(const TextMetrics& m) { return py::make_tuple(m.width, m.height, m.baseline); }

// File names are bytes on POSIX; decode them the way os.fsdecode() does.
py::str path_str(const std::string& p) {
    PyObject* s = PyUnicode_DecodeFSDefaultAndSize(p.data(), Py_ssize_t(p.size()));
    if (!s) throw py::error_already_set();
    return py::reinterpret_steal<py::str>(s);
}

[[noreturn]] void raise_font_error(const FontError& e) {
    switch (e.kind()) {
        case FontError::Kind::NotFound:
            PyErr_SetString(PyExc_FileNotFoundError, e.what());
            throw py::error_already_set();
        case FontError::Kind::NotAFont:
        case FontError::Kind::BadFaceIndex:
            throw py::value_error(e.what());
        default:
            PyErr_SetString(PyExc_OSError, e.what());
            throw py::error_already_set();
    }
}

}  // namespace

void bind_text(py::module_& m) {
    py::class_<TextMetrics>(m, "TextMetrics",
                            "Size of a text box: width, height, baseline (pixels). Unpacks like a "
                            "tuple: ``w, h, baseline = renderer.measure(text, size)``.")
        .def_readonly("width", &TextMetrics::width, "Text box width (0 for empty text).")
        .def_readonly("height", &TextMetrics::height, "Text box height.")
        .def_readonly("baseline", &TextMetrics::baseline, "Distance from the top of the text box down to the baseline.")
        .def("__len__", [](const TextMetrics&) { return 3; })
        .def("__iter__", [](const TextMetrics& t) { return metrics_tuple(t).attr("__iter__")(); })
        .def("__getitem__",
             [](const TextMetrics& t, const py::object& i) -> py::object {
                 const py::object tup = metrics_tuple(t);
                 return tup[i];  // converted to an owned object before `tup` goes away
             })
        .def("__eq__",
             [](const TextMetrics& t, const py::object& other) -> py::object {
                 if (py::isinstance<TextMetrics>(other))
                     return py::bool_(metrics_tuple(t).equal(metrics_tuple(other.cast<const TextMetrics&>())));
                 if (py::isinstance<py::tuple>(other)) return py::bool_(metrics_tuple(t).equal(other));
                 return py::reinterpret_borrow<py::object>(Py_NotImplemented);
             })
        .def("__hash__", [](const TextMetrics& t) { return py::hash(metrics_tuple(t)); })
        .def("__repr__", [](const TextMetrics& t) {
            return "TextMetrics(width=" + std::to_string(t.width) + ", height=" + std::to_string(t.height) +
                   ", baseline=" + std::to_string(t.baseline) + ")";
        });

    py::class_<TextRenderer>(m, "TextRenderer", R"doc(
Draws UTF-8 text (e.g. Chinese names) onto BGR uint8 frames in place.

TextRenderer(font_path, face_index=0, *, cache_bytes=8 MiB)

font_path is a str or os.PathLike to a TrueType/OpenType font or collection; face_index
picks the face of a collection (Noto Sans CJK .ttc: 2 is Simplified Chinese; WenQuanYi
Micro Hei: 0). Raises FileNotFoundError if the file is missing, ValueError if it is not a
font or has no such face. Text is shaped with HarfBuzz and rasterised anti-aliased by
FreeType; glyph bitmaps are cached (least recently used first out once the cache holds
more than cache_bytes). Safe to share between threads; draw() and measure() release the
GIL. Text is one line: a newline is drawn as whatever glyph the font has for it.

Layout: the *text box* of a string is the union of the font's line box (advance width by
ascender..descender, grown by the outline width on every side) and all of the ink.
draw(org=(x, y)) puts its top-left at (x, y); measure() gives its width, height and the
baseline's offset from its top. Nothing draw() writes for the text lies outside
[x, x+width) x [y, y+height); a background box is that box grown by `padding`.
)doc")
        .def(py::init([](const py::object& font_path, int face_index, std::size_t cache_bytes) {
                 const std::string path = py::module_::import("os").attr("fsencode")(font_path).cast<std::string>();
                 if (path.find('\0') != std::string::npos) throw py::value_error("font_path contains a NUL byte");
                 try {
                     py::gil_scoped_release nogil;
                     return std::make_unique<TextRenderer>(path, face_index, cache_bytes);
                 } catch (const FontError& e) {
                     raise_font_error(e);
                 }
             }),
             py::arg("font_path"), py::arg("face_index") = 0, py::kw_only(),
             py::arg("cache_bytes") = TextRenderer::kDefaultCacheBytes)
        .def_property_readonly(
            "font_path", [](const TextRenderer& r) { return path_str(r.font_path()); }, "The font file's path as given.")
        .def_property_readonly("face_index", &TextRenderer::face_index)
        .def_property_readonly("num_faces", &TextRenderer::num_faces, "How many faces the font file holds.")
        .def_property_readonly("family_name", &TextRenderer::family_name, "The face's family name, e.g. 'WenQuanYi Micro Hei'.")
        .def_property_readonly("style_name", &TextRenderer::style_name)
        .def(
            "measure",
            [](TextRenderer& r, const py::object& text, int size, int outline) {
                const std::string_view t = text_arg(text);
                py::gil_scoped_release nogil;
                return r.measure(t, size, outline);
            },
            py::arg("text"), py::arg("size"), py::arg("outline") = 0,
            R"doc(measure(text, size, outline=0) -> TextMetrics(width, height, baseline)

Size of the text box of `text` (str, or UTF-8 bytes) at `size` px (4..512) with an outline
`outline` px wide (0..16), exactly as draw() lays it out. Empty text has width 0.
)doc")
        .def(
            "draw",
            [](TextRenderer& r, const py::object& frame, const py::object& text, const py::object& org, int size,
               const py::object& color, int outline, const py::object& outline_color, const py::object& background,
               int padding) {
                const FrameArg f = frame_arg(frame);
                const std::string_view t = text_arg(text);
                if (!PySequence_Check(org.ptr()) || PyUnicode_Check(org.ptr()) || py::len(org) != 2)
                    throw py::type_error("org must be an (x, y) tuple of ints, got " + type_name(org));
                long long x = 0, y = 0;
                if (!index_value(org[py::int_(0)], x) || !index_value(org[py::int_(1)], y))
                    throw py::type_error("org must be an (x, y) tuple of ints");
                TextStyle style;
                style.color = bgr_of(byte_tuple(color, "color", 3, "(B, G, R)"));
                style.outline_px = outline;
                style.outline_color = bgr_of(byte_tuple(outline_color, "outline_color", 3, "(B, G, R)"));
                if (!background.is_none()) {
                    const auto bg = byte_tuple(background, "background", 4, "(B, G, R, alpha) or None");
                    style.background = true;
                    style.background_color = bgr_of(bg);
                    style.background_alpha = std::uint8_t(bg[3]);
                }
                style.padding_px = padding;
                PixelBox box;
                {
                    py::gil_scoped_release nogil;
                    box = r.draw(f.data, f.height, f.width, 0, t, x, y, size, style);
                }
                return py::make_tuple(box.x0, box.y0, box.x1, box.y1);
            },
            py::arg("frame"), py::arg("text"), py::arg("org"), py::arg("size"),
            py::arg("color") = py::make_tuple(255, 255, 255), py::arg("outline") = 0,
            py::arg("outline_color") = py::make_tuple(0, 0, 0), py::arg("background") = py::none(),
            py::arg("padding") = 4,
            R"doc(draw(frame, text, org, size, color=(255, 255, 255), outline=0, outline_color=(0, 0, 0), background=None, padding=4) -> (x0, y0, x1, y1)

Draw `text` (str, or UTF-8 bytes; invalid UTF-8 raises ValueError, a str with lone
surrogates UnicodeEncodeError) into `frame` in place. `frame` must be a C-contiguous,
writeable numpy uint8 array of shape (H, W, 3); anything else raises TypeError/ValueError
(it is never silently copied). `org` = (x, y) is the top-left of the text box (see the
class doc); `size` is the font size in px (4..512). Colours are (B, G, R) ints 0..255.
`outline` > 0 (up to 16) draws a ring that many px wide in `outline_color` around the
glyphs. `background` = (B, G, R, alpha) fills the text box grown by `padding` px (0..256)
on each side first, alpha-blended (255 = opaque). Text partly or wholly outside the frame
is clipped. Returns the bounding box (x1, y1 exclusive) of the pixels written, clipped to
the frame, or (0, 0, 0, 0) when nothing was written (e.g. empty text, which draws no
background either).
)doc")
        .def(
            "cache_info",
            [](const TextRenderer& r) {
                const GlyphCacheStats s = r.cache_stats();
                py::dict d;
                d["entries"] = s.entries;
                d["bytes"] = s.bytes;
                d["capacity_bytes"] = s.capacity_bytes;
                d["hits"] = s.hits;
                d["misses"] = s.misses;
                d["evictions"] = s.evictions;
                return d;
            },
            "Glyph cache counters: dict with entries, bytes, capacity_bytes, hits, misses, evictions.")
        .def(
            "clear_cache",
            [](TextRenderer& r) {
                py::gil_scoped_release nogil;
                r.clear_cache();
            },
            "Drop every cached glyph bitmap (the counters are kept).")
        .def("__repr__", [](const TextRenderer& r) {
            return "TextRenderer(" + std::string(py::repr(path_str(r.font_path()))) +
                   ", face_index=" + std::to_string(r.face_index()) + ") <" + r.family_name() + " " +
                   r.style_name() + ">";
        });
}

}  // namespace daka
