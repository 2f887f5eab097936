"""The streaming multipart parser (web/multipart.py) on generated, mutated and random bodies,
cut into chunks anywhere: only the errors ``parse_upload`` documents, no spooled file left
behind, limits kept, and a well-formed form read back exactly whatever the chunking."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hypothesis import assume, given
from hypothesis import strategies as st

from tests.fuzz import checks
from tests.fuzz.checks import BOUNDARY, CONTENT_TYPE, LIMITS
from tests.fuzz.support import Timed, bounded, fuzz_settings, mutations

# What a browser may put in a field name or file name. Browsers escape only '"', CR and LF
# (as %22, %0D, %0A), so a literal '%' is ambiguous and left out; '\\' is left out because
# python-multipart unescapes it (and trims a "C:\\" path from a file name, for IE6).
NAME = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"], exclude_characters="%\\").filter(
        lambda c: c not in "\r\n"
    )
    | st.sampled_from(['"', "\r", "\n", ";", "=", " ", "é", "漢"]),
    min_size=1,
    max_size=12,
)


def _escaped(name: str) -> bytes:
    return name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A").encode()


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None  # None: a text field
    data: bytes

    def encode(self) -> bytes:
        disposition = b'form-data; name="' + _escaped(self.name) + b'"'
        head = b"Content-Disposition: " + disposition
        if self.filename is not None:
            head += b'; filename="' + _escaped(self.filename) + b'"'
            head += b"\r\nContent-Type: application/octet-stream"
        return b"--" + BOUNDARY.encode() + b"\r\n" + head + b"\r\n\r\n" + self.data + b"\r\n"


FIELD = st.builds(
    Part,
    name=NAME,
    filename=st.none(),
    data=st.text(max_size=LIMITS.max_field_size // 4).map(str.encode),
)
FILE = st.builds(
    Part,
    name=st.just("files"),
    filename=NAME,
    data=st.binary(min_size=1, max_size=LIMITS.max_file_size),
)


@st.composite
def forms(draw: st.DrawFn) -> list[Part]:
    fields = draw(st.lists(FIELD, max_size=LIMITS.max_fields))
    files = draw(st.lists(FILE, max_size=LIMITS.max_files))
    return draw(st.permutations(fields + files))


def encode(parts: list[Part]) -> bytes:
    return b"".join(part.encode() for part in parts) + b"--" + BOUNDARY.encode() + b"--\r\n"


CHUNKS = st.lists(st.integers(1, 300), max_size=20)
CONTENT_TYPES = st.one_of(
    st.just(CONTENT_TYPE.encode()),
    st.sampled_from(
        [
            b"multipart/form-data",
            b"multipart/form-data; boundary=",
            b'multipart/form-data; boundary="' + BOUNDARY.encode() + b'"',
            b"Multipart/Form-Data; BOUNDARY=" + BOUNDARY.encode(),
            b"multipart/form-data; boundary=" + BOUNDARY.encode() + b"; charset=\xff",
            b"multipart/mixed; boundary=" + BOUNDARY.encode(),
            b"multipart/form-data; boundary=" + b"x" * 201,
        ]
    ),
    st.binary(max_size=80),
)


@fuzz_settings(max_examples=300)
@given(parts=forms(), sizes=CHUNKS)
def read_back(spool: Path, parts: list[Part], sizes: list[int]) -> None:
    body = encode(parts)
    assume(all(b"\r\n--" + BOUNDARY.encode() not in part.data for part in parts))
    with Timed():
        parsed = checks.multipart(body, sizes, spool, CONTENT_TYPE.encode())
    assert parsed is not None, "a well-formed form within the limits was refused"
    fields: dict[str, list[str]] = {}
    for part in parts:
        if part.filename is None:
            fields.setdefault(part.name, []).append(part.data.decode())
    assert parsed.fields == fields
    assert parsed.files == [(p.filename, p.data) for p in parts if p.filename is not None]


BODIES = st.one_of(
    forms().map(encode).flatmap(mutations),
    forms().map(encode),
    st.binary(max_size=600),
)


@fuzz_settings(max_examples=600)
@given(body=BODIES, sizes=CHUNKS, content_type=CONTENT_TYPES)
def parse_anything(spool: Path, body: bytes, sizes: list[int], content_type: bytes) -> None:
    with Timed():
        checks.multipart(body, sizes, spool, content_type)


def test_well_formed_forms_read_back_exactly_however_chunked(tmp_path: Path) -> None:
    bounded(read_back, tmp_path)


def test_broken_bodies_fail_cleanly_and_leave_nothing(tmp_path: Path) -> None:
    bounded(parse_anything, tmp_path)
