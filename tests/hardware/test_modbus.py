"""Modbus RTU framing and the UART model used by the sensor simulator."""

from __future__ import annotations

import random

import pytest

from app.hardware.modbus import (
    ModbusException,
    ResponseScanner,
    crc16,
    crc_ok,
    exception_response,
    read_request,
    read_response,
)
from app.hardware.tof_sim import uart_resample


def test_the_datasheet_frames():
    assert read_request(0x50, 0x34) == bytes.fromhex("50 03 00 34 00 01 C8 45")
    assert read_response(0x50, [1803]) == bytes.fromhex("50 03 02 07 0B 06 7F")
    assert crc16(b"123456789") == 0x4B37  # the CRC-16/MODBUS check value
    assert crc_ok(bytes.fromhex("50 03 02 07 0B 06 7F"))
    assert not crc_ok(bytes.fromhex("50 03 02 07 0C 06 7F"))


def test_scanner_finds_a_reply_fed_byte_by_byte():
    scanner = ResponseScanner(0x50)
    frame = read_response(0x50, [1234])
    results = [scanner.feed(bytes([b])) for b in frame]
    assert results[:-1] == [None] * (len(frame) - 1)
    assert results[-1].values == [1234] and scanner.skipped == 0


@pytest.mark.parametrize("seed", range(20))
def test_scanner_resynchronises_after_garbage_and_corrupted_frames(seed):
    rng = random.Random(seed)
    good = read_response(0x50, [rng.randrange(40, 4000)])
    corrupted = bytearray(read_response(0x50, [rng.randrange(40, 4000)]))
    corrupted[rng.randrange(3, 7)] ^= 0x10
    noise = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 12)))
    stream = noise + bytes(corrupted) + read_response(0x51, [7]) + good
    scanner = ResponseScanner(0x50)
    result = None
    pos = 0
    while result is None and pos < len(stream):  # arbitrary chunking
        step = rng.randrange(1, 5)
        result = scanner.feed(stream[pos:pos + step])
        pos += step
    assert result is not None
    assert result.values == [good[3] << 8 | good[4]]


def test_scanner_reports_an_exception_reply():
    result = ResponseScanner(0x50).feed(b"\x00" + exception_response(0x50, 0x03, 2))
    assert isinstance(result.error, ModbusException) and result.error.code == 2
    assert "illegal data address" in str(result.error)


def test_uart_at_the_same_rate_or_within_tolerance_reads_what_was_sent():
    rng = random.Random(1)
    data = bytes(rng.randrange(256) for _ in range(300))
    assert uart_resample(data, 115200, 115200) == data
    assert uart_resample(data, 115200, 113000) == data  # 1.9 % off: inside a UART's tolerance


@pytest.mark.parametrize("tx, rx", [(115200, 9600), (9600, 115200), (115200, 57600), (19200, 38400)])
def test_uart_at_the_wrong_rate_reads_garbage(tx, rx):
    request = read_request(0x50, 0x34)
    heard = uart_resample(request, tx, rx)
    assert heard != request
    assert request not in heard
    if rx > tx:  # a fast receiver sees each slow bit as several: zero bytes with framing errors
        assert heard.count(0) >= len(heard) // 2
