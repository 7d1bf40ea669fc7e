"""PDFs built in the test with pypdf alone: text pages, an Info dictionary, XMP."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject


def make_pdf(
    pages: Sequence[Sequence[str]],
    *,
    info: Mapping[str, str] | None = None,
    xmp: str | None = None,
    user_password: str | None = None,
    owner_password: str | None = None,
) -> bytes:
    """A PDF whose pages hold these lines of Helvetica text (ASCII/Latin-1 only)."""
    writer = PdfWriter()
    font = writer._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
            }
        )
    )
    for lines in pages:
        page = writer.add_blank_page(612, 792)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
        shown = " ".join(f"({_escape(line)}) Tj T*" for line in lines)
        stream = DecodedStreamObject()
        stream.set_data(f"BT /F1 12 Tf 72 720 Td 14 TL {shown} ET".encode("latin-1"))
        page[NameObject("/Contents")] = writer._add_object(stream)
    if info:
        writer.add_metadata(dict(info))
    if xmp is not None:
        metadata = DecodedStreamObject()
        metadata.set_data(xmp.encode())
        metadata[NameObject("/Type")] = NameObject("/Metadata")
        metadata[NameObject("/Subtype")] = NameObject("/XML")
        writer._root_object[NameObject("/Metadata")] = writer._add_object(metadata)
    if user_password is not None:
        writer.encrypt(user_password, owner_password, algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def xmp_packet(
    *,
    title: str = "",
    creators: Sequence[str] = (),
    dc_date: str = "",
    publication_date: str = "",
    create_date: str = "",
    doi: str = "",
) -> str:
    """An XMP packet with dc:title, dc:creator, dc:date, prism and xmp:CreateDate."""
    parts = []
    if title:
        parts.append(
            f'<dc:title><rdf:Alt><rdf:li xml:lang="x-default">{title}</rdf:li></rdf:Alt></dc:title>'
        )
    if creators:
        items = "".join(f"<rdf:li>{c}</rdf:li>" for c in creators)
        parts.append(f"<dc:creator><rdf:Seq>{items}</rdf:Seq></dc:creator>")
    if dc_date:
        parts.append(f"<dc:date><rdf:Seq><rdf:li>{dc_date}</rdf:li></rdf:Seq></dc:date>")
    if publication_date:
        parts.append(f"<prism:publicationDate>{publication_date}</prism:publicationDate>")
    if create_date:
        parts.append(f"<xmp:CreateDate>{create_date}</xmp:CreateDate>")
    if doi:
        parts.append(f"<prism:doi>{doi}</prism:doi>")
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:prism="http://prismstandard.org/namespaces/basic/2.0/" '
        'xmlns:xmp="http://ns.adobe.com/xap/1.0/">'
        + "".join(parts)
        + '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    )


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
