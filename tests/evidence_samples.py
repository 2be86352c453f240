"""Small files for the evidence tests, each carrying a plaintext marker that must never be found
where the bytes are stored (database file, blob directory), and files that lie about their type."""

import struct
import zlib

MARKER = b"QXEVIDENCE-4471 Nguyen Thi Bimat"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(marker: bytes = MARKER) -> bytes:
    """A real 1×1 PNG, the marker in a text chunk."""
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"tEXt", b"Comment\x00" + marker)
            + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b""))


def jpeg(marker: bytes = MARKER) -> bytes:
    """A JPEG's frame: start of image, a JFIF header, a comment holding the marker, end of image."""
    return (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
            + b"\xff\xfe" + struct.pack(">H", len(marker) + 2) + marker + b"\xff\xd9")


def pdf(marker: bytes = MARKER) -> bytes:
    return (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
            b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n% " + marker
            + b"\ntrailer << /Root 1 0 R >>\n%%EOF\n")


HTML = b"<!doctype html><html><script>alert(document.cookie)</script></html>"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 48 + b"PE\x00\x00"
# Files that start like an accepted type but are not one.
FAKES = {
    "html": HTML,
    "exe": EXE,
    "jpeg_signature_only": b"\xff\xd8\xff\xe0" + HTML,
    "png_signature_only": b"\x89PNG\r\n\x1a\n" + HTML,
    "pdf_without_end": b"%PDF-1.4\n" + HTML,
    "svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    "gif": b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
}
