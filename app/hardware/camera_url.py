"""Camera source URLs (``csi://0?width=1280&fps=30``, ``v4l2:///dev/video0`` ...) and GStreamer pipelines."""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import parse_qsl, unquote, urlsplit

#: nvvidconv ``flip-method`` for (clockwise rotation, horizontal mirror). Rotation is applied first.
_FLIP_METHODS = {
    (0, False): 0, (270, False): 1, (180, False): 2, (90, False): 3,
    (0, True): 4, (270, True): 5, (180, True): 6, (90, True): 7,
}
#: flip-methods that swap width and height.
_TRANSPOSING = {1, 3, 5, 7}


class CameraUrlError(ValueError):
    """A camera source that cannot be understood."""


@dataclass(frozen=True)
class CameraSpec:
    """What to open: the scheme, its target, and the wanted format."""

    scheme: str  # auto, none, csi, v4l2, file, rtsp, rtsps, http, https, gst, test
    target: str = ""  # sensor id, device path, file path, URL or pipeline
    width: int = 1280
    height: int = 720
    fps: int = 30
    rotate: int = 0  # degrees clockwise, applied in software (CSI: in nvvidconv)
    flip: bool = False  # horizontal mirror
    flip_method: int | None = None  # CSI: explicit nvvidconv flip-method from the URL
    loop: bool = True  # file: start again at the end
    image: str = ""  # test: a picture moving through the synthetic scene
    drift: float = 1.0  # test: how fast the picture moves (1 = its usual sway, 0 = still)

    @property
    def url(self) -> str:
        if self.scheme in ("auto", "none"):
            return self.scheme
        if self.scheme in ("v4l2", "file"):
            return f"{self.scheme}://{self.target}"
        if self.scheme == "csi":
            return f"csi://{self.target}"
        if self.scheme == "test":
            return "test://"
        if self.scheme == "gst":
            return "gst://" + self.target
        return self.target


def _drift(source: str, value: str) -> float:
    try:
        drift = float(value)
    except ValueError:
        drift = -1.0
    if not (0.0 <= drift <= 10.0):
        raise CameraUrlError(f"{source!r}: drift must be a number from 0 (still) to 10, not {value!r}")
    return drift


def parse_camera_source(
    source: str, width: int = 1280, height: int = 720, fps: int = 30, rotate: int = 0, flip: bool = False
) -> CameraSpec:
    """Parse a source URL; query parameters override the given ([camera]) defaults."""
    source = source.strip()
    base = CameraSpec("auto", width=width, height=height, fps=fps, rotate=rotate, flip=flip)
    if source in ("auto", "none", ""):
        return replace(base, scheme=source or "auto")
    if "://" not in source:
        raise CameraUrlError(f"{source!r} is not auto, none or a camera URL")
    scheme, rest = source.split("://", 1)
    scheme = scheme.lower()
    if scheme == "gst":  # the rest is a pipeline, not a URL: no query parsing
        if not rest.strip():
            raise CameraUrlError("gst://: the GStreamer pipeline is missing")
        return replace(base, scheme="gst", target=rest.strip())
    if scheme in ("rtsp", "rtsps", "http", "https"):
        if not urlsplit(source).netloc:
            raise CameraUrlError(f"{source!r}: the host is missing")
        return replace(base, scheme=scheme, target=source)
    parts = urlsplit(source)
    params = dict(parse_qsl(parts.query))
    spec = replace(base, scheme=scheme)
    for key in ("width", "height", "fps"):
        if key in params:
            spec = replace(spec, **{key: _positive_int(source, key, params.pop(key))})
    if scheme == "csi":
        if not parts.netloc.isdigit():
            raise CameraUrlError(f"{source!r}: the CSI sensor number is missing (e.g. csi://0)")
        if "flip" in params:
            method = _positive_int(source, "flip", params.pop("flip"), allow_zero=True)
            if method > 7:
                raise CameraUrlError(f"{source!r}: flip must be an nvvidconv flip-method 0..7")
            spec = replace(spec, flip_method=method)
        spec = replace(spec, target=parts.netloc)
    elif scheme == "v4l2":
        device = unquote(parts.path) or (f"/dev/video{parts.netloc}" if parts.netloc.isdigit() else "")
        if not device:
            raise CameraUrlError(f"{source!r}: the device is missing (e.g. v4l2:///dev/video0)")
        spec = replace(spec, target=device)
    elif scheme == "file":
        path = unquote(parts.netloc + parts.path)
        if not path:
            raise CameraUrlError(f"{source!r}: the file path is missing (e.g. file:///path/clip.mp4)")
        if "loop" in params:
            spec = replace(spec, loop=params.pop("loop") not in ("0", "false", "no"))
        spec = replace(spec, target=path)
    elif scheme == "test":
        spec = replace(spec, image=params.pop("image", ""))
        if "drift" in params:
            spec = replace(spec, drift=_drift(source, params.pop("drift")))
    else:
        raise CameraUrlError(f"unknown camera scheme {scheme!r}")
    if params:
        raise CameraUrlError(f"{source!r}: unknown parameter(s) {', '.join(sorted(params))}")
    return spec


def _positive_int(source: str, key: str, text: str, allow_zero: bool = False) -> int:
    if not text.isdigit() or (int(text) == 0 and not allow_zero):
        raise CameraUrlError(f"{source!r}: {key}={text!r} is not a positive whole number")
    return int(text)


def csi_flip_method(spec: CameraSpec) -> int:
    """nvvidconv flip-method: explicit in the URL, else from [camera] rotate/flip."""
    if spec.flip_method is not None:
        return spec.flip_method
    return _FLIP_METHODS[(spec.rotate % 360, spec.flip)]


def csi_output_size(spec: CameraSpec) -> tuple[int, int]:
    """(width, height) of the frames the CSI pipeline delivers (after rotation)."""
    if csi_flip_method(spec) in _TRANSPOSING:
        return spec.height, spec.width
    return spec.width, spec.height


def csi_pipeline(spec: CameraSpec) -> str:
    """The seed's Argus pipeline (NVMM capture, hardware conversion and rotation), ending in BGR."""
    return (
        f"nvarguscamerasrc sensor-id={int(spec.target)} ! "
        f"video/x-raw(memory:NVMM),width={spec.width},height={spec.height},"
        f"framerate={spec.fps}/1 ! "
        f"nvvidconv flip-method={csi_flip_method(spec)} ! video/x-raw,format=BGRx ! "
        "videoconvert ! video/x-raw,format=BGR"
    )


def bgr_tail(width: int, height: int) -> str:
    """Elements that turn any video into BGR frames of exactly ``width`` x ``height``."""
    return f"videoconvert ! videoscale ! video/x-raw,format=BGR,width={width},height={height}"


def strip_sink(pipeline: str) -> str:
    """Drop a trailing sink (``! appsink ...``) from a pipeline written for OpenCV."""
    head, sep, last = pipeline.rpartition("!")
    if sep and last.strip().split(" ", 1)[0] in ("appsink", "fakesink", "autovideosink", "fdsink"):
        return head.strip()
    return pipeline.strip()
