"""What a document is, by its first bytes: a bill is a PDF or a photo, nothing else.

The API takes any bytes named ``.pdf`` and only its extraction pipeline finds out, a
minute later, that a text file or a Word document is no bill (the job ends FAILED). The
first bytes say it at once, before anything is sent: ``check_document_kind`` refuses an
upload that is neither a PDF nor an image format a bill photo comes in, saying what it
looks like instead. The emulator uses the same test to end such a job FAILED.
"""

from __future__ import annotations

from ._errors import ValidationError

__all__ = ["ACCEPTED_KINDS", "HEAD_SIZE", "check_document_kind", "describe", "document_kind"]

#: How many leading bytes are looked at (a PDF header may follow a little junk).
HEAD_SIZE = 1024

#: The formats accepted, as named in messages.
ACCEPTED_KINDS = "PDF, JPEG, PNG, GIF, TIFF, BMP, WebP, HEIC/HEIF, AVIF or JPEG 2000"

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),
    (b"MM\x00+", "TIFF"),
    (b"BM", "BMP"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
)
#: ISO base media brands of HEIC/HEIF and AVIF photos (phones take bill photos as these).
_FTYP_BRANDS = {
    b"heic": "HEIC",
    b"heix": "HEIC",
    b"hevc": "HEIC",
    b"hevx": "HEIC",
    b"heim": "HEIC",
    b"heis": "HEIC",
    b"mif1": "HEIF",
    b"msf1": "HEIF",
    b"avif": "AVIF",
    b"avis": "AVIF",
}
_OTHER: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive (a Word or Excel file is one)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Microsoft Office file"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"\x7fELF", "a program (ELF)"),
    (b"MZ", "a Windows program"),
    (b"{\\rtf", "an RTF document"),
    (b"SQLite format 3\x00", "an SQLite database"),
)


def document_kind(head: bytes) -> str | None:
    """The accepted format ``head`` (a document's first bytes) starts with, or None.

    Args:
        head: The first bytes of the document (``HEAD_SIZE`` of them is enough).

    Returns:
        ``"PDF"``, ``"JPEG"``, ``"PNG"``, ``"GIF"``, ``"TIFF"``, ``"BMP"``, ``"WebP"``,
        ``"HEIC"``, ``"HEIF"``, ``"AVIF"`` or ``"JPEG 2000"``; None for anything else.
    """
    if b"%PDF" in head[:HEAD_SIZE]:
        return "PDF"
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[4:8] == b"ftyp":
        return _FTYP_BRANDS.get(head[8:12])
    return None


def describe(head: bytes) -> str:
    """What a document that is no bill looks like, for a message (``"text"``, ...)."""
    if not head:
        return "nothing (it is empty)"
    for signature, what in _OTHER:
        if head.startswith(signature):
            return what
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not just a character cut off at the end
            return f"binary data of no known format (it starts {head[:8].hex(' ')})"
        text = head[: exc.start].decode("utf-8")
    stripped = text.lstrip("\ufeff \t\r\n").lower()
    if stripped.startswith(("<!doctype html", "<html")):
        return "an HTML page"
    if stripped.startswith("<?xml") or stripped.startswith("<svg"):
        return "XML (an SVG image is not a photo the API reads)"
    if stripped.startswith(("{", "[")):
        return "JSON text"
    if all(c.isprintable() or c in "\t\r\n" for c in text):
        return "plain text"
    return f"binary data of no known format (it starts {head[:8].hex(' ')})"


def check_document_kind(head: bytes, *, name: str, field: str = "document") -> str:
    """Return the format of a document, or raise: it must be a PDF or a bill photo.

    Args:
        head: The document's first bytes (at least ``HEAD_SIZE`` when it is longer).
        name: The file name, for the message.
        field: The argument named in the error.

    Raises:
        ValidationError: The document is empty, or of no accepted format; the message
            says what it looks like and how to upload it anyway (``check_document=False``).
    """
    kind = document_kind(head)
    if kind is None:
        raise ValidationError(
            f"{field}: {name} is not a PDF or an image a bill photo comes in "
            f"({ACCEPTED_KINDS}): it looks like {describe(head)}",
            field=field,
            hint="pass {check_document} to upload it all the same",
        )
    return kind
