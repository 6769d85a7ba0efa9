"""The duration of an Ogg (Opus or Vorbis) file, read from its page headers.

WhatsApp voice notes are Opus in Ogg. The last page's granule position counts
samples, so the length is known without decoding: used to refuse notes that are too
long before any work, and to report a duration when the engine gives none.
"""

from __future__ import annotations

import struct

_PAGE_HEADER = struct.Struct("<4sBBqIIIB")  # capture, version, type, granule, serial, seq, crc, segments
OPUS_RATE = 48_000


def ogg_duration_s(data: bytes) -> float | None:
    """Seconds of audio in an Ogg Opus/Vorbis file, or None when it is not one we can read."""
    offset, serial, first_packet, last_granule = 0, None, b"", -1
    while offset + _PAGE_HEADER.size <= len(data):
        capture, _, _, granule, page_serial, _, _, segments = _PAGE_HEADER.unpack_from(data, offset)
        if capture != b"OggS":
            return None
        table_end = offset + _PAGE_HEADER.size + segments
        body_size = sum(data[offset + _PAGE_HEADER.size : table_end])
        if table_end + body_size > len(data):
            break  # a truncated last page: what came before still counts
        if serial is None:
            serial, first_packet = page_serial, data[table_end : table_end + body_size]
        if page_serial == serial and granule >= 0:
            last_granule = granule
        offset = table_end + body_size
    if serial is None or last_granule < 0:
        return None
    if first_packet.startswith(b"OpusHead") and len(first_packet) >= 12:
        pre_skip = struct.unpack_from("<H", first_packet, 10)[0]
        return max(last_granule - pre_skip, 0) / OPUS_RATE
    if first_packet.startswith(b"\x01vorbis") and len(first_packet) >= 16:
        rate = struct.unpack_from("<I", first_packet, 12)[0]
        return last_granule / rate if rate else None
    return None
