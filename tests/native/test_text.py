"""Tests of the native text renderer (app.native.TextRenderer).

They draw with WenQuanYi Micro Hei (Debian package fonts-wqy-microhei) and check pixels:
where ink lands, that it matches measure(), colours, outline and background, clipping at
every edge without writing outside the frame, argument validation, GIL release and
concurrent use.
"""

import os
import pathlib
import threading
import time

import numpy as np
import pytest

FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"

pytestmark = pytest.mark.skipif(
    not os.path.exists(FONT),
    reason=f"test font {FONT} is missing (apt-get install fonts-wqy-microhei)",
)

from app.native import TextRenderer  # noqa: E402

NAMES = ["张伟", "欧阳娜娜", "HR0878", "欧阳娜娜 HR0878", "gjpqy", "ÀÉ[]"]


@pytest.fixture(scope="module")
def r():
    return TextRenderer(FONT)


def blank(h=120, w=400, value=0):
    return np.full((h, w, 3), value, np.uint8)


def changed_box(before, after):
    """Bounding box (x0, y0, x1, y1) of pixels that differ, or None."""
    ys, xs = np.nonzero((before != after).any(axis=2))
    if len(xs) == 0:
        return None
    return (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)


def dilate(mask, n):
    """Binary dilation of a 2-D bool mask by a (2n+1)^2 square."""
    out = mask.copy()
    h, w = mask.shape
    for dy in range(-n, n + 1):
        for dx in range(-n, n + 1):
            src = mask[max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
            out[max(0, dy) : h - max(0, -dy), max(0, dx) : w - max(0, -dx)] |= src
    return out


# --- layout and pixels -----------------------------------------------------------------


@pytest.mark.parametrize("text", NAMES)
@pytest.mark.parametrize("size", [12, 24, 40])
def test_ink_lies_in_measured_box_and_returned_box_is_exact(r, text, size):
    frame = blank(200, 600)
    before = frame.copy()
    x, y = 30, 50
    w, h, baseline = r.measure(text, size)
    box = r.draw(frame, text, (x, y), size)
    ink = changed_box(before, frame)
    assert ink is not None, "nothing was drawn"
    # The returned box is exactly the bounding box of the pixels written.
    assert box == ink
    # All ink is inside the text box measure() describes ...
    assert x <= ink[0] and ink[2] <= x + w
    assert y <= ink[1] and ink[3] <= y + h
    assert 0 < baseline < h
    # ... and the box is tight horizontally: only the side bearings are left over.
    slack = max(2, round(0.1 * size))
    assert ink[0] - x <= slack
    assert x + w - ink[2] <= slack


@pytest.mark.parametrize("size", [16, 24, 48])
def test_baseline_is_where_flat_bottomed_glyphs_sit(r, size):
    frame = blank(200, 400)
    x, y = 10, 20
    _, h, baseline = r.measure("HHH", size)
    r.draw(frame, "HHH", (x, y), size)
    ink = changed_box(blank(200, 400), frame)
    assert ink[3] == y + baseline  # 'H' ends exactly on the baseline
    cap_height = ink[3] - ink[1]
    assert 0.6 * size <= cap_height <= 0.8 * size


def test_cjk_ink_height_is_about_one_em(r):
    frame = blank(200, 400)
    r.draw(frame, "欧阳娜娜", (10, 10), 64)
    ink = changed_box(blank(200, 400), frame)
    assert 0.8 * 64 <= ink[3] - ink[1] <= 1.05 * 64
    assert 0.9 * 4 * 64 <= ink[2] - ink[0] <= 4 * 64


def test_larger_size_gives_proportionally_larger_text(r):
    text = "欧阳娜娜"
    m20, m40 = r.measure(text, 20), r.measure(text, 40)
    assert 1.9 <= m40.width / m20.width <= 2.1
    assert 1.8 <= m40.height / m20.height <= 2.2
    inks = []
    for size in (20, 40):
        frame = blank(150, 400)
        r.draw(frame, text, (5, 5), size)
        x0, y0, x1, y1 = changed_box(blank(150, 400), frame)
        inks.append((x1 - x0, y1 - y0))
    assert 1.85 <= inks[1][0] / inks[0][0] <= 2.15
    assert 1.85 <= inks[1][1] / inks[0][1] <= 2.15


def test_different_strings_differ_and_same_string_repeats(r):
    a, b, a2 = blank(), blank(), blank()
    r.draw(a, "张伟", (10, 10), 32)
    r.draw(b, "李娜", (10, 10), 32)
    r.draw(a2, "张伟", (10, 10), 32)
    assert not np.array_equal(a, b)
    assert np.array_equal(a, a2)


def test_moving_org_moves_pixels_exactly(r):
    a, b = blank(), blank()
    r.draw(a, "欧阳娜娜 HR0878", (10, 10), 24, outline=1)
    r.draw(b, "欧阳娜娜 HR0878", (17, 13), 24, outline=1)
    assert a.any()
    assert np.array_equal(a[:-3, :-7], b[3:, 7:])


def test_text_is_shaped_combining_mark_is_placed_on_its_base(r):
    # HarfBuzz gives the combining acute no advance of its own and puts it over the 'e'.
    e, e_acute = r.measure("e", 40), r.measure("e\u0301", 40)
    assert e_acute.width == e.width
    fa, fb = blank(), blank()
    r.draw(fa, "e", (10, 10), 40)
    r.draw(fb, "e\u0301", (10, 10), 40)
    ia, ib = changed_box(blank(), fa), changed_box(blank(), fb)
    assert ib[1] < ia[1] - 5  # the accent adds ink above the 'e'
    assert ia[0] - 1 <= ib[0] and ib[2] <= ia[2] + 1  # but not beside it


def test_color_is_bgr_and_honoured(r):
    color = (30, 140, 220)  # B, G, R
    frame = blank(100, 300)
    r.draw(frame, "欧阳娜娜", (5, 5), 48, color=color)
    inked = frame.any(axis=2)
    px = frame[inked].astype(int)
    assert len(px) > 500
    # Solid interior pixels are exactly the colour, channel order included.
    assert (px == color).all(axis=1).sum() > 100
    assert tuple(px.max(axis=0)) == color
    # Edge pixels are the colour scaled by one coverage value for all three channels.
    alpha = px[:, 2] / 220.0
    assert np.abs(px - np.outer(alpha, color)).max() <= 1.5


def test_antialiased_edges(r):
    frame = blank()
    r.draw(frame, "欧阳娜娜", (5, 5), 24)
    levels = np.unique(frame[..., 0])
    assert len(levels) > 20  # not a 1-bit rendering


def test_background_box_opaque(r):
    frame = blank(120, 400, 100)
    before = frame.copy()
    x, y, pad = 40, 30, 4
    w, h, _ = r.measure("张伟", 32)
    box = r.draw(frame, "张伟", (x, y), 32, background=(0, 0, 255, 255), padding=pad)
    expect = (x - pad, y - pad, x + w + pad, y + h + pad)
    assert box == expect
    assert changed_box(before, frame) == expect
    region = frame[expect[1] : expect[3], expect[0] : expect[2]].astype(int)
    # White text over red: every pixel is (a, a, 255); most are pure red.
    assert (region[..., 2] == 255).all()
    assert (region[..., 0] == region[..., 1]).all()
    assert ((region == (0, 0, 255)).all(axis=2)).mean() > 0.5
    assert ((region == (255, 255, 255)).all(axis=2)).sum() > 20


def test_background_alpha_and_zero_padding(r):
    frame = blank(120, 400, 100)
    x, y = 40, 30
    w, h, _ = r.measure("张伟", 32)
    box = r.draw(frame, "张伟", (x, y), 32, background=(0, 0, 200, 128), padding=0)
    assert box == (x, y, x + w, y + h)
    # A corner of the box has no ink, only the half-transparent background.
    expect = [round((100 * 127 + c * 128) / 255) for c in (0, 0, 200)]
    assert np.abs(frame[y, x].astype(int) - expect).max() <= 1
    assert (frame[y - 1, x] == 100).all() and (frame[y, x - 1] == 100).all()
    # alpha 0 draws no background at all
    f2 = blank(120, 400, 100)
    r.draw(f2, "张伟", (x, y), 32, background=(0, 0, 200, 0))
    f3 = blank(120, 400, 100)
    r.draw(f3, "张伟", (x, y), 32)
    assert np.array_equal(f2, f3)


@pytest.mark.parametrize("outline", [1, 2, 3])
def test_outline(r, outline):
    text, size, x, y = "张伟", 40, 20, 20
    m0, m1 = r.measure(text, size), r.measure(text, size, outline)
    # The outline grows the text box by its width on every side.
    assert m1.width == m0.width + 2 * outline
    assert m1.height == m0.height + 2 * outline
    assert m1.baseline == m0.baseline + outline

    lined = blank(120, 200, 128)
    box = r.draw(lined, text, (x, y), size, outline=outline, outline_color=(0, 0, 0))

    # On black every pixel with any coverage shows, and only full coverage gives 255.
    on_black = blank(120, 200, 0)
    r.draw(on_black, text, (x + outline, y + outline), size)
    fill = on_black.any(axis=2)
    solid = (on_black == 255).all(axis=2)
    assert solid.sum() > 100
    # Fully covered fill pixels are untouched by the outline (fill drawn on top).
    assert (lined[solid] == 255).all()
    # The ring: the ink's bounding box grows by exactly `outline` on every side ...
    fx0, fy0, fx1, fy1 = changed_box(blank(120, 200, 0), on_black)
    ink = changed_box(blank(120, 200, 128), lined)
    assert ink == (fx0 - outline, fy0 - outline, fx1 + outline, fy1 + outline)
    assert box == ink
    # ... every changed pixel is near the glyphs ...
    touched = (lined != 128).any(axis=2)
    assert not (touched & ~dilate(fill, outline)).any()
    # ... and they form a dark ring around the glyphs, never over their solid interior.
    dark = (lined < 40).all(axis=2)
    assert dark.sum() > 250 * outline
    assert (lined == 0).all(axis=2).sum() > 20
    assert not (dark & solid).any()


# --- clipping ----------------------------------------------------------------------------

CLIP_H, CLIP_W, GUARD, SENTINEL = 60, 160, 8, 77
STYLE = dict(outline=2, outline_color=(0, 0, 0), background=(10, 20, 200, 190), padding=5)


def reference_window(text, size, x, y, margin=400):
    """What a CLIP_H x CLIP_W frame should hold after drawing at (x, y): the same text drawn
    unclipped into a larger canvas, cropped."""
    rr = TextRenderer(FONT)
    canvas = np.full((CLIP_H + 2 * margin, CLIP_W + 2 * margin, 3), SENTINEL, np.uint8)
    rr.draw(canvas, text, (x + margin, y + margin), size, **STYLE)
    return canvas[margin : margin + CLIP_H, margin : margin + CLIP_W]


@pytest.mark.parametrize(
    "org",
    [
        (-25, 10),  # left edge
        (CLIP_W - 40, 10),  # right edge
        (20, -20),  # top edge
        (20, CLIP_H - 15),  # bottom edge
        (-12, -12),  # top-left corner
        (CLIP_W - 30, CLIP_H - 20),  # bottom-right corner
        (-60, 20),  # wider than the frame: both side edges
        (-300, 10),  # fully left
        (CLIP_W + 6, 10),  # fully right
        (10, -70),  # fully above
        (10, CLIP_H + 6),  # fully below
    ],
)
def test_clipping_matches_unclipped_render_and_writes_nothing_outside(r, org):
    text, size = "欧阳娜娜 HR0878", 24
    buf = np.full((CLIP_H + 2 * GUARD, CLIP_W, 3), SENTINEL, np.uint8)
    frame = buf[GUARD : GUARD + CLIP_H]  # a slice of rows is still C-contiguous
    assert frame.flags.c_contiguous and frame.base is buf
    box = r.draw(frame, text, org, size, **STYLE)
    # Guard rows above and below the frame are untouched.
    assert (buf[:GUARD] == SENTINEL).all()
    assert (buf[GUARD + CLIP_H :] == SENTINEL).all()
    # The frame holds exactly the visible part of the unclipped render (so nothing wrapped
    # around from one row's end to the next row's start, and nothing was lost or shifted).
    expect = reference_window(text, size, *org)
    assert np.array_equal(frame, expect)
    changed = changed_box(np.full_like(frame, SENTINEL), frame)
    if changed is None:
        assert box == (0, 0, 0, 0)
    else:
        assert box == changed
        assert 0 <= box[0] < box[2] <= CLIP_W and 0 <= box[1] < box[3] <= CLIP_H


@pytest.mark.parametrize("org", [(-(10**12), 5), (5, 10**15), (2**80, -(2**80)), (-(2**63), 2**63 - 1)])
def test_far_away_coordinates_draw_nothing(r, org):
    buf = np.full((CLIP_H + 2 * GUARD, CLIP_W, 3), SENTINEL, np.uint8)
    frame = buf[GUARD : GUARD + CLIP_H]
    assert r.draw(frame, "欧阳娜娜 HR0878", org, 24, **STYLE) == (0, 0, 0, 0)
    assert (buf == SENTINEL).all()


def test_tiny_and_empty_frames(r):
    one = np.full((1, 1, 3), SENTINEL, np.uint8)
    r.draw(one, "欧", (-3, -3), 16, background=(1, 2, 3, 255))
    assert (one != SENTINEL).any()
    for shape in [(0, 10, 3), (10, 0, 3), (0, 0, 3)]:
        empty = np.zeros(shape, np.uint8)
        assert r.draw(empty, "欧阳", (0, 0), 16, background=(1, 2, 3, 255)) == (0, 0, 0, 0)


# --- validation --------------------------------------------------------------------------


def _readonly():
    a = blank(20, 20)
    a.flags.writeable = False
    return a


@pytest.mark.parametrize(
    "make, exc, match",
    [
        (lambda: np.zeros((20, 20, 3), np.float32), TypeError, "uint8"),
        (lambda: np.zeros((20, 20, 3), np.int8), TypeError, "uint8"),
        (lambda: np.zeros((20, 20, 3), np.uint16), TypeError, "uint8"),
        (lambda: np.zeros((20, 20, 4), np.uint8), ValueError, r"\(H, W, 3\).*\(20, 20, 4\)"),
        (lambda: np.zeros((20, 20), np.uint8), ValueError, r"\(H, W, 3\).*\(20, 20\)"),
        (lambda: np.zeros((2, 20, 20, 3), np.uint8), ValueError, r"\(H, W, 3\)"),
        (lambda: np.zeros((20, 40, 3), np.uint8)[:, ::2], ValueError, "contiguous"),
        (lambda: np.zeros((20, 20, 3), np.uint8)[..., ::-1], ValueError, "contiguous"),
        (lambda: np.zeros((20, 20, 3), np.uint8)[::-1], ValueError, "contiguous"),
        (lambda: np.asfortranarray(np.zeros((20, 20, 3), np.uint8)), ValueError, "contiguous"),
        (_readonly, ValueError, "read-only"),
        (lambda: [[[0, 0, 0]]], TypeError, "numpy.ndarray"),
        (lambda: None, TypeError, "numpy.ndarray"),
    ],
)
def test_bad_frames_are_rejected_not_copied(r, make, exc, match):
    frame = make()
    before = np.array(frame, copy=True) if frame is not None else None
    with pytest.raises(exc, match=match):
        r.draw(frame, "张伟", (0, 0), 16, background=(0, 0, 255, 255))
    if before is not None:
        assert np.array_equal(np.asarray(frame), before)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(size=3), ValueError, "size"),
        (dict(size=513), ValueError, "size"),
        (dict(outline=-1), ValueError, "outline"),
        (dict(outline=17), ValueError, "outline"),
        (dict(padding=-1), ValueError, "padding"),
        (dict(padding=257), ValueError, "padding"),
        (dict(color=(256, 0, 0)), ValueError, r"color .*\(B, G, R\)"),
        (dict(color=(-1, 0, 0)), ValueError, "color"),
        (dict(color=(1, 2)), ValueError, "color"),
        (dict(color="red"), TypeError, "color"),
        (dict(color=(1.5, 0, 0)), TypeError, "color"),
        (dict(outline_color=(0, 0, 0, 0)), ValueError, "outline_color"),
        (dict(background=(1, 2, 3)), ValueError, r"background .*alpha"),
        (dict(background=(1, 2, 3, 256)), ValueError, "background"),
        (dict(org=(1,)), TypeError, "org"),
        (dict(org="ab"), TypeError, "org"),
        (dict(org=(1.5, 2)), TypeError, "org"),
        (dict(text=42), TypeError, "str"),
    ],
)
def test_bad_arguments_are_rejected(r, kwargs, exc, match):
    args = dict(text="张伟", org=(5, 5), size=24)
    args.update(kwargs)
    frame = blank()
    with pytest.raises(exc, match=match):
        r.draw(frame, **args)
    assert not frame.any()


def test_numpy_scalars_are_fine_as_ints(r):
    a, b = blank(), blank()
    r.draw(a, "张伟", (np.int64(5), np.int32(6)), 24, color=np.array([1, 2, 250]))
    r.draw(b, "张伟", (5, 6), 24, color=(1, 2, 250))
    assert a.any() and np.array_equal(a, b)


def test_measure_rejects_bad_arguments(r):
    with pytest.raises(ValueError, match="size"):
        r.measure("张伟", 0)
    with pytest.raises(ValueError, match="outline"):
        r.measure("张伟", 24, 99)
    with pytest.raises(TypeError):
        r.measure(None, 24)


@pytest.mark.parametrize(
    "bad",
    [
        b"\xff",  # never valid
        "张".encode()[:2],  # truncated sequence
        b"\xc0\xaf",  # overlong '/'
        b"\xed\xa0\x80",  # UTF-16 surrogate
        b"\xf4\x90\x80\x80",  # past U+10FFFF
        b"ok\x80",  # stray continuation byte
    ],
)
def test_invalid_utf8_bytes_raise(r, bad):
    frame = blank()
    with pytest.raises(ValueError, match="UTF-8"):
        r.draw(frame, bad, (5, 5), 24, background=(0, 0, 255, 255))
    with pytest.raises(ValueError, match="UTF-8"):
        r.measure(bad, 24)
    assert not frame.any()


def test_utf8_bytes_draw_like_str(r):
    a, b = blank(), blank()
    r.draw(a, "欧阳娜娜 HR0878", (5, 5), 24)
    r.draw(b, "欧阳娜娜 HR0878".encode(), (5, 5), 24)
    assert a.any() and np.array_equal(a, b)
    assert r.measure("欧阳娜娜".encode(), 24) == r.measure("欧阳娜娜", 24)


def test_lone_surrogate_in_str_raises_unicode_encode_error(r):
    # A str holding a lone surrogate has no UTF-8 form: UnicodeEncodeError (a ValueError).
    frame = blank()
    with pytest.raises(UnicodeEncodeError):
        r.draw(frame, "张\ud800伟", (5, 5), 24)
    with pytest.raises(UnicodeEncodeError):
        r.measure("\udc80", 24)
    assert not frame.any()


def test_empty_string_is_a_no_op(r):
    frame = blank(value=50)
    assert r.draw(frame, "", (5, 5), 24, outline=2, background=(0, 0, 255, 255)) == (0, 0, 0, 0)
    assert (frame == 50).all()
    m, ref = r.measure("", 24), r.measure("张", 24)
    assert m.width == 0 and m.height == ref.height and m.baseline == ref.baseline


def test_measure_result_behaves_like_a_tuple(r):
    m = r.measure("张伟", 24)
    w, h, b = m
    assert (w, h, b) == (m.width, m.height, m.baseline) == tuple(m)
    assert m == (w, h, b) and m[0] == w and len(m) == 3
    assert "width=" in repr(m)


# --- fonts -------------------------------------------------------------------------------


def test_font_properties_and_pathlike(r):
    assert r.font_path == FONT and r.face_index == 0
    assert r.num_faces >= 2
    assert "WenQuanYi" in r.family_name
    r2 = TextRenderer(pathlib.Path(FONT))
    assert r2.font_path == FONT
    assert r2.measure("张伟", 24) == r.measure("张伟", 24)


def test_face_index_selects_the_face(r):
    mono = TextRenderer(FONT, 1)
    assert mono.face_index == 1 and "Mono" in mono.family_name
    a, b = blank(), blank()
    r.draw(a, "HR0878 il", (5, 5), 24)
    mono.draw(b, "HR0878 il", (5, 5), 24)
    assert not np.array_equal(a, b)


def test_missing_font_file(tmp_path):
    missing = tmp_path / "nope.ttf"
    with pytest.raises(FileNotFoundError, match="nope.ttf"):
        TextRenderer(str(missing))


def test_bad_font_path_types():
    with pytest.raises(ValueError, match="NUL"):
        TextRenderer(FONT + "\0.ttf")
    with pytest.raises(TypeError):
        TextRenderer(42)


@pytest.mark.parametrize("content", [b"", b"this is not a font\n" * 100, b"\x00\x01\x00\x00" + b"\x00" * 60])
def test_non_font_file(tmp_path, content):
    p = tmp_path / "fake.ttf"
    p.write_bytes(content)
    with pytest.raises(ValueError, match="not a font"):
        TextRenderer(str(p))


def test_directory_is_not_a_font(tmp_path):
    with pytest.raises(ValueError, match="directory"):
        TextRenderer(str(tmp_path))


@pytest.mark.parametrize("index", [-1, 2, 99, 2**31 - 1])
def test_face_index_out_of_range(index):
    with pytest.raises(ValueError, match="face index"):
        TextRenderer(FONT, index)


# --- cache -------------------------------------------------------------------------------


def test_cache_serves_redraws():
    rr = TextRenderer(FONT)
    frame = blank()
    rr.draw(frame, "欧阳娜娜", (5, 5), 24, outline=2)
    first = rr.cache_info()
    assert first["misses"] == 3 * 2  # three distinct glyphs, fill + outline each
    rr.draw(frame, "欧阳娜娜", (5, 5), 24, outline=2)
    second = rr.cache_info()
    assert second["misses"] == first["misses"]
    assert second["hits"] == first["hits"] + 4 * 2
    rr.clear_cache()
    assert rr.cache_info()["entries"] == 0 and rr.cache_info()["bytes"] == 0


def test_cache_is_bounded_and_eviction_does_not_change_pixels():
    text = "".join(chr(c) for c in range(0x4E00, 0x4E00 + 300))  # 300 distinct hanzi
    small = TextRenderer(FONT, cache_bytes=40_000)
    big = TextRenderer(FONT)
    a, b = blank(80, 2000), blank(80, 2000)
    for frame, rr in ((a, small), (b, big)):
        for i in range(0, 300, 30):
            frame[:] = 0
            rr.draw(frame, text[i : i + 30], (5, 5), 48, outline=1)
    assert np.array_equal(a, b)
    info = small.cache_info()
    assert info["evictions"] > 0
    assert info["capacity_bytes"] == 40_000
    assert info["bytes"] <= 40_000
    assert big.cache_info()["bytes"] > 40_000


# --- threads -----------------------------------------------------------------------------


def _spin_during_native_call(method, repeat):
    """Run one long native call while a Python thread loops; return (duration, loops
    during the call, the loop's longest pause)."""
    rr = TextRenderer(FONT, cache_bytes=0)  # cold: every glyph is rasterised and dilated
    text = "张伟李娜欧阳娜娜" * repeat
    frame = blank(300, 800)
    state = {"n": 0, "max_gap": 0.0}
    stop = threading.Event()

    def spin():
        last = time.perf_counter()
        while not stop.is_set():
            now = time.perf_counter()
            state["max_gap"] = max(state["max_gap"], now - last)
            state["n"] += 1
            last = now

    t = threading.Thread(target=spin)
    t.start()
    try:
        time.sleep(0.05)
        state["max_gap"] = 0.0
        n0 = state["n"]
        t0 = time.perf_counter()
        if method == "draw":
            rr.draw(frame, text, (0, 0), 200, outline=6)
        else:
            rr.measure(text, 200, 6)
        duration = time.perf_counter() - t0
        n1 = state["n"]
    finally:
        stop.set()
        t.join()
    return duration, n1 - n0, state["max_gap"]


@pytest.mark.parametrize("method", ["draw", "measure"])
def test_gil_is_released_during_native_work(method):
    # If the native call held the GIL, the Python loop would stall for the whole call: its
    # longest pause would be about as long as the call, and it would barely advance.
    repeat = 12
    duration, loops, max_gap = _spin_during_native_call(method, repeat)
    while duration < 0.2 and repeat < 400:  # a fast machine: make the call longer
        repeat *= 3
        duration, loops, max_gap = _spin_during_native_call(method, repeat)
    assert duration >= 0.1, f"native call took only {duration:.3f}s, too short to tell"
    assert loops > 1000, (loops, duration)
    assert max_gap < duration / 2, (max_gap, duration)


def test_concurrent_draws_match_sequential():
    jobs = [
        (text, size, outline, bg)
        for text in ("张伟", "欧阳娜娜 HR0878", "李娜", "王芳 0042")
        for size in (16, 24, 37)
        for outline, bg in ((0, None), (2, (0, 0, 0, 160)))
    ]

    def render(rr, job):
        text, size, outline, bg = job
        frame = blank(60, 260, 90)
        rr.draw(frame, text, (3, 4), size, outline=outline, background=bg)
        return frame

    expected = [render(TextRenderer(FONT), job) for job in jobs]
    shared = TextRenderer(FONT, cache_bytes=30_000)  # small: glyphs keep getting re-rasterised
    errors = []

    def worker(order, rounds):
        try:
            for _ in range(rounds):
                for i in order:
                    if not np.array_equal(render(shared, jobs[i]), expected[i]):
                        errors.append(f"job {jobs[i]} differs")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    n = len(jobs)
    threads = [
        threading.Thread(target=worker, args=(list(range(n)), 8)),
        threading.Thread(target=worker, args=(list(reversed(range(n))), 8)),
        threading.Thread(target=worker, args=([(i * 7) % n for i in range(n)], 8)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:5]
    assert shared.cache_info()["evictions"] > 0
