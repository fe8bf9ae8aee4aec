"""Camera source URLs and the CSI pipeline string."""

from __future__ import annotations

import shlex

import pytest

from app.hardware.camera_url import (
    CameraUrlError,
    csi_flip_method,
    csi_output_size,
    csi_pipeline,
    parse_camera_source,
    strip_sink,
)
from app.hardware.sources import GstProcessSource, csi_source, gst_source

SEED_PIPELINE = (
    "nvarguscamerasrc sensor-id=0 ! video/x-raw(memory:NVMM),width=1280,height=720,framerate=30/1 ! "
    "nvvidconv flip-method=0 ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! appsink"
)


def test_csi_pipeline_is_the_seed_pipeline_ending_in_a_pipe():
    spec = parse_camera_source("csi://0?width=1280&height=720&fps=30&flip=0")
    assert csi_pipeline(spec) == strip_sink(SEED_PIPELINE)
    source = csi_source(spec)
    assert (source.width, source.height) == (1280, 720)
    assert source.frame_bytes == 1280 * 720 * 3
    cmd = source.command()
    assert cmd[:2] == ["gst-launch-1.0", "-q"]
    assert cmd[-3:] == ["fdsink", "fd=1", "sync=false"]
    assert "video/x-raw(memory:NVMM),width=1280,height=720,framerate=30/1" in cmd


def test_csi_url_parameters_override_the_config():
    spec = parse_camera_source("csi://1?width=1920&height=1080&fps=60&flip=2", 640, 480, 15)
    text = csi_pipeline(spec)
    assert "sensor-id=1" in text and "width=1920,height=1080,framerate=60/1" in text
    assert "flip-method=2" in text
    spec = parse_camera_source("csi://0", 640, 480, 15)
    assert "width=640,height=480,framerate=15/1" in csi_pipeline(spec)


@pytest.mark.parametrize(
    "rotate, flip, method, size",
    [(0, False, 0, (1280, 720)), (90, False, 3, (720, 1280)), (180, False, 2, (1280, 720)),
     (270, False, 1, (720, 1280)), (0, True, 4, (1280, 720)), (90, True, 7, (720, 1280))],
)
def test_config_rotation_becomes_the_nvvidconv_flip_method(rotate, flip, method, size):
    spec = parse_camera_source("csi://0", 1280, 720, 30, rotate=rotate, flip=flip)
    assert csi_flip_method(spec) == method
    assert csi_output_size(spec) == size
    assert csi_source(spec).hardware_transform


def test_other_schemes():
    assert parse_camera_source("v4l2:///dev/video2").target == "/dev/video2"
    assert parse_camera_source("v4l2://1").target == "/dev/video1"
    spec = parse_camera_source("file:///tmp/a%20b.mp4?loop=0")
    assert spec.target == "/tmp/a b.mp4" and spec.loop is False
    assert parse_camera_source("rtsp://cam.local:554/live?x=1").target == "rtsp://cam.local:554/live?x=1"
    spec = parse_camera_source("test://?width=320&height=240&fps=10")
    assert (spec.width, spec.height, spec.fps, spec.drift) == (320, 240, 10, 1.0)
    assert parse_camera_source("test://?image=/tmp/a.jpg&drift=0.2").drift == 0.2
    assert parse_camera_source("test://?drift=0").drift == 0.0
    assert parse_camera_source("auto").scheme == "auto"
    assert parse_camera_source("none").scheme == "none"


def test_gst_pipeline_is_taken_verbatim_and_given_a_bgr_tail():
    spec = parse_camera_source("gst://videotestsrc ! video/x-raw,width=640,height=480 ! appsink drop=1",
                               320, 240, 30)
    assert spec.target.startswith("videotestsrc")
    source = gst_source(spec)
    assert isinstance(source, GstProcessSource)
    assert "appsink" not in source.pipeline
    assert source.pipeline.endswith("video/x-raw,format=BGR,width=320,height=240")
    assert shlex.split(source.pipeline)[0] == "videotestsrc"


@pytest.mark.parametrize(
    "url, message",
    [("/dev/video0", "not auto, none or a camera URL"), ("csi://", "sensor number"),
     ("csi://0?flip=9", "flip-method"), ("csi://0?width=abc", "not a positive whole number"),
     ("v4l2://", "device is missing"), ("file://", "file path is missing"), ("rtsp://", "host"),
     ("gst://  ", "pipeline is missing"), ("foo://bar", "unknown camera scheme"),
     ("csi://0?colour=1", "unknown parameter"), ("test://?drift=fast", "drift must be a number"),
     ("test://?drift=-1", "drift must be"), ("test://?drift=nan", "drift must be"),
     ("test://?drift=1e9", "drift must be"), ("csi://0?drift=1", "unknown parameter")],
)
def test_bad_urls_are_clear_errors(url, message):
    with pytest.raises(CameraUrlError, match=message):
        parse_camera_source(url)


def test_the_config_rejects_what_the_camera_cannot_open(tmp_path):
    from app.config import ConfigError, load_config
    from app.instance import Instance

    inst = Instance(tmp_path / "inst").create_dirs()
    inst.config_path.write_text('[camera]\nsource = "csi://0?flip=9"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="flip-method 0..7"):
        load_config(inst)
    inst.config_path.write_text('[camera]\nsource = "csi://0?flip=2&fps=60"\n', encoding="utf-8")
    assert load_config(inst).camera.source == "csi://0?flip=2&fps=60"
