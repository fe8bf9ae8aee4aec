"""Modbus RTU framing for one slave register read: CRC-16, requests, and a response scanner that
resynchronises after garbage (noise on the line, a late reply, a sensor at the wrong baud rate)."""

from __future__ import annotations

from dataclasses import dataclass

READ_HOLDING = 0x03
WRITE_SINGLE = 0x06
EXCEPTION_FLAG = 0x80

EXCEPTION_NAMES = {1: "illegal function", 2: "illegal data address", 3: "illegal data value",
                   4: "slave device failure", 6: "slave device busy"}


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc_table()


def crc16(data: bytes | bytearray | memoryview) -> int:
    """Modbus CRC-16 (polynomial 0xA001 reflected, initial 0xFFFF); sent low byte first."""
    crc = 0xFFFF
    for byte in bytes(data):
        crc = (crc >> 8) ^ _TABLE[(crc ^ byte) & 0xFF]
    return crc


def with_crc(body: bytes) -> bytes:
    crc = crc16(body)
    return body + bytes((crc & 0xFF, crc >> 8))


def crc_ok(frame: bytes | bytearray) -> bool:
    return len(frame) >= 4 and crc16(frame[:-2]) == frame[-2] | (frame[-1] << 8)


def read_request(slave: int, register: int, count: int = 1) -> bytes:
    """``slave 03 reg_hi reg_lo count_hi count_lo crc_lo crc_hi``."""
    return with_crc(bytes((slave, READ_HOLDING, register >> 8, register & 0xFF, count >> 8, count & 0xFF)))


def read_response(slave: int, values: list[int]) -> bytes:
    body = bytes((slave, READ_HOLDING, 2 * len(values)))
    for v in values:
        body += bytes((v >> 8 & 0xFF, v & 0xFF))
    return with_crc(body)


def exception_response(slave: int, function: int, code: int) -> bytes:
    return with_crc(bytes((slave, function | EXCEPTION_FLAG, code)))


class ModbusException(Exception):
    """The slave answered with a Modbus exception."""

    def __init__(self, code: int) -> None:
        self.code = code
        super().__init__(f"Modbus exception {code} ({EXCEPTION_NAMES.get(code, 'unknown')})")


@dataclass
class ScanResult:
    values: list[int] | None  # register values of a good reply
    error: ModbusException | None  # or the exception the slave answered


class ResponseScanner:
    """Collects bytes and finds one valid reply of ``slave`` to a read of ``count`` registers.

    Bytes that cannot start a valid frame (wrong address, wrong function, bad CRC) are skipped one
    at a time, so a good frame after garbage is still found; ``skipped`` counts them.
    """

    def __init__(self, slave: int, count: int = 1) -> None:
        self.slave, self.count = slave, count
        self.buffer = bytearray()
        self.skipped = 0
        self.bad_crc = 0

    def feed(self, data: bytes) -> ScanResult | None:
        self.buffer += data
        return self._scan()

    def _scan(self) -> ScanResult | None:
        buf = self.buffer
        i = 0
        result = None
        while i < len(buf):
            if buf[i] != self.slave or i + 1 >= len(buf):
                if buf[i] != self.slave:
                    i += 1
                    continue
                break  # our address, function code not here yet
            function = buf[i + 1]
            if function == READ_HOLDING:
                size = 5 + 2 * self.count
                if i + 2 < len(buf) and buf[i + 2] != 2 * self.count:
                    i += 1
                    continue
            elif function == READ_HOLDING | EXCEPTION_FLAG:
                size = 5
            else:
                i += 1
                continue
            if i + size > len(buf):
                break  # wait for the rest
            frame = bytes(buf[i:i + size])
            if not crc_ok(frame):
                self.bad_crc += 1
                i += 1
                continue
            if function == READ_HOLDING:
                values = [frame[3 + 2 * k] << 8 | frame[4 + 2 * k] for k in range(self.count)]
                result = ScanResult(values, None)
            else:
                result = ScanResult(None, ModbusException(frame[2]))
            self.skipped += i
            del buf[: i + size]
            return result
        self.skipped += i
        del buf[:i]
        return result

    def reset(self) -> None:
        self.skipped += len(self.buffer)
        self.buffer.clear()
