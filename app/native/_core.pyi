# Generated from the built module by pybind11-stubgen (app.native._core); regenerate after
# changing the bindings: .venv/bin/pybind11-stubgen app.native._core -o /tmp/stubs
# The bindings take array arguments as plain objects and check them themselves (so a wrong
# array is refused with an error naming it); their array types below are written in by hand.
"""
Daka native core: face engine, gallery index, punch reader, text renderer
"""
from __future__ import annotations
import numpy
import numpy.typing
import typing
__all__: list[str] = ['CHIP_SIZE', 'DESCRIPTOR_DIM', 'DlibDescriptor', 'FaceDetector', 'GalleryIndex', 'HOG_WINDOW', 'LandmarkModel', 'PunchReadError', 'PunchReader', 'TextMetrics', 'TextRenderer', 'build_info', 'export_resnet_layers', 'extract_chips', 'loaded_libraries']
class FaceDetector:
    """
    dlib's HOG frontal face detector on BGR frames.
    """
    @staticmethod
    def effective_scale(downscale: typing.SupportsFloat | typing.SupportsIndex = 1.0, upsample: typing.SupportsInt | typing.SupportsIndex = 0, min_face: typing.SupportsInt | typing.SupportsIndex = 0) -> float:
        ...
    def __init__(self) -> None:
        ...
    def detect(self, frame: numpy.typing.NDArray[numpy.uint8], downscale: typing.SupportsFloat | typing.SupportsIndex = 1.0, upsample: typing.SupportsInt | typing.SupportsIndex = 0, min_face: typing.SupportsInt | typing.SupportsIndex = 0, adjust_threshold: typing.SupportsFloat | typing.SupportsIndex = 0.0, grayscale: bool = True, threads: typing.SupportsInt | typing.SupportsIndex = 1) -> tuple[numpy.typing.NDArray[numpy.float64], numpy.typing.NDArray[numpy.float64], numpy.typing.NDArray[numpy.int32]]:
        """
        Detect faces in frame (uint8 (H, W, 3) BGR; rows may be a crop's strided rows, pixels packed).
        Returns (boxes (n,4) left,top,right,bottom inclusive, scores (n,), views (n,)).
        downscale <= 0 derives the scale from min_face so a min_face face fits the 80 px HOG window.
        threads=2 splits the image pyramid over two threads (same faces; far-level boxes within ~1 px).
        """
class LandmarkModel:
    """
    dlib's 5-point shape predictor.
    """
    def __init__(self, path: str) -> None:
        ...
    def predict(self, frame: numpy.typing.NDArray[numpy.uint8], boxes: numpy.typing.NDArray[numpy.float64]) -> numpy.typing.NDArray[numpy.float32]:
        """
        Landmarks float32 (n, 5, 2) as x, y for each box of boxes: float64 (n, 4), C-contiguous, as
        detect returns them. A wrong array raises TypeError/ValueError; nothing is converted.
        """
class DlibDescriptor:
    """
    dlib's own ResNet descriptor path (reference and fallback).
    """
    def __init__(self, path: str) -> None:
        ...
    def compute(self, chips: numpy.typing.NDArray[numpy.uint8]) -> numpy.typing.NDArray[numpy.float32]:
        """
        128-D descriptors (n, 128) of BGR chips: uint8 (n, 150, 150, 3), C-contiguous. A wrong array
        raises TypeError/ValueError; nothing is converted.
        """
class GalleryIndex:
    """
    Enrolled face descriptors searched 1:N by Euclidean distance.
    
    Vectors are float32 rows of length `dim` kept in one contiguous aligned matrix; ids are
    non-negative int64 (-1 marks "no result" in search output). Safe to search from one thread
    while another adds, removes or replaces; the GIL is released during the C++ work.
    """
    parallel_min_rows: typing.ClassVar[int] = 20000
    def __contains__(self, id: typing.Any) -> bool:
        ...
    def __init__(self, dim: typing.SupportsInt | typing.SupportsIndex = 128) -> None:
        ...
    def __len__(self) -> int:
        ...
    def __repr__(self) -> str:
        ...
    def add(self, ids: typing.Any, vectors: typing.Any) -> None:
        """
        Add vectors (float32, C-contiguous, shape (n, dim), or (dim,) for one id).
        
        Raises ValueError if an id is negative, already present or repeated, if a value is not
        finite, or if the shape is wrong; TypeError for a wrong dtype. Nothing is added on error.
        """
    def get(self, id: typing.SupportsInt | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.float32]:
        """
        Copy of the vector of `id` (KeyError if absent).
        """
    def ids(self) -> numpy.typing.NDArray[numpy.int64]:
        """
        All ids, ascending (int64 array).
        """
    def remove(self, ids: typing.Any) -> int:
        """
        Remove ids (absent ids are ignored); returns how many were removed.
        """
    def replace(self, ids: typing.Any, vectors: typing.Any) -> None:
        """
        Overwrite the vectors of existing ids (same array rules as add).
        
        Raises KeyError if an id is missing. Nothing is changed on error.
        """
    def reserve(self, rows: typing.SupportsInt | typing.SupportsIndex) -> None:
        """
        Pre-allocate room for `rows` rows.
        """
    def search(self, queries: typing.Any, k: typing.SupportsInt | typing.SupportsIndex = 1) -> tuple:
        """
        The k nearest ids of each query.
        
        queries: float32, C-contiguous, shape (dim,) or (m, dim). Returns (ids int64 (m, k),
        distances float32 (m, k)): Euclidean distances ascending, ties by smaller id; missing
        results (k > len) are id -1 with distance inf.
        """
    @property
    def dim(self) -> int:
        """
        Length of every vector.
        """
    @property
    def max_threads(self) -> int:
        """
        Cap on search threads (0 = OpenMP default).
        """
    @max_threads.setter
    def max_threads(self, arg1: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
class PunchReadError(RuntimeError):
    pass
class PunchReader:
    """
    Punches of a range of terminal-local dates read from the SQLite file into columns.
    
    Opens an existing database (never creates one) on its own read-only connection; one read at a
    time per reader (a mutex), from any thread, with the GIL released while SQLite works.
    """
    def __init__(self, path: str, busy_timeout_ms: typing.SupportsInt | typing.SupportsIndex = 5000) -> None:
        ...
    def read(self, first_day: typing.SupportsInt | typing.SupportsIndex, last_day: typing.SupportsInt | typing.SupportsIndex, staff_id: typing.SupportsInt | typing.SupportsIndex = -1) -> dict:
        """
        Punches with first_day <= local date <= last_day (days since 1970-01-01), of one
        staff member when staff_id >= 0, in (local date, time, id) order.
        
        Returns a dict: day int32 (days since 1970-01-01), punched_at_us int64 (UTC microseconds since
        the epoch), id int64, staff_id int32 (-1 = none), person int32 (index into people), source uint8
        (index into sources), people [(staff no, name)], sources [str]. Raises PunchReadError when the
        database cannot be read or holds a value in another format, ValueError when last_day < first_day.
        """
    @property
    def path(self) -> str:
        ...
class TextMetrics:
    """
    Size of a text box: width, height, baseline (pixels). Unpacks like a tuple: ``w, h, baseline = renderer.measure(text, size)``.
    """
    def __eq__(self, arg0: typing.Any) -> typing.Any:
        ...
    def __getitem__(self, arg0: typing.Any) -> typing.Any:
        ...
    def __hash__(self) -> int:
        ...
    def __iter__(self) -> typing.Any:
        ...
    def __len__(self) -> int:
        ...
    def __repr__(self) -> str:
        ...
    @property
    def baseline(self) -> int:
        """
        Distance from the top of the text box down to the baseline.
        """
    @property
    def height(self) -> int:
        """
        Text box height.
        """
    @property
    def width(self) -> int:
        """
        Text box width (0 for empty text).
        """
class TextRenderer:
    """
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
    """
    def __init__(self, font_path: typing.Any, face_index: typing.SupportsInt | typing.SupportsIndex = 0, *, cache_bytes: typing.SupportsInt | typing.SupportsIndex = 8388608) -> None:
        ...
    def __repr__(self) -> str:
        ...
    def cache_info(self) -> dict:
        """
        Glyph cache counters: dict with entries, bytes, capacity_bytes, hits, misses, evictions.
        """
    def clear_cache(self) -> None:
        """
        Drop every cached glyph bitmap (the counters are kept).
        """
    def draw(self, frame: typing.Any, text: typing.Any, org: typing.Any, size: typing.SupportsInt | typing.SupportsIndex, color: typing.Any = (255, 255, 255), outline: typing.SupportsInt | typing.SupportsIndex = 0, outline_color: typing.Any = (0, 0, 0), background: typing.Any = None, padding: typing.SupportsInt | typing.SupportsIndex = 4) -> tuple[int, int, int, int]:
        """
        draw(frame, text, org, size, color=(255, 255, 255), outline=0, outline_color=(0, 0, 0), background=None, padding=4) -> (x0, y0, x1, y1)
        
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
        """
    def measure(self, text: typing.Any, size: typing.SupportsInt | typing.SupportsIndex, outline: typing.SupportsInt | typing.SupportsIndex = 0) -> TextMetrics:
        """
        measure(text, size, outline=0) -> TextMetrics(width, height, baseline)
        
        Size of the text box of `text` (str, or UTF-8 bytes) at `size` px (4..512) with an outline
        `outline` px wide (0..16), exactly as draw() lays it out. Empty text has width 0.
        """
    @property
    def face_index(self) -> int:
        ...
    @property
    def family_name(self) -> str:
        """
        The face's family name, e.g. 'WenQuanYi Micro Hei'.
        """
    @property
    def font_path(self) -> str:
        """
        The font file's path as given.
        """
    @property
    def num_faces(self) -> int:
        """
        How many faces the font file holds.
        """
    @property
    def style_name(self) -> str:
        ...
def build_info() -> dict:
    """
    What the native core was compiled with.
    """
def export_resnet_layers(path: str) -> list:
    """
    Layers of dlib_face_recognition_resnet_model_v1.dat from the input up, with parameters.
    """
def extract_chips(frame: numpy.typing.NDArray[numpy.uint8], landmarks: numpy.typing.NDArray[numpy.float32], size: typing.SupportsInt | typing.SupportsIndex = 150, padding: typing.SupportsFloat | typing.SupportsIndex = 0.25) -> numpy.typing.NDArray[numpy.uint8]:
    """
    Aligned BGR face chips (n, size, size, 3) from landmarks: float32 (n, 5, 2), C-contiguous, as
    LandmarkModel.predict returns them; as dlib aligns them. A wrong array raises TypeError/ValueError.
    """
def loaded_libraries(needle: str) -> list[str]:
    """
    Paths of shared objects mapped into this process whose file name contains needle.
    """
CHIP_SIZE: int = 150
DESCRIPTOR_DIM: int = 128
HOG_WINDOW: int = 80
