"""Evidence files over HTTP, for the API's routes and the desk's pages alike.

A multipart upload is read in memory: Starlette's own form parsing spools a file over 1 MB to a
temporary file on disk, and an evidence file (a child's photo, a medical note) must never reach
a disk unencrypted. The body is already bounded (api/limits.py `BodyLimit`, raised for the
upload routes only), so memory holds at most that. A download is sent as an attachment of the
type its content was found to be, never to be shown inline, sniffed or cached."""

from dataclasses import dataclass

from fastapi import Request, Response
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from states.kernel.errors import InvalidInput
from states.records.evidence import Download


class _InMemory(MultiPartParser):
    spool_max_size = 2**62  # never rolled over to a file


@dataclass(frozen=True)
class Upload:
    fields: dict[str, str]
    data: bytes | None
    filename: str | None


async def read_upload(request: Request, file_field: str = "file", max_fields: int = 8) -> Upload:
    """The text fields and the one file of a `multipart/form-data` body; a body of another kind,
    or a malformed one, is refused naming the body."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise InvalidInput("body", "multipart", "Hãy gửi tệp dưới dạng multipart/form-data.",
                           "Send the file as multipart/form-data.")
    parser = _InMemory(request.headers, request.stream(), max_files=1, max_fields=max_fields,
                       max_part_size=64 * 1024)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise InvalidInput("body", "multipart", "Dữ liệu gửi lên không hợp lệ.",
                           f"The multipart body is not valid: {exc.message}") from None
    fields: dict[str, str] = {}
    data: bytes | None = None
    filename: str | None = None
    try:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                if name == file_field:
                    data, filename = await value.read(), value.filename
            else:
                fields[name] = value
    finally:
        await form.close()
    return Upload(fields=fields, data=data, filename=filename)


def file_response(download: Download) -> Response:
    """An attachment as a download: its detected type, saved not shown, never sniffed or kept."""
    return Response(download.data, media_type=download.info.content_type, headers={
        "Content-Disposition": f'attachment; filename="{download.filename}"',
        "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store", "Pragma": "no-cache"})
