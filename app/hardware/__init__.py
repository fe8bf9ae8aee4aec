"""The terminal's senses and hands: camera sources, the TOF200F distance sensor, GPIO outputs.

Every device takes its backend as an argument (camera source, serial port, pin factory) and the
real libraries are imported only by the real backends, so this package imports on any PC.
"""
