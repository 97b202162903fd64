"""Plain-text corpora as documents: `.txt`, `.gz`, zip members and JSON lines with a `text` field.

Lets the tokenizer be trained and measured on text that did not come through a crawl (books,
WikiText, NLTK corpora); each file, zip member or JSON line becomes one document.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from warc2gpt.documents import DOCUMENT_SCHEMA, Document, write_parquet

# Older corpora are often Windows-1252; latin-1 maps every byte, so decoding never fails.
ENCODINGS = ("utf-8", "cp1252", "latin-1")


def decode_text(data: bytes) -> str:
    """Bytes to text: UTF-8 first, then the legacy encodings old corpora use."""
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte string")


def _document(source: str, text: str) -> Document:
    digest = hashlib.sha1(source.encode("utf-8")).hexdigest()
    return Document(id=digest, url=source, text=text, source_file=source)


def _json_documents(source: str, data: bytes) -> Iterator[Document]:
    for number, line in enumerate(decode_text(data).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{source}: line {number} is not JSON ({exc})") from None
        text = record.get("text") if isinstance(record, dict) else None
        if not isinstance(text, str):
            raise ValueError(f"{source}: line {number} has no string `text` field")
        yield _document(f"{source}#{number}", text)


def _file_documents(source: str, name: str, data: bytes) -> Iterator[Document]:
    if name.endswith(".gz"):
        data, name = gzip.decompress(data), name[:-3]
    if name.endswith((".jsonl", ".json")):
        yield from _json_documents(source, data)
    else:
        yield _document(source, decode_text(data))


def iter_text_documents(paths: Iterable[str | Path]) -> Iterator[Document]:
    """One document per text file, zip member or JSON line, in the order given."""
    for path in paths:
        path = Path(path)
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                for member in archive.infolist():
                    if not member.is_dir():
                        yield from _file_documents(
                            f"{path}!{member.filename}", member.filename, archive.read(member)
                        )
        else:
            yield from _file_documents(str(path), path.name, path.read_bytes())


def text_files_to_parquet(paths: Iterable[str | Path], out: str | Path) -> int:
    """Write the documents of plain-text files as one Parquet shard; returns the count."""
    return write_parquet(out, (doc.row() for doc in iter_text_documents(paths)), DOCUMENT_SCHEMA)
